"""The one host-specific piece of the sensor console: writing network settings to the machine.

:class:`HostNetwork` is the interface the console calls (``apply(settings)``); it returns what it
changed, for the page to show. Two implementations:

* :class:`DebianNetwork` writes ifupdown configuration — ``etc/network/interfaces.d/<iface>``,
  ``etc/hostname``, ``etc/hosts`` (the 127.0.1.1 line), ``etc/resolv.conf`` and, for the proxy,
  ``etc/otwatch-sensor/proxy.env`` — below a root directory. The root is ``/`` on a real sensor and a
  temporary directory in tests (the "fake host"). Files are replaced atomically; the interface is
  brought up with the new address by ``ifdown/ifup`` or at the next boot, which the page says.
  ``/etc/network/interfaces`` must contain ``source /etc/network/interfaces.d/*`` (Debian's default).
* :class:`NetworkManagerNetwork`, for a Debian host whose network NetworkManager runs (detected by
  :func:`host_network` from ``run/NetworkManager``, which exists while NetworkManager runs): the
  address, gateway and DNS go to a keyfile connection profile,
  ``etc/NetworkManager/system-connections/otwatch-<iface>.nmconnection`` (0600, as NetworkManager
  requires), instead of ifupdown's file, which NetworkManager would leave unmanaged; hostname, hosts
  and the proxy are written as above. It takes effect with ``nmcli connection reload`` and
  ``nmcli connection up otwatch-<iface>``, or at the next boot.
* :class:`WindowsNetwork` documents the Windows approach: the same settings as ``netsh`` commands
  (``interface ipv4 set address``, ``set dnsservers`` / ``add dnsservers``, ``winhttp set proxy``)
  and a ``Rename-Computer`` for the hostname, written to ``otwatch-network.cmd`` for an
  administrator to run. It never runs them: changing a Windows host's address from a web page
  needs an elevated process this console does not have.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Final

from otwatch.sensor.config.netsettings import NetworkSettings
from otwatch.sensor.local.store import write_atomic

MARKER: Final = "# Written by the OTWatch sensor console (System Settings > Sensor network settings)."


class HostNetwork(ABC):
    """Where network settings go; ``apply`` returns the files (or scripts) it wrote."""

    name: str = "host"

    @abstractmethod
    def apply(self, settings: NetworkSettings) -> list[Path]: ...

    def takes_effect(self, settings: NetworkSettings) -> str:
        """When what ``apply`` wrote is in use, said on the page after a save."""
        return "They take effect when the interface restarts."


class DebianNetwork(HostNetwork):
    name = "Debian (ifupdown)"

    def __init__(self, root: Path = Path("/")) -> None:
        self.root = root

    def path(self, relative: str) -> Path:
        return self.root / relative

    @staticmethod
    def interfaces(s: NetworkSettings) -> str:
        return (
            f"{MARKER}\n"
            f"auto {s.interface}\n"
            f"iface {s.interface} inet static\n"
            f"    address {s.ip}/{s.prefix}\n"
            f"    gateway {s.gateway}\n"
        )

    @staticmethod
    def resolv_conf(s: NetworkSettings) -> str:
        search = ""
        if "." in s.hostname:
            search = f"search {s.hostname.split('.', 1)[1]}\n"
        return f"{MARKER}\n{search}" + "".join(f"nameserver {d}\n" for d in s.dns)

    def hosts(self, s: NetworkSettings) -> str:
        """The existing hosts file with its 127.0.1.1 line (Debian's own-name line) replaced."""
        current = self.path("etc/hosts")
        lines = (
            current.read_text(encoding="utf-8").splitlines() if current.exists() else ["127.0.0.1 localhost"]
        )
        kept = [ln for ln in lines if ln.split()[:1] != ["127.0.1.1"]]
        short = s.hostname.split(".", 1)[0]
        names = f"{s.hostname} {short}" if short != s.hostname else s.hostname
        return "\n".join([*kept, f"127.0.1.1 {names}"]) + "\n"

    @staticmethod
    def proxy_env(s: NetworkSettings) -> str:
        assert s.proxy is not None
        url = s.proxy.url()
        return (
            f"{MARKER}\n"
            f"http_proxy={url}\nhttps_proxy={url}\nHTTP_PROXY={url}\nHTTPS_PROXY={url}\n"
            f"no_proxy=localhost,127.0.0.1,::1\n"
        )

    def apply(self, settings: NetworkSettings) -> list[Path]:
        written: list[Path] = []

        def put(relative: str, text: str, mode: int = 0o644) -> None:
            p = self.path(relative)
            write_atomic(p, text, mode)
            written.append(p)

        put(f"etc/network/interfaces.d/{settings.interface}", self.interfaces(settings))
        put("etc/resolv.conf", self.resolv_conf(settings))
        if settings.hostname:
            put("etc/hostname", settings.hostname + "\n")
            put("etc/hosts", self.hosts(settings))
        proxy = self.path("etc/otwatch-sensor/proxy.env")
        if settings.proxy is not None:
            put("etc/otwatch-sensor/proxy.env", self.proxy_env(settings), 0o600)  # may hold a password
        elif proxy.exists():
            proxy.unlink()
            written.append(proxy)
        return written


class NetworkManagerNetwork(DebianNetwork):
    name = "Debian (NetworkManager)"

    def takes_effect(self, settings: NetworkSettings) -> str:
        return (
            f"They take effect after nmcli connection reload and nmcli connection up otwatch-{settings.interface}, "
            "or at the next boot."
        )

    @staticmethod
    def profile(s: NetworkSettings) -> str:
        """A keyfile connection profile: static IPv4 on the management interface, its DNS only."""
        search = f"dns-search={s.hostname.split('.', 1)[1]};\n" if "." in s.hostname else ""
        return (
            f"{MARKER}\n"
            "[connection]\n"
            f"id=otwatch-{s.interface}\n"
            "type=ethernet\n"
            f"interface-name={s.interface}\n"
            "autoconnect=true\n"
            "autoconnect-priority=100\n\n"
            "[ipv4]\n"
            "method=manual\n"
            f"address1={s.ip}/{s.prefix},{s.gateway}\n"
            f"dns={''.join(d + ';' for d in s.dns)}\n"
            f"{search}"
            "ignore-auto-dns=true\n\n"
            "[ipv6]\n"
            "method=ignore\n"
        )

    def apply(self, settings: NetworkSettings) -> list[Path]:
        written: list[Path] = []
        profile = self.path(
            f"etc/NetworkManager/system-connections/otwatch-{settings.interface}.nmconnection"
        )
        write_atomic(profile, self.profile(settings), 0o600)  # NetworkManager ignores a readable keyfile
        written.append(profile)
        if settings.hostname:
            for relative, text in (
                ("etc/hostname", settings.hostname + "\n"),
                ("etc/hosts", self.hosts(settings)),
            ):
                write_atomic(self.path(relative), text, 0o644)
                written.append(self.path(relative))
        proxy = self.path("etc/otwatch-sensor/proxy.env")
        if settings.proxy is not None:
            write_atomic(proxy, self.proxy_env(settings), 0o600)
            written.append(proxy)
        elif proxy.exists():
            proxy.unlink()
            written.append(proxy)
        return written


def host_network(root: Path) -> DebianNetwork:
    """The Debian host below ``root`` as it is run: NetworkManager while it runs there, else ifupdown."""
    if (root / "run/NetworkManager").is_dir():
        return NetworkManagerNetwork(root)
    return DebianNetwork(root)


class WindowsNetwork(HostNetwork):
    name = "Windows (netsh script, not run)"

    def __init__(self, root: Path, interface_alias: str = "Ethernet") -> None:
        self.root, self.alias = root, interface_alias

    def commands(self, s: NetworkSettings) -> list[list[str]]:
        alias = f"name={self.alias}"
        cmds = [
            ["netsh", "interface", "ipv4", "set", "address", alias, "static", s.ip, s.mask, s.gateway],
            ["netsh", "interface", "ipv4", "set", "dnsservers", alias, "static", s.dns[0], "primary"],
        ]
        for i, extra in enumerate(s.dns[1:], start=2):
            cmds.append(["netsh", "interface", "ipv4", "add", "dnsservers", alias, extra, f"index={i}"])
        if s.proxy is not None:
            cmds.append(["netsh", "winhttp", "set", "proxy", f"proxy-server={s.proxy.host}:{s.proxy.port}"])
        else:
            cmds.append(["netsh", "winhttp", "reset", "proxy"])
        if s.hostname:
            short = s.hostname.split(".", 1)[0]
            cmds.append(["powershell", "-NoProfile", "-Command", f"Rename-Computer -NewName {short} -Force"])
        return cmds

    def script(self, s: NetworkSettings) -> str:
        lines = ["@echo off", "rem " + MARKER, "rem Run from an elevated prompt."]
        lines += [" ".join(_cmd_quote(a) for a in c) for c in self.commands(s)]
        return "\r\n".join(lines) + "\r\n"

    def apply(self, settings: NetworkSettings) -> list[Path]:
        path = self.root / "otwatch-network.cmd"
        write_atomic(path, self.script(settings), 0o644)
        return [path]


def _cmd_quote(arg: str) -> str:
    return f'"{arg}"' if any(c in arg for c in ' \t&|<>^"') else arg


class RecordOnly(HostNetwork):
    """Keeps the settings in the sensor's state only (a sensor not allowed to change its host)."""

    name = "not applied to the host"

    def apply(self, settings: NetworkSettings) -> list[Path]:
        return []
