// Network Map page: the filters (applied as they change, kept in the address bar) fetch
// GET /api/v1/map and the graph is redrawn (netgraph.js).
import { api, errorOf } from "./common.js";
import { assetList, drawGraph, statusText, wireControls } from "./netgraph.js";

const ORGANIC_MAX = 80;

function initMap() {
  const form = document.getElementById("map-filters");
  const box = document.getElementById("network-map");
  if (!form || !box) return;
  const status = document.getElementById("map-status");
  const layoutSelect = document.getElementById("map-layout");
  let seq = 0;

  function params() {
    const q = new URLSearchParams();
    for (const [k, v] of new FormData(form)) {
      const el = form.elements.namedItem(k);
      const dflt = el instanceof HTMLElement ? el.dataset.default : undefined;
      if (v !== "" && v !== dflt) q.set(k, String(v)); // the defaults stay out of the address bar
    }
    return q;
  }
  async function load() {
    const mine = ++seq;
    const q = params();
    const shown = new URLSearchParams(q);
    if (layoutSelect && layoutSelect.value !== "auto") shown.set("layout", layoutSelect.value);
    window.history.replaceState(null, "", "/network-map" + (shown.toString() ? "?" + shown : ""));
    status.textContent = "Loading the map…";
    box.dataset.state = "loading";
    const r = await api("GET", "/api/v1/map?" + q);
    if (mine !== seq) return; // a newer choice is on its way
    if (!r.ok) { status.textContent = "The map could not be loaded: " + (await errorOf(r)); box.dataset.state = "error"; return; }
    const data = await r.json();
    const chosen = layoutSelect ? layoutSelect.value : "auto";
    // automatic: Purdue levels as rows; subnets force-directed while few, tiled boxes beyond (with
    // conversations across many subnets the force-directed boxes end up on top of each other)
    const auto = data.group_by === "purdue" ? "bands" : data.nodes.length <= ORGANIC_MAX ? "organic" : "tiles";
    const layout = chosen === "auto" ? auto : chosen === "rows" ? (data.group_by === "purdue" ? "bands" : "tiles") : chosen;
    status.textContent = statusText(data) + (data.total_nodes ? "" : " Sensors report who talks to whom; an agent's scan does not (tick \u201cAssets without conversations\u201d to see those).");
    assetList(document.getElementById("map-list"), data);
    drawGraph(box, data, {
      layout: layout,
      legendBox: document.getElementById("map-legend"),
      tip: document.getElementById("map-tip"),
    });
  }
  form.addEventListener("submit", (e) => { e.preventDefault(); load(); });
  form.addEventListener("change", () => load());
  if (layoutSelect) layoutSelect.addEventListener("change", () => load());
  wireControls(document.getElementById("map-controls"), "network-map");
  load();
}

initMap();
