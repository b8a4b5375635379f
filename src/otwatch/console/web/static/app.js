// OTWatch console pages. No build step.
//  - shared: flash messages, API error text, copy buttons, forms and buttons that call the JSON API
//  - Alerts list: row selection, Acknowledge / Close
//  - Sites and Sensors: Learning Mode / engine switches, live status, Bulk Actions, Sensor Engine Configuration,
//    Push settings
//  - Agents page: polling refresh, selection, Actions / Bulk Actions, pairing key, Configure Agent,
//    Set Schedule, fleet toggles
(function () {
  "use strict";
  const FLASH_KEY = "otwatch-flash";
  const flash = document.getElementById("flash");

  function say(msg, isError) {
    if (!flash) { if (isError) window.alert(msg); return; }
    flash.textContent = msg;
    flash.classList.toggle("flash-error", !!isError);
  }
  // Reload the page and show `msg` once it is back (the page is rendered server-side).
  function reloadWith(msg) {
    try { window.sessionStorage.setItem(FLASH_KEY, msg); } catch (e) { /* private mode: no message */ }
    window.location.reload();
  }
  function showPendingFlash() {
    let msg = null;
    try { msg = window.sessionStorage.getItem(FLASH_KEY); window.sessionStorage.removeItem(FLASH_KEY); } catch (e) { /* ignore */ }
    if (msg) say(msg);
  }
  // The API's error body is {"error": {"code", "message", "details"}}; pydantic's "Value error, " prefix is noise.
  async function apiError(r) {
    try {
      const err = (await r.json()).error;
      return { message: String(err.message).replace(/Value error, /g, ""), details: err.details };
    } catch (e) {
      return { message: r.status + " " + r.statusText, details: null };
    }
  }
  async function errorOf(r) { return (await apiError(r)).message; }
  // Every write echoes the session's CSRF token (otwatch/ui/csrf.py); the page carries it in a meta tag.
  const CSRF_META = document.querySelector('meta[name="csrf-token"]');
  const CSRF_TOKEN = CSRF_META ? CSRF_META.getAttribute("content") : "";
  async function api(method, url, payload) {
    const init = { method: method, headers: { Accept: "application/json" } };
    if (method !== "GET" && method !== "HEAD") init.headers["X-CSRF-Token"] = CSRF_TOKEN;
    if (payload !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(payload);
    }
    const r = await fetch(url, init);
    if (r.status === 401) window.location.assign("/login");
    return r;
  }
  function showError(box, msg) {
    box.textContent = msg;
    box.hidden = !msg;
  }
  async function copyFrom(input) {
    try {
      await navigator.clipboard.writeText(input.value);
    } catch (err) {
      input.select();
      document.execCommand("copy");
    }
  }

  showPendingFlash();
  initApiControls();

  // ------------------------------------------------------------ forms and buttons calling the API
  function setPath(obj, path, value) {
    const parts = path.split(".");
    let o = obj;
    for (const k of parts.slice(0, -1)) o = o[k] = o[k] || {};
    o[parts[parts.length - 1]] = value;
  }
  // "Name: value" per line -> {Name: value}; a line without a colon becomes a name with no value,
  // which the API refuses with the header's name in the message.
  function parseHeaders(text) {
    const out = {};
    for (const line of text.split("\n")) {
      if (!line.trim()) continue;
      const i = line.indexOf(":");
      if (i < 0) out[line.trim()] = "";
      else out[line.slice(0, i).trim()] = line.slice(i + 1).trim();
    }
    return out;
  }
  // A test result ({ok, detail, notes}) in the flash line: the action ran, and this is what happened.
  async function reportResult(r) {
    if (!r.ok) { say(await errorOf(r), true); return; }
    const res = await r.json();
    const notes = res.notes && res.notes.length ? " (" + res.notes.join("; ") + ")" : "";
    say((res.ok ? "Sent: " : "Failed: ") + res.detail + notes, !res.ok);
  }
  function formPayload(form) {
    const out = {};
    for (const el of Array.from(form.elements)) {
      if (!el.name || el.matches(":disabled") || el.type === "submit" || el.type === "button") continue;
      let v;
      if (el.type === "checkbox") v = el.checked;
      else if (el.type === "number") v = el.value === "" ? "" : Number(el.value);
      else if (el.multiple) v = Array.from(el.selectedOptions).map((o) => o.value);
      else if (el.hasAttribute("data-list")) v = el.value.split(/[,\n]/).map((x) => x.trim()).filter(Boolean);
      else if (el.hasAttribute("data-headers")) v = parseHeaders(el.value);
      else if (el.type === "password") v = el.value;
      else v = el.value.trim();
      if (v === "" && el.hasAttribute("data-optional")) continue;
      setPath(out, el.name, v);
    }
    return out;
  }
  function markInvalid(form, details) {
    form.querySelectorAll("[aria-invalid]").forEach((el) => el.removeAttribute("aria-invalid"));
    if (!Array.isArray(details)) return null;
    let first = null;
    for (const d of details) {
      if (!d || !d.field) continue;
      const el = form.querySelector('[name="' + CSS.escape(d.field) + '"]');
      if (el) { el.setAttribute("aria-invalid", "true"); first = first || el; }
    }
    return first;
  }
  // Editing a field the last answer marked invalid clears the mark, and the message once none is left.
  function clearOnEdit(form, errBox) {
    form.addEventListener("input", (e) => {
      const t = e.target;
      if (!(t instanceof Element) || !t.hasAttribute("aria-invalid")) return;
      t.removeAttribute("aria-invalid");
      if (errBox && !form.querySelector("[aria-invalid]")) showError(errBox, "");
    });
  }
  function initApiControls() {
    document.querySelectorAll("form[data-api-form]").forEach((form) => {
      const errBox = form.querySelector(".form-error");
      clearOnEdit(form, errBox);
      form.addEventListener("submit", async (e) => {
        e.preventDefault();
        if (errBox) showError(errBox, "");
        const submit = form.querySelector('[type="submit"]');
        if (submit) submit.disabled = true;
        try {
          const r = await api(form.dataset.method || "POST", form.dataset.url, formPayload(form));
          if (!r.ok) {
            const err = await apiError(r);
            if (errBox) showError(errBox, err.message); else say(err.message, true);
            const bad = markInvalid(form, err.details);
            if (bad) bad.focus();
            return;
          }
          if (form.hasAttribute("data-report")) { await reportResult(r); return; }
          if (form.dataset.next) {  // back to the list, with the message shown there
            try { window.sessionStorage.setItem(FLASH_KEY, form.dataset.done || "Saved"); } catch (err) { /* ignore */ }
            window.location.assign(form.dataset.next);
            return;
          }
          if (form.dataset.result) {  // a secret shown once: fill it in, do not reload yet
            const data = await r.json();
            const result = document.getElementById(form.dataset.result);
            result.querySelectorAll("[data-result-field]").forEach((el) => { el.value = data[el.dataset.resultField]; });
            form.hidden = true;
            result.hidden = false;
            const first = result.querySelector("input");
            if (first) { first.focus(); first.select(); }
            return;
          }
          reloadWith(form.dataset.done || "Saved");
        } finally {
          if (submit) submit.disabled = false;
        }
      });
    });
    document.querySelectorAll("button[data-api-call]").forEach((btn) => {
      btn.addEventListener("click", async () => {
        if (btn.dataset.confirm && !window.confirm(btn.dataset.confirm)) return;
        const payload = btn.dataset.body ? JSON.parse(btn.dataset.body) : undefined;
        btn.disabled = true;
        const r = await api(btn.dataset.method || "POST", btn.dataset.apiCall, payload);
        if (!r.ok) { btn.disabled = false; say(await errorOf(r), true); return; }
        reloadWith(btn.textContent.trim() + ": done");
      });
    });
    document.querySelectorAll("button[data-api-report]").forEach((btn) => {
      btn.addEventListener("click", async () => {
        btn.disabled = true;
        say("Sending…");
        try { await reportResult(await api("POST", btn.dataset.apiReport)); } finally { btn.disabled = false; }
      });
    });
    document.querySelectorAll("button[data-copy]").forEach((btn) => {
      btn.addEventListener("click", async () => {
        const input = document.getElementById(btn.dataset.copy);
        await copyFrom(input);
        say("Copied to the clipboard");
      });
    });
    document.querySelectorAll("button[data-reload]").forEach((btn) => {
      btn.addEventListener("click", () => window.location.reload());
    });
    // A <select data-switch-fieldsets> shows the fieldsets whose data-for-kind lists its value.
    document.querySelectorAll("select[data-switch-fieldsets]").forEach((sel) => {
      const form = sel.form;
      function sync() {
        form.querySelectorAll("fieldset[data-for-kind]").forEach((fs) => {
          const on = fs.dataset.forKind.split(" ").includes(sel.value);
          fs.hidden = !on;
          fs.disabled = !on;
        });
      }
      sel.addEventListener("change", sync);
      sync();
    });
  }

  // ------------------------------------------------------------ Alerts list: select rows, Acknowledge / Close
  function bulkSummary(label, ok, failures) {
    return label + ": " + ok + " succeeded, " + failures.length + " failed" +
      (failures.length ? " (" + Array.from(new Set(failures)).join("; ") + ")" : "");
  }
  function initAlertsPage() {
    const table = document.getElementById("alerts-table");
    if (!table) return;
    const all = document.getElementById("alerts-check-all");
    const count = document.getElementById("alerts-selected");
    const buttons = Array.from(document.querySelectorAll("button[data-alert-bulk]"));
    const boxes = () => Array.from(table.querySelectorAll("input.alert-check"));
    const chosen = () => boxes().filter((b) => b.checked).map((b) => b.value);
    function sync() {
      const n = chosen().length;
      const total = boxes().length;
      if (count) count.textContent = n + " selected";
      buttons.forEach((b) => { b.disabled = n === 0; });
      if (all) { all.checked = n > 0 && n === total; all.indeterminate = n > 0 && n < total; }
    }
    table.addEventListener("change", (e) => {
      if (all && e.target === all) boxes().forEach((b) => { b.checked = all.checked; });
      sync();
    });
    buttons.forEach((btn) => btn.addEventListener("click", async () => {
      const ids = chosen();
      const label = btn.textContent.trim();
      buttons.forEach((b) => { b.disabled = true; });
      const failures = [];
      for (const id of ids) {
        const r = await api("POST", "/api/v1/alerts/" + encodeURIComponent(id) + "/" + btn.dataset.alertBulk);
        if (!r.ok) failures.push(await errorOf(r));
      }
      const msg = bulkSummary(label, ids.length - failures.length, failures);
      if (failures.length === ids.length) { say(msg, true); sync(); return; }
      reloadWith(msg);
    }));
    sync();
  }

  // ------------------------------------------------------------ sensor settings switches (Site Management, Overview)
  // Learning Mode and the five engines of one sensor: PATCH /api/v1/sensors/{id}/configuration.
  const pendingSwitches = new Set();
  function sensorInputs(id) {
    return Array.from(document.querySelectorAll('input[data-sensor-id="' + CSS.escape(id) + '"]'));
  }
  function applySensorSettings(node) {
    for (const box of sensorInputs(node.id)) {
      if (pendingSwitches.has(box.id)) continue;
      if (box.dataset.sensorToggle === "learning") box.checked = !!node.settings.learning;
      else if (box.dataset.engine) box.checked = (node.settings.engines || []).includes(box.dataset.engine);
    }
  }
  function initSensorControls() {
    document.addEventListener("change", async (e) => {
      const box = e.target;
      if (!(box instanceof HTMLInputElement) || !box.dataset.sensorId) return;
      if (!box.dataset.sensorToggle && !box.dataset.engine) return;
      const id = box.dataset.sensorId;
      let payload, label;
      if (box.dataset.sensorToggle === "learning") {
        payload = { learning: box.checked };
        label = "Learning Mode";
      } else {
        const engines = sensorInputs(id).filter((b) => b.dataset.engine && b.checked).map((b) => b.dataset.engine);
        payload = { engines: engines };
        label = box.dataset.engine + " engine";
      }
      const hadFocus = document.activeElement === box;
      pendingSwitches.add(box.id);
      box.disabled = true;
      try {
        const r = await api("PATCH", "/api/v1/sensors/" + encodeURIComponent(id) + "/configuration", payload);
        if (!r.ok) { box.checked = !box.checked; say(label + ": " + await errorOf(r), true); return; }
        const node = await r.json();
        pendingSwitches.delete(box.id);
        applySensorSettings(node);
        say(label + " of " + (node.name || node.ip) + ": " + (box.checked ? "on" : "off"));
      } finally {
        pendingSwitches.delete(box.id);
        box.disabled = false;
        if (hadFocus) box.focus();
      }
    });
  }

  // ------------------------------------------------------------ Site Management: live status, selection, Bulk Actions
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
      if (version) version.textContent = text(s.version);
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
      const r = await fetch(window.location.pathname, { headers: { Accept: "text/html" } });
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
        const r = await fetch("/api/v1/sensors?limit=1000", { headers: { Accept: "application/json" } });
        if (r.status === 401) { window.location.assign("/login"); return; }
        if (!r.ok) return;
        const items = (await r.json()).items;
        latest.clear();
        items.forEach((s) => latest.set(s.id, s));
        const shown = Array.from(body.querySelectorAll("tr[data-id]")).map((tr) => tr.dataset.id);
        const same = shown.length === items.length && items.every((s) => shown.includes(s.id));
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
        if (action === "learning_on" || action === "learning_off") {
          await bulk(label, [{ ids: ids, action: "set_sensor_settings", sensor_settings: { learning: action === "learning_on" } }]);
          return;
        }
        const done = await bulk(label, [{ ids: ids, action: action }]);
        if (action === "delete" && done) { selected.clear(); syncSelection(); }
      });
    });

    // ---- Sensor Engine Configuration panel: turn engines on or off on many sensors at once.
    // Each sensor keeps the engines not chosen here, so sensors are grouped by their resulting list.
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
        if (!Object.keys(choice).length) { showError(errBox, "Choose On or Off for at least one engine"); return; }
        const ids = JSON.parse(form.dataset.ids || "[]");
        const groups = new Map();
        for (const id of ids) {
          const current = (latest.get(id) || { settings: { engines: ENGINES } }).settings.engines || [];
          const next = ENGINES.filter((en) => choice[en] === "on" || (choice[en] !== "off" && current.includes(en)));
          const key = JSON.stringify(next);
          if (!groups.has(key)) groups.set(key, []);
          groups.get(key).push(id);
        }
        const requests = Array.from(groups.entries()).map(([key, group]) => (
          { ids: group, action: "set_sensor_settings", sensor_settings: { engines: JSON.parse(key) } }));
        const ok = await bulk("Sensor Engine Configuration", requests);
        if (ok) closePanel(); else showError(errBox, flash ? flash.textContent : "failed");
      });
    }

    syncSelection();
    refresh();
    window.setInterval(refresh, 2000);
  }


  // ------------------------------------------------------------ Site Management: Push settings
  // Choose a setting and the sensor to share it from (its current values are shown read-only),
  // Duplicate, choose the sensors to apply it to, Save: POST /api/v1/sensors/push-settings and a
  // result per sensor. "Applied" rows turn "acknowledged" once the sensor confirms the new configuration.
  function initPushSettings() {
    const panel = document.getElementById("push-panel");
    const openBtn = document.getElementById("push-open");
    if (!panel || !openBtn) return;
    const form = document.getElementById("push-form");
    const group = document.getElementById("push-group");
    const source = document.getElementById("push-source");
    const current = document.getElementById("push-current");
    const secretNote = document.getElementById("push-secret-note");
    const dupBtn = document.getElementById("push-duplicate");
    const targets = document.getElementById("push-targets");
    const targetList = document.getElementById("push-target-list");
    const errBox = document.getElementById("push-error");
    const resultsWrap = document.getElementById("push-results-wrap");
    const resultsBody = document.querySelector("#push-results tbody");
    let loaded = null; // the source's settings as last shown
    let ackTimer = null;

    function show(v) {
      if (v === null || v === undefined || v === "") return "—";
      if (typeof v === "boolean") return v ? "On" : "Off";
      if (Array.isArray(v)) return v.length ? v.map(show).join(", ") : "none";
      if (typeof v === "object") {
        const keys = Object.keys(v);
        return keys.length ? keys.map((k) => k + " → " + show(v[k])).join("\n") : "none";
      }
      return String(v);
    }
    function label(key) { return key.replace(/_/g, " ").replace(/^v3 /, "SNMPv3 ").replace(/^./, (c) => c.toUpperCase()); }
    function render(out) {
      const v = out.value;
      const dl = document.createElement("dl");
      const rows = v !== null && typeof v === "object" && !Array.isArray(v) && (out.group !== "port_aliases")
        ? Object.keys(v).map((k) => [label(k), show(v[k])])
        : [[out.label, show(v)]];
      for (const [k, val] of rows) {
        const dt = document.createElement("dt"); dt.textContent = k;
        const dd = document.createElement("dd"); dd.textContent = val;
        dl.append(dt, dd);
      }
      const parts = [dl];
      if (!out.configured) {
        const p = document.createElement("p");
        p.className = "muted";
        p.textContent = out.value === null ? "This sensor has no " + out.label + " settings to share." : "Not set on this sensor (defaults shown).";
        parts.push(p);
      }
      current.replaceChildren(...parts);
      secretNote.hidden = !out.not_pushed;
      secretNote.textContent = out.not_pushed ? "Not pushed: " + out.not_pushed + ". Enter it on each sensor." : "";
    }
    async function load() {
      loaded = null;
      targets.hidden = true;
      dupBtn.disabled = true;
      showError(errBox, "");
      if (!source.value) { current.textContent = "No approved sensor to share settings from."; return; }
      current.textContent = "Loading…";
      const r = await api("GET", "/api/v1/sensors/" + encodeURIComponent(source.value) + "/settings/" + encodeURIComponent(group.value));
      if (!r.ok) { current.textContent = ""; showError(errBox, await errorOf(r)); return; }
      loaded = await r.json();
      render(loaded);
      dupBtn.disabled = loaded.value === null;
      targetList.querySelectorAll("[data-target-row]").forEach((row) => {
        const mine = row.dataset.targetRow === source.value;
        row.hidden = mine;
        if (mine) row.querySelector("input").checked = false;
      });
    }
    function open() {
      panel.hidden = false;
      openBtn.setAttribute("aria-expanded", "true");
      resultsWrap.hidden = true;
      load();
      group.focus();
    }
    function close() {
      panel.hidden = true;
      openBtn.setAttribute("aria-expanded", "false");
      if (ackTimer) { window.clearInterval(ackTimer); ackTimer = null; }
      openBtn.focus();
    }
    openBtn.addEventListener("click", () => { if (panel.hidden) open(); else close(); });
    panel.querySelectorAll("[data-close-push]").forEach((b) => b.addEventListener("click", close));
    panel.addEventListener("keydown", (e) => { if (e.key === "Escape") close(); });
    group.addEventListener("change", load);
    source.addEventListener("change", load);
    dupBtn.addEventListener("click", () => {
      if (!loaded || loaded.value === null) return;
      targets.hidden = false;
      const first = targets.querySelector("input");
      if (first) first.focus();
    });
    targets.addEventListener("change", (e) => {
      if (e.target instanceof HTMLInputElement && e.target.name === "push-scope") {
        targetList.hidden = e.target.value !== "chosen";
      }
    });

    function resultRow(x) {
      const tr = document.createElement("tr");
      tr.dataset.id = x.sensor_id;
      if (x.config_version !== null && x.config_version !== undefined) tr.dataset.version = String(x.config_version);
      const cells = [x.name || x.sensor_id, x.status || "—", x.outcome, x.message];
      cells.forEach((c, i) => {
        const td = document.createElement("td");
        td.textContent = i === 2 ? c.charAt(0).toUpperCase() + c.slice(1) : c;
        if (i === 2) { td.className = "outcome outcome-" + x.outcome; }
        tr.appendChild(td);
      });
      return tr;
    }
    // "applied" becomes "acknowledged" when the sensor's config_acked reaches the pushed version
    async function pollAcks() {
      const waiting = Array.from(resultsBody.querySelectorAll("tr[data-version]"))
        .filter((tr) => !tr.dataset.acked);
      if (!waiting.length) { window.clearInterval(ackTimer); ackTimer = null; return; }
      const r = await fetch("/api/v1/sensors?limit=1000", { headers: { Accept: "application/json" } });
      if (!r.ok) return;
      const byId = new Map((await r.json()).items.map((s) => [s.id, s]));
      for (const tr of waiting) {
        const s = byId.get(tr.dataset.id);
        if (s && s.config_acked >= Number(tr.dataset.version)) {
          tr.dataset.acked = "1";
          tr.children[1].textContent = s.status;
          tr.children[3].textContent = "acknowledged by the sensor (configuration " + s.config_acked + ")";
        }
      }
    }

    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      showError(errBox, "");
      if (!loaded) return;
      const scope = form.querySelector('input[name="push-scope"]:checked').value;
      const payload = { source_id: source.value, groups: [group.value], target_ids: null };
      if (scope === "chosen") {
        payload.target_ids = Array.from(targetList.querySelectorAll('input[name="push-target"]:checked')).map((b) => b.value);
        if (!payload.target_ids.length) { showError(errBox, "Choose at least one sensor to apply the settings to"); return; }
      }
      const saveBtn = document.getElementById("push-save");
      saveBtn.disabled = true;
      try {
        const r = await api("POST", "/api/v1/sensors/push-settings", payload);
        if (!r.ok) { showError(errBox, await errorOf(r)); return; }
        const out = await r.json();
        resultsBody.replaceChildren(...out.results.map(resultRow));
        if (!out.results.length) {
          const tr = document.createElement("tr");
          const td = document.createElement("td");
          td.colSpan = 4; td.textContent = "No other approved sensor to push to.";
          tr.appendChild(td);
          resultsBody.appendChild(tr);
        }
        resultsWrap.hidden = false;
        say(loaded.label + " pushed: " + out.applied + " applied, " + out.queued + " queued, " + out.failed + " failed", out.failed > 0);
        if (ackTimer) window.clearInterval(ackTimer);
        ackTimer = window.setInterval(pollAcks, 1500);
        pollAcks();
      } finally {
        saveBtn.disabled = false;
      }
    });
  }

  // ------------------------------------------------------------ shared formatting
  function text(v) { return v === null || v === undefined || v === "" ? "—" : String(v); }
  function pad(n) { return String(n).padStart(2, "0"); }
  // Keep in step with routes.format_time / format_duration.
  function fmtTime(iso) {
    if (!iso) return "—";
    const d = new Date(/[zZ]|[+-]\d\d:\d\d$/.test(iso) ? iso : iso + "Z");
    return d.getUTCFullYear() + "-" + pad(d.getUTCMonth() + 1) + "-" + pad(d.getUTCDate()) + " " +
      pad(d.getUTCHours()) + ":" + pad(d.getUTCMinutes()) + ":" + pad(d.getUTCSeconds()) + " UTC";
  }
  function fmtDuration(sec) {
    if (sec === null || sec === undefined) return "—";
    const s = Math.round(sec);
    if (s < 60) return s + "s";
    if (s < 3600) return Math.floor(s / 60) + "m " + (s % 60) + "s";
    return Math.floor(s / 3600) + "h " + Math.floor((s % 3600) / 60) + "m";
  }

  initAlertsPage();
  initSensorControls();
  initSensorsPage();
  initPushSettings();

  // ------------------------------------------------------------ Agents page (the rest of this file)
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
    let host = text(a.hostname);
    if (a.ip) {
      host = link("/inventory?q=" + encodeURIComponent(a.ip), a.hostname || a.ip);
      host.title = "Host asset in the inventory";
    }
    const reported = link("/inventory?source=" + encodeURIComponent(a.id), String(a.reported_assets));
    reported.setAttribute("aria-label", a.reported_assets + " assets reported by " + (a.name || a.ip));
    tr.append(
      td(a.ip || a.hostname),
      td(badge),
      td(text(a.last_scan_result)),
      td(text(a.active_query_networks.join(", "))),
      td(text(a.name)),
      td(host),
      td(a.scan_schedule),
      td(fmtTime(a.last_scan)),
      td(fmtDuration(a.last_scan_duration)),
      td(text(a.credentials.join(", "))),
      td(reported, "num"),
      td(text(a.version)),
      td(text(a.engine_version)),
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
      const url = "/api/v1/agents?limit=" + windowLimit + "&offset=" + windowOffset;
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

  const ACTION_LABEL = { approve: "Approve", scan: "Scan Now", abort: "Abort Scan", update: "Update", delete: "Delete" };
  document.querySelectorAll("#actions-menu [data-action]").forEach((item) => {
    item.addEventListener("click", async () => {
      const action = item.dataset.action;
      const ids = Array.from(selected);
      closeMenus();
      if (action === "configure") { openConfigure(ids); return; }
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
  const panels = ["pairing-panel", "configure-panel", "schedule-panel"]
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
})();
