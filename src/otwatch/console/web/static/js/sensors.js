// Sites and Sensors (Site Management): the settings switches, live status, selection, Bulk Actions,
// Sensor Engine Configuration, and Push settings (push-settings.js).
import { api, bulkSummary, errorOf, flash, fmtTime, say, showError, text } from "./common.js";
import { initPushSettings } from "./push-settings.js";
import { applySensorSettings, initSensorControls, pendingSwitches } from "./sensor-switches.js";

function initSensorsPage() {
  const table = document.getElementById("sensors-table");
  if (!table) return;
  const body = document.getElementById("sensors-body");
  const ENGINES = JSON.parse(table.dataset.engines || "[]");
  const selected = new Set();
  const latest = new Map();
  const checkAll = document.getElementById("sensors-check-all");
  const count = document.getElementById("sensors-selected");
  const bulkBtn = document.getElementById("sensor-bulk-btn");
  const menu = document.getElementById("sensor-bulk-menu");

  function syncSelection() {
    const boxes = Array.from(body.querySelectorAll("input.row-check"));
    boxes.forEach((b) => { b.checked = selected.has(b.value); });
    if (checkAll) {
      checkAll.checked = boxes.length > 0 && selected.size === boxes.length;
      checkAll.indeterminate = selected.size > 0 && selected.size < boxes.length;
    }
    if (count) count.textContent = selected.size + " selected";
    if (bulkBtn) bulkBtn.disabled = selected.size === 0;
  }
  body.addEventListener("change", (e) => {
    const t = e.target;
    if (!(t instanceof HTMLInputElement) || !t.classList.contains("row-check")) return;
    if (t.checked) selected.add(t.value); else selected.delete(t.value);
    syncSelection();
  });
  if (checkAll) checkAll.addEventListener("change", () => {
    body.querySelectorAll("input.row-check").forEach((cb) => {
      if (checkAll.checked) selected.add(cb.value); else selected.delete(cb.value);
    });
    syncSelection();
  });

  // ---- live status: poll the API; rows are updated in place, and re-rendered by the server when
  // sensors come or go (so the row markup lives in one template)
  // The Version cell: the version, and the sensor's update as the Updates page shows it (progress
  // while Updating, the target while requested, the reason when it failed). Keep in step with
  // _sensor_row.html update_cell.
  function versionCell(s) {
    const v = document.createElement("span");
    v.className = "version-text";
    v.textContent = text(s.version);
    const parts = [v];
    const u = s.last_update;
    const pct = s.status === "Updating" && s.progress ? s.progress.percent : undefined;
    if (typeof pct === "number") {
      const n = Math.trunc(pct);
      const wrap = document.createElement("span");
      wrap.className = "update-progress";
      wrap.dataset.testid = "update-progress";
      const bar = document.createElement("progress");
      bar.max = 100;
      bar.value = n;
      bar.setAttribute("aria-label", "Update progress of " + (s.name || s.ip));
      bar.textContent = n + "%";
      const phase = s.progress.phase ? " (" + s.progress.phase + ")" : "";
      wrap.append(bar, " " + n + "%" + phase + (u && u.version ? " to " + u.version : ""));
      parts.push(" ", wrap);
    } else if (u && ["pending", "delivered", "running"].includes(u.state)) {
      const badge = document.createElement("span");
      badge.className = "badge badge-blue";
      badge.dataset.testid = "update-pending";
      badge.textContent = "updating to " + u.version;
      parts.push(" ", badge);
    } else if (u && ["failed", "expired"].includes(u.state)) {
      const badge = document.createElement("span");
      badge.className = "badge badge-red";
      badge.dataset.testid = "update-failed";
      badge.title = u.error || "no reason given";
      badge.textContent = "update to " + u.version + " " + u.state + (u.rolled_back ? " (rolled back)" : "");
      const why = document.createElement("span");
      why.className = "hint update-reason";
      why.textContent = u.error || "no reason given";
      parts.push(" ", badge, " ", why);
    }
    return parts;
  }
  function updateRow(tr, s) {
    const cell = tr.querySelector(".status-cell");
    const badge = document.createElement("span");
    badge.className = "badge badge-" + s.status_colour;
    badge.textContent = s.status;
    const parts = [badge];
    if (s.disconnect_reason) {
      badge.title = s.disconnect_reason;
      const why = document.createElement("span");
      why.className = "reason";
      why.textContent = s.disconnect_reason;
      parts.push(" ", why);
    }
    if (cell) cell.replaceChildren(...parts);
    const version = tr.querySelector(".version");
    if (version) version.replaceChildren(...versionCell(s));
    const seen = tr.querySelector(".last-seen");
    if (seen) seen.textContent = fmtTime(s.last_seen);
    const assets = tr.querySelector(".assets a");
    if (assets) assets.textContent = String(s.reported_assets);
    applySensorSettings(s);
  }
  async function rerender() {
    const focusedId = document.activeElement && body.contains(document.activeElement) ? document.activeElement.id : null;
    const focusedCheck = document.activeElement && document.activeElement.classList.contains("row-check")
      ? document.activeElement.value : null;
    const r = await fetch(window.location.pathname + window.location.search, { headers: { Accept: "text/html" } });
    if (!r.ok) return;
    const doc = new DOMParser().parseFromString(await r.text(), "text/html");
    const fresh = doc.getElementById("sensors-body");
    if (!fresh) return;
    body.replaceChildren(...Array.from(fresh.childNodes).map((n) => document.importNode(n, true)));
    const ids = new Set(Array.from(body.querySelectorAll("tr[data-id]")).map((tr) => tr.dataset.id));
    for (const id of Array.from(selected)) if (!ids.has(id)) selected.delete(id);
    syncSelection();
    const again = focusedId ? document.getElementById(focusedId)
      : focusedCheck ? body.querySelector('input.row-check[value="' + CSS.escape(focusedCheck) + '"]') : null;
    if (again) again.focus();
  }
  let inflight = false;
  async function refresh() {
    if (inflight || pendingSwitches.size) return;
    inflight = true;
    try {
      const status = table.dataset.status || ""; // ?status= from the dashboard's links
      const sort = table.dataset.sort || ""; // ?sort= from a column heading: the poll keeps the order
      const r = await fetch("/api/v1/sensors?limit=1000" + (status ? "&status=" + encodeURIComponent(status) : "") +
        (sort ? "&sort=" + encodeURIComponent(sort) : ""), { headers: { Accept: "application/json" } });
      if (r.status === 401) { window.location.assign("/login"); return; }
      if (!r.ok) return;
      const items = (await r.json()).items;
      latest.clear();
      items.forEach((s) => latest.set(s.id, s));
      const shown = Array.from(body.querySelectorAll("tr[data-id]")).map((tr) => tr.dataset.id);
      // the same sensors in the same order (a sort by status or last seen may move them): else re-render
      const same = shown.length === items.length && items.every((s, i) => shown[i] === s.id);
      if (!same) { await rerender(); return; }
      for (const s of items) {
        const tr = body.querySelector('tr[data-id="' + CSS.escape(s.id) + '"]');
        if (tr) updateRow(tr, s);
      }
    } catch (e) {
      /* transient network error: try again on the next tick */
    } finally {
      inflight = false;
    }
  }

  // ---- Bulk Actions menu
  function closeMenu(focusButton) {
    if (!menu) return;
    menu.hidden = true;
    bulkBtn.setAttribute("aria-expanded", "false");
    if (focusButton) bulkBtn.focus();
  }
  if (bulkBtn && menu) {
    bulkBtn.addEventListener("click", (e) => {
      e.stopPropagation();
      const open = menu.hidden;
      menu.hidden = !open;
      bulkBtn.setAttribute("aria-expanded", String(open));
      if (open) { const first = menu.querySelector("button"); if (first) first.focus(); }
    });
    document.addEventListener("click", () => closeMenu(false));
    menu.addEventListener("keydown", (e) => {
      const items = Array.from(menu.querySelectorAll("button"));
      const i = items.indexOf(document.activeElement);
      if (e.key === "Escape") { e.preventDefault(); closeMenu(true); }
      else if (e.key === "ArrowDown") { e.preventDefault(); items[(i + 1) % items.length].focus(); }
      else if (e.key === "ArrowUp") { e.preventDefault(); items[(i - 1 + items.length) % items.length].focus(); }
    });
  }
  async function bulk(label, requests) {
    let ok = 0;
    const failures = [];
    for (const payload of requests) {
      const r = await api("POST", "/api/v1/sensors/bulk", payload);
      if (!r.ok) { failures.push(await errorOf(r)); continue; }
      const out = await r.json();
      ok += out.succeeded;
      Object.values(out.results).forEach((v) => { if (v !== "ok") failures.push(v); });
    }
    const msg = bulkSummary(label, ok, failures);
    say(msg, failures.length > 0);
    await refresh();
    return failures.length === 0;
  }
  document.querySelectorAll("[data-sensor-bulk]").forEach((item) => {
    item.addEventListener("click", async () => {
      const action = item.dataset.sensorBulk;
      const ids = Array.from(selected);
      const label = item.textContent.replace("…", "").trim();
      closeMenu(action !== "engines");
      if (action === "engines") { openEngines(ids); return; }
      if (action === "delete" && !window.confirm("Delete " + ids.length + " sensor(s)?")) return;
      if (action === "smart_it_on" || action === "smart_it_off") {
        if (action === "smart_it_off" && !window.confirm("Turning Smart IT Learning off can trigger many false positive policy violation alerts. Turn it off on " + ids.length + " sensor(s)?")) return;
        await bulk(label, [{ ids: ids, action: "set_sensor_settings", sensor_settings: { smart_it_learning: action === "smart_it_on" } }]);
        return;
      }
      if (action === "learning_on" || action === "learning_off") {
        await bulk(label, [{ ids: ids, action: "set_sensor_settings", sensor_settings: { learning: action === "learning_on" } }]);
        return;
      }
      const done = await bulk(label, [{ ids: ids, action: action }]);
      if (action === "delete" && done) { selected.clear(); syncSelection(); }
    });
  });

  // ---- Sensor Engine Configuration panel: Learning Mode, Smart IT Learning and the engines on or off on
  // many sensors at once (the seed's section). Each sensor keeps the engines not chosen here, so
  // sensors are grouped by their resulting list.
  const panel = document.getElementById("engines-panel");
  const form = document.getElementById("engines-form");
  const errBox = document.getElementById("engines-error");
  function closePanel() { panel.hidden = true; if (bulkBtn && !bulkBtn.disabled) bulkBtn.focus(); }
  function openEngines(ids) {
    form.reset();
    form.dataset.ids = JSON.stringify(ids);
    showError(errBox, "");
    document.getElementById("engines-count").textContent = String(ids.length);
    panel.hidden = false;
    const first = form.querySelector("select");
    if (first) first.focus();
  }
  if (panel) {
    panel.querySelectorAll("[data-close-panel]").forEach((b) => b.addEventListener("click", closePanel));
    panel.addEventListener("keydown", (e) => { if (e.key === "Escape") closePanel(); });
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const choice = {};
      form.querySelectorAll("select[data-bulk-engine]").forEach((sel) => { if (sel.value) choice[sel.dataset.bulkEngine] = sel.value; });
      const settings = {};
      form.querySelectorAll("select[data-bulk-setting]").forEach((sel) => { if (sel.value) settings[sel.dataset.bulkSetting] = sel.value === "on"; });
      if (!Object.keys(choice).length && !Object.keys(settings).length) { showError(errBox, "Choose On or Off for at least one setting"); return; }
      const ids = JSON.parse(form.dataset.ids || "[]");
      if (settings.smart_it_learning === false && !window.confirm("Turning Smart IT Learning off can trigger many false positive policy violation alerts. Turn it off on " + ids.length + " sensor(s)?")) return;
      if (!Object.keys(choice).length) {
        const ok = await bulk("Sensor Engine Configuration", [{ ids: ids, action: "set_sensor_settings", sensor_settings: settings }]);
        if (ok) closePanel(); else showError(errBox, flash ? flash.textContent : "failed");
        return;
      }
      const groups = new Map();
      for (const id of ids) {
        const current = (latest.get(id) || { settings: { engines: ENGINES } }).settings.engines || [];
        const next = ENGINES.filter((en) => choice[en] === "on" || (choice[en] !== "off" && current.includes(en)));
        const key = JSON.stringify(next);
        if (!groups.has(key)) groups.set(key, []);
        groups.get(key).push(id);
      }
      const requests = Array.from(groups.entries()).map(([key, group]) => (
        { ids: group, action: "set_sensor_settings", sensor_settings: { ...settings, engines: JSON.parse(key) } }));
      const ok = await bulk("Sensor Engine Configuration", requests);
      if (ok) closePanel(); else showError(errBox, flash ? flash.textContent : "failed");
    });
  }

  // ---- the row menu (⋯): Download activation file. Menus are delegated: rows are re-rendered.
  function closeRowMenus(except) {
    body.querySelectorAll(".row-menu-cell .menu-list").forEach((m) => {
      if (m === except) return;
      m.hidden = true;
      const b = document.querySelector('[aria-controls="' + m.id + '"]');
      if (b) b.setAttribute("aria-expanded", "false");
    });
  }
  // The table scrolls sideways, so its box clips what overflows it: the menu is placed over the page
  // (fixed, below the button or above it near the window's bottom) and follows the button on a scroll.
  function place(m, btn) {
    const r = btn.getBoundingClientRect();
    m.classList.add("context-menu");
    const w = m.offsetWidth, h = m.offsetHeight;
    m.style.left = Math.max(4, Math.min(r.right - w, window.innerWidth - w - 4)) + "px";
    const below = r.bottom + 4;
    m.style.top = (below + h > window.innerHeight - 4 ? Math.max(4, r.top - h - 4) : below) + "px";
  }
  window.addEventListener("scroll", () => {
    body.querySelectorAll(".row-menu-cell .menu-list:not([hidden])").forEach((m) => {
      const b = document.querySelector('[aria-controls="' + m.id + '"]');
      if (b) place(m, b);
    });
  }, true);
  body.addEventListener("click", (e) => {
    const t = e.target instanceof Element ? e.target : null;
    const btn = t ? t.closest("[data-row-menu]") : null;
    if (btn) {
      e.stopPropagation();
      const m = document.getElementById(btn.getAttribute("aria-controls"));
      const open = m.hidden;
      closeRowMenus(m);
      m.hidden = !open;
      btn.setAttribute("aria-expanded", String(open));
      if (open) {
        place(m, btn);
        const first = m.querySelector("button");
        if (first) first.focus({ preventScroll: true });
      }
      return;
    }
    const item = t ? t.closest("[data-row-action]") : null;
    if (item) {
      e.stopPropagation();
      closeRowMenus(null);
      if (item.dataset.rowAction === "activation") openActivation(item.dataset.sensorId, item.dataset.sensorName);
    }
  });
  body.addEventListener("keydown", (e) => {
    const m = e.target instanceof Element ? e.target.closest(".row-menu-cell .menu-list") : null;
    if (!m) return;
    if (e.key === "Escape") {
      e.preventDefault();
      closeRowMenus(null);
      const b = document.querySelector('[aria-controls="' + m.id + '"]');
      if (b) b.focus();
    }
  });
  document.addEventListener("click", () => closeRowMenus(null));

  const actPanel = document.getElementById("activation-panel");
  const actForm = document.getElementById("activation-form");
  const actError = document.getElementById("activation-error");
  let actReturn = null;
  function closeActivation() {
    actPanel.hidden = true;
    if (actReturn) actReturn.focus();
  }
  function openActivation(id, name) {
    if (!actPanel) return;
    actForm.reset();
    actForm.dataset.sensorId = id;
    showError(actError, "");
    document.getElementById("activation-sensor").textContent = name;
    actReturn = document.getElementById("row-menu-btn-" + id);
    actPanel.hidden = false;
    actForm.querySelector('input[name="activation-mode"]:checked').focus();
  }
  if (actPanel) {
    actPanel.querySelectorAll("[data-close-activation]").forEach((b) => b.addEventListener("click", closeActivation));
    actPanel.addEventListener("keydown", (e) => { if (e.key === "Escape") closeActivation(); });
    actForm.addEventListener("submit", async (e) => {
      e.preventDefault();
      const days = Number(document.getElementById("activation-expires").value);
      if (!(days >= 1 && days <= 90)) { showError(actError, "Valid for must be a number of days from 1 to 90"); return; }
      const mode = actForm.querySelector('input[name="activation-mode"]:checked').value;
      const payload = { mode: mode, expires_days: days };
      if (mode === "locally-managed") payload.sensor_id = actForm.dataset.sensorId;
      const r = await api("POST", "/api/v1/sensors/activation-file", payload);
      if (!r.ok) { showError(actError, await errorOf(r)); return; }
      const m = /filename="([^"]+)"/.exec(r.headers.get("Content-Disposition") || "");
      const href = URL.createObjectURL(await r.blob());
      const a = document.createElement("a");
      a.href = href;
      a.download = m ? m[1] : "activation.json";
      document.body.appendChild(a);
      a.click();
      a.remove();
      window.setTimeout(() => URL.revokeObjectURL(href), 10000);
      closeActivation();
      say("Activation file downloaded for " + document.getElementById("activation-sensor").textContent +
        " (" + (mode === "locally-managed" ? "locally managed" : "console-connected") + ")");
    });
  }

  syncSelection();
  refresh();
  window.setInterval(refresh, 2000);
}

initSensorControls();
initSensorsPage();
initPushSettings();
