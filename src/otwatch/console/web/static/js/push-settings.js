// Site Management: Push settings.
// Choose a setting and the sensor to share it from (its current values are shown read-only),
// Duplicate, choose the sensors to apply it to, Save: POST /api/v1/sensors/push-settings and a
// result per sensor. "Applied" rows turn "acknowledged" once the sensor confirms the new configuration.
import { api, errorOf, say, showError } from "./common.js";

export function initPushSettings() {
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
  // The names the sensor's System settings forms give each field (templates/_sensor_settings.html,
  // the seed's words for the mail server), so the preview reads like the form it was set in.
  const LABELS = {
    mail_server: { address: "SMTP Server Address", port: "SMTP Server Port", sender: "Outgoing Mail Account",
      ssl: "SSL", username: "Username", ntlm: "Use NTLM" },
    snmp_mib_monitoring: { enabled: "Serve the sensor's health over SNMP", version: "SNMP version",
      allowed_managers: "Allowed hosts (SNMP managers)" },
    active_directory: { enabled: "Sign in to the sensor with Active Directory accounts",
      ldaps: "LDAPS", starttls: "StartTLS (plain LDAP)", base_dn: "Base DN", bind_dn: "Bind DN",
      group_roles: "Groups → roles" },
    dns_reverse_lookup: { enabled: "Name assets by reverse DNS (PTR)", servers: "DNS servers",
      timeout: "Timeout (seconds)", subnets: "Subnets to resolve" },
  };
  const VALUES = { ssl: { none: "None", starttls: "STARTTLS", ssl: "SSL/TLS (implicit)" } };
  function label(group, key) {
    const known = (LABELS[group] || {})[key];
    return known || key.replace(/_/g, " ").replace(/^v3 /, "SNMPv3 ").replace(/^./, (c) => c.toUpperCase());
  }
  function render(out) {
    const v = out.value;
    const dl = document.createElement("dl");
    const value = (k) => (VALUES[k] && VALUES[k][v[k]]) || show(v[k]);
    const rows = v !== null && typeof v === "object" && !Array.isArray(v) && (out.group !== "port_aliases")
      ? Object.keys(v).map((k) => [label(out.group, k), value(k)])
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
    const edit = document.createElement("a");
    edit.href = "/sensors/" + encodeURIComponent(out.sensor_id) + "#system-settings";
    edit.textContent = "Edit on this sensor's page";
    const p = document.createElement("p");
    p.appendChild(edit);
    parts.push(p);
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
