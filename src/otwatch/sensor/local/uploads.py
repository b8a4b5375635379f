"""Play PCAP: the capture files uploaded to the sensor console, and their uploads.

Uploads are parsed from the request stream as they arrive (python-multipart's push parser) and
written straight to a hidden temporary file beside the library, so a 2 GB capture never sits in
memory nor in a second temporary copy. A file over the limit, or one that is not a capture (pcap or
pcapng magic), is refused and its partial file removed; a good one is renamed into place.
"""

from __future__ import annotations

import os
import re
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Final

import anyio
from python_multipart.multipart import MultipartParser, parse_options_header

from otwatch.sensor.capture.pcapfile import PCAP_MAGICS, PCAPNG_SHB, PcapError
from otwatch.sensor.capture.sources import Frame, PcapReplay

MAX_BYTES: Final = 2 * 1024**3  # the seed's limit per file
EXTENSIONS: Final = (".pcap", ".pcapng", ".cap")
MAGICS: Final = (*PCAP_MAGICS, PCAPNG_SHB)
_UNSAFE: Final = re.compile(r"[^A-Za-z0-9._-]+")


class UploadError(ValueError):
    """An upload refused; ``status`` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def safe_name(filename: str) -> str:
    """The file's own name (no directories), reduced to safe characters; UploadError if unusable."""
    base = filename.replace("\\", "/").rsplit("/", 1)[-1].strip()
    name = _UNSAFE.sub("_", base).lstrip(".")[:120]
    if not name or not name.lower().endswith(EXTENSIONS):
        raise UploadError(
            f"{base or '(no name)'}: only {', '.join(EXTENSIONS)} capture files can be uploaded"
        )
    return name


@dataclass(frozen=True, slots=True)
class PcapFile:
    name: str
    size: int
    uploaded: float
    status: str


class PcapLibrary:
    def __init__(self, directory: Path, max_bytes: int = MAX_BYTES) -> None:
        self.dir = directory
        self.max_bytes = max_bytes
        self._status: dict[str, str] = {}
        self._lock = threading.Lock()
        self.stop = threading.Event()  # set: replays in progress end at their next packet

    def files(self) -> list[PcapFile]:
        if not self.dir.exists():
            return []
        out = []
        for p in sorted(self.dir.iterdir()):
            if p.is_file() and not p.name.startswith("."):
                st = p.stat()
                with self._lock:
                    status = self._status.get(p.name, "Uploaded")
                out.append(PcapFile(p.name, st.st_size, st.st_mtime, status))
        return out

    def path(self, name: str) -> Path:
        p = self.dir / name
        if name != Path(name).name or name.startswith(".") or not p.is_file():
            raise FileNotFoundError(f"no uploaded capture named {name!r}")
        return p

    def set_status(self, name: str, status: str) -> None:
        with self._lock:
            self._status[name] = status

    def clear(self) -> int:
        n = 0
        for f in self.files():
            (self.dir / f.name).unlink(missing_ok=True)
            n += 1
        with self._lock:
            self._status.clear()
        return n

    def replay(self, names: list[str], speed: float = 0.0) -> Iterator[Frame]:
        """The frames of these uploaded captures, one after the other, as a packet source.

        Each file's status follows: Queued, Playing, then Played (packets) or Error (why).
        """
        paths = [self.path(n) for n in names]  # FileNotFoundError before anything is queued
        for name in names:
            self.set_status(name, "Queued")
        after: float | None = None  # the previous file's last frame: times never go back
        for name, path in zip(names, paths, strict=True):
            self.set_status(name, "Playing")
            replay = PcapReplay([path], speed=speed, after=after)
            count = 0
            try:
                for frame in replay:
                    if self.stop.is_set():
                        self.set_status(name, f"Stopped after {count} packets")
                        return
                    count += 1
                    yield frame
            except (PcapError, OSError) as exc:
                self.set_status(name, f"Error: {exc}")
                continue
            after = replay.last_time
            warn = f" ({'; '.join(replay.warnings)})" if replay.warnings else ""
            self.set_status(name, f"Played: {count} packets{warn}")

    async def receive(self, content_type: str, body: AsyncIterator[bytes]) -> list[str]:
        """Store every file part of a ``multipart/form-data`` body; returns the stored names.

        All or nothing per file: a refused file leaves no trace, and the files before it stay.
        """
        ctype, params = parse_options_header(content_type)
        if ctype != b"multipart/form-data" or b"boundary" not in params:
            raise UploadError("expected a multipart/form-data upload", 415)
        self.dir.mkdir(parents=True, exist_ok=True)
        upload = _Upload(self)
        parser = MultipartParser(
            params[b"boundary"],
            {
                "on_part_begin": upload.part_begin,
                "on_header_field": upload.header_field,
                "on_header_value": upload.header_value,
                "on_header_end": upload.header_end,
                "on_headers_finished": upload.headers_finished,
                "on_part_data": upload.part_data,
                "on_part_end": upload.part_end,
            },
        )
        try:
            async for chunk in body:
                parser.write(chunk)
                if upload.pending:
                    await anyio.to_thread.run_sync(upload.flush)
            parser.finalize()
            await anyio.to_thread.run_sync(upload.flush)
        except BaseException:
            upload.abort()
            raise
        if not upload.stored:
            raise UploadError("choose one or more capture files to upload")
        for name in upload.stored:
            self.set_status(name, "Uploaded")
        return upload.stored


class _Upload:
    """The push parser's callbacks for one request: headers per part, file data to disk."""

    def __init__(self, library: PcapLibrary) -> None:
        self.lib = library
        self.stored: list[str] = []
        self.pending: list[tuple[str, bytes | None]] = []  # ("data", bytes) / ("end", None), in order
        self._header_name = b""
        self._header_value = b""
        self._disposition = b""
        self._name: str | None = None  # the current file part's safe name; None for other fields
        self._out: IO[bytes] | None = None
        self._tmp: Path | None = None
        self._size = 0
        self._checked = b""
        self._current = ""

    # -- parser callbacks (no I/O here; the event loop must not block) --------------------------
    def part_begin(self) -> None:
        self._disposition, self._name = b"", None

    def header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def header_end(self) -> None:
        if self._header_name.lower() == b"content-disposition":
            self._disposition = self._header_value
        self._header_name = self._header_value = b""

    def headers_finished(self) -> None:
        _, options = parse_options_header(self._disposition)
        filename = options.get(b"filename")
        if filename is None:
            return
        text = filename.decode("utf-8", "replace")
        if not text:
            return  # an empty file input
        self._name = safe_name(text)
        self.pending.append(("begin:" + self._name, None))

    def part_data(self, data: bytes, start: int, end: int) -> None:
        if self._name is not None:
            self.pending.append(("data", bytes(data[start:end])))

    def part_end(self) -> None:
        if self._name is not None:
            self.pending.append(("end", None))
            self._name = None

    # -- disk work, in a worker thread ----------------------------------------------------------
    def flush(self) -> None:
        items, self.pending = self.pending, []
        for kind, data in items:
            if kind.startswith("begin:"):
                self._open(kind[len("begin:") :])
            elif kind == "data" and data is not None:
                self._write(data)
            elif kind == "end":
                self._finish()

    def _open(self, name: str) -> None:
        self._tmp = self.lib.dir / f".upload-{uuid.uuid4().hex}"
        self._out = os.fdopen(os.open(self._tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb")
        self._size, self._checked, self._current = 0, b"", name

    def _write(self, data: bytes) -> None:
        assert self._out is not None
        self._size += len(data)
        if self._size > self.lib.max_bytes:
            raise UploadError(
                f"{self._current}: larger than the {_size_text(self.lib.max_bytes)} limit for one capture file",
                413,
            )
        if len(self._checked) < 4:
            self._checked += data[: 4 - len(self._checked)]
            if len(self._checked) >= 4 and self._checked[:4] not in MAGICS:
                raise UploadError(f"{self._current}: not a capture file (pcap or pcapng)", 415)
        self._out.write(data)

    def _finish(self) -> None:
        assert self._out is not None and self._tmp is not None
        self._out.flush()
        os.fsync(self._out.fileno())
        self._out.close()
        self._out = None
        if len(self._checked) < 4:
            self._tmp.unlink(missing_ok=True)
            raise UploadError(f"{self._current}: not a capture file (pcap or pcapng)", 415)
        os.replace(self._tmp, self.lib.dir / self._current)
        self._tmp = None
        self.stored.append(self._current)

    def abort(self) -> None:
        if self._out is not None:
            self._out.close()
            self._out = None
        if self._tmp is not None:
            self._tmp.unlink(missing_ok=True)
            self._tmp = None


def _size_text(n: int) -> str:
    """``2 GB``, ``1.5 MB``, ``512 bytes`` (binary units, as the 2 GB limit is meant)."""
    value = float(n)
    for unit in ("bytes", "KB", "MB"):
        if value < 1024:
            return f"{value:.3g} {unit}"
        value /= 1024
    return f"{value:.3g} GB"


def uploaded_at(f: PcapFile) -> datetime:
    return datetime.fromtimestamp(f.uploaded, UTC)
