"""Vulnerability matching at plant scale: 10,000 assets against every shared CISA advisory.

    .venv/bin/python bench/advisories.py                       # ../shared/advisories/csaf, 10,000 assets
    .venv/bin/python bench/advisories.py --assets 50000 --json out.json
    .venv/bin/python bench/advisories.py --no-console          # the pure matcher only

Phases, each timed:

1. parse: every CSAF document read with :func:`otwatch.advisories.csaf.load`;
2. catalog: :class:`otwatch.advisories.match.Catalog` built (products prepared, vendor index);
3. match, cold: ``--assets`` devices matched with the per-identity cache cleared before each one, so
   every device pays the full price (the worst case: every asset a different identity);
4. match, warm: the same devices through the cache, as an inventory where identities repeat;
5. console (unless ``--no-console``): ``otwatch console advisories import`` of every document into a
   fresh SQLite console database that already holds the assets, which ends with the re-match of every
   asset and the storage of the matches (``vulnerabilities.service.import_files``).

The devices are drawn, with a fixed seed, half from the advisories' own products (vendor, the product
or model number as model, a random firmware: devices that do match), a quarter from the demo's and
the captures' identities with random firmware, and a quarter from vendors and models no advisory
names. Only local files are read.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO / "src") not in sys.path:
    sys.path.insert(0, str(REPO / "src"))

from otwatch.advisories import csaf  # noqa: E402
from otwatch.advisories.match import Catalog, Device, Exposure  # noqa: E402

SHARED = REPO.parent / "shared" / "advisories" / "csaf"
KNOWN = [
    Device("Schneider Electric", "BMX P34", None, ("BMX P34 2020",), ("Modicon M340",)),
    Device("Siemens", "CPU 315-2 PN/DP", None, ("6ES7 315-2EH14-0AB0",)),
    Device("Rockwell Automation/Allen-Bradley", "1756-ENBT/A", None),
]
OTHERS = ["Acme Controls", "Example GmbH", "Contoso", "Initech", "Globex"]


def _firmware(rng: random.Random) -> str | None:
    if rng.random() < 0.15:
        return None  # unknown: possibly affected
    return f"V{rng.randint(1, 12)}.{rng.randint(0, 20)}.{rng.randint(0, 30)}"


def devices(advisories: list[csaf.Advisory], n: int, seed: int = 7) -> list[Device]:
    rng = random.Random(seed)
    products = [p for a in advisories for p in a.products if p.vendor]
    out: list[Device] = []
    for i in range(n):
        kind = i % 4
        if kind in (0, 1):
            p = rng.choice(products)
            model = rng.choice([*p.model_numbers, p.product]) if p.model_numbers else p.product
            out.append(Device(p.vendor, model, _firmware(rng)))
        elif kind == 2:
            k = rng.choice(KNOWN)
            out.append(Device(k.vendor, k.model, _firmware(rng), k.order_numbers, k.names))
        else:
            out.append(Device(rng.choice(OTHERS), f"PLC-{rng.randint(100, 999)}", _firmware(rng)))
    return out


def run(folder: Path, n: int, console: bool) -> dict[str, Any]:
    files = sorted(folder.rglob("*.json"))
    t0 = time.perf_counter()
    advisories = [csaf.load(f) for f in files]
    t_parse = time.perf_counter() - t0
    t0 = time.perf_counter()
    cat = Catalog(advisories)
    t_catalog = time.perf_counter() - t0
    devs = devices(advisories, n)

    t0 = time.perf_counter()
    affected = possibly = concerned = 0
    for d in devs:
        cat._cache.clear()
        found = cat.match(d)
        concerned += bool(found)
        affected += sum(f.exposure == Exposure.AFFECTED for f in found)
        possibly += sum(f.exposure == Exposure.POSSIBLY_AFFECTED for f in found)
    t_cold = time.perf_counter() - t0
    t0 = time.perf_counter()
    for d in devs:
        cat.match(d)
    for d in devs:
        cat.match(d)
    t_warm = (time.perf_counter() - t0) / 2
    result: dict[str, Any] = {
        "documents": len(files),
        "products": sum(len(a.products) for a in advisories),
        "assets": n,
        "distinct_identities": len({d.key() for d in devs}),
        "parse_s": round(t_parse, 3),
        "catalog_s": round(t_catalog, 3),
        "match_cold_s": round(t_cold, 3),
        "match_cold_per_asset_ms": round(1000 * t_cold / n, 3),
        "match_warm_s": round(t_warm, 4),
        "assets_concerned": concerned,
        "affected_matches": affected,
        "possibly_affected_matches": possibly,
    }
    if console:
        result.update(_console(files, devs))
    return result


def _console(files: list[Path], devs: list[Device]) -> dict[str, Any]:
    """Import every document into a console database holding the assets; the import re-matches all."""
    from otwatch.console.assets.models import Asset
    from otwatch.console.db import Database
    from otwatch.console.migrate import upgrade
    from otwatch.console.vulnerabilities import service
    from otwatch.console.vulnerabilities.models import AssetVulnerability

    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite:///{tmp}/otwatch.db")
        try:
            upgrade(db.engine)
            with db.session() as s:
                for i, d in enumerate(devs):
                    s.add(
                        Asset(
                            ip=f"10.{i // 65536}.{(i // 256) % 256}.{i % 256}",
                            ip_num=i,
                            vendor=d.vendor,
                            model=d.model,
                            firmware=d.firmware,
                            extra={"identities": [{"protocol": "modbus", "name": n} for n in d.names]}
                            | ({"product_code": d.order_numbers[0]} if d.order_numbers else {}),
                            open_ports=[],
                            modules=[],
                            field_sources={},
                        )
                    )
            t0 = time.perf_counter()
            with db.session() as s:
                report = service.import_files(s, files)
            t_import = time.perf_counter() - t0
            with db.session() as s:
                t0 = time.perf_counter()
                service.rematch(s)  # nothing changed: a re-match that only compares
                t_rematch = time.perf_counter() - t0
                stored = s.query(AssetVulnerability).count()
        finally:
            db.dispose()
    return {
        "console_import_and_match_s": round(t_import, 2),
        "console_rematch_unchanged_s": round(t_rematch, 2),
        "console_new_matches": report.new_matches,
        "console_stored_matches": stored,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--advisories", type=Path, default=SHARED, help="folder of CSAF JSON files")
    ap.add_argument("--assets", type=int, default=10_000)
    ap.add_argument("--no-console", action="store_true", help="skip the console database phase")
    ap.add_argument("--json", type=Path, help="write the figures here too")
    args = ap.parse_args()
    if not args.advisories.is_dir():
        sys.exit(f"no advisories at {args.advisories}")
    result = run(args.advisories, args.assets, not args.no_console)
    for k, v in result.items():
        print(f"{k:32} {v}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
