"""Signed packages: accepted when intact; every kind of tampering refused with the right message."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from otwatch.cli import app
from otwatch.wire import package
from otwatch.wire.package import PackageError

PRIV, PUB = package.generate_release_key()
KEY = package.load_private(PRIV)
TRUSTED = [package.load_public(PUB)]
FILES = {
    "engine.json": b'{"version": "2.0.0", "ports": [502, 102]}',
    "rules/banners.txt": b"Server: Acme PLC\n",
}


def good() -> bytes:
    return package.build("otd", "2.0.0", "1.0.0", FILES, KEY)


def test_signed_package_accepted() -> None:
    pkg = package.verify(good(), TRUSTED)
    assert pkg.manifest.kind == "otd" and pkg.manifest.version == "2.0.0" and pkg.files == FILES
    assert pkg.manifest.file_name == "otd-engine-2.0.0.tar"
    assert package.FILE_NAMES["sensor"].format(version="23.1") == "sensor-secured-patcher-23.1.tar"


def test_one_flipped_byte_in_the_payload_is_refused() -> None:
    data = bytearray(good())
    at = bytes(data).index(b"Acme PLC")
    data[at] ^= 0x01
    with pytest.raises(PackageError, match=r"rules/banners.txt does not match its SHA-256"):
        package.verify(bytes(data), TRUSTED)


def test_flipped_byte_in_the_manifest_breaks_the_signature() -> None:
    data = bytearray(good())
    at = bytes(data).index(b'"version": "2.0.0"') + 13
    data[at] ^= 0x01
    with pytest.raises(PackageError, match="signature does not match any trusted release key"):
        package.verify(bytes(data), TRUSTED)


def test_wrong_key_refused() -> None:
    other = package.load_private(package.generate_release_key()[0])
    with pytest.raises(PackageError, match="signature does not match"):
        package.verify(package.build("otd", "2.0.0", "1.0.0", FILES, other), TRUSTED)
    with pytest.raises(PackageError, match="no trusted release key"):
        package.verify(good(), [])


def _retar(data: bytes, drop: str | None = None, add: tuple[tarfile.TarInfo, bytes] | None = None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=io.BytesIO(data)) as src, tarfile.open(fileobj=buf, mode="w") as dst:
        for m in src.getmembers():
            if m.name != drop:
                dst.addfile(m, src.extractfile(m))
        if add:
            dst.addfile(add[0], io.BytesIO(add[1]))
    return buf.getvalue()


def test_unsigned_and_structural_problems() -> None:
    with pytest.raises(PackageError, match="not signed"):
        package.verify(_retar(good(), drop="manifest.sig"), TRUSTED)
    with pytest.raises(PackageError, match="missing"):
        package.verify(_retar(good(), drop="payload/engine.json"), TRUSTED)
    extra = tarfile.TarInfo("payload/evil.sh")
    extra.size = 3
    with pytest.raises(PackageError, match="unlisted"):
        package.verify(_retar(good(), add=(extra, b"rm!")), TRUSTED)
    link = tarfile.TarInfo("payload/link")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    with pytest.raises(PackageError, match="links are refused"):
        package.verify(_retar(good(), add=(link, b"")), TRUSTED)
    trav = tarfile.TarInfo("../../etc/cron.d/x")
    trav.size = 1
    with pytest.raises(PackageError, match="unsafe file name"):
        package.verify(_retar(good(), add=(trav, b"x")), TRUSTED)
    with pytest.raises(PackageError, match="not a package"):
        package.verify(b"hello world" * 100, TRUSTED)
    with pytest.raises(PackageError, match="not a package"):
        package.verify(good()[:700], TRUSTED)


@pytest.mark.parametrize(
    ("current", "message"),
    [
        ("2.0.0", "not newer than the installed 2.0.0"),
        ("2.0", "not newer than the installed 2.0"),
        ("3.1", "downgrade refused"),
        ("0.9.5", "upgrades from 1.0.0 or later; 0.9.5 is installed"),
    ],
)
def test_downgrade_and_minimum_version(current: str, message: str) -> None:
    m = package.verify(good(), TRUSTED).manifest
    with pytest.raises(PackageError, match=message):
        package.check_upgrade(m, "otd", current)


def test_upgrade_rules_accept() -> None:
    m = package.verify(good(), TRUSTED).manifest
    package.check_upgrade(m, "otd", "1.0")
    package.check_upgrade(m, "otd", "1.9.9")
    package.check_upgrade(m, "otd", None)
    with pytest.raises(PackageError, match="this is a otd package, not a sensor package"):
        package.check_upgrade(m, "sensor", "1.0")


def test_cli_keygen_sign_verify(tmp_path: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["release", "keygen", str(tmp_path / "k")]).exit_code == 0
    assert runner.invoke(app, ["release", "keygen", str(tmp_path / "k")]).exit_code == 1  # never overwrites
    src = tmp_path / "payload"
    src.mkdir()
    (src / "engine.json").write_text('{"version": "1.1"}')
    out = tmp_path / "p.tar"
    r = runner.invoke(
        app,
        [
            "release",
            "sign",
            str(src),
            "--key",
            str(tmp_path / "k/release.key"),
            "--kind",
            "otd",
            "--version",
            "1.1",
            "-o",
            str(out),
        ],
    )
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["release", "verify", str(out), "--pubkey", str(tmp_path / "k/release.pub")])
    assert r.exit_code == 0 and "OK otd 1.1" in r.output
    other = tmp_path / "o"
    runner.invoke(app, ["release", "keygen", str(other)])
    r = runner.invoke(app, ["release", "verify", str(out), "--pubkey", str(other / "release.pub")])
    assert r.exit_code == 1 and "signature does not match" in r.output
