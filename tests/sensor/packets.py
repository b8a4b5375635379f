"""Frame builders for the sensor tests: they live in the package (the demo generates traffic too)."""

from otwatch.sensor.capture.synth import *  # noqa: F403
