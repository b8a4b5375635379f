"""Several cores for one capture: flows sharded over processes, their reports merged into one.

Each worker is a :class:`~otwatch.sensor.pipeline.sensor.Sensor` with ``shard=(i, n)``: it reads the whole
capture but keeps only the packets whose address pair hashes to ``i`` (a symmetric hash, so both
directions of every flow land together; non-IP frames go to shard 0). Hashing the address pair rather
than the full 5-tuple keeps every conversation between two hosts in one shard, so per-pair state
(connections, answer matching, alert de-duplication between two assets, a port scan of one host) is
the same as in one process; only detections that span many address pairs (scans of several hosts and
address/PLC sweeps, bursts of new conversations to several servers, ARP scans, the IEC 104 sweep,
unresponsive servers with several clients) see part of the traffic per shard.

:func:`merge_reports` folds the per-shard :meth:`Sensor.report` documents into one document of the
same shape: assets are matched by (MAC, IP) and renumbered in order of first appearance, connections
and alerts are re-pointed at the new asset ids, counters add up, alerts raised by several shards about
the same thing (a new asset every shard saw) become one, and the statistics are recomputed from the
merged inventory. :func:`analyze_sharded` runs the workers and merges their reports.
"""

from __future__ import annotations

import json
import multiprocessing
from collections import Counter
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from otwatch.inventory.asset import MAX_FUNCTIONS
from otwatch.inventory.vocabulary import Severity
from otwatch.sensor.tracking.assets import ROUTER_IPS
from otwatch.sensor.tracking.stats import OT_PROTOCOLS, TOP

__all__ = ["analyze_sharded", "merge_reports", "run_shard"]

_SEVERITY_ORDER = {str(s): s.order for s in Severity}
_IDENTITY_FIELDS = (
    "vendor",
    "vendor_source",
    "model",
    "firmware",
    "serial",
    "name",
    "state",
    "vendor_id",
    "product_code",
    "modules",
    "extra",
)


def run_shard(
    path: str | Path, index: int, count: int, settings: Any = None, with_pcap: bool = False
) -> dict[str, Any]:
    """One worker: the report of shard ``index`` of ``count`` over one capture file."""
    from otwatch.sensor.pipeline.sensor import Sensor

    sensor = Sensor(settings, shard=(index, count) if count > 1 else None)
    sensor.process_capture(path)
    sensor.finish()
    return sensor.report(with_pcap=with_pcap)


def analyze_sharded(
    path: str | Path, workers: int, settings: Any = None, with_pcap: bool = False
) -> dict[str, Any]:
    """Analyse one capture with ``workers`` processes, flows sharded by address pair; one report."""
    if workers <= 1:
        return run_shard(path, 0, 1, settings, with_pcap)
    ctx = multiprocessing.get_context(
        "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    )
    with ProcessPoolExecutor(workers, mp_context=ctx) as pool:
        futures = [pool.submit(run_shard, str(path), i, workers, settings, with_pcap) for i in range(workers)]
        reports = [f.result() for f in futures]
    return merge_reports(reports)


def _asset_key(asset: dict[str, Any]) -> tuple[str | None, str | None]:
    return asset.get("mac"), asset.get("ip")


def _merge_asset(into: dict[str, Any], other: dict[str, Any]) -> None:
    into["first_seen"] = min(into["first_seen"], other["first_seen"])
    into["last_seen"] = max(into["last_seen"], other["last_seen"])
    into["packets"] += other["packets"]
    into["bytes"] += other["bytes"]
    into["local"] = into.get("local", True) and other.get("local", True)
    for name in _IDENTITY_FIELDS:  # the first shard that knows a fact gives it
        if into.get(name) is None and other.get(name) is not None:
            into[name] = other[name]
    if (into.get("device_type") in (None, "Unknown", "IT Host")) and other.get("device_type") not in (
        None,
        "Unknown",
    ):
        into["device_type"] = other["device_type"]
        into["type_reason"] = other.get("type_reason")  # the reason goes with its type
    into["ghost"] = into.get("ghost", False) and other.get("ghost", False)  # heard by one shard: heard
    uses = {(p["protocol"], p["role"]): p for p in into["protocols"]}
    for p in other["protocols"]:
        mine = uses.get((p["protocol"], p["role"]))
        if mine is None:
            uses[(p["protocol"], p["role"])] = dict(p)
            into["protocols"].append(uses[(p["protocol"], p["role"])])
        else:
            mine["first_seen"] = min(mine["first_seen"], p["first_seen"])
            mine["last_seen"] = max(mine["last_seen"], p["last_seen"])
            mine["messages"] += p["messages"]


def _fold_layer2_and_routers(assets: dict[tuple[str | None, str | None], dict[str, Any]]) -> dict[int, int]:
    """Apply across shards the two keying rules a shard can only apply to what it saw itself: a MAC
    first seen without an IP (shard 0 gets the non-IP frames) is the asset that later has its IP, and
    a MAC carrying more than :data:`ROUTER_IPS` addresses is a router, so the addresses beyond the
    first ones are keyed by IP alone. Returns the aliases (``id`` of a folded asset -> ``id`` of the
    asset it went into)."""
    alias: dict[int, int] = {}
    by_mac: dict[str, list[dict[str, Any]]] = {}
    for asset in assets.values():
        if asset.get("mac"):
            by_mac.setdefault(asset["mac"], []).append(asset)

    def fold(src: dict[str, Any], dst: dict[str, Any]) -> None:
        _merge_asset(dst, src)
        alias[id(src)] = id(dst)
        del assets[_asset_key(src)]

    for mac, group in by_mac.items():
        with_ip = sorted((a for a in group if a.get("ip")), key=lambda a: a["first_seen"])
        if len(with_ip) > ROUTER_IPS:
            for asset in with_ip[ROUTER_IPS:]:
                target = assets.get((None, asset["ip"]))
                if target is not None:
                    fold(asset, target)
                else:
                    del assets[_asset_key(asset)]
                    asset["mac"] = None
                    assets[(None, asset["ip"])] = asset
            with_ip = with_ip[:ROUTER_IPS]
        layer2 = assets.get((mac, None))
        if layer2 is not None and with_ip:
            first = with_ip[0]
            if layer2["first_seen"] <= first["first_seen"]:
                fold(first, layer2)  # the layer-2 asset, first seen, is the one that got the IP
                del assets[(mac, None)]
                layer2["ip"] = first["ip"]
                layer2["local"] = first["local"]
                assets[(mac, first["ip"])] = layer2
            else:
                fold(layer2, first)
    return alias


def merge_reports(reports: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """One report from the reports of the shards of one capture (see the module docstring)."""
    if not reports:
        raise ValueError("no reports to merge")
    if len(reports) == 1:
        return reports[0]
    # Assets: matched by (MAC, IP), renumbered by first appearance.
    merged_assets: dict[tuple[str | None, str | None], dict[str, Any]] = {}
    remap: list[dict[int, int]] = []
    for report in reports:
        ids: dict[int, int] = {}
        for asset in report["assets"]:
            akey = _asset_key(asset)
            mine = merged_assets.get(akey)
            if mine is None:
                mine = merged_assets[akey] = json.loads(json.dumps(asset))
            else:
                _merge_asset(mine, asset)
            ids[asset["id"]] = id(mine)
        remap.append(ids)
    alias = _fold_layer2_and_routers(merged_assets)
    ordered = sorted(merged_assets.values(), key=lambda a: a["first_seen"])
    new_id = {id(a): i for i, a in enumerate(ordered, 1)}
    for asset in ordered:
        asset["id"] = new_id[id(asset)]

    def renumber(shard: int, old: int | None) -> int | None:
        if old is None:
            return None
        ref = remap[shard][old]
        while ref in alias:
            ref = alias[ref]
        return new_id[ref]

    # Connections: re-pointed, then added up per (client, server, protocol, transport, port).
    conns: dict[tuple[Any, ...], dict[str, Any]] = {}
    for shard, report in enumerate(reports):
        for conn in report["connections"]:
            c = dict(conn)
            c["client"], c["server"] = renumber(shard, c["client"]), renumber(shard, c["server"])
            key = (c["client"], c["server"], c["protocol"], c["transport"], c["port"])
            mine = conns.get(key)
            if mine is None:
                conns[key] = c
                continue
            mine["first_seen"] = min(mine["first_seen"], c["first_seen"])
            mine["last_seen"] = max(mine["last_seen"], c["last_seen"])
            for name in ("flows", "packets", "bytes", "messages"):
                mine[name] += c[name]
            functions = mine["functions"] = dict(mine.get("functions") or {})
            for name, n in (c.get("functions") or {}).items():
                if name in functions or len(functions) < MAX_FUNCTIONS:
                    functions[name] = functions.get(name, 0) + n
    connections = sorted(conns.values(), key=lambda c: c["first_seen"])

    # Alerts: re-pointed. A shard's own alerts between the same two assets are already distinct (its
    # AlertStore de-duplicated them), so only alerts from different shards, or about assets that the
    # merge folded into one, are folded into one.
    alerts_by_key: dict[tuple[Any, ...], list[tuple[set[tuple[int, Any, Any]], dict[str, Any]]]] = {}
    for shard, report in enumerate(reports):
        for alert in report["alerts"]:
            a = dict(alert)
            origin = (shard, a["source"], a["destination"])
            a["source"], a["destination"] = renumber(shard, a["source"]), renumber(shard, a["destination"])
            key = (
                a["code"],
                a["source"],
                a["destination"],
                a["title"],
                json.dumps(a["details"], sort_keys=True),
            )
            candidates = alerts_by_key.setdefault(key, [])
            found = next(((seen, mine) for seen, mine in candidates if origin not in seen), None)
            if found is None:
                candidates.append(({origin}, a))
                continue
            seen, mine = found
            seen.add(origin)
            mine["count"] += a["count"]
            mine["last_seen"] = max(mine["last_seen"], a["last_seen"])
            if a["first_seen"] < mine["first_seen"]:  # the earliest occurrence tells the story
                for name in ("first_seen", "description", "pcap_bytes", "pcap"):
                    if name in a:
                        mine[name] = a[name]
    alerts = sorted(
        (a for group in alerts_by_key.values() for _s, a in group), key=lambda a: (a["first_seen"], a["code"])
    )
    for i, alert in enumerate(alerts, 1):
        alert["id"] = i

    protocols: Counter[str] = Counter()
    for report in reports:
        protocols.update(report["protocols"])
    summary = dict(reports[0]["summary"])
    firsts = [r["summary"]["first_seen"] for r in reports if r["summary"]["first_seen"] is not None]
    summary.update(
        packets=sum(r["summary"]["packets"] for r in reports),
        bytes=sum(r["summary"]["bytes"] for r in reports),
        first_seen=min(firsts) if firsts else None,
        last_seen=max(r["summary"]["last_seen"] for r in reports),
        assets=len(ordered),
        connections=len(connections),
        alerts=len(alerts),
        errors=sum(r["summary"]["errors"] for r in reports),
        shards=len(reports),
    )
    return {
        "summary": summary,
        "assets": ordered,
        "connections": connections,
        "protocols": dict(protocols.most_common()),
        "alerts": alerts,
        "statistics": _statistics(reports, ordered, connections, alerts),
        "warnings": list(dict.fromkeys(w for r in reports for w in r["warnings"])),
    }


def _statistics(
    reports: Iterable[dict[str, Any]],
    assets: list[dict[str, Any]],
    connections: list[dict[str, Any]],
    alerts: list[dict[str, Any]],
) -> dict[str, Any]:
    hours: dict[str, list[int]] = {}
    by_port: Counter[str] = Counter()
    for report in reports:
        stats = report["statistics"]
        for h in stats["traffic_per_hour"]:
            entry = hours.setdefault(h["hour"], [0, 0])
            entry[0] += h["bytes"]
            entry[1] += h["packets"]
        for p in stats["traffic_by_port"]:
            by_port[p["port"]] += p["bytes"]
    devices: Counter[str] = Counter()
    for asset in assets:
        for protocol in {p["protocol"] for p in asset["protocols"]}:
            devices[protocol] += 1
    open_alerts = sorted(
        (a for a in alerts if a["status"] != "closed"),
        key=lambda a: (_SEVERITY_ORDER.get(a["severity"], 9), -a["last_seen"]),
    )
    return {
        "traffic_per_hour": [
            {"hour": hour, "mbps": round(b * 8 / 3600 / 1e6, 6), "bytes": b, "packets": p}
            for hour, (b, p) in sorted(hours.items())
        ],
        "top_ot_protocols": [
            {"protocol": p, "devices": n} for p, n in devices.most_common() if p in OT_PROTOCOLS
        ][:TOP],
        "traffic_by_port": [{"port": p, "bytes": b} for p, b in by_port.most_common()],
        "top_open_alerts": [{k: v for k, v in a.items() if k != "pcap"} for a in open_alerts[:TOP]],
    }
