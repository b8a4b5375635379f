"""Room ``engines/``: the five analytics engines, each switchable — Protocol Violation, Policy Violation,
Malware, Anomaly and Operational.

Each engine reads dissected records and flow events and raises alerts by code from the one table in
:mod:`otwatch.sensor.tracking.alerts`. Engines sit above ``tracking/`` (flows, baseline, alert store)
and below ``pipeline/``, which calls them.
"""
