"""Sync from a CSAF provider (CSAF 2.0 section 7): its ``provider-metadata.json``, a ROLIE feed, or a
directory with ``changes.csv`` / ``index.txt``, over HTTPS only, with httpx.

Nothing is fetched unless a user configures the provider URL (``advisories_provider_url``). The
background worker syncs every ``advisories_sync_hours`` (default 24) and keeps the last result in
``advisories_last_sync`` (shown on the Vulnerabilities page and by ``GET
/api/v1/vulnerabilities/provider``). A document whose feed entry is not newer than the stored
advisory is not downloaded again; one that does not download or read is reported by URL, and the
sync goes on.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import ssl
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Final
from urllib.parse import urljoin, urlparse

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from otwatch.advisories import csaf
from otwatch.console.settings import service as settings
from otwatch.console.vulnerabilities.models import Advisory
from otwatch.console.vulnerabilities.service import ImportReport, rematch, store

log = logging.getLogger(__name__)

URL_KEY: Final = "advisories_provider_url"
CA_KEY: Final = "advisories_provider_ca"  # a CA bundle (PEM text) for a provider with a private CA
HOURS_KEY: Final = "advisories_sync_hours"
LAST_KEY: Final = "advisories_last_sync"

MAX_DOCUMENT: Final = 20 * 1024 * 1024
TIMEOUT: Final = httpx.Timeout(30.0, connect=10.0)


class ProviderError(Exception):
    """The provider could not be read (its metadata, feed or directory)."""


def https_only(url: str) -> str:
    parsed = urlparse(url)
    if parsed.scheme != "https" or not parsed.netloc:
        raise ProviderError(f"not an https:// URL: {url!r}")
    return url


def client(ca_pem: str | None = None) -> httpx.Client:
    verify: ssl.SSLContext | bool = True
    if ca_pem:
        verify = ssl.create_default_context(cadata=ca_pem)
    return httpx.Client(verify=verify, timeout=TIMEOUT, follow_redirects=True, max_redirects=5)


def _json(http: httpx.Client, url: str) -> Any:
    try:
        r = http.get(https_only(url))
        r.raise_for_status()
        return r.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise ProviderError(f"{url}: {exc}") from exc


def _text(http: httpx.Client, url: str) -> str:
    try:
        r = http.get(https_only(url))
        r.raise_for_status()
        return r.text
    except httpx.HTTPError as exc:
        raise ProviderError(f"{url}: {exc}") from exc


def documents(http: httpx.Client, url: str) -> dict[str, str]:
    """Document URL -> its feed's "updated" time ("" when not given), from provider metadata, a ROLIE
    feed or a directory URL (ending in ``/``)."""
    if url.endswith("/"):
        return _directory(http, url)
    data = _json(http, url)
    if isinstance(data, dict) and isinstance(data.get("feed"), dict):
        return _rolie(data["feed"], url)
    if not isinstance(data, dict) or not isinstance(data.get("distributions"), list):
        raise ProviderError(f"{url}: neither provider-metadata.json nor a ROLIE feed")
    found: dict[str, str] = {}
    for dist in data["distributions"]:
        if not isinstance(dist, dict):
            continue
        rolie = dist.get("rolie")
        feeds = rolie.get("feeds") if isinstance(rolie, dict) else None
        for feed in feeds if isinstance(feeds, list) else []:
            if isinstance(feed, dict) and isinstance(feed.get("url"), str):
                body = _json(http, urljoin(url, feed["url"]))
                if isinstance(body, dict) and isinstance(body.get("feed"), dict):
                    found.update(_rolie(body["feed"], feed["url"]))
        if not feeds and isinstance(dist.get("directory_url"), str):
            found.update(_directory(http, urljoin(url, dist["directory_url"])))
    return found


def _rolie(feed: dict[str, Any], base: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for entry in feed.get("entry") or []:
        if not isinstance(entry, dict):
            continue
        href = next(
            (
                link.get("href")
                for link in entry.get("link") or []
                if isinstance(link, dict) and link.get("rel") == "self" and isinstance(link.get("href"), str)
            ),
            None,
        )
        content = entry.get("content")
        if href is None and isinstance(content, dict) and isinstance(content.get("src"), str):
            href = content["src"]
        if href:
            out[urljoin(base, href)] = str(entry.get("updated") or "")
    return out


def _directory(http: httpx.Client, url: str) -> dict[str, str]:
    base = url if url.endswith("/") else url + "/"
    try:
        rows = csv.reader(io.StringIO(_text(http, urljoin(base, "changes.csv"))))
        return {urljoin(base, r[0]): r[1] if len(r) > 1 else "" for r in rows if r and r[0].endswith(".json")}
    except ProviderError:
        lines = _text(http, urljoin(base, "index.txt")).splitlines()
        return {urljoin(base, line.strip()): "" for line in lines if line.strip().endswith(".json")}


def sync(
    db: Session,
    http: httpx.Client,
    url: str,
    progress: Callable[[str, str], None] | None = None,
) -> ImportReport:
    """Fetch the provider's documents and store the new or newer ones; every asset is matched again
    when anything changed. Raises :class:`ProviderError` when the provider itself cannot be read."""
    report = ImportReport()
    listed = documents(http, https_only(url))
    stored = dict(db.execute(select(Advisory.source, Advisory.current_release_date)).tuples().all())
    for n, (doc_url, updated) in enumerate(sorted(listed.items()), 1):
        outcome = "unchanged"
        if not (updated and doc_url in stored and updated <= stored[doc_url]):
            outcome = _fetch_one(db, http, doc_url, report)
        if outcome in ("added", "updated", "unchanged"):
            setattr(report, outcome, getattr(report, outcome) + 1)
        if progress is not None:
            progress(doc_url, outcome)
        if n % 100 == 0:
            db.commit()
    db.commit()
    if report.added or report.updated:
        report.new_matches = rematch(db)
        db.commit()
    return report


def _fetch_one(db: Session, http: httpx.Client, doc_url: str, report: ImportReport) -> str:
    try:
        https_only(doc_url)
        with http.stream("GET", doc_url) as r:
            r.raise_for_status()
            body = b""
            for chunk in r.iter_bytes():
                body += chunk
                if len(body) > MAX_DOCUMENT:
                    raise ProviderError(f"larger than {MAX_DOCUMENT} bytes")
        return store(db, csaf.parse(json.loads(body)), doc_url)
    except (httpx.HTTPError, ProviderError, csaf.CsafError, ValueError) as exc:
        report.failed.append((doc_url, str(exc)))
        return "failed"


def sync_configured(db: Session, now: datetime | None = None, force: bool = False) -> dict[str, Any] | None:
    """Sync from the configured provider when one is set and a sync is due (or ``force``); the result
    is stored as the last sync and returned. ``None`` when nothing was configured or due."""
    url = settings.get(db, URL_KEY)
    if not url:
        return None
    now = now or datetime.now(UTC)
    last = settings.get(db, LAST_KEY)
    hours = float(settings.get(db, HOURS_KEY) or 24)
    due = not isinstance(last, dict) or not last.get("at")
    if not (force or due or datetime.fromisoformat(last["at"]) + timedelta(hours=hours) <= now):
        return None
    result: dict[str, Any] = {"at": now.isoformat(), "url": url}
    try:
        with client(settings.get(db, CA_KEY)) as http:
            report = sync(db, http, url)
        result |= {"ok": True, **report.as_dict(), "failed": report.as_dict()["failed"][:50]}
    except ProviderError as exc:
        db.rollback()
        result |= {"ok": False, "error": str(exc)}
        log.warning("CSAF provider sync failed: %s", exc)
    settings.put(db, LAST_KEY, result)
    db.commit()
    return result
