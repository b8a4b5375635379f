"""``otwatch console ...``: run the console, migrate, pairing keys, certificates."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
import uvicorn
from rich.console import Console
from rich.table import Table
from sqlalchemy import select

from otwatch.console.config import Settings
from otwatch.console.migrate import current_revision, upgrade

app = typer.Typer(
    help="The central console: web UI, REST API, fleet of agents and sensors.", no_args_is_help=True
)
out = Console()

DataDir = Annotated[
    Path | None,
    typer.Option(
        "--data-dir", help="where the CA, vault key and SQLite file live", envvar="OTWATCH_DATA_DIR"
    ),
]


def _settings(data_dir: Path | None, **kw: object) -> Settings:
    extra = {k: v for k, v in kw.items() if v is not None}
    if data_dir is not None:
        extra["data_dir"] = data_dir
    return Settings(**extra)  # type: ignore[arg-type]


@app.command()
def run(
    data_dir: DataDir = None,
    host: Annotated[str | None, typer.Option(help="address to listen on")] = None,
    port: Annotated[int | None, typer.Option(help="HTTPS port")] = None,
) -> None:
    """Migrate the database, create the first admin if needed, and serve HTTPS."""
    from otwatch.console.app import create_app
    from otwatch.console.bootstrap import prepare
    from otwatch.console.server import PortBusy, check_port, uvicorn_config

    settings = _settings(data_dir, host=host, port=port)
    _run_installed_update(settings)
    try:
        check_port(settings.host, settings.port)  # before a first password is created and lost
    except PortBusy as exc:
        typer.echo(
            f"otwatch console run: {str(exc).split(': choose')[0]}: choose another with --port", err=True
        )
        raise typer.Exit(2) from None
    ctx, pw = prepare(settings)
    _banner(ctx.settings, ctx.pki.fingerprint, pw)
    uvicorn.Server(uvicorn_config(create_app(ctx), ctx, settings.host, settings.port, "info")).run()


def _banner(settings: Settings, fingerprint: str, pw: str | None) -> None:
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    out.print(f"[bold green]OTWatch console[/] at [link]https://{host}:{settings.port}/[/link]")
    out.print(f"  database: {settings.resolved_database_url.split('@')[-1]}")
    out.print(f"  certificate fingerprint (SHA-256): {fingerprint}")
    if pw:
        out.print(
            f"  first sign-in: user [bold]admin[/], one-time password [bold]{pw}[/] (change it after signing in)"
        )


def _run_installed_update(settings: Settings) -> None:
    """After ``otwatch console update``, run the installed version's code (console-current/lib)."""
    import os

    from otwatch.console.selfupdate import reexec_argv

    found = reexec_argv(settings)
    if found is not None:
        argv, env = found
        os.execve(argv[0], argv, env)


@app.command()
def update(
    file: Annotated[Path, typer.Argument(help="management-secured-patcher-<version>.tar")],
    data_dir: DataDir = None,
) -> None:
    """Update this console from a signed package: verify, back up the database, migrate, health-check;
    the backup is restored if the migrations or the health check fail. Stop the console service first."""
    from otwatch.console.audit import service as audit
    from otwatch.console.db import Database
    from otwatch.console.selfupdate import ConsoleVersions, UpdateError

    settings = _settings(data_dir)
    settings.ensure_dirs()
    try:
        data = file.read_bytes()
    except OSError as exc:
        out.print(f"[red]error:[/] cannot read {file}: {exc}")
        raise typer.Exit(2) from exc
    versions = ConsoleVersions(settings)
    before = versions.installed_version()
    try:
        report = versions.update(data, lambda line: out.print(f"  {line}", highlight=False, soft_wrap=True))
        action, detail = (
            "console.updated",
            {"from": before, "to": report.to_version, "backup": str(report.backup)},
        )
    except UpdateError as exc:
        out.print(f"[red]update refused or rolled back:[/] {exc}", highlight=False, soft_wrap=True)
        action, detail, report = "console.update_failed", {"from": before, "error": str(exc)}, None
    db = Database(settings.resolved_database_url)
    try:
        with db.session() as s:  # after any restore, so the record survives it
            audit.record(s, "cli", action, file.name, **detail)
            s.commit()
    finally:
        db.dispose()
    if report is None:
        raise typer.Exit(1)
    out.print(
        f"[green]console updated[/] {report.from_version} -> {report.to_version}; "
        "start the console service again",
        highlight=False,
    )


@app.command()
def demo(
    data_dir: DataDir = None,
    host: Annotated[str | None, typer.Option(help="address to listen on")] = None,
    port: Annotated[int | None, typer.Option(help="HTTPS port")] = None,
) -> None:
    """Serve the console with a demo fleet: a real agent paired through the pairing-key flow.

    A second demo runs beside the first on another port (``make run PORT=8444``): its data directory
    (``var/demo-8444``) and its simulated devices' ports follow the console's port."""
    from otwatch.console.demo import DEFAULT_PORT, run_demo
    from otwatch.console.server import PortBusy

    default_dir = Path("var/demo" if port in (None, DEFAULT_PORT) else f"var/demo-{port}")
    try:
        run_demo(_settings(data_dir or default_dir, host=host, port=port))
    except PortBusy as exc:
        typer.echo(f"otwatch console demo: {exc}", err=True)
        raise typer.Exit(2) from None


@app.command()
def migrate(data_dir: DataDir = None) -> None:
    """Apply database migrations (Alembic) up to the newest schema."""
    from otwatch.console.db import Database

    settings = _settings(data_dir)
    settings.ensure_dirs()
    db = Database(settings.resolved_database_url)
    upgrade(db.engine)
    out.print(f"database at revision {current_revision(db.engine)}")


@app.command()
def fingerprint(
    data_dir: DataDir = None,
    sha1: Annotated[
        bool, typer.Option("--sha1", help="the 20-octet SHA-1 form, for installers that ask for it")
    ] = False,
) -> None:
    """Print the console certificate's SHA-256 fingerprint (the pin agents and sensors use)."""
    from otwatch.console.context import ConsoleContext
    from otwatch.wire.pki import fingerprint_sha1

    pki = ConsoleContext.create(_settings(data_dir)).pki
    typer.echo(fingerprint_sha1(pki.server_cert) if sha1 else pki.fingerprint)


pairing = typer.Typer(help="Pairing keys for agents and sensors.", no_args_is_help=True)
app.add_typer(pairing, name="pairing-key")


@pairing.command("create")
def pairing_create(
    data_dir: DataDir = None,
    expires_days: Annotated[int, typer.Option(min=1, max=3650, help="Expiration Period in days")] = 90,
    description: Annotated[str, typer.Option(help="what the key is for")] = "",
    address: Annotated[str | None, typer.Option(help="ICP IP/Host[:port] agents will connect to")] = None,
) -> None:
    """Generate a pairing key and print it (shown once)."""
    from otwatch.console.bootstrap import prepare
    from otwatch.console.fleet.pairing import create_pairing_key

    ctx, _ = prepare(_settings(data_dir))
    with ctx.db.session() as db:
        row, text = create_pairing_key(db, ctx, "cli", address, expires_days, description)
    out.print(
        f"pairing key {row.id} for {row.address}, expires {row.expires_at:%Y-%m-%d %H:%M} UTC",
        highlight=False,
    )
    typer.echo(text)


@pairing.command("list")
def pairing_list(data_dir: DataDir = None) -> None:
    """List pairing keys (never their secrets)."""
    from otwatch.console.bootstrap import prepare
    from otwatch.console.fleet.models import PairingKey

    ctx, _ = prepare(_settings(data_dir))
    t = Table("id", "address", "description", "expires", "revoked", "uses")
    with ctx.db.session() as db:
        for k in db.scalars(select(PairingKey).order_by(PairingKey.created_at)):
            t.add_row(
                k.id,
                k.address,
                k.description,
                f"{k.expires_at:%Y-%m-%d}",
                "yes" if k.revoked_at else "",
                str(k.uses),
            )
    out.print(t)


@pairing.command("revoke")
def pairing_revoke(key_id: str, data_dir: DataDir = None) -> None:
    """Revoke a pairing key: nothing can pair with it afterwards."""
    from otwatch.console.bootstrap import prepare
    from otwatch.console.errors import APIError
    from otwatch.console.fleet.pairing import revoke_pairing_key

    ctx, _ = prepare(_settings(data_dir))
    try:
        with ctx.db.session() as db:
            revoke_pairing_key(db, "cli", key_id)
    except APIError as exc:
        out.print(f"[red]error:[/] {exc.message}")
        raise typer.Exit(1) from exc
    out.print(f"revoked {key_id}")
