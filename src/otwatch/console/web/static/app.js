// Agents page: polling refresh, selection, Actions / Bulk Actions, pairing key panel. No build step.
(function () {
  "use strict";
  const table = document.getElementById("agents-table");
  if (!table) return;
  const body = document.getElementById("agents-body");
  const canAct = table.dataset.canAct === "true";
  const flash = document.getElementById("flash");
  const selected = new Set();
  const POLL_MS = 2000;

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
  function td(content, cls) {
    const c = document.createElement("td");
    if (cls) c.className = cls;
    if (content instanceof Node) c.appendChild(content); else c.textContent = content;
    return c;
  }
  function row(a) {
    const tr = document.createElement("tr");
    tr.dataset.id = a.id;
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
    tr.append(
      td(a.ip || a.hostname),
      td(badge),
      td(text(a.last_scan_result)),
      td(text(a.active_query_networks.join(", "))),
      td(text(a.name)),
      td(text(a.hostname)),
      td(a.scan_schedule),
      td(fmtTime(a.last_scan)),
      td(fmtDuration(a.last_scan_duration)),
      td(text(a.credentials.join(", "))),
      td(String(a.reported_assets), "num"),
      td(text(a.version)),
      td(text(a.engine_version)),
      td(text(a.host_os)),
    );
    return tr;
  }
  function render(items) {
    const ids = new Set(items.map((a) => a.id));
    for (const id of Array.from(selected)) if (!ids.has(id)) selected.delete(id);
    const focused = document.activeElement && document.activeElement.classList.contains("row-check")
      ? document.activeElement.value : null;
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
      const cb = body.querySelector('input.row-check[value="' + CSS.escape(focused) + '"]');
      if (cb) cb.focus();
    }
    syncSelection();
  }
  let inflight = false;
  async function refresh() {
    if (inflight) return;
    inflight = true;
    try {
      const r = await fetch("/api/v1/agents?limit=1000", { headers: { Accept: "application/json" } });
      if (r.status === 401) { window.location.assign("/login"); return; }
      if (r.ok) render((await r.json()).items);
    } catch (e) {
      /* transient network error: try again on the next tick */
    } finally {
      inflight = false;
    }
  }
  function say(msg, isError) {
    flash.textContent = msg;
    flash.classList.toggle("flash-error", !!isError);
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
    document.querySelectorAll(".menu-list").forEach((m) => { m.hidden = true; });
    document.querySelectorAll("[aria-haspopup]").forEach((b) => b.setAttribute("aria-expanded", "false"));
  }
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

  async function errorOf(r) {
    try { return (await r.json()).error.message; } catch (e) { return r.status + " " + r.statusText; }
  }
  const ACTION_LABEL = { approve: "Approve", scan: "Scan Now", abort: "Abort Scan", delete: "Delete" };
  document.querySelectorAll("#actions-menu [data-action]").forEach((item) => {
    item.addEventListener("click", async () => {
      const action = item.dataset.action;
      const ids = Array.from(selected);
      closeMenus();
      if (action === "delete" && !window.confirm("Delete " + ids.length + " agent(s)?")) return;
      const failures = [];
      for (const id of ids) {
        const url = "/api/v1/agents/" + encodeURIComponent(id) + (action === "delete" ? "" : "/" + action);
        const r = await fetch(url, { method: action === "delete" ? "DELETE" : "POST" });
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
      if (action === "delete" && !window.confirm("Delete " + ids.length + " agent(s)?")) return;
      const r = await fetch("/api/v1/agents/bulk", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ ids: ids, action: action }),
      });
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
      const r = await fetch("/api/v1/pairing-keys", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(payload),
      });
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

  syncSelection();
  refresh();
  window.setInterval(refresh, POLL_MS);
})();
