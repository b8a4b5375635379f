// Learning Mode, Smart IT Learning and the five engines of one sensor, on Site Management and the sensor's Overview:
// PATCH /api/v1/sensors/{id}/configuration.
import { api, errorOf, say } from "./common.js";

export const pendingSwitches = new Set();
function sensorInputs(id) {
  return Array.from(document.querySelectorAll('input[data-sensor-id="' + CSS.escape(id) + '"]'));
}
export function applySensorSettings(node) {
  for (const box of sensorInputs(node.id)) {
    if (pendingSwitches.has(box.id)) continue;
    if (box.dataset.sensorToggle === "learning") box.checked = !!node.settings.learning;
    else if (box.dataset.sensorToggle === "smart_it_learning") box.checked = !!node.settings.smart_it_learning;
    else if (box.dataset.engine) box.checked = (node.settings.engines || []).includes(box.dataset.engine);
  }
}
export function initSensorControls() {
  document.addEventListener("change", async (e) => {
    const box = e.target;
    if (!(box instanceof HTMLInputElement) || !box.dataset.sensorId) return;
    if (!box.dataset.sensorToggle && !box.dataset.engine) return;
    const id = box.dataset.sensorId;
    let payload, label;
    if (box.dataset.sensorToggle === "learning") {
      payload = { learning: box.checked };
      label = "Learning Mode";
    } else if (box.dataset.sensorToggle === "smart_it_learning") {
      if (!box.checked && !window.confirm("Turning Smart IT Learning off can trigger many false positive policy violation alerts. Turn it off?")) {
        box.checked = true;
        return;
      }
      payload = { smart_it_learning: box.checked };
      label = "Smart IT Learning";
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
