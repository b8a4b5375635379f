// Every page: the message left by the page before a reload, and the forms and buttons that call the
// JSON API (data-api-form, data-api-call, data-api-report, data-copy, data-reload, data-switch-fieldsets).
import {
  FLASH_KEY, api, apiError, clearOnEdit, copyFrom, errorOf, markInvalid, reloadWith, say, showError, showPendingFlash,
} from "./common.js";

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
      if (btn.dataset.next) {  // the page is gone (a deletion): go on, with the message shown there
        try { window.sessionStorage.setItem(FLASH_KEY, btn.textContent.trim() + ": done"); } catch (err) { /* ignore */ }
        window.location.assign(btn.dataset.next);
        return;
      }
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

showPendingFlash();
initApiControls();
