-- dnsjit baseline for the capture benchmark: read every packet, parse each DNS message's
-- header and question, pair responses with queries (client, ports, server, id, qname, qtype)
-- in a hash table, count pairs, unanswered queries and TC=1 answers.
-- usage: dnsjit dnsjit_pair.lua CAPTURE.pcap
local pcap = arg[2]
local object = require("dnsjit.core.objects")
local input = require("dnsjit.input.mmpcap").new()
local layer = require("dnsjit.filter.layer").new()
local dns = require("dnsjit.core.object.dns").new()
local label = require("dnsjit.core.object.dns.label")
local labels = label.new(127)
local q = require("dnsjit.core.object.dns.q").new()

input:open(pcap)
layer:producer(input)
local producer, ctx = layer:produce()
local open = {}
local messages, paired, tc, orphans = 0, 0, 0, 0
while true do
    local obj = producer(ctx)
    if obj == nil then break end
    if obj:type() == "payload" then
        local pl = obj:cast()
        if pl.len > 0 then
            local ip = obj.obj_prev
            while ip ~= nil and ip.obj_type ~= object.IP and ip.obj_type ~= object.IP6 do
                ip = ip.obj_prev
            end
            local tr = obj.obj_prev
            while tr ~= nil and tr.obj_type ~= object.UDP and tr.obj_type ~= object.TCP do
                tr = tr.obj_prev
            end
            dns.obj_prev = obj
            if ip ~= nil and tr ~= nil and dns:parse_header() == 0 and dns.qdcount > 0
                    and dns:parse_q(q, labels, 127) == 0 then
                messages = messages + 1
                ip = ip:cast()
                tr = tr:cast()
                local name = label.tooffstr(dns, labels, 127)
                if dns.qr == 0 then
                    open[ip:source() .. tr.sport .. ip:destination() .. tr.dport .. dns.id
                         .. name .. q.type] = true
                else
                    local key = ip:destination() .. tr.dport .. ip:source() .. tr.sport .. dns.id
                        .. name .. q.type
                    if open[key] then
                        paired = paired + 1
                        open[key] = nil
                    else
                        orphans = orphans + 1
                    end
                    if dns.tc == 1 then tc = tc + 1 end
                end
            end
        end
    end
end
local unanswered = 0
for _ in pairs(open) do unanswered = unanswered + 1 end
print(string.format('{"messages": %d, "paired": %d, "unanswered": %d, "tc": %d, "orphans": %d}',
                    messages, paired, unanswered, tc, orphans))
