// System Configuration > Updates: Apply a console version (confirmation dialog), then follow the
// update supervisor's steps. The console stops and starts again during the update, so a failed poll
// means "restarting": the page keeps asking until the restarted console answers with the result.
import { api, errorOf, reloadWith, say, showPendingFlash } from "./common.js";

const FINAL = new Set(["succeeded", "failed", "rolled_back"]);
const RESULT_TEXT = {
  running: "In progress",
  succeeded: "Updated",
  failed: "Failed",
  rolled_back: "Failed and rolled back",
};

function initConsoleUpdate() {
  const panel = document.getElementById("console-update");
  if (!panel) return;
  const dialog = document.getElementById("apply-dialog");
  const bar = document.getElementById("cu-progress");
  const percent = document.getElementById("cu-percent");
  const steps = document.getElementById("cu-steps");
  const result = document.getElementById("cu-result");
  const title = document.getElementById("cu-title");
  const running = panel.dataset.running;
  let pending = null;
  let polling = false;

  function show(update, reconnecting) {
    panel.hidden = false;
    title.textContent = "Console update to " + update.to_version;
    bar.value = update.percent;
    percent.textContent = update.percent + "%";
    steps.replaceChildren(...update.steps.map((s) => {
      const li = document.createElement("li");
      li.dataset.state = s.state;
      li.textContent = s.label + ": " + s.state + (s.detail ? " — " + s.detail : "");
      return li;
    }));
    let text = RESULT_TEXT[update.state] || update.state;
    if (update.reason) text += ": " + update.reason;
    if (reconnecting) text = "The console is restarting; reconnecting…";
    result.textContent = text;
    result.dataset.state = reconnecting ? "reconnecting" : update.state;
  }

  let last = null;
  async function poll() {
    if (polling) return;
    polling = true;
    for (;;) {
      let data = null;
      try {
        const r = await fetch("/api/v1/updates/console", { headers: { Accept: "application/json" }, cache: "no-store" });
        if (r.status === 401) { window.location.assign("/login"); return; }
        if (r.ok) data = await r.json();
      } catch (err) { data = null; }  // the console is stopped or starting
      if (data && data.update) {
        last = data.update;
        show(last, false);
        if (FINAL.has(last.state)) {
          polling = false;
          if (data.running_version !== running) reloadWith("Console version " + data.running_version + " is running");
          return;
        }
      } else if (last) {
        show(last, true);
      }
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }

  document.querySelectorAll("button[data-apply]").forEach((btn) => {
    btn.addEventListener("click", () => {
      pending = btn;
      document.getElementById("apply-file").textContent = btn.dataset.file;
      dialog.returnValue = "";
      dialog.showModal();
    });
  });
  dialog.addEventListener("close", async () => {
    const btn = pending;
    pending = null;
    if (!btn || dialog.returnValue !== "apply") return;
    document.querySelectorAll("button[data-apply]").forEach((b) => { b.disabled = true; });
    const r = await api("POST", "/api/v1/updates/console/apply", { package_id: btn.dataset.apply });
    if (!r.ok) {
      say(await errorOf(r), true);
      document.querySelectorAll("button[data-apply]").forEach((b) => { b.disabled = false; });
      return;
    }
    const data = await r.json();
    if (data.update) { last = data.update; show(last, false); }
    poll();
  });
  if (panel.dataset.updateId && result.dataset.state === "running") poll();
}

showPendingFlash();
initConsoleUpdate();
