"""``otwatch console ...``: run the console, migrate, pairing keys, certificates."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
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
    from otwatch.console.server import ConsoleServer, PortBusy, check_port, uvicorn_config

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
    web = create_app(ctx)
    # what the update supervisor starts again after it stopped this console (Updates > Apply)
    web.state.restart_command = restart_argv()
    ConsoleServer(uvicorn_config(web, ctx, settings.host, settings.port, "info"), ctx).run()


def restart_argv() -> list[str]:
    """This command line, as the update supervisor starts it again; ``-P``: nothing imported from
    the working directory it is started in."""
    return [sys.executable, "-P", "-m", "otwatch", *sys.argv[1:]]


def _banner(settings: Settings, fingerprint: str, pw: str | None) -> None:
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    out.print(f"[bold green]OTWatch console[/] at [link]https://{host}:{settings.port}/[/link]")
    out.print(f"  database: {settings.resolved_database_url.split('@')[-1]}")
    out.print(f"  certificate fingerprint (SHA-256): {fingerprint}")
    if pw:  # on a terminal only; under a service manager it goes to a 0600 file, not the journal
        from otwatch.ui.passwords import reveal_generated

        shown = reveal_generated("admin", pw, settings.data_dir)
        out.print(f"  first sign-in: {shown} (it must be changed at the first sign-in)", highlight=False)


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
    from otwatch.console import handover
    from otwatch.console.audit import service as audit
    from otwatch.console.db import Database
    from otwatch.console.selfupdate import ConsoleVersions, UpdateError

    settings = _settings(data_dir)
    settings.ensure_dirs()
    presence = handover.Presence(settings)
    try:
        if presence.others_present():
            out.print(
                f"[red]error:[/] a console serves from {settings.data_dir}: stop it first "
                "(every console process on this data directory), then run the update",
                highlight=False,
                soft_wrap=True,
            )
            raise typer.Exit(2)
    finally:
        presence.release()
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


@app.command("supervise-update", hidden=True)
def supervise_update(data_dir: DataDir = None) -> None:
    """Started by the console when an Admin applies a console version on the Updates page: stops
    the console, backs up, migrates, starts the new version, rolls back on failure
    (otwatch/console/handover.py). Not for use by hand."""
    from otwatch.console.handover import supervise

    state = supervise(_settings(data_dir))
    out.print(f"console update: {state}", highlight=False)
    raise typer.Exit(0 if state == "succeeded" else 1)


@app.command()
def demo(
    data_dir: DataDir = None,
    host: Annotated[str | None, typer.Option(help="address to listen on")] = None,
    port: Annotated[int | None, typer.Option(help="HTTPS port")] = None,
    advisories: Annotated[
        list[Path] | None,
        typer.Option(
            "--advisories", help="CSAF files or folders to import at start (e.g. ../shared/advisories/csaf)"
        ),
    ] = None,
) -> None:
    """Serve the console with a demo fleet: a real agent paired through the pairing-key flow.

    A second demo runs beside the first on another port (``make run PORT=8444``): its data directory
    (``var/demo-8444``) and its simulated devices' ports follow the console's port."""
    from otwatch.console.demo import DEFAULT_PORT, run_demo
    from otwatch.console.server import PortBusy

    default_dir = Path("var/demo" if port in (None, DEFAULT_PORT) else f"var/demo-{port}")
    try:
        run_demo(_settings(data_dir or default_dir, host=host, port=port), advisories)
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
    expires_days: Annotated[int, typer.Option(min=1, max=365, help="Expiration Period in days")] = 90,
    description: Annotated[str, typer.Option(help="what the key is for")] = "",
    address: Annotated[str | None, typer.Option(help="ICP IP/Host[:port] agents will connect to")] = None,
    max_uses: Annotated[int, typer.Option(min=1, max=100_000, help="how many nodes it may pair")] = 1,
    kind: Annotated[str | None, typer.Option(help="agent or sensor (default: its first node's kind)")] = None,
) -> None:
    """Generate a pairing key and print it (shown once)."""
    from otwatch.console.bootstrap import prepare
    from otwatch.console.fleet.pairing import create_pairing_key

    ctx, _ = prepare(_settings(data_dir))
    with ctx.db.session() as db:
        if kind not in (None, "agent", "sensor"):
            raise typer.BadParameter("--kind is agent or sensor")
        row, text = create_pairing_key(
            db, ctx, "cli", address, expires_days, description, max_uses=max_uses, kind=kind
        )
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
                f"{k.uses}/{k.max_uses} {k.kind or ''}".rstrip(),
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


@app.command("unlock-user")
def unlock_user(username: str, data_dir: DataDir = None) -> None:
    """End a user's sign-in lockout now (e.g. the only Admin, locked by someone guessing)."""
    from otwatch.console.auth.models import User
    from otwatch.console.auth.service import unlock_user as unlock
    from otwatch.console.bootstrap import prepare

    ctx, _ = prepare(_settings(data_dir))
    with ctx.db.session() as db:
        user = db.scalar(select(User).where(User.username == username))
        if user is None:
            out.print(f"[red]error:[/] no user {username!r}")
            raise typer.Exit(1)
        unlock(db, "cli", user)
        db.commit()
    out.print(f"unlocked {username}")


advisories = typer.Typer(
    help="Published ICS advisories (CSAF 2.0) and the assets they concern.", no_args_is_help=True
)
app.add_typer(advisories, name="advisories")


@advisories.command("import")
def advisories_import(
    paths: Annotated[list[Path], typer.Argument(help="CSAF JSON files, or folders walked recursively")],
    data_dir: DataDir = None,
    json_out: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
) -> None:
    """Import CSAF 2.0 advisories; a stored advisory is replaced only by a higher revision. Documents
    that do not read are reported by name; the import goes on. Every asset is matched again after."""
    import json

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from otwatch.console.audit import service as audit
    from otwatch.console.bootstrap import prepare
    from otwatch.console.vulnerabilities.service import advisory_files, import_files

    missing = [p for p in paths if not p.exists()]
    if missing:
        out.print(f"[red]error:[/] no such file or folder: {', '.join(map(str, missing))}", highlight=False)
        raise typer.Exit(2)
    files = advisory_files(paths)
    ctx, _ = prepare(_settings(data_dir))
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=out, transient=json_out, disable=json_out) as bar:
        task = bar.add_task("importing advisories", total=len(files))

        def step(path: Path, outcome: str) -> None:
            bar.advance(task)
            if outcome == "failed" and not json_out:
                bar.console.print(f"[yellow]skipped[/] {path}", highlight=False)

        with ctx.db.session() as db:
            report = import_files(db, files, step)
            audit.record(
                db, "cli", "advisories.imported", ", ".join(map(str, paths))[:200],
                added=report.added, updated=report.updated, unchanged=report.unchanged,
                failed=len(report.failed), new_matches=report.new_matches,
            )  # fmt: skip
    if json_out:
        typer.echo(json.dumps(report.as_dict(), indent=2))
    else:
        out.print(
            f"[green]{report.added} added[/], {report.updated} updated, {report.unchanged} unchanged, "
            f"[{'red' if report.failed else 'green'}]{len(report.failed)} failed[/]; "
            f"{report.new_matches} new asset matches",
            highlight=False,
        )
        for name, why in report.failed:
            out.print(f"  [red]failed[/] {name}: {why}", highlight=False, soft_wrap=True)
    if report.failed and not (report.added or report.updated or report.unchanged):
        raise typer.Exit(1)


@advisories.command("sync")
def advisories_sync(
    url: Annotated[
        str | None, typer.Option(help="provider-metadata.json, ROLIE feed or directory URL (https); saved")
    ] = None,
    ca: Annotated[
        Path | None, typer.Option(help="PEM CA bundle of a provider with a private CA; saved")
    ] = None,
    data_dir: DataDir = None,
    json_out: Annotated[bool, typer.Option("--json", help="print the result as JSON")] = False,
) -> None:
    """Sync now from the configured CSAF provider (or from --url, which is saved for the schedule)."""
    import json

    from otwatch.console.bootstrap import prepare
    from otwatch.console.settings import service as settings_service
    from otwatch.console.vulnerabilities import provider

    ctx, _ = prepare(_settings(data_dir))
    with ctx.db.session() as db:
        if url:
            try:
                provider.https_only(url)
            except provider.ProviderError as exc:
                out.print(f"[red]error:[/] {exc}", highlight=False)
                raise typer.Exit(2) from exc
            settings_service.put(db, provider.URL_KEY, url)
        if ca is not None:
            settings_service.put(db, provider.CA_KEY, ca.read_text())
        db.commit()
        result = provider.sync_configured(db, force=True)
    if result is None:
        out.print("[red]error:[/] no CSAF provider configured: give --url")
        raise typer.Exit(2)
    if json_out:
        typer.echo(json.dumps(result, indent=2))
    elif result.get("ok"):
        out.print(
            f"[green]synced[/] {result['url']}: {result['added']} added, {result['updated']} updated, "
            f"{result['unchanged']} unchanged, {len(result['failed'])} failed; {result['new_matches']} new asset matches",
            highlight=False,
        )
        for f in result["failed"]:
            out.print(f"  [red]failed[/] {f['file']}: {f['error']}", highlight=False, soft_wrap=True)
    else:
        out.print(f"[red]sync failed:[/] {result['error']}", highlight=False, soft_wrap=True)
    if not result.get("ok"):
        raise typer.Exit(1)


@advisories.command("match")
def advisories_match(
    vendor: Annotated[str, typer.Option(help="vendor, e.g. Siemens")],
    model: Annotated[str, typer.Option(help="model, product name or order number")],
    firmware: Annotated[str | None, typer.Option(help="firmware version; unknown when left out")] = None,
    order_number: Annotated[
        list[str] | None, typer.Option("--order-number", help="order number / product code (repeatable)")
    ] = None,
    csaf_path: Annotated[
        list[Path] | None,
        typer.Option("--csaf", help="match against these CSAF files/folders instead of the console database"),
    ] = None,
    data_dir: DataDir = None,
    json_out: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Which advisories concern one device: {"affected": [...], "possibly_affected": [...]}."""
    import json

    from otwatch.advisories import csaf
    from otwatch.advisories.match import Catalog, Device, Exposure

    device = Device(vendor=vendor, model=model, firmware=firmware, order_numbers=tuple(order_number or ()))
    if csaf_path:
        from otwatch.console.vulnerabilities.service import advisory_files

        docs = []
        for path in advisory_files(csaf_path):
            try:
                docs.append(csaf.load(path))
            except csaf.CsafError as exc:
                typer.echo(f"skipped {path}: {exc}", err=True)
        cat = Catalog(docs)
    else:
        from otwatch.console.db import Database
        from otwatch.console.migrate import upgrade as migrate_db
        from otwatch.console.vulnerabilities.service import catalog

        settings = _settings(data_dir)
        settings.ensure_dirs()
        db = Database(settings.resolved_database_url)
        try:
            migrate_db(db.engine)
            with db.session() as s:
                cat = catalog(s)
        finally:
            db.dispose()
    findings = cat.match(device)
    findings_a = [f for f in findings if f.exposure == Exposure.AFFECTED]
    findings_p = [f for f in findings if f.exposure == Exposure.POSSIBLY_AFFECTED]
    result = {
        "affected": [f.as_dict() for f in findings_a],
        "possibly_affected": [f.as_dict() for f in findings_p],
    }
    if json_out:
        typer.echo(json.dumps(result, indent=2))
        return
    for label, items in (("affected", findings_a), ("possibly affected", findings_p)):
        out.print(f"[bold]{label}: {len(items)}[/]")
        for finding in items:
            cvss = "  -" if finding.cvss is None else f"{finding.cvss:4.1f}"
            cves = ", ".join(finding.cves[:4]) + (
                f" +{len(finding.cves) - 4}" if len(finding.cves) > 4 else ""
            )
            out.print(
                f"  [bold]{finding.advisory_id}[/] {cvss}  {finding.title}", highlight=False, soft_wrap=True
            )
            out.print(f"      product: {finding.product}", highlight=False, soft_wrap=True)
            out.print(f"      CVEs: {cves or '-'}", highlight=False, soft_wrap=True)
            out.print(
                f"      fixed: {finding.fixed.splitlines()[0] if finding.fixed else '-'}",
                highlight=False,
                soft_wrap=True,
            )
            out.print(f"      why: {finding.reason}", highlight=False, soft_wrap=True)
