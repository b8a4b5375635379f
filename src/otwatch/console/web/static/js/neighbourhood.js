// An asset's page: its neighbourhood (the assets it talks to, optionally theirs) from
// GET /api/v1/assets/{id}/neighbourhood, drawn around it (netgraph.js).
import { api, errorOf } from "./common.js";
import { drawGraph, statusText, wireControls } from "./netgraph.js";

function initNeighbourhood() {
  const box = document.getElementById("neighbourhood-graph");
  if (!box) return;
  const status = document.getElementById("neighbourhood-status");
  const hops = document.getElementById("nb-hops");
  async function load() {
    status.textContent = "Loading the neighbourhood…";
    box.dataset.state = "loading";
    const r = await api("GET", "/api/v1/assets/" + encodeURIComponent(box.dataset.asset) + "/neighbourhood?hops=" + hops.value);
    if (!r.ok) { status.textContent = "The neighbourhood could not be loaded: " + (await errorOf(r)); box.dataset.state = "error"; return; }
    const data = await r.json();
    status.textContent = statusText(data, hops.value === "2" ? "within two hops" : "around this asset");
    drawGraph(box, data, {
      grouped: false,
      layout: "concentric",
      legendBox: document.getElementById("neighbourhood-legend"),
      tip: document.getElementById("neighbourhood-tip"),
    });
  }
  hops.addEventListener("change", load);
  wireControls(document.getElementById("neighbourhood-controls"), "neighbourhood-graph");
  load();
}

initNeighbourhood();
