// A sensor's System settings: one form per setting group. Save: PUT /api/v1/sensors/{id}/settings/{group};
// the API's 422 names each field inside the group, shown next to that field. Test: POST .../test with the
// values in the form (saved or not) and the test-only secrets, the answer shown under the button.
import { api, apiError, reloadWith } from "./common.js";

function lines(text) { return text.split(/\r?\n/).map((x) => x.trim()).filter(Boolean); }

// {key: value} from the rows of a map table; rows left blank are dropped.
function mapRows(table) {
  const out = {};
  table.querySelectorAll("tr[data-row]").forEach((row) => {
    const k = row.querySelector("[data-key]").value.trim();
    const v = row.querySelector("[data-value]").value.trim();
    if (k || v) out[k] = v;
  });
  return out;
}

// The group's value as the API takes it.
function collect(form) {
  const group = form.dataset.settingGroup;
  if (group === "subnets") return lines(form.querySelector('[data-field="subnets"]').value);
  if (group === "port_aliases") return mapRows(form.querySelector('[data-map="port_aliases"]'));
  const out = {};
  form.querySelectorAll("[data-field]").forEach((el) => {
    const kind = el.dataset.kind || "text";
    const key = el.dataset.field;
    if (kind === "bool") out[key] = el.checked;
    else if (kind === "lines") out[key] = lines(el.value);
    else if (kind === "number") {
      const t = el.value.trim();
      if (t !== "") out[key] = Number.isFinite(Number(t)) ? Number(t) : t;
    } else out[key] = el.value.trim();
  });
  form.querySelectorAll("[data-map]").forEach((t) => { out[t.dataset.map] = mapRows(t); });
  const auth = form.querySelector("[data-auth-toggle]");
  if (auth && !auth.checked) out.username = "";
  return out;
}

function clearErrors(form) {
  form.querySelectorAll("[data-error-for]").forEach((p) => { p.textContent = ""; p.hidden = true; });
  form.querySelectorAll("[aria-invalid]").forEach((el) => el.removeAttribute("aria-invalid"));
}

// Each problem next to its field: "servers.1" is line 2 of the Servers box; anything without a field
// of its own (a rule over several fields, a map key) goes to the form's message.
function showErrors(form, err) {
  clearErrors(form);
  const general = form.querySelector('[data-error-for="*"]');
  const details = Array.isArray(err.details) ? err.details : [];
  const leftover = [];
  for (const d of details) {
    const [top, index] = String(d.field || "").split(".");
    const slot = form.querySelector('[data-error-for="' + CSS.escape(top) + '"]');
    if (!slot || slot === general) { leftover.push(d.problem); continue; }
    const where = index !== undefined && /^\d+$/.test(index) ? "line " + (Number(index) + 1) + ": " : "";
    slot.textContent = (slot.textContent ? slot.textContent + " " : "") + where + d.problem;
    slot.hidden = false;
    const input = form.querySelector('[data-field="' + CSS.escape(top) + '"], [data-map="' + CSS.escape(top) + '"] input');
    if (input) input.setAttribute("aria-invalid", "true");
  }
  if (!details.length) leftover.push(err.message);
  if (leftover.length) { general.textContent = leftover.join("; "); general.hidden = false; }
  const first = form.querySelector('[aria-invalid="true"]') || general;
  if (first && first.focus) first.focus();
}

function testBody(form) {
  const body = { settings: collect(form) };
  form.querySelectorAll("[data-test-field]").forEach((el) => {
    const v = el.type === "password" ? el.value : el.value.trim();
    if (v !== "") body[el.dataset.testField] = v;
  });
  return body;
}

function showResult(box, res) {
  const head = document.createElement("p");
  head.className = res.ok ? "test-ok" : "test-failed";
  head.textContent = (res.ok ? "Test passed: " : "Test failed: ") + res.detail;
  const list = document.createElement("ul");
  for (const n of res.notes || []) {
    const li = document.createElement("li");
    li.textContent = n;
    list.appendChild(li);
  }
  box.replaceChildren(head, list);
  box.hidden = false;
}

export function initSensorSettings() {
  const section = document.getElementById("system-settings");
  if (!section) return;
  const base = "/api/v1/sensors/" + encodeURIComponent(section.dataset.sensorId) + "/settings/";
  section.querySelectorAll("form[data-setting-group]").forEach((form) => {
    const group = form.dataset.settingGroup;
    const label = form.querySelector("h3").firstChild.textContent.trim();
    form.addEventListener("click", (e) => {
      const t = e.target;
      if (!(t instanceof HTMLElement)) return;
      if (t.dataset.addRow) {
        const tpl = form.querySelector('template[data-row-template="' + CSS.escape(t.dataset.addRow) + '"]');
        const tbody = form.querySelector('[data-map="' + CSS.escape(t.dataset.addRow) + '"] tbody');
        tbody.appendChild(tpl.content.cloneNode(true));
        tbody.lastElementChild.querySelector("input").focus();
      } else if (t.hasAttribute("data-remove-row")) {
        t.closest("tr").remove();
      }
    });
    const auth = form.querySelector("[data-auth-toggle]");
    if (auth) auth.addEventListener("change", () => { form.querySelector("[data-auth-fields]").hidden = !auth.checked; });
    // editing a field the last answer marked clears its mark and its message
    form.addEventListener("input", (e) => {
      const t = e.target;
      if (!(t instanceof HTMLElement)) return;
      const map = t.closest("[data-map]");
      const name = t.dataset.field || (map ? map.dataset.map : null);
      if (!name) return;
      (map ? map.querySelectorAll("[aria-invalid]") : [t]).forEach((el) => el.removeAttribute("aria-invalid"));
      const slot = form.querySelector('[data-error-for="' + CSS.escape(name) + '"]');
      if (slot) { slot.textContent = ""; slot.hidden = true; }
    });
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      clearErrors(form);
      const btn = form.querySelector('button[type="submit"]');
      btn.disabled = true;
      try {
        const r = await api("PUT", base + encodeURIComponent(group), collect(form));
        if (!r.ok) { showErrors(form, await apiError(r)); return; }
        reloadWith(label + " saved; the sensor takes it on its next check-in");
      } finally {
        btn.disabled = false;
      }
    });
    const testBtn = form.querySelector("[data-test-group]");
    if (!testBtn) return;
    const box = form.querySelector("[data-test-result]");
    testBtn.addEventListener("click", async () => {
      clearErrors(form);
      box.hidden = true;
      testBtn.disabled = true;
      const was = testBtn.textContent;
      testBtn.textContent = "Testing…";
      try {
        const r = await api("POST", base + encodeURIComponent(group) + "/test", testBody(form));
        if (!r.ok) { showErrors(form, await apiError(r)); return; }
        showResult(box, await r.json());
      } finally {
        testBtn.disabled = false;
        testBtn.textContent = was;
      }
    });
  });
}
