"""Launcher of the OTWatch OT Agent on Windows, installed by the MSI next to its ``lib`` folder.

The MSI pip-installs the agent and pywin32 into ``<INSTALLBASE>\\lib`` (``pip install --target``) and
runs everything through this file with the machine's ``python.exe``: ``site.addsitedir`` puts ``lib``
on the path and processes its ``.pth`` files (pywin32's DLL folder), then the agent's own CLI runs
(``python -m otwatch.agent``), without the console or the sensor. The Windows service is
``python.exe otwatch-agent.py service run``: Python itself is the service process (see
otwatch.agent.platform.winservice).
"""

import os
import site
import sys

site.addsitedir(os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))

from otwatch.agent.__main__ import main  # after the path is set

if __name__ == "__main__":
    sys.exit(main())
