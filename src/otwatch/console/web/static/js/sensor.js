// A sensor's Overview: its name and site, its Learning Mode and engine switches, its System settings.
import { api, errorOf, reloadWith, showError } from "./common.js";
import { initSensorSettings } from "./sensor-settings.js";
import { initSensorControls } from "./sensor-switches.js";

function initSensorName() {
  const form = document.getElementById("sensor-name-form");
  if (!form) return;
  const errBox = document.getElementById("sensor-name-error");
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const payload = { name: form.elements.name.value, site: form.elements.site.value };
    const r = await api("PATCH", "/api/v1/sensors/" + encodeURIComponent(form.dataset.sensorId), payload);
    if (!r.ok) { showError(errBox, await errorOf(r)); return; }
    reloadWith("Sensor name and site saved");
  });
}

initSensorName();
initSensorControls();
initSensorSettings();
