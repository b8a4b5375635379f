"""The Windows agent's MSI, built with msitools' wixl from packaging/windows/otwatch-agent.wxs and read
back with msiinfo / msiextract: the seed's msiexec properties, the files, the service entry, and
custom action command lines that the agent's own CLI accepts as Windows would split them.

Builds the real wheel (``pip wheel --no-deps``, about 10 s), hence slow (tests/conftest.py)."""

from __future__ import annotations

import re
import shutil
import subprocess
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from otwatch.agent.__main__ import app
from otwatch.agent.lifecycle import MSI_PROPERTIES, credentials_from_properties

REPO = Path(__file__).resolve().parents[2]
TOOLS = ("wixl", "msiinfo", "msibuild", "msiextract")
pytestmark = pytest.mark.skipif(
    any(shutil.which(t) is None for t in TOOLS),
    reason="msitools' wixl, msiinfo, msibuild and msiextract are needed (scripts/system-deps.sh installs them)",
)
SEED_PROPERTIES = (*MSI_PROPERTIES, "INSTALLBASE")
INSTALLBASE = "C:\\Program Files\\AAA\\"  # the seed's example folder, as msiexec formats a folder property


@pytest.fixture(scope="module")
def msi(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    out = tmp_path_factory.mktemp("msi")
    proc = subprocess.run(
        [str(REPO / "scripts" / "build-agent-msi.sh"), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    yield Path(proc.stdout.strip().splitlines()[-1])


def table(msi: Path, name: str) -> list[list[str]]:
    """Rows of one table (``msiinfo export``: a header of three lines, then tab-separated rows)."""
    text = subprocess.run(
        ["msiinfo", "export", str(msi), name], capture_output=True, text=True, check=True
    ).stdout
    return [line.split("\t") for line in text.splitlines()[3:] if line]


def windows_argv(cmdline: str) -> list[str]:
    """Split a command line as ``CommandLineToArgvW`` does (quotes; backslashes only before a quote)."""
    args: list[str] = []
    cur: list[str] = []
    in_arg = quoted = False
    i = 0
    while i < len(cmdline):
        c = cmdline[i]
        if c == "\\":
            n = len(cmdline[i:]) - len(cmdline[i:].lstrip("\\"))
            if i + n < len(cmdline) and cmdline[i + n] == '"':
                cur.append("\\" * (n // 2))
                if n % 2:
                    cur.append('"')
                    i += n + 1
                else:
                    i += n
                in_arg = True
                continue
            cur.append("\\" * n)
            i += n
            in_arg = True
            continue
        if c == '"':
            quoted = not quoted
            in_arg = True
        elif c in " \t" and not quoted:
            if in_arg:
                args.append("".join(cur))
                cur, in_arg = [], False
        else:
            cur.append(c)
            in_arg = True
        i += 1
    if in_arg:
        args.append("".join(cur))
    return args


def formatted(target: str, values: dict[str, str]) -> str:
    """A custom action's target as Windows Installer formats it: ``[NAME]`` is the property's value
    (empty when unset), ``[#file]`` the installed file's path."""
    return re.sub(r"\[([#A-Za-z0-9_.]+)\]", lambda m: values.get(m.group(1), ""), target)


def test_seed_properties_are_secure_and_secrets_hidden(msi: Path) -> None:
    props = dict((row[0], row[1]) for row in table(msi, "Property"))
    assert props["ProductName"] == "OTWatch OT Agent" and props["ALLUSERS"] == "1"
    assert set(SEED_PROPERTIES) <= set(props["SecureCustomProperties"].split(";"))
    assert set(props["MsiHiddenProperties"].split(";")) == {"PAIRING_KEY", "ICP_PASSWORD", "ICP_APIKEY"}
    # INSTALLBASE is the install folder itself, so INSTALLBASE="C:\..." on the command line moves it
    dirs = {row[0]: (row[1], row[2]) for row in table(msi, "Directory")}
    assert dirs["INSTALLBASE"] == ("OTWATCHDIR", "OT Agent")
    assert dirs["OTWATCHDIR"] == ("ProgramFiles64Folder", "OTWatch")


def test_files_are_the_wheel_and_the_launcher(msi: Path, tmp_path: Path) -> None:
    files = {row[0]: row[2] for row in table(msi, "File")}
    assert files["launcher"] == "otwatch-agent.py"
    assert re.fullmatch(r"otwatch-[0-9.]+-py3-none-any\.whl", files["wheel"])
    subprocess.run(["msiextract", "-C", str(tmp_path), str(msi)], capture_output=True, check=True)
    extracted = {p.name: p for p in tmp_path.rglob("*") if p.is_file()}
    launcher = extracted["otwatch-agent.py"].read_text()
    assert launcher == (REPO / "packaging" / "windows" / "otwatch-agent.py").read_text()
    with zipfile.ZipFile(extracted[files["wheel"]]) as wheel:
        names = set(wheel.namelist())
    assert {"otwatch/agent/__main__.py", "otwatch/agent/platform/windows.py"} <= names


def test_service_is_stopped_and_deleted_by_the_installer(msi: Path) -> None:
    ((name, service, event, _args, wait, component),) = table(msi, "ServiceControl")
    assert (name, service, wait, component) == ("AgentService", "OTWatchAgent", "1", "Launcher")
    # msidbServiceControlEvent: 0x2 stop at install, 0x20 stop at uninstall, 0x80 delete at uninstall
    assert int(event) == 0x2 | 0x20 | 0x80


def test_custom_actions_run_the_agent_cli_with_the_seed_properties(msi: Path) -> None:
    actions = {row[0]: (int(row[1]), row[2], row[3]) for row in table(msi, "CustomAction")}
    sequence = {row[0]: (row[1], int(row[2])) for row in table(msi, "InstallExecuteSequence")}
    # deferred (0x400), no impersonation (0x800): run as LocalSystem inside the install transaction
    for name in ("PipInstall", "Configure", "RegisterService", "Goodbye"):
        kind, source, _ = actions[name]
        assert kind & 0x3F == 50 and source == "PYTHON", name  # type 50: the exe is in property PYTHON
        assert kind & 0xC00 == 0xC00, name
        assert sequence["InstallInitialize"][1] < sequence[name][1] < sequence["InstallFinalize"][1], name
    assert sequence["InstallFiles"][1] < sequence["PipInstall"][1] < sequence["Configure"][1]
    assert sequence["Configure"][1] < sequence["RegisterService"][1]
    assert sequence["StopServices"][1] < sequence["Goodbye"][1] < sequence["RemoveFiles"][1]
    assert actions["Configure"][0] & 0x40, "a failed pairing must not fail the install (seed: use Repair)"

    values = {
        "#launcher": f"{INSTALLBASE}otwatch-agent.py",
        "INSTALLBASE": INSTALLBASE,
        "PYTHON": r"C:\Program Files\Python312\python.exe",
        "ICP_ADDRESS": "10.0.0.5",
        "ICP_APIKEY": "kxxxx_xxxx=",
        "ICP_FINGERPRINT": ":".join(["AB"] * 32),
    }
    argv = windows_argv(formatted(actions["Configure"][2], values))
    assert argv[0] == values["#launcher"] and argv[1] == "msi-configure"
    assert argv[2:4] == ["--install-base", f"{INSTALLBASE}."]
    props = argv[4:]
    assert sorted(p.split("=", 1)[0] for p in props) == sorted(MSI_PROPERTIES)
    creds = credentials_from_properties(props)
    assert (creds.address, creds.api_key, creds.fingerprint, creds.pairing_key, creds.password) == (
        "10.0.0.5",
        "kxxxx_xxxx=",
        values["ICP_FINGERPRINT"],
        None,
        None,
    )

    argv = windows_argv(formatted(actions["RegisterService"][2], values))
    assert argv[1:3] == ["service", "install"]
    result = CliRunner().invoke(app, [*argv[1:], "--print"])
    assert result.exit_code == 0, result.output
    create = result.output.splitlines()[0]
    assert create.startswith("sc.exe create OTWatchAgent binPath= ")
    assert '\\"C:\\Program Files\\Python312\\python.exe\\" ' in create
    assert '--install-base \\"C:\\Program Files\\AAA\\.\\"' in create


def test_launch_condition_asks_for_python(msi: Path) -> None:
    conditions = {row[0]: row[1] for row in table(msi, "LaunchCondition")}
    python = next(c for c in conditions if "PYTHON" in c)
    assert python.startswith("Installed OR PYTHON")
    locators = {row[0]: row[2] for row in table(msi, "RegLocator")}
    assert locators["Python312"] == r"SOFTWARE\Python\PythonCore\3.12\InstallPath"


def test_package_is_a_per_machine_x64_installer(msi: Path) -> None:
    info = subprocess.run(["msiinfo", "suminfo", str(msi)], capture_output=True, text=True, check=True).stdout
    assert "Template: x64;1033" in info  # 64-bit: ProgramFiles64Folder, the 64-bit registry and System32
    components = {row[0]: int(row[3]) for row in table(msi, "Component")}
    assert components and all(attrs & 0x100 for attrs in components.values())  # msidbComponentAttributes64bit
