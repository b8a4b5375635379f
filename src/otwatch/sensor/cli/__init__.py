"""Room ``cli/``: the ``otwatch sensor`` commands — one-shot ``analyze`` and the service commands
(install, repair, run, supervise, activate, secret, synth, uninstall). The top room: nothing imports it
but :mod:`otwatch.cli`.
"""

from otwatch.sensor.cli.analyze import app
from otwatch.sensor.cli.service import register

register(app)

__all__ = ["app"]
