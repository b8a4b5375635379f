"""The agent as a Windows service: registered with ``sc.exe``, hosted in ``python.exe`` by pywin32.

Why ``python.exe`` itself is the service image: the Service Control Manager talks only to the
process it starts, so a launcher that spawns Python as a child (a venv's ``python.exe``, pip's
``.exe`` entry points) never answers it (error 1053). ``python.exe <launcher> service run`` calls
pywin32's ``servicemanager.StartServiceCtrlDispatcher`` in that very process.

The ``sc.exe`` command lines are built here as argument lists (tested as strings on any system) and
run only on Windows by ``otwatch agent service install | remove``. Nothing in this module imports
pywin32 at import time.
"""

from __future__ import annotations

import importlib
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

SERVICE_NAME = "OTWatchAgent"
DISPLAY_NAME = "OTWatch OT Agent"
DESCRIPTION = "OTWatch OT Agent: active, read-only discovery of OT assets for the OTWatch console."
#: Restart after 5 s, 5 s, then 60 s; the failure count resets after a day.
FAILURE_ACTIONS = "restart/5000/restart/5000/restart/60000"


def quote(arg: str) -> str:
    """One argument quoted for a Windows command line (``CommandLineToArgvW`` rules)."""
    return subprocess.list2cmdline([arg])


def service_command(python: str, launcher: Path | str, install_base: Path | str) -> str:
    """The service's image path: ``python.exe`` running the launcher's ``service run``. A trailing
    backslash would escape the closing quote, so the base is given without one."""
    base = str(install_base).rstrip("\\/") or str(install_base)
    return " ".join([quote(python), quote(str(launcher)), "service", "run", "--install-base", quote(base)])


def install_commands(
    python: str, launcher: Path | str, install_base: Path | str, name: str = SERVICE_NAME
) -> list[list[str]]:
    """``sc.exe`` create (automatic start, LocalSystem), description, restart on failure, start.
    ``sc.exe`` wants each ``option=`` and its value as two arguments."""
    return [
        [
            "sc.exe",
            "create",
            name,
            "binPath=",
            service_command(python, launcher, install_base),
            "start=",
            "auto",
            "DisplayName=",
            DISPLAY_NAME,
        ],
        ["sc.exe", "description", name, DESCRIPTION],
        ["sc.exe", "failure", name, "reset=", "86400", "actions=", FAILURE_ACTIONS],
        ["sc.exe", "start", name],
    ]


def remove_commands(name: str = SERVICE_NAME) -> list[list[str]]:
    return [["sc.exe", "stop", name], ["sc.exe", "delete", name]]


def command_line(args: list[str]) -> str:
    """How ``subprocess`` on Windows passes ``args`` (what ``sc.exe`` parses)."""
    return subprocess.list2cmdline(args)


def run_commands(commands: list[list[str]], *, check_all: bool = True) -> list[tuple[str, int, str]]:
    """Run each command; (command line, exit code, output). Stops at the first failure when
    ``check_all``."""
    results: list[tuple[str, int, str]] = []
    for args in commands:
        proc = subprocess.run(args, capture_output=True, text=True, check=False)
        results.append((command_line(args), proc.returncode, (proc.stdout + proc.stderr).strip()))
        if check_all and proc.returncode != 0:
            break
    return results


def host_service(install_base: Path, make_node: Callable[[Path], Any]) -> None:
    """Hand this process to the Service Control Manager (pywin32), running ``make_node(base)``'s
    ``run()`` until the service is stopped (``stop()``)."""
    win32serviceutil: Any = importlib.import_module("win32serviceutil")
    win32service: Any = importlib.import_module("win32service")
    servicemanager: Any = importlib.import_module("servicemanager")

    class AgentService(win32serviceutil.ServiceFramework):  # type: ignore[misc]
        _svc_name_ = SERVICE_NAME
        _svc_display_name_ = DISPLAY_NAME
        _svc_description_ = DESCRIPTION

        def __init__(self, args: Any) -> None:
            super().__init__(args)
            self.node: Any = None

        def SvcStop(self) -> None:  # pywin32 calls these by name
            self.ReportServiceStatus(win32service.SERVICE_STOP_PENDING)
            if self.node is not None:
                self.node.stop()

        def SvcDoRun(self) -> None:  # pywin32 calls these by name
            servicemanager.LogInfoMsg(f"{DISPLAY_NAME} starting from {install_base}")
            self.node = make_node(install_base)
            self.node.run()

    servicemanager.Initialize()
    servicemanager.PrepareToHostSingle(AgentService)
    servicemanager.StartServiceCtrlDispatcher()
