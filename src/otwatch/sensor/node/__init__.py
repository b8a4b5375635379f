"""Room ``node/``: a sensor managed by a console — the report/settings loop, software versions and the
supervisor, activation files, pushed settings that run services (SNMP MIB monitoring, DNS reverse
lookup), and threat-intelligence packages.

Uses ``pipeline/`` for the sensor it feeds and ``local/`` for what the sensor keeps on its own host.
"""
