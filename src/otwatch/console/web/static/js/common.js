// Shared by every console page (ES module, no build step): flash messages, the JSON API with the
// session's CSRF token, API error text, form error marks, and the same time/duration text as the
// server-rendered cells.

export const FLASH_KEY = "otwatch-flash";
export const flash = document.getElementById("flash");

export function say(msg, isError) {
  if (!flash) { if (isError) window.alert(msg); return; }
  flash.textContent = msg;
  flash.classList.toggle("flash-error", !!isError);
}
// Reload the page and show `msg` once it is back (the page is rendered server-side).
export function reloadWith(msg) {
  try { window.sessionStorage.setItem(FLASH_KEY, msg); } catch (e) { /* private mode: no message */ }
  window.location.reload();
}
export function showPendingFlash() {
  let msg = null;
  try { msg = window.sessionStorage.getItem(FLASH_KEY); window.sessionStorage.removeItem(FLASH_KEY); } catch (e) { /* ignore */ }
  if (msg) say(msg);
}
// The API's error body is {"error": {"code", "message", "details"}}; pydantic's "Value error, " prefix is noise.
export async function apiError(r) {
  try {
    const err = (await r.json()).error;
    return { message: String(err.message).replace(/Value error, /g, ""), details: err.details };
  } catch (e) {
    return { message: r.status + " " + r.statusText, details: null };
  }
}
export async function errorOf(r) { return (await apiError(r)).message; }
// Every write echoes the session's CSRF token (otwatch/ui/csrf.py); the page carries it in a meta tag.
const CSRF_META = document.querySelector('meta[name="csrf-token"]');
const CSRF_TOKEN = CSRF_META ? CSRF_META.getAttribute("content") : "";
export async function api(method, url, payload) {
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
export function showError(box, msg) {
  box.textContent = msg;
  box.hidden = !msg;
}
export async function copyFrom(input) {
  try {
    await navigator.clipboard.writeText(input.value);
  } catch (err) {
    input.select();
    document.execCommand("copy");
  }
}
export function markInvalid(form, details) {
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
export function clearOnEdit(form, errBox) {
  form.addEventListener("input", (e) => {
    const t = e.target;
    if (!(t instanceof Element) || !t.hasAttribute("aria-invalid")) return;
    t.removeAttribute("aria-invalid");
    if (errBox && !form.querySelector("[aria-invalid]")) showError(errBox, "");
  });
}
export function bulkSummary(label, ok, failures) {
  return label + ": " + ok + " succeeded, " + failures.length + " failed" +
    (failures.length ? " (" + Array.from(new Set(failures)).join("; ") + ")" : "");
}

// ---- shared formatting
export function text(v) { return v === null || v === undefined || v === "" ? "—" : String(v); }
function pad(n) { return String(n).padStart(2, "0"); }
// Keep in step with console/web/render.py format_time / format_duration.
export function fmtTime(iso) {
  if (!iso) return "—";
  const d = new Date(/[zZ]|[+-]\d\d:\d\d$/.test(iso) ? iso : iso + "Z");
  return d.getUTCFullYear() + "-" + pad(d.getUTCMonth() + 1) + "-" + pad(d.getUTCDate()) + " " +
    pad(d.getUTCHours()) + ":" + pad(d.getUTCMinutes()) + ":" + pad(d.getUTCSeconds()) + " UTC";
}
export function fmtDuration(sec) {
  if (sec === null || sec === undefined) return "—";
  const s = Math.round(sec);
  if (s < 60) return s + "s";
  if (s < 3600) return Math.floor(s / 60) + "m " + (s % 60) + "s";
  return Math.floor(s / 3600) + "h " + Math.floor((s % 3600) / 60) + "m";
}
