"""Signed update packages: one format for OTD engine updates, sensor and console versions, and
threat-intelligence packages.

A package is a tar file::

    manifest.json   {"format": 1, "kind", "version", "min_version", "created_at", "files": {name: sha256}}
    manifest.sig    Ed25519 signature of manifest.json's exact bytes (64 raw bytes)
    payload/...     the content; every file is listed in the manifest with its SHA-256

Verification happens before anything is staged: the signature against the pinned release keys,
then every payload file against its hash, with no extra or missing file, no path outside
``payload/``, no links, and bounded sizes. Every refusal is a PackageError with a clear message.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

__all__ = ["KINDS", "Ed25519PrivateKey", "Ed25519PublicKey", "Manifest", "Package", "PackageError"]

KINDS = ("otd", "sensor", "console", "threat-intel")
FILE_NAMES = {
    "otd": "otd-engine-{version}.tar",
    "sensor": "sensor-secured-patcher-{version}.tar",
    "console": "management-secured-patcher-{version}.tar",
    "threat-intel": "threat-intel-{version}.tar",
}
MAX_PACKAGE_BYTES = 2 * 1024**3
MAX_MEMBERS = 10_000
MAX_MANIFEST_BYTES = 16 * 1024 * 1024
CHUNK = 1024 * 1024
_VERSION = re.compile(r"^\d+(\.\d+){0,3}$")


class PackageError(ValueError):
    """A package that must not be installed, with the reason in words an operator understands."""


def parse_version(text: str) -> tuple[int, ...]:
    if not _VERSION.match(text):
        raise PackageError(f"version {text!r} is not dotted numbers (for example 2.4.1)")
    return tuple(int(p) for p in text.split("."))


def version_lt(a: str, b: str) -> bool:
    """a < b, padding the shorter version with zeros (1.2 == 1.2.0)."""
    pa, pb = parse_version(a), parse_version(b)
    width = max(len(pa), len(pb))
    return pa + (0,) * (width - len(pa)) < pb + (0,) * (width - len(pb))


@dataclass(frozen=True, slots=True)
class Manifest:
    kind: str
    version: str
    min_version: str
    created_at: str
    files: dict[str, str]

    @property
    def file_name(self) -> str:
        return FILE_NAMES[self.kind].format(version=self.version)


@dataclass(frozen=True, slots=True)
class Package:
    manifest: Manifest
    files: dict[str, bytes]  # payload-relative name -> content
    sha256: str  # of the whole package file
    key_id: str  # which trusted key signed it


# ------------------------------------------------------------------ keys


def key_id(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def generate_release_key() -> tuple[bytes, bytes]:
    """(private PEM, public PEM) of a new Ed25519 release key."""
    priv = Ed25519PrivateKey.generate()
    return (
        priv.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
        priv.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
    )


def load_private(pem: bytes) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise PackageError("the signing key is not an Ed25519 private key")
    return key


def load_public(pem: bytes) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(pem)
    except ValueError as exc:
        raise PackageError("a trusted release key is not a PEM public key") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise PackageError("a trusted release key is not an Ed25519 public key")
    return key


def load_trusted(directory: Path) -> list[Ed25519PublicKey]:
    return (
        [load_public(p.read_bytes()) for p in sorted(directory.glob("*.pub"))] if directory.is_dir() else []
    )


def public_pem(key: Ed25519PublicKey) -> str:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


# ------------------------------------------------------------------ build and sign


def build(
    kind: str, version: str, min_version: str, files: dict[str, bytes], private: Ed25519PrivateKey
) -> bytes:
    if kind not in KINDS:
        raise PackageError(f"kind must be one of {', '.join(KINDS)}")
    parse_version(version)
    parse_version(min_version)
    for name in files:
        _check_name(name)
    manifest = {
        "format": 1,
        "kind": kind,
        "version": version,
        "min_version": min_version,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "files": {n: hashlib.sha256(c).hexdigest() for n, c in sorted(files.items())},
    }
    mbytes = json.dumps(manifest, indent=2, sort_keys=True).encode()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        _add(tar, "manifest.json", mbytes)
        _add(tar, "manifest.sig", private.sign(mbytes))
        for name, content in sorted(files.items()):
            _add(tar, f"payload/{name}", content)
    return buf.getvalue()


def build_from_dir(kind: str, version: str, min_version: str, src: Path, private: Ed25519PrivateKey) -> bytes:
    files = {p.relative_to(src).as_posix(): p.read_bytes() for p in sorted(src.rglob("*")) if p.is_file()}
    if not files:
        raise PackageError(f"{src} holds no files to package")
    return build(kind, version, min_version, files, private)


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = 0
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))


def _check_name(name: str) -> None:
    p = PurePosixPath(name)
    if not name or p.is_absolute() or ".." in p.parts or "\\" in name or "\x00" in name:
        raise PackageError(f"unsafe file name in package: {name!r}")


# ------------------------------------------------------------------ verify


def verify(
    data: bytes | BinaryIO, trusted: Iterable[Ed25519PublicKey], *, keep_files: bool = True
) -> Package:
    """Check everything; return the verified package or raise PackageError.

    ``data`` is the package's bytes or a seekable binary file (an upload spooled to disk: never read
    into memory whole). ``keep_files=False`` hashes the payload in chunks and keeps none of it
    (``Package.files`` is then empty): what a console that only stores and forwards a package needs.

    The order bounds what an unsigned or hostile file can cost: first every member's header (plain
    regular files only: no links, devices or sparse files, whose declared size is not in the
    archive; each member's bytes inside the archive), then the manifest and its signature, then the
    payload names against the manifest, and only then the payload bytes, each hashed once."""
    trusted = list(trusted)
    if not trusted:
        raise PackageError("no trusted release key is configured; refusing every package")
    src: BinaryIO = io.BytesIO(data) if isinstance(data, bytes | bytearray) else data
    size = src.seek(0, io.SEEK_END)
    if size > MAX_PACKAGE_BYTES:
        raise PackageError("package is larger than 2 GB")
    whole = hashlib.sha256()
    src.seek(0)
    for chunk in iter(lambda: src.read(CHUNK), b""):
        whole.update(chunk)
    src.seek(0)
    entries: dict[str, tarfile.TarInfo] = {}
    try:
        with tarfile.open(fileobj=src, mode="r:") as tar:
            for i, m in enumerate(tar):
                if i >= MAX_MEMBERS:
                    raise PackageError("package has too many files")
                if m.type not in (tarfile.REGTYPE, tarfile.AREGTYPE) or m.sparse is not None:
                    raise PackageError(
                        f"package entry {m.name!r} is not a regular file (links are refused, so are "
                        "devices and sparse files)"
                    )
                _check_name(m.name)
                if m.size < 0 or m.offset_data + m.size > size:
                    raise PackageError(
                        f"not a package (damaged or truncated): entry {m.name!r} claims more bytes "
                        "than the package holds"
                    )
                if m.name in entries:
                    raise PackageError(f"package lists {m.name!r} twice")
                entries[m.name] = m

            def read(m: tarfile.TarInfo) -> bytes:
                f = tar.extractfile(m)
                if f is None:
                    raise PackageError(f"package entry {m.name!r} cannot be read")
                return f.read()

            mentry, sentry = entries.pop("manifest.json", None), entries.pop("manifest.sig", None)
            if mentry is None:
                raise PackageError("package has no manifest.json")
            if sentry is None:
                raise PackageError("package is not signed (no manifest.sig)")
            if mentry.size > MAX_MANIFEST_BYTES or sentry.size > 1024:
                raise PackageError("manifest.json or manifest.sig is too large")
            mbytes, sig = read(mentry), read(sentry)
            signer = _signer(mbytes, sig, trusted)
            manifest = _manifest(mbytes)
            strays = sorted(n for n in entries if not n.startswith("payload/"))
            if strays:
                raise PackageError(f"package holds files outside payload/: {', '.join(strays)}")
            names = {n.removeprefix("payload/"): m for n, m in entries.items()}
            missing = sorted(set(manifest.files) - set(names))
            extra = sorted(set(names) - set(manifest.files))
            if missing or extra:
                raise PackageError(
                    f"package content differs from its manifest (missing {missing}, unlisted {extra})"
                )
            payload: dict[str, bytes] = {}
            for name, m in names.items():
                if keep_files:
                    content = read(m)
                    digest = hashlib.sha256(content).hexdigest()
                else:
                    digest = _stream_digest(tar, m)
                if digest != manifest.files[name]:
                    raise PackageError(f"file {name} does not match its SHA-256 in the manifest (tampered)")
                if keep_files:
                    payload[name] = content
    except (tarfile.TarError, EOFError) as exc:
        raise PackageError(f"not a package (damaged or not a tar file): {exc}") from exc
    return Package(manifest, payload, whole.hexdigest(), key_id(signer))


def _stream_digest(tar: tarfile.TarFile, m: tarfile.TarInfo) -> str:
    f = tar.extractfile(m)
    if f is None:
        raise PackageError(f"package entry {m.name!r} cannot be read")
    h = hashlib.sha256()
    for chunk in iter(lambda: f.read(CHUNK), b""):
        h.update(chunk)
    return h.hexdigest()


def _signer(mbytes: bytes, sig: bytes, trusted: list[Ed25519PublicKey]) -> Ed25519PublicKey:
    for pub in trusted:
        try:
            pub.verify(sig if len(sig) == 64 else base64.b64decode(sig), mbytes)
            return pub
        except (InvalidSignature, ValueError):
            continue
    raise PackageError(
        "signature does not match any trusted release key (tampered, or signed by another key)"
    )


def _manifest(mbytes: bytes) -> Manifest:
    try:
        raw = json.loads(mbytes)
        manifest = Manifest(
            kind=str(raw["kind"]), version=str(raw["version"]), min_version=str(raw["min_version"]),
            created_at=str(raw.get("created_at", "")), files={str(k): str(v) for k, v in raw["files"].items()},
        )  # fmt: skip
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise PackageError("manifest.json is not a valid manifest") from exc
    if manifest.kind not in KINDS:
        raise PackageError(f"unknown package kind {manifest.kind!r}")
    parse_version(manifest.version)
    parse_version(manifest.min_version)
    return manifest


def check_upgrade(manifest: Manifest, kind: str, current: str | None) -> None:
    """Refuse the wrong kind, a downgrade, or an upgrade from below the package's minimum version."""
    if manifest.kind != kind:
        raise PackageError(f"this is a {manifest.kind} package, not a {kind} package")
    if current:
        if not version_lt(current, manifest.version):
            raise PackageError(
                f"version {manifest.version} is not newer than the installed {current} (downgrade refused)"
            )
        if version_lt(current, manifest.min_version):
            raise PackageError(
                f"version {manifest.version} upgrades from {manifest.min_version} or later; {current} is installed"
            )


# ------------------------------------------------------------------ install a version's payload


def unpack(pkg: Package, target: Path) -> None:
    """Write a verified package's payload into a fresh ``target`` (through ``.<name>.part`` and a
    rename, so a half-written version never exists under its real name)."""
    part = target.with_name(f".{target.name}.part")
    shutil.rmtree(part, ignore_errors=True)
    for name, content in pkg.files.items():
        f = part / name
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(content)
    if target.exists():
        shutil.rmtree(target)
    part.rename(target)


def check_version_payload(pkg: Package) -> None:
    """A sensor or console version carries ``version.json`` (its version) and ``lib/`` (its code)."""
    version = pkg.manifest.version
    try:
        declared = json.loads(pkg.files["version.json"])["version"]
    except (KeyError, ValueError, TypeError) as exc:
        raise PackageError("payload has no valid version.json") from exc
    if declared != version:
        raise PackageError(f"version.json says {declared}, the manifest {version}")
    if not any(n.startswith("lib/") for n in pkg.files):
        raise PackageError("payload has no lib/ (the version's code)")


def precheck_code(lib: Path, version: str, module: str) -> None:
    """The code in ``lib`` imports ``module`` and says it is ``version`` — in a child interpreter,
    before anything is switched to it. ``-P``: the working directory is not put before ``lib`` on
    ``sys.path``, so nothing left there is checked (or run) in its place."""
    code = f"import {module}, otwatch; print(otwatch.__version__)"
    env = dict(os.environ, PYTHONPATH=str(lib))
    try:
        r = subprocess.run(
            [sys.executable, "-P", "-c", code],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise PackageError(f"version {version} does not start (import timed out)") from exc
    if r.returncode != 0:
        tail = (r.stderr.strip().splitlines() or ["no output"])[-1]
        raise PackageError(f"version {version} does not start: {tail}")
    if r.stdout.strip() != version:
        raise PackageError(f"the code in the package is version {r.stdout.strip()}, not {version}")


def repoint(link: Path, target: Path | None) -> None:
    """Atomically point the symlink ``link`` at ``target`` (relative to the link's folder) — a fresh
    link renamed over the old one, so readers see either version, never none — or remove it."""
    if target is None:
        link.unlink(missing_ok=True)
        return
    tmp = link.with_name(f".{link.name}.tmp")
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(target)
    tmp.replace(link)


def pointed_version(link: Path) -> str | None:
    """The version folder a ``current``/``previous`` link names (None when there is no link)."""
    return PurePosixPath(os.readlink(link)).name if link.is_symlink() else None


def install_version(pkg: Package, root: Path, module: str) -> Path:
    """Unpack a verified sensor or console version into ``root/<version>`` and import-check its code
    (``module``); when the check fails nothing of it stays. Returns the version's folder."""
    target = root / pkg.manifest.version
    root.mkdir(parents=True, exist_ok=True)
    unpack(pkg, target)
    try:
        precheck_code(target / "lib", pkg.manifest.version, module)
    except PackageError:
        shutil.rmtree(target, ignore_errors=True)
        raise
    return target
