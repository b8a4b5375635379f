"""System settings > Network monitoring > Detection engines and network modeling (Admin only):
Learning, Smart IT Learning and the five analytics engines of this sensor.

A locally managed sensor is switched here, and the choice is kept in the sensor's settings
(:class:`~otwatch.sensor.local.store.Detection`, applied again at every start). A console-connected
sensor shows its settings read-only: its console owns them (Sites and Sensors), and would put them back
at the next check-in.

Turning Learning or Smart IT Learning off asks for confirmation first (the seed's confirmation
message): the form comes back with the consequences and an OK button that saves.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from otwatch.inventory.vocabulary import Engine
from otwatch.sensor.local.store import Detection
from otwatch.sensor.web.deps import AdminUser, ConsoleDep, Forbidden, check_csrf, flash, redirect

router = APIRouter(prefix="")

LEARNING_OFF = (
    "Turning Learning off freezes the baseline: from now on, traffic the sensor did not learn raises "
    "Policy Violation alerts. Do it about two to six weeks after deployment, when the detections "
    "reflect your network's activity."
)
SMART_IT_OFF = (
    "Turning Smart IT Learning off can trigger many false positive policy violation alerts: "
    "nondeterministic IT activity such as DNS and HTTP requests is no longer kept out of them."
)


def _current(c: ConsoleDep) -> Detection:
    with c.host.lock:
        s = c.host.sensor
        return Detection(s.learning, s.settings.smart_it_learning, frozenset(s.settings.engines))


def _page(
    request: Request,
    c: ConsoleDep,
    user: AdminUser,
    shown: Detection,
    status_code: int = 200,
    **extra: Any,
) -> Response:
    return c.render(
        request,
        "detection.html",
        user,
        status_code,
        active="detection",
        detection=shown,
        engines=list(Engine),
        editable=c.host.locally_managed(),
        management_mode=c.host.management_mode(),
        warnings=extra.pop("warnings", []),
        **extra,
    )


@router.get("/system/detection", response_class=HTMLResponse)
def detection_page(request: Request, c: ConsoleDep, user: AdminUser) -> Response:
    return _page(request, c, user, _current(c))


@router.post("/system/detection", response_class=HTMLResponse)
async def detection_save(request: Request, c: ConsoleDep, user: AdminUser) -> Response:
    form = await request.form(max_files=0, max_fields=20)
    check_csrf(request, str(form.get("csrf", "")))
    if not c.host.locally_managed():
        raise Forbidden(
            f"{c.host.management_mode()}: change Learning and the engines in its Sites and Sensors page."
        )
    names = {str(v) for k, v in form.multi_items() if k == "engine"}
    unknown = names - {e.value for e in Engine}
    if unknown:
        raise Forbidden(f"Unknown engine {sorted(unknown)[0]!r}.")
    wanted = Detection(
        learning=form.get("learning") == "on",
        smart_it_learning=form.get("smart_it_learning") == "on",
        engines=frozenset(Engine(n) for n in names),
    )
    before = _current(c)
    warnings = []
    if before.learning and not wanted.learning:
        warnings.append(LEARNING_OFF)
    if before.smart_it_learning and not wanted.smart_it_learning:
        warnings.append(SMART_IT_OFF)
    if warnings and form.get("confirmed") != "yes":
        return _page(request, c, user, wanted, confirm=True, warnings=warnings)
    c.store.set_detection(wanted)
    c.apply_detection()
    on = [e.value for e in Engine if e in wanted.engines]
    flash(
        request,
        f"Detection engines and network modeling saved: Learning {'on' if wanted.learning else 'off'}, "
        f"Smart IT Learning {'on' if wanted.smart_it_learning else 'off'}, "
        f"engines on: {', '.join(on) or 'none'}.",
    )
    return redirect("/system/detection")
