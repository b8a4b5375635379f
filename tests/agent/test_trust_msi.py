"""Review of the Windows agent's MSI (findings 26 and 29): the installation folder is locked down
before any of its code runs as LocalSystem, and the pairing secrets stay out of the installer's log.

INSTALLBASE may be any folder (the seed: INSTALLBASE='"C:\\Program Files\\AAA"'). Outside Program Files a
new folder inherits its parent's ACL — on C:\\, Authenticated Users may modify what is created there —
so a local user could replace INSTALLBASE\\lib (pip's target) or the launcher, which the service runs as
LocalSystem. The MSI now makes Administrators the owner and grants SYSTEM and Administrators full
control and Users read and execute, between InstallFiles and the first custom action that runs Python.

Reads the built MSI back (msitools); the ACLs themselves need Windows, which CI does not have."""

from __future__ import annotations

from pathlib import Path

from tests.agent.test_agent_msi import INSTALLBASE, formatted, msi, table, windows_argv

__all__ = ["msi"]  # the fixture

SYSTEM, ADMINS, USERS = "*S-1-5-18", "*S-1-5-32-544", "*S-1-5-32-545"
ICACLS = "[System64Folder]icacls.exe"  # the 64-bit one, as for sc.exe and cmd.exe


def test_install_base_is_locked_before_python_runs_in_it(msi: Path) -> None:
    actions = {row[0]: (int(row[1]), row[2], row[3]) for row in table(msi, "CustomAction")}
    sequence = {row[0]: int(row[2]) for row in table(msi, "InstallExecuteSequence")}
    # the property that names icacls.exe (a type 51 action sets it) and the actions that run it
    (prop,) = [src for kind, src, target in actions.values() if (kind & 0x3F, target) == (51, ICACLS)]
    runs = {name: a for name, a in actions.items() if a[0] & 0x3F == 50 and a[1] == prop}
    assert runs, "no custom action runs icacls on the installation folder"
    argvs = {}
    for name, (kind, _src, target) in runs.items():
        assert kind & 0xC00 == 0xC00, name  # deferred, as LocalSystem
        assert not kind & 0x40, name  # a failure fails the installation
        assert sequence["InstallFiles"] < sequence[name] < sequence["PipInstall"], name
        argvs[name] = windows_argv(formatted(target, {"INSTALLBASE": INSTALLBASE}))
        assert argvs[name][0] == f"{INSTALLBASE}.", name
        assert "/T" not in argvs[name], name  # the state folder keeps its own, stricter ACL
    owner = [a for a in argvs.values() if "/setowner" in a]
    assert owner and owner[0][owner[0].index("/setowner") + 1] == ADMINS
    (lock,) = [a for a in argvs.values() if "/inheritance:r" in a]
    grants = lock[lock.index("/grant:r") + 1 :]
    grants = [g for g in grants if not g.startswith("/")]
    assert sorted(grants) == sorted([f"{SYSTEM}:(OI)(CI)F", f"{ADMINS}:(OI)(CI)F", f"{USERS}:(OI)(CI)RX"])
    lock_at = sequence[next(n for n, a in argvs.items() if a is lock)]
    owner_at = sequence[next(n for n, a in argvs.items() if a is owner[0])]
    assert owner_at < lock_at < sequence["PipInstall"] < sequence["Configure"] < sequence["RegisterService"]


def test_the_pairing_secrets_stay_out_of_the_installer_log(msi: Path) -> None:
    """Finding 29: MsiHiddenProperties keeps PAIRING_KEY, ICP_PASSWORD and ICP_APIKEY out of the log's
    property dumps, but a verbose log (``msiexec /l*v``, or the Logging policy, which deployment tools
    set and keep in folders users can read) also records each deferred custom action's formatted
    target: msi-configure's command line, with the secrets in it. Its target is hidden now
    (msidbCustomActionTypeHideTarget)."""
    actions = {row[0]: (int(row[1]), row[3]) for row in table(msi, "CustomAction")}
    secret = ("[PAIRING_KEY]", "[ICP_PASSWORD]", "[ICP_APIKEY]")
    carrying = [name for name, (_kind, target) in actions.items() if any(s in target for s in secret)]
    assert carrying == ["Configure"]
    for name in carrying:
        assert actions[name][0] & 0x2000, f"{name}'s target (with the secrets) is written to the log"
