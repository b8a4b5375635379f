"""Room ``local/``: what the sensor keeps on its own host — its console's stored settings and users,
its TLS certificate, console-certificate validation, the host network writer, directory (AD) sign-in
and the Play PCAP upload library.

Below ``node/`` and ``web/``; above the data path, which never reads these.
"""
