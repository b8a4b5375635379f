"""Room ``tracking/``: what the sensor keeps about what it saw — flows and their dissectors, assets,
the learned baseline, the alert store and alert-type table, forensics (alert PCAPs), traffic
statistics, the event timeline and the retention of these stores.

Fed by ``pipeline/``, read by ``engines/``; depends only on ``capture/``, ``config/`` and the shared
layers.
"""
