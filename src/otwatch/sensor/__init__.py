"""The passive sensor, in rooms that follow the data's way, top to bottom::

    cli/        the ``otwatch sensor`` commands
    web/        the sensor's own console (HTTPS pages and JSON)
    node/       a console-managed sensor: reports up, settings and versions down
    local/      what the sensor keeps on its own host: settings, users, certificate, uploads
    pipeline/   one Sensor: frames in, everything out; sharding; data-mining queries
    engines/    the five analytics engines
    tracking/   flows, assets, baseline, alert store, forensics, statistics, timeline, retention
    capture/    PCAP/PCAPNG files, decoding, live and replayed sources, synthetic traffic
    config/     settings as validated values

A room imports only rooms below it (an import-linter contract in pyproject.toml enforces it).
"""
