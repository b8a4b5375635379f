"""Issue 17, item 7 (packages): sparse and non-plain tar members are refused, and nothing of a
payload is read before the signed manifest is checked and the sizes add up."""

from __future__ import annotations

import io
import tarfile
import tracemalloc
from pathlib import Path

import pytest

from otwatch.wire import package
from otwatch.wire.package import PackageError

PRIV, PUB = package.generate_release_key()
KEY = package.load_private(PRIV)
TRUSTED = [package.load_public(PUB)]


def _sparse_member(tar: tarfile.TarFile, name: str, real: int) -> None:
    """A PAX GNU sparse 0.1 entry: 0 bytes in the archive, ``real`` bytes (of holes) once read."""
    info = tarfile.TarInfo(name)
    info.pax_headers = {"GNU.sparse.map": "0,0", "GNU.sparse.size": str(real)}
    tar.addfile(info, io.BytesIO(b""))


def _with(extra: bytes | None = None, sparse: str | None = None) -> bytes:
    signed = package.build("otd", "1.2.0", "1.0.0", {"engine.txt": b"ok"}, KEY)
    out = io.BytesIO()
    with (
        tarfile.open(fileobj=io.BytesIO(signed)) as src,
        tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as dst,
    ):
        if sparse:
            _sparse_member(dst, sparse, 300 * 1024 * 1024)
        for m in src:
            f = src.extractfile(m)
            dst.addfile(m, f)
    return out.getvalue()


@pytest.mark.parametrize("name", ["payload/big", "manifest.json"])
def test_a_sparse_member_is_refused_without_allocating_it(name: str) -> None:
    data = _with(sparse=name)
    assert len(data) < 64 * 1024
    tracemalloc.start()
    try:
        with pytest.raises(PackageError, match=r"not a regular file|sparse"):
            package.verify(data, TRUSTED)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 * 1024 * 1024, f"allocated {peak / 2**20:.0f} MiB for a {len(data)} byte package"


def test_payload_is_not_read_before_the_signature_is_checked() -> None:
    """An unsigned package with a large payload is refused on its missing signature: its payload
    is never read (the manifest and signature are checked first)."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name, data in (("payload/a.bin", b"\0" * (8 * 1024 * 1024)), ("manifest.json", b"{}")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    data = out.getvalue()
    tracemalloc.start()
    try:
        with pytest.raises(PackageError, match="not signed"):
            package.verify(data, TRUSTED)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 * 1024 * 1024


def test_a_signed_package_still_verifies() -> None:
    pkg = package.verify(_with(), TRUSTED)
    assert pkg.files == {"engine.txt": b"ok"}


def test_a_package_file_is_verified_in_chunks(tmp_path: Path) -> None:
    """The console verifies an upload from its spooled file and keeps no payload: memory stays a few
    chunks whatever the package's size."""
    path = tmp_path / "big.tar"
    path.write_bytes(package.build("otd", "1.2.0", "1.0.0", {"engine.bin": b"\1" * (24 * 1024 * 1024)}, KEY))
    with open(path, "rb") as f:
        tracemalloc.start()
        try:
            pkg = package.verify(f, TRUSTED, keep_files=False)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert pkg.files == {} and pkg.manifest.version == "1.2.0"
    assert peak < 6 * 1024 * 1024, f"{peak / 2**20:.0f} MiB"
