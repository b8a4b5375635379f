"""Room ``capture/``: frames in — PCAP/PCAPNG reading and writing, link/IP/transport decoding, live and
replayed packet sources, and synthetic plant traffic for the demo, benchmarks and tests.

The bottom of the sensor's data path (above only ``config/``): nothing here knows protocols' meaning,
assets or alerts.
"""
