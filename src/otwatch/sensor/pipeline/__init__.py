"""Room ``pipeline/``: one :class:`~otwatch.sensor.pipeline.sensor.Sensor` — frames in, everything out
(inventory, alerts, statistics, forensics) — the protocol list it dissects, sharding over processes,
and the data-mining queries over its stores.

Above ``engines/`` and ``tracking/``; the sensor's commands, its console and its managed node drive it.
"""
