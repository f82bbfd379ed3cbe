#!/usr/bin/env bash
# Install the system programs enumlab's lab and tests use, when they are missing:
#   named (bind9), dig (bind9-dnsutils), tshark, kamailio (+ enum module), dnsperf, ip (iproute2),
#   and for re-making the lab captures: iptables, kdig (knot-dnsutils); dnsjit, the capture
#   benchmark's peer; chromium, for the headless check of the HTML report; sip-dig
#   (sofia-sip-bin), the peer the sofia-sip client model is checked against; npm, which fetches
#   the ipywidgets HTML manager the docs site serves itself (make docs-assets); the other client
#   models' peers (issue 28): sipsak, python3-twisted (for the system /usr/bin/python3),
#   unbound and kresd (knot-resolver), baresip (baresip + libre) and linphonec (linphone-cli,
#   belle-sip).
# As root on Debian/Ubuntu this uses apt; otherwise it names the packages to install (or use
# environment.yml with conda-forge). In CI (CI=true) a tool that cannot be installed is an error.
set -u
declare -A PKG=(
  [named]=bind9 [dig]=bind9-dnsutils [tshark]=tshark [kamailio]=kamailio
  [dnsperf]=dnsperf [ip]=iproute2 [iptables]=iptables [kdig]=knot-dnsutils
  [dumpcap]=wireshark-common [dnsjit]=dnsjit [chromium]=chromium [sip-dig]=sofia-sip-bin
  [npm]=npm [sipsak]=sipsak [unbound]=unbound [kresd]=knot-resolver
  [named-checkzone]=bind9-utils [baresip]=baresip [linphonec]=linphone-cli
)
missing=()
for tool in "${!PKG[@]}"; do
  command -v "$tool" >/dev/null 2>&1 || [ -x "/usr/sbin/$tool" ] || missing+=("${PKG[$tool]}")
done
# Twisted Names is checked through the system python (Debian's python3-twisted)
/usr/bin/python3 -c 'import twisted.names.srvconnect' >/dev/null 2>&1 || missing+=(python3-twisted)
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "enumlab: installing with apt: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections 2>/dev/null || true
  apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/tmp/enumlab-apt.log 2>&1
  rc=$?
  if [ $rc -ne 0 ]; then
    tail -20 /tmp/enumlab-apt.log
    echo "enumlab: apt-get install failed for: ${missing[*]}" >&2
    exit 1
  fi
  # The Debian bind9 package starts a system named on port 53; the lab runs its own.
  # So do unbound and knot-resolver; the lab starts its own on loopback ports.
  if command -v systemctl >/dev/null 2>&1; then
    systemctl stop named unbound 'kresd@*' 2>/dev/null || true
  fi
  exit 0
fi
echo "enumlab: missing system packages: ${missing[*]}" >&2
echo "  install them (Debian/Ubuntu: sudo apt-get install ${missing[*]})," >&2
echo "  or use the conda environment: conda env create -f environment.yml" >&2
if [ "${CI:-}" = "true" ]; then
  exit 1
fi
exit 0
