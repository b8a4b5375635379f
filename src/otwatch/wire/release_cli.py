"""``otwatch release keygen | sign | verify``: make and check signed update packages."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from otwatch.wire import package

app = typer.Typer(
    help="Signed update packages (OTD engines, sensor and console versions, threat intelligence).",
    no_args_is_help=True,
)
out = Console(stderr=True)


@app.command()
def keygen(
    directory: Annotated[Path, typer.Argument(help="where to write release.key and release.pub")],
) -> None:
    """Create an Ed25519 release key pair. Keep release.key offline; give release.pub to consoles."""
    directory.mkdir(parents=True, exist_ok=True)
    priv, pub = package.generate_release_key()
    key_file = directory / "release.key"
    if key_file.exists():
        out.print(f"[red]error:[/] {key_file} exists; refusing to overwrite a release key")
        raise typer.Exit(1)
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(priv)
    (directory / "release.pub").write_bytes(pub)
    out.print(
        f"key {package.key_id(package.load_public(pub))}: {key_file} (secret), {directory / 'release.pub'}"
    )


@app.command()
def sign(
    payload: Annotated[Path, typer.Argument(help="folder whose files become the package payload")],
    key: Annotated[Path, typer.Option(help="release.key (Ed25519 private key, PEM)")],
    kind: Annotated[str, typer.Option(help="otd | sensor | console | threat-intel")],
    version: Annotated[str, typer.Option(help="version of this package, e.g. 2.1.0")],
    min_version: Annotated[str, typer.Option(help="oldest version it may upgrade from")] = "0",
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="file to write (default: the standard name)")
    ] = None,
) -> None:
    """Build and sign a package from a folder."""
    try:
        data = package.build_from_dir(
            kind, version, min_version, payload, package.load_private(key.read_bytes())
        )
    except (package.PackageError, OSError) as exc:
        out.print(f"[red]error:[/] {exc}")
        raise typer.Exit(1) from exc
    target = output or Path(package.FILE_NAMES[kind].format(version=version))
    target.write_bytes(data)
    typer.echo(str(target))


@app.command()
def verify(
    file: Annotated[Path, typer.Argument(help="package to check")],
    pubkey: Annotated[list[Path], typer.Option(help="trusted release.pub (repeatable)")],
) -> None:
    """Verify a package's signature and content; print its manifest."""
    try:
        pkg = package.verify(file.read_bytes(), [package.load_public(p.read_bytes()) for p in pubkey])
    except (package.PackageError, OSError) as exc:
        out.print(f"[red]refused:[/] {exc}")
        raise typer.Exit(1) from exc
    m = pkg.manifest
    typer.echo(
        f"OK {m.kind} {m.version} (from {m.min_version}), {len(pkg.files)} files, signed by key {pkg.key_id}"
    )
