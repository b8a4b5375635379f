"""Room ``config/``: the sensor's settings as validated values, without I/O — engines and learning,
subnets and port aliases, pushed system settings, management-network settings, time and region.

The bottom room: every other room may read these; they import nothing of the sensor.
"""
