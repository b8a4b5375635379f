// Alerts list: select rows, Acknowledge / Close them.
import { api, bulkSummary, errorOf, reloadWith, say } from "./common.js";

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

initAlertsPage();
