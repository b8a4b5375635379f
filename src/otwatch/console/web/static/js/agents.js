// Agents page: polling refresh, selection, Actions / Bulk Actions, pairing key, Configure Agent,
// Set Schedule, fleet toggles.
import {
  api, apiError, clearOnEdit, errorOf, fmtDuration, fmtTime, markInvalid, say, showError, text,
} from "./common.js";

function initAgentsPage() {
  const table = document.getElementById("agents-table");
  if (!table) return;
  const body = document.getElementById("agents-body");
  const canAct = table.dataset.canAct === "true";
  const selected = new Set();
  const POLL_MS = 2000;

  function td(content, cls) {
    const c = document.createElement("td");
    if (cls) c.className = cls;
    if (content instanceof Node) c.appendChild(content); else c.textContent = content;
    return c;
  }
  function link(href, label) {
    const el = document.createElement("a");
    el.href = href;
    el.textContent = label;
    return el;
  }
  // The OTD version and, where the last update failed or is under way, its state and reason (keep in
  // step with _agent_row.html): a refused package is seen here, not only in the Audit Log.
  function otdVersion(a) {
    const cell = document.createElement("span");
    cell.textContent = text(a.engine_version);
    const u = a.last_update;
    if (u && u.state === "failed") {
      const badge = document.createElement("span");
      badge.className = "badge badge-red";
      badge.dataset.testid = "update-failed";
      badge.title = u.error || "no reason given";
      badge.textContent = "update to " + u.version + " failed" + (u.rolled_back ? " (rolled back)" : "");
      const why = document.createElement("span");
      why.className = "hint update-reason";
      why.textContent = u.error || "no reason given";
      cell.append(" ", badge, " ", why);
    } else if (u && ["pending", "delivered", "running"].includes(u.state)) {
      const badge = document.createElement("span");
      badge.className = "badge badge-blue";
      badge.dataset.testid = "update-pending";
      badge.textContent = "updating to " + u.version;
      cell.append(" ", badge);
    }
    return cell;
  }
  function row(a) {
    const tr = document.createElement("tr");
    tr.dataset.id = a.id;
    tr.id = "agent-" + a.id;
    if (window.location.hash === "#" + tr.id) tr.classList.add("target");
    if (canAct) {
      const cb = document.createElement("input");
      cb.type = "checkbox";
      cb.className = "row-check";
      cb.value = a.id;
      cb.checked = selected.has(a.id);
      cb.setAttribute("aria-label", "Select " + (a.name || a.ip));
      tr.appendChild(td(cb, "sel"));
    }
    const badge = document.createElement("span");
    badge.className = "badge badge-" + a.status_colour;
    badge.textContent = a.status;
    if (a.disconnect_reason) badge.title = a.disconnect_reason;
    // Host Asset: a direct link to the host asset's details page (keep in step with _agent_row.html)
    let host;
    if (a.host_asset_id) {
      host = link("/inventory/" + encodeURIComponent(a.host_asset_id), a.hostname || a.ip);
      host.title = "The host asset's details";
    } else {
      host = document.createElement("span");
      host.textContent = text(a.hostname || a.ip);
      host.title = "Not in the inventory yet: the agent reports its own host once approved";
    }
    const reported = link("/inventory?source=" + encodeURIComponent(a.id), String(a.reported_assets));
    reported.setAttribute("aria-label", a.reported_assets + " assets reported by " + (a.name || a.ip));
    tr.append(
      td(a.ip || a.hostname),
      td(badge),
      td(text(a.last_scan_result)),
      td(text(a.active_query_networks.concat(a.duplicated_networks || []).join(", "))),
      td(text(a.name)),
      td(host, "host-asset"),
      td(a.scan_schedule),
      td(fmtTime(a.last_scan)),
      td(fmtDuration(a.last_scan_duration)),
      td(text(a.credentials.join(", "))),
      td(reported, "num"),
      td(text(a.version)),
      td(otdVersion(a), "otd-version"),
      td(text(a.host_os)),
    );
    return tr;
  }
  // The keyboard position inside the table (row and control) survives the re-render of every poll:
  // a checkbox or link focused with Tab stays focused.
  const ROW_CONTROLS = "a, input, button";
  function render(items) {
    const ids = new Set(items.map((a) => a.id));
    for (const id of Array.from(selected)) if (!ids.has(id)) selected.delete(id);
    const active = document.activeElement;
    const activeRow = active && body.contains(active) ? active.closest("tr[data-id]") : null;
    const focused = activeRow
      ? { id: activeRow.dataset.id, i: Array.from(activeRow.querySelectorAll(ROW_CONTROLS)).indexOf(active) }
      : null;
    body.replaceChildren();
    if (!items.length) {
      const tr = document.createElement("tr");
      tr.className = "empty";
      const c = td("No agents yet. Generate a pairing key and install the OT Agent.");
      c.colSpan = canAct ? 15 : 14;
      tr.appendChild(c);
      body.appendChild(tr);
    }
    for (const a of items) body.appendChild(row(a));
    if (focused) {
      const tr = body.querySelector('tr[data-id="' + CSS.escape(focused.id) + '"]');
      const again = tr ? tr.querySelectorAll(ROW_CONTROLS)[focused.i] : null;
      if (again) again.focus({ preventScroll: true });
    }
    syncSelection();
  }
  // The page shows one window of the fleet (?limit=&offset=, server-rendered with a pager); the poll
  // refreshes that window and the pager's summary.
  const windowLimit = Number(table.dataset.limit) || 100;
  const windowOffset = Number(table.dataset.offset) || 0;
  const windowStatus = table.dataset.status || ""; // ?status= from the dashboard's links
  const windowSort = table.dataset.sort || ""; // ?sort= from a column heading: the poll keeps the order
  function summarize(total, shown) {
    const el = document.querySelector('[data-testid="pager-summary"]');
    if (!el) return;
    el.textContent = shown
      ? "Showing " + (windowOffset + 1) + "–" + (windowOffset + shown) + " of " + total
      : "No results";
  }
  let inflight = false;
  async function refresh() {
    if (inflight) return;
    inflight = true;
    try {
      const url = "/api/v1/agents?limit=" + windowLimit + "&offset=" + windowOffset +
        (windowStatus ? "&status=" + encodeURIComponent(windowStatus) : "") +
        (windowSort ? "&sort=" + encodeURIComponent(windowSort) : "");
      const r = await fetch(url, { headers: { Accept: "application/json" } });
      if (r.status === 401) { window.location.assign("/login"); return; }
      if (r.ok) {
        const data = await r.json();
        render(data.items);
        summarize(data.total, data.items.length);
      }
    } catch (e) {
      /* transient network error: try again on the next tick */
    } finally {
      inflight = false;
    }
  }

  // ---- selection and menus
  const checkAll = document.getElementById("check-all");
  const actionsBtn = document.getElementById("actions-btn");
  const bulkBtn = document.getElementById("bulk-btn");
  function syncSelection() {
    const boxes = body.querySelectorAll("input.row-check");
    if (checkAll) {
      checkAll.checked = boxes.length > 0 && selected.size === boxes.length;
      checkAll.indeterminate = selected.size > 0 && selected.size < boxes.length;
    }
    if (actionsBtn) actionsBtn.disabled = selected.size === 0;
    if (bulkBtn) {  // seed 000: "select more than one OT Agent" enables Bulk Actions
      bulkBtn.disabled = selected.size < 2;
      bulkBtn.title = selected.size < 2 ? "Select more than one agent" : "";
    }
  }
  body.addEventListener("change", (e) => {
    const t = e.target;
    if (!(t instanceof HTMLInputElement) || !t.classList.contains("row-check")) return;
    if (t.checked) selected.add(t.value); else selected.delete(t.value);
    syncSelection();
  });
  if (checkAll) checkAll.addEventListener("change", () => {
    body.querySelectorAll("input.row-check").forEach((cb) => {
      cb.checked = checkAll.checked;
      if (cb.checked) selected.add(cb.value); else selected.delete(cb.value);
    });
    syncSelection();
  });

  function closeMenus() {
    document.querySelectorAll(".menu-list").forEach((m) => {
      m.hidden = true;
      m.classList.remove("context-menu");
      m.style.left = m.style.top = "";
    });
    document.querySelectorAll("[aria-haspopup]").forEach((b) => b.setAttribute("aria-expanded", "false"));
  }
  // Keyboard: arrows move through an open menu, Escape closes it and gives focus back to its button.
  document.querySelectorAll(".toolbar .menu-list").forEach((menu) => {
    menu.addEventListener("keydown", (e) => {
      const items = Array.from(menu.querySelectorAll("button"));
      const i = items.indexOf(document.activeElement);
      if (e.key === "ArrowDown") { e.preventDefault(); items[(i + 1) % items.length].focus(); }
      else if (e.key === "ArrowUp") { e.preventDefault(); items[(i - 1 + items.length) % items.length].focus(); }
      else if (e.key === "Escape") {
        e.preventDefault();
        e.stopPropagation();
        closeMenus();
        const btn = document.querySelector('[aria-controls="' + menu.id + '"]');
        if (btn) btn.focus();
      }
    });
  });
  document.querySelectorAll("[aria-haspopup]").forEach((btn) => {
    btn.addEventListener("click", (e) => {
      e.stopPropagation();
      const menu = document.getElementById(btn.getAttribute("aria-controls"));
      const open = menu.hidden;
      closeMenus();
      menu.hidden = !open;
      btn.setAttribute("aria-expanded", String(open));
      if (open) { const first = menu.querySelector("button"); if (first) first.focus(); }
    });
  });
  document.addEventListener("click", closeMenus);
  document.addEventListener("keydown", (e) => { if (e.key === "Escape") closeMenus(); });

  // Right-click on a row (or the context-menu key / Shift+F10 on it) opens the Actions menu there. A row
  // outside the current selection becomes the whole selection, as in a file manager.
  const actionsMenu = document.getElementById("actions-menu");
  if (canAct && actionsMenu) body.addEventListener("contextmenu", (e) => {
    const tr = e.target instanceof Element ? e.target.closest("tr[data-id]") : null;
    if (!tr) return;
    e.preventDefault();
    e.stopPropagation();
    if (!selected.has(tr.dataset.id)) {
      selected.clear();
      selected.add(tr.dataset.id);
      body.querySelectorAll("input.row-check").forEach((cb) => { cb.checked = selected.has(cb.value); });
      syncSelection();
    }
    closeMenus();
    let x = e.clientX, y = e.clientY;
    if (!x && !y) { const box = tr.getBoundingClientRect(); x = box.left + 32; y = box.bottom; }  // from the keyboard
    actionsMenu.classList.add("context-menu");
    actionsMenu.style.left = Math.min(x, window.innerWidth - 220) + "px";
    actionsMenu.style.top = Math.min(y, window.innerHeight - actionsMenu.childElementCount * 34 - 12) + "px";
    actionsMenu.hidden = false;
    if (actionsBtn) actionsBtn.setAttribute("aria-expanded", "true");
    const first = actionsMenu.querySelector("button");
    if (first) first.focus();
  });

  const ACTION_LABEL = {
    approve: "Approve", scan: "Scan Now", abort: "Abort Scan", pause: "Pause", resume: "Resume",
    update: "Update", delete: "Delete",
  };
  document.querySelectorAll("#actions-menu [data-action]").forEach((item) => {
    item.addEventListener("click", async () => {
      const action = item.dataset.action;
      const ids = Array.from(selected);
      closeMenus();
      if (action === "configure") { openConfigure(ids); return; }
      if (action === "update") { openUpdate(ids, false); return; }
      if (action === "delete" && !window.confirm("Delete " + ids.length + " agent(s)?")) return;
      const failures = [];
      for (const id of ids) {
        const url = "/api/v1/agents/" + encodeURIComponent(id) + (action === "delete" ? "" : "/" + action);
        const r = await api(action === "delete" ? "DELETE" : "POST", url);
        if (!r.ok) failures.push(await errorOf(r));
      }
      say(failures.length ? ACTION_LABEL[action] + ": " + failures.join("; ")
        : ACTION_LABEL[action] + ": done for " + ids.length + " agent(s)", failures.length > 0);
      if (action === "delete" && !failures.length) selected.clear();
      refresh();
    });
  });
  document.querySelectorAll("#bulk-menu [data-bulk]").forEach((item) => {
    item.addEventListener("click", async () => {
      const action = item.dataset.bulk;
      const ids = Array.from(selected);
      closeMenus();
      if (action === "set_schedule") { openSchedule(ids); return; }
      if (action === "update") { openUpdate(ids, true); return; }
      if (action === "delete" && !window.confirm("Delete " + ids.length + " agent(s)?")) return;
      const r = await api("POST", "/api/v1/agents/bulk", { ids: ids, action: action });
      if (!r.ok) { say(await errorOf(r), true); return; }
      const out = await r.json();
      const failed = Object.entries(out.results).filter(([, v]) => v !== "ok").map(([, v]) => v);
      say(item.textContent + ": " + out.succeeded + " succeeded, " + out.failed + " failed" +
        (failed.length ? " (" + Array.from(new Set(failed)).join("; ") + ")" : ""), out.failed > 0);
      refresh();
    });
  });

  // ---- pairing key panel
  const panel = document.getElementById("pairing-panel");
  const openBtn = document.getElementById("pairing-open");
  if (panel && openBtn) {
    const form = document.getElementById("pairing-form");
    const result = document.getElementById("pairing-result");
    const keyBox = document.getElementById("pk-key");
    function closePanel() {
      panel.hidden = true;
      openBtn.setAttribute("aria-expanded", "false");
      openBtn.focus();
    }
    openBtn.addEventListener("click", () => {
      form.reset();
      form.hidden = false;
      result.hidden = true;
      keyBox.value = "";
      panels.forEach((x) => { x.hidden = true; });
      panel.hidden = false;
      openBtn.setAttribute("aria-expanded", "true");
      document.getElementById("pk-address").focus();
    });
    panel.querySelectorAll("[data-close-panel]").forEach((b) => b.addEventListener("click", closePanel));
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const data = new FormData(form);
      const payload = {
        expires_days: Number(data.get("expires_days") || 90),
        max_uses: Number(data.get("max_uses") || 1),
        kind: "agent",
        description: String(data.get("description") || ""),
      };
      const address = String(data.get("address") || "").trim();
      if (address) payload.address = address;
      const r = await api("POST", "/api/v1/pairing-keys", payload);
      if (!r.ok) { say(await errorOf(r), true); return; }
      keyBox.value = (await r.json()).pairing_key;
      form.hidden = true;
      result.hidden = false;
      keyBox.focus();
      keyBox.select();
    });
    document.getElementById("pk-copy").addEventListener("click", async () => {
      try {
        await navigator.clipboard.writeText(keyBox.value);
      } catch (err) {
        keyBox.select();
        document.execCommand("copy");
      }
      say("Pairing key copied");
    });
  }

  // ---- side panels: one open at a time; Cancel / Escape close it and give focus back
  const panels = ["pairing-panel", "configure-panel", "schedule-panel", "update-panel"]
    .map((id) => document.getElementById(id)).filter(Boolean);
  function openOnly(p) { panels.forEach((x) => { x.hidden = x !== p; }); }
  function closeSidePanel(p) {
    p.hidden = true;
    if (actionsBtn && !actionsBtn.disabled) actionsBtn.focus();
  }

  // ---- Configure Agent (Actions > Configure): PUT /api/v1/agents/{id}/configuration
  const cfgPanel = document.getElementById("configure-panel");
  const cfgForm = document.getElementById("configure-form");
  const cfgError = document.getElementById("configure-error");
  const cfgToggle = document.getElementById("cfg-schedule");
  const cfgRepeat = document.getElementById("cfg-repeat");
  if (cfgPanel) {
    cfgToggle.addEventListener("change", () => { cfgRepeat.disabled = !cfgToggle.checked; });
    cfgPanel.querySelectorAll("[data-close-panel]").forEach((b) => b.addEventListener("click", () => closeSidePanel(cfgPanel)));
    cfgPanel.addEventListener("keydown", (e) => { if (e.key === "Escape") closeSidePanel(cfgPanel); });
    cfgForm.addEventListener("submit", saveConfiguration);
  clearOnEdit(cfgForm, cfgError);
  }
  // "Every 2 hours" / "Every 1 minute" / "Disabled" -> {enabled, every, unit}
  function parseSchedule(label) {
    const m = /^Every (\d+) (minute|hour|day|week)s?$/.exec(label || "");
    return m ? { enabled: true, every: Number(m[1]), unit: m[2] + "s" } : { enabled: false, every: 1, unit: "minutes" };
  }
  async function openConfigure(ids) {
    if (!cfgPanel) return;
    if (ids.length !== 1) { say("Configure: select exactly one agent", true); return; }
    const r = await api("GET", "/api/v1/agents/" + encodeURIComponent(ids[0]));
    if (!r.ok) { say("Configure: " + await errorOf(r), true); return; }
    const a = await r.json();
    cfgForm.reset();
    cfgForm.dataset.agentId = a.id;
    showError(cfgError, "");
    markInvalid(cfgForm, null);
    document.getElementById("configure-title").textContent = "Configure Agent " + (a.name || a.ip);
    document.getElementById("cfg-name").value = a.name || "";
    document.getElementById("cfg-networks").value = a.active_query_networks.join("\n");
    const sched = parseSchedule(a.scan_schedule);
    cfgToggle.checked = sched.enabled;
    cfgRepeat.disabled = !sched.enabled;
    document.getElementById("cfg-every").value = String(sched.every);
    document.getElementById("cfg-unit").value = sched.unit;
    const chosen = new Set(a.credentials);  // credential names are unique in the vault
    Array.from(document.getElementById("cfg-credentials").options).forEach((o) => { o.selected = chosen.has(o.text); });
    openOnly(cfgPanel);
    document.getElementById("cfg-name").focus();
  }
  async function saveConfiguration(e) {
    e.preventDefault();
    const id = cfgForm.dataset.agentId;
    const name = document.getElementById("cfg-name");
    const nets = document.getElementById("cfg-networks");
    const every = document.getElementById("cfg-every");
    const networks = nets.value.split(/[\s,;]+/).map((x) => x.trim()).filter(Boolean);
    markInvalid(cfgForm, null);
    const problems = [];
    if (!name.value.trim()) problems.push({ field: "name", problem: "Name is required" });
    if (!networks.length) problems.push({ field: "active_query_networks", problem: "Add at least one Active Query network" });
    if (cfgToggle.checked && !(Number(every.value) >= 1 && Number(every.value) <= 1000)) {
      problems.push({ field: "every", problem: "Repeats Every must be a number from 1 to 1000" });
    }
    if (problems.length) {
      showError(cfgError, problems.map((x) => x.problem).join("; "));
      markInvalid(cfgForm, problems).focus();
      return;
    }
    const payload = {
      name: name.value.trim(),
      active_query_networks: networks,
      schedule: cfgToggle.checked
        ? { enabled: true, every: Number(every.value), unit: document.getElementById("cfg-unit").value }
        : { enabled: false },
      credential_ids: Array.from(document.getElementById("cfg-credentials").selectedOptions).map((o) => o.value),
    };
    const r = await api("PUT", "/api/v1/agents/" + encodeURIComponent(id) + "/configuration", payload);
    if (!r.ok) {
      const err = await apiError(r);
      showError(cfgError, err.message);
      // the API names the offending field ("active_query_networks.0", "name") or lists networks "outside"
      const fields = Array.isArray(err.details)
        ? err.details.map((d) => ({ field: String(d.field).split(".")[0] }))
        : (err.details && err.details.outside ? [{ field: "active_query_networks" }] : []);
      const bad = markInvalid(cfgForm, fields);
      if (bad) bad.focus();
      return;
    }
    closeSidePanel(cfgPanel);
    say("Configuration saved for " + payload.name);
    refresh();
  }

  // ---- Bulk Actions > Set Schedule Scan: POST /api/v1/agents/bulk {action: set_schedule}
  const schedPanel = document.getElementById("schedule-panel");
  const schedForm = document.getElementById("schedule-form");
  const schedError = document.getElementById("schedule-error");
  if (schedPanel) {
    schedPanel.querySelectorAll("[data-close-panel]").forEach((b) => b.addEventListener("click", () => closeSidePanel(schedPanel)));
    schedPanel.addEventListener("keydown", (e) => { if (e.key === "Escape") closeSidePanel(schedPanel); });
    schedForm.addEventListener("submit", async (e) => {
      e.preventDefault();
      const ids = JSON.parse(schedForm.dataset.ids || "[]");
      const every = Number(document.getElementById("sched-every").value);
      if (!(every >= 1 && every <= 1000)) { showError(schedError, "Repeats Every must be a number from 1 to 1000"); return; }
      const r = await api("POST", "/api/v1/agents/bulk", {
        ids: ids,
        action: "set_schedule",
        schedule: { enabled: true, every: every, unit: document.getElementById("sched-unit").value },
      });
      if (!r.ok) { showError(schedError, await errorOf(r)); return; }
      const out = await r.json();
      const failed = Object.values(out.results).filter((v) => v !== "ok");
      const summary = "Set Schedule Scan: " + out.succeeded + " succeeded, " + out.failed + " failed" +
        (failed.length ? " (" + Array.from(new Set(failed)).join("; ") + ")" : "");
      refresh();
      if (out.failed) { showError(schedError, summary); return; }
      closeSidePanel(schedPanel);
      say(summary);
    });
  }
  // ---- Actions / Bulk Actions > Update: the Update OTD Version dialog asks first
  const updPanel = document.getElementById("update-panel");
  const updError = document.getElementById("update-error");
  const updConfirm = document.getElementById("update-confirm");
  function openUpdate(ids, isBulk) {
    if (!updPanel) return;
    const version = updPanel.dataset.otdVersion;
    const who = ids.length === 1 ? "the selected agent" : "the " + ids.length + " selected agents";
    document.getElementById("update-text").textContent = version
      ? "Update the OT Discovery engine of " + who + " to OTD " + version + ", the newest uploaded version?"
      : "No OT Discovery engine (OTD) package has been uploaded yet (System Configuration › Updates); updating " + who + " will fail.";
    showError(updError, "");
    updPanel.dataset.ids = JSON.stringify(ids);
    updPanel.dataset.bulk = isBulk ? "true" : "false";
    openOnly(updPanel);
    updConfirm.focus();
  }
  if (updPanel) {
    updPanel.querySelectorAll("[data-close-panel]").forEach((b) => b.addEventListener("click", () => closeSidePanel(updPanel)));
    updPanel.addEventListener("keydown", (e) => { if (e.key === "Escape") closeSidePanel(updPanel); });
    updConfirm.addEventListener("click", async () => {
      const ids = JSON.parse(updPanel.dataset.ids || "[]");
      const failures = [];
      let ok = 0;
      if (updPanel.dataset.bulk === "true") {
        const r = await api("POST", "/api/v1/agents/bulk", { ids: ids, action: "update" });
        if (!r.ok) { showError(updError, await errorOf(r)); return; }
        const out = await r.json();
        ok = out.succeeded;
        Object.values(out.results).forEach((v) => { if (v !== "ok") failures.push(v); });
      } else {
        for (const id of ids) {
          const r = await api("POST", "/api/v1/agents/" + encodeURIComponent(id) + "/update");
          if (r.ok) ok += 1; else failures.push(await errorOf(r));
        }
      }
      closeSidePanel(updPanel);
      say("Update OTD Version: " + ok + " succeeded, " + failures.length + " failed" +
        (failures.length ? " (" + Array.from(new Set(failures)).join("; ") + ")" : ""), failures.length > 0);
      refresh();
    });
  }

  function openSchedule(ids) {
    if (!schedPanel) return;
    schedForm.reset();
    schedForm.dataset.ids = JSON.stringify(ids);
    showError(schedError, "");
    document.getElementById("schedule-count").textContent = String(ids.length);
    openOnly(schedPanel);
    document.getElementById("sched-every").focus();
  }

  // ---- fleet settings toggles: PATCH /api/v1/fleet/settings
  document.querySelectorAll("input[data-setting]").forEach((box) => {
    box.addEventListener("change", async () => {
      const label = box.parentElement.textContent.trim();
      const r = await api("PATCH", "/api/v1/fleet/settings", { [box.dataset.setting]: box.checked });
      if (!r.ok) { box.checked = !box.checked; say(label + ": " + await errorOf(r), true); return; }
      const now = (await r.json())[box.dataset.setting];
      box.checked = now;
      say(label + ": " + (now ? "on" : "off"));
    });
  });

  syncSelection();
  refresh();
  window.setInterval(refresh, POLL_MS);
}

initAgentsPage();
