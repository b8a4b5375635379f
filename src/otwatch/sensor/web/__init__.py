"""The sensor's own console (served by the sensor process over HTTPS)."""

from otwatch.sensor.web.app import create_sensor_app

__all__ = ["create_sensor_app"]
