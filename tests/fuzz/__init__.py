"""The fuzz kit: seeded mutators for hostile inputs (:mod:`.mutate`, independent of enumlab)
and the capture fuzz runner (:mod:`.captures`: both engines, checks, shrinking, ``make fuzz``)."""
