"""``python -m otwatch.agent``: the agent's commands alone (scan, install, repair, run, uninstall,
msi-configure, service), without importing the console or the sensor. This is what the Windows
launcher runs: the console and sensor are not installed on an agent host and need Linux-only modules."""

from __future__ import annotations

from otwatch.agent import lifecycle
from otwatch.agent.cli import app

lifecycle.register(app)


def main() -> None:
    app(prog_name="otwatch-agent")


if __name__ == "__main__":
    main()
