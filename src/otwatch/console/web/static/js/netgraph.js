// The graph of the Network Map and of an asset's neighbourhood (ES module, no build step), drawn with
// the vendored Cytoscape.js (static/vendor/cytoscape/, loaded as classic scripts before this module):
// assets coloured and shaped by type, conversations coloured and labelled by protocol, subnet or
// Purdue boxes, hover details, click to the asset page, zoom/fit and a legend. Each drawn graph is
// window.otwatchGraphs[container id] (the browser tests read it), and the container says how many
// nodes and edges it holds (data-nodes, data-edges) and data-state="ready" once laid out.

import { fmtTime } from "./common.js";

/* global cytoscape, cytoscapeFcose */
if (typeof cytoscapeFcose !== "undefined" && !cytoscape.__otwatchFcose) {
  cytoscape.use(cytoscapeFcose);
  cytoscape.__otwatchFcose = true;
}

// device type -> colour and Cytoscape shape; the legend draws the same
export const TYPE_STYLE = {
  "PLC": ["#0b5cad", "round-rectangle"],
  "RTU": ["#1f7a8c", "round-rectangle"],
  "Controller": ["#3949ab", "round-rectangle"],
  "IED": ["#00838f", "hexagon"],
  "I/O Module": ["#5c6bc0", "rectangle"],
  "Drive": ["#4e6e9e", "rectangle"],
  "HMI": ["#2e7d32", "rectangle"],
  "Engineering Station": ["#7b1fa2", "diamond"],
  "Scanner": ["#b3261e", "diamond"],
  "Historian": ["#8d5a2b", "barrel"],
  "Switch": ["#546e7a", "hexagon"],
  "Router": ["#455a64", "hexagon"],
  "IT Host": ["#78909c", "ellipse"],
};
const UNKNOWN_STYLE = ["#9e9e9e", "ellipse"];
const PROTOCOL_COLOURS = {
  modbus: "#d35400", s7comm: "#1565c0", s7comm_plus: "#0d47a1", enip: "#6a1b9a", dnp3: "#00897b",
  iec104: "#c2185b", bacnet: "#558b2f", mms: "#00838f", profinet: "#283593", opcua: "#ef6c00",
  http: "#757575", https: "#616161", snmp: "#8d6e63", goose: "#ad1457", other: "#a0a7b1",
};
const SPARE = ["#e65100", "#2e7d32", "#4527a0", "#00695c", "#9e9d24", "#4e342e", "#37474f", "#ad1457"];

export function typeStyle(type) { return TYPE_STYLE[type] || UNKNOWN_STYLE; }
export function protocolColour(p) {
  if (PROTOCOL_COLOURS[p]) return PROTOCOL_COLOURS[p];
  let h = 0;
  for (const ch of String(p)) h = (h * 31 + ch.charCodeAt(0)) >>> 0;
  return SPARE[h % SPARE.length];
}

function fmtCount(n) { return Number(n).toLocaleString("en-US"); }
function fmtBytes(n) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = Number(n), i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return (i ? v.toFixed(1) : String(v)) + " " + units[i];
}

function elements(data, grouped) {
  const els = [];
  if (grouped) {
    for (const g of data.groups) {
      els.push({ group: "nodes", data: { id: "group:" + g.id, label: g.label + " (" + g.nodes + ")", isGroup: 1, order: g.order } });
    }
  }
  for (const n of data.nodes) {
    const [colour, shape] = typeStyle(n.device_type);
    els.push({
      group: "nodes",
      classes: [n.ghost ? "ghost" : "", data.center === n.id ? "center" : ""].join(" ").trim(),
      data: Object.assign({}, n, {
        parent: grouped ? "group:" + n.group : undefined, colour: colour, shape: shape,
        typeLabel: n.device_type || "Unknown", size: Math.min(16 + 3 * Math.sqrt(n.conversations), 40),
      }),
    });
  }
  for (const e of data.edges) {
    els.push({ group: "edges", data: Object.assign({}, e, { colour: protocolColour(e.protocol) }) });
  }
  return els;
}

const STYLE = [
  { selector: "node", style: {
    "background-color": "data(colour)", "shape": "data(shape)",
    "label": "data(label)", "font-size": 9, "color": "#1d2733", "text-valign": "bottom", "text-margin-y": 3,
    "text-max-width": 62, "text-wrap": "ellipsis", "min-zoomed-font-size": 9, "border-width": 1, "border-color": "#ffffff",
  } },
  // an asset's size is its data; a subnet or Purdue box has none (Cytoscape sizes it around its
  // assets) and a mapping to data it lacks logs a warning
  { selector: "node[size]", style: { "width": "data(size)", "height": "data(size)" } },
  { selector: "node[open_alerts > 0]", style: { "border-width": 3, "border-color": "#b3261e" } },
  { selector: "node.ghost", style: { "border-style": "dashed", "border-color": "#5d6776", "border-width": 2, "opacity": 0.7 } },
  { selector: "node.center", style: { "border-width": 4, "border-color": "#f2a900", "font-weight": "bold", "font-size": 11 } },
  { selector: ":parent", style: {
    "background-color": "#eef3f8", "background-opacity": 0.75, "border-color": "#9aa7b8", "border-width": 1,
    "shape": "round-rectangle", "label": "data(label)", "text-valign": "top", "text-halign": "center",
    "font-size": 12, "font-weight": "bold", "color": "#33475b", "padding": 14, "min-zoomed-font-size": 4,
    "text-wrap": "none", "text-max-width": 600,
  } },
  { selector: "edge", style: {
    "width": 1.5, "line-color": "data(colour)", "target-arrow-color": "data(colour)", "target-arrow-shape": "triangle",
    "arrow-scale": 0.7, "curve-style": "bezier", "opacity": 0.8, "label": "data(protocol)", "font-size": 7,
    "color": "#33475b", "min-zoomed-font-size": 9, "text-rotation": "autorotate",
    "text-background-color": "#ffffff", "text-background-opacity": 0.8, "text-background-padding": 1,
  } },
  { selector: 'edge[protocol = "other"]', style: { "line-style": "dashed", "width": 1 } },
  { selector: ".faded", style: { "opacity": 0.12 } },
  { selector: "node.hit", style: { "border-width": 3, "border-color": "#f2a900" } },
];

// Boxes of nodes in rows (never overlapping, whatever the conversations): Purdue levels stacked top
// to bottom ("bands", one box per row), subnets tiled left to right in rows ("tiles").
function boxPositions(data, stacked) {
  const byGroup = new Map(data.groups.map((g) => [g.id, []]));
  for (const n of data.nodes) (byGroup.get(n.group) || []).push(n);
  const gap = 64, boxGap = 190; // room for the labels under the nodes and the boxes' padding
  const boxes = data.groups.map((g) => {
    const members = (byGroup.get(g.id) || []).slice().sort((a, b) =>
      (a.device_type || "~").localeCompare(b.device_type || "~") || b.conversations - a.conversations || a.label.localeCompare(b.label));
    const cols = Math.max(1, Math.min(stacked ? 24 : 12, Math.ceil(Math.sqrt(members.length * (stacked ? 6 : 1.5)))));
    const rows = Math.ceil(members.length / cols);
    return { members, cols, w: Math.max(cols - 1, 2) * gap, h: Math.max(rows - 1, 0) * gap };
  });
  const total = boxes.reduce((sum, b) => sum + (b.w + boxGap) * (b.h + boxGap), 0);
  const rowWidth = stacked ? 0 : Math.max(Math.sqrt(total * 1.8), ...boxes.map((b) => b.w));
  const pos = {};
  let x = 0, y = 0, rowHeight = 0;
  for (const b of boxes) {
    if (!stacked && x > 0 && x + b.w > rowWidth) { x = 0; y += rowHeight + boxGap; rowHeight = 0; }
    b.members.forEach((n, i) => {
      const row = Math.floor(i / b.cols), col = i % b.cols;
      const width = Math.min(b.cols, b.members.length - row * b.cols);
      const left = stacked ? -((width - 1) * gap) / 2 : x;
      pos[n.id] = { x: left + col * gap, y: y + row * gap };
    });
    if (stacked) { y += b.h + boxGap; } else { x += b.w + boxGap; rowHeight = Math.max(rowHeight, b.h); }
  }
  return pos;
}

function layoutOptions(kind, data) {
  if (kind === "bands" || kind === "tiles") {
    const pos = boxPositions(data, kind === "bands");
    return { name: "preset", positions: (node) => pos[node.id()] || { x: 0, y: 0 }, fit: true, padding: 20, animate: false };
  }
  if (kind === "concentric") {
    return {
      name: "concentric", fit: true, padding: 20, animate: false, minNodeSpacing: 28,
      concentric: (node) => 10 - (node.data("hop") || 0), levelWidth: () => 1,
    };
  }
  const fcose = typeof cytoscapeFcose !== "undefined";
  return fcose
    ? { name: "fcose", quality: "default", randomize: true, animate: false, fit: true, padding: 20,
        nodeRepulsion: () => 6500, idealEdgeLength: () => 70, nestingFactor: 0.1, gravity: 0.3,
        numIter: 2500, tile: true, packComponents: true, nodeDimensionsIncludeLabels: true }
    : { name: "cose", animate: false, fit: true, padding: 20 };
}

function tipLines(target) {
  const d = target.data();
  if (target.isEdge()) {
    const s = target.source().data(), t = target.target().data();
    return [
      [s.label + " → " + t.label, true],
      ["Protocol: " + (d.protocol === "other" ? "no dissector, by port" : d.protocol) + " (" +
        d.ports.slice(0, 10).join(", ") + (d.ports.length > 10 ? ", … " + d.ports.length + " ports" : "") + ")"],
      ["Conversations: " + d.conversations + " (per port and sensor)"],
      ["Packets: " + fmtCount(d.packets) + ", traffic: " + fmtBytes(d.bytes)],
      ["Last seen: " + fmtTime(d.last_seen)],
    ];
  }
  const lines = [[d.label, true]];
  if (d.ip && d.ip !== d.label) lines.push(["IP: " + d.ip]);
  if (d.mac) lines.push(["MAC: " + d.mac]);
  lines.push(["Type: " + d.typeLabel + (d.type_reason ? " (by behaviour: " + d.type_reason + ")" : "")]);
  if (d.vendor || d.model) lines.push([[d.vendor, d.model].filter(Boolean).join(" ")]);
  if (d.ghost) lines.push(["Ghost: only ever probed, never answered"]);
  if (d.open_alerts) lines.push(["Open alerts: " + d.open_alerts]);
  lines.push(["Conversations: " + d.conversations + (d.hop ? " · " + (d.hop === 1 ? "1 hop" : d.hop + " hops") + " away" : "")]);
  lines.push(["Click to open the asset page"]);
  return lines;
}

function showTip(tip, container, target, evt) {
  tip.replaceChildren();
  for (const [text, strong] of tipLines(target)) {
    const line = document.createElement(strong ? "strong" : "span");
    line.textContent = text;
    tip.append(line);
  }
  const p = evt.renderedPosition || (target.isNode() ? target.renderedPosition() : target.renderedMidpoint());
  tip.style.left = Math.min(p.x + 14, container.clientWidth - 260) + "px";
  tip.style.top = (p.y + 14) + "px";
  tip.hidden = false;
}

const SVG = "http://www.w3.org/2000/svg";
function swatch(colour, shape) {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("width", "16"); svg.setAttribute("height", "16"); svg.setAttribute("aria-hidden", "true");
  let el;
  if (shape === "line") {
    el = document.createElementNS(SVG, "line");
    for (const [k, v] of [["x1", 1], ["y1", 8], ["x2", 15], ["y2", 8], ["stroke-width", 3]]) el.setAttribute(k, v);
    el.setAttribute("stroke", colour);
  } else if (shape === "ellipse") {
    el = document.createElementNS(SVG, "circle");
    el.setAttribute("cx", "8"); el.setAttribute("cy", "8"); el.setAttribute("r", "6");
  } else if (shape === "diamond" || shape === "hexagon") {
    el = document.createElementNS(SVG, "polygon");
    el.setAttribute("points", shape === "diamond" ? "8,1 15,8 8,15 1,8" : "4,2 12,2 15,8 12,14 4,14 1,8");
  } else {
    el = document.createElementNS(SVG, "rect");
    const r = shape === "round-rectangle" ? 3 : shape === "barrel" ? 5 : 0;
    for (const [k, v] of [["x", 2], ["y", 2], ["width", 12], ["height", 12], ["rx", r]]) el.setAttribute(k, v);
  }
  if (shape !== "line") el.setAttribute("fill", colour);
  svg.append(el);
  return svg;
}

function legend(box, data) {
  if (!box) return;
  box.replaceChildren();
  const types = [...new Set(data.nodes.map((n) => n.device_type || "Unknown"))].sort();
  const protocols = [...new Set(data.edges.map((e) => e.protocol))].sort();
  const section = (title, items) => {
    const h = document.createElement("h3");
    h.textContent = title;
    const ul = document.createElement("ul");
    for (const [label, colour, shape] of items) {
      const li = document.createElement("li");
      li.dataset.label = label;
      li.append(swatch(colour, shape), document.createTextNode(" " + label));
      ul.append(li);
    }
    box.append(h, ul);
  };
  section("Asset types", types.map((t) => [t, ...typeStyle(t === "Unknown" ? null : t)]));
  section("Protocols", protocols.map((p) => [p === "other" ? "other (port only)" : p, protocolColour(p), "line"]));
  const note = document.createElement("p");
  note.className = "help";
  note.textContent = "Arrows point from the asset that asks to the one that answers. A red outline: open alerts; a dashed outline: a ghost; a dashed line: traffic no dissector named. Zoom in for protocol labels.";
  box.append(note);
}

// Draw `data` (a GraphOut of the API) into `container`; `layout`: "organic", "bands", "tiles" or
// "concentric".
export function drawGraph(container, data, opts) {
  const o = Object.assign({ grouped: true, layout: "organic", legendBox: null, tip: null }, opts || {});
  window.otwatchGraphs = window.otwatchGraphs || {};
  const old = window.otwatchGraphs[container.id];
  if (old) old.destroy();
  container.dataset.state = "drawing";
  const cy = cytoscape({
    container: container,
    elements: elements(data, o.grouped),
    style: STYLE,
    layout: { name: "null" },
    minZoom: 0.05,
    maxZoom: 4,
    textureOnViewport: data.edges.length > 800,
    hideEdgesOnViewport: data.edges.length > 1500,
  });
  window.otwatchGraphs[container.id] = cy;
  const tip = o.tip;
  cy.on("mouseover", "node[!isGroup], edge", (evt) => {
    if (tip) showTip(tip, container, evt.target, evt);
    if (evt.target.isNode()) {
      const near = evt.target.closedNeighborhood().union(evt.target.ancestors());
      cy.elements().not(near).not(":parent").addClass("faded");
      evt.target.addClass("hit");
    }
  });
  cy.on("mouseout", "node, edge", () => {
    if (tip) tip.hidden = true;
    cy.elements().removeClass("faded hit");
  });
  cy.on("tap", "node[!isGroup]", (evt) => { window.location.assign(evt.target.data("href")); });
  const done = () => {
    if (cy.zoom() > 1.6) { cy.zoom(1.6); cy.center(); } // a few assets are not drawn huge
    container.dataset.nodes = String(cy.nodes("[!isGroup]").length);
    container.dataset.edges = String(cy.edges().length);
    container.dataset.state = "ready";
  };
  if (data.nodes.length) {
    const layout = cy.layout(layoutOptions(o.layout, data));
    layout.one("layoutstop", done);
    layout.run();
  } else {
    done();
  }
  legend(o.legendBox, data);
  return cy;
}

// The assets drawn as a list of links, by box: the graph's keyboard and screen-reader way in.
export function assetList(box, data) {
  if (!box) return;
  const summary = document.createElement("summary");
  summary.textContent = "The " + data.nodes.length + " assets drawn, as a list";
  const groups = new Map(data.groups.map((g) => [g.id, []]));
  for (const n of data.nodes) (groups.get(n.group) || []).push(n);
  const parts = [summary];
  for (const g of data.groups) {
    const members = groups.get(g.id) || [];
    if (!members.length) continue;
    const h = document.createElement("h3");
    h.textContent = g.label;
    const ul = document.createElement("ul");
    for (const n of members) {
      const li = document.createElement("li");
      const a = document.createElement("a");
      a.href = n.href;
      a.textContent = n.label;
      li.append(a, document.createTextNode(" " + (n.device_type || "Unknown") + ", " + n.conversations + " conversations"));
      ul.append(li);
    }
    parts.push(h, ul);
  }
  box.replaceChildren(...parts);
  box.hidden = !data.nodes.length;
}

// Fit / zoom buttons and the PNG export of a drawn graph: buttons carry data-graph-action.
export function wireControls(root, containerId) {
  root.addEventListener("click", (e) => {
    const b = e.target instanceof Element ? e.target.closest("[data-graph-action]") : null;
    const cy = (window.otwatchGraphs || {})[containerId];
    if (!b || !cy) return;
    const action = b.getAttribute("data-graph-action");
    const mid = { x: cy.width() / 2, y: cy.height() / 2 };
    if (action === "fit") cy.fit(undefined, 20);
    if (action === "zoom-in") cy.zoom({ level: cy.zoom() * 1.4, renderedPosition: mid });
    if (action === "zoom-out") cy.zoom({ level: cy.zoom() / 1.4, renderedPosition: mid });
    if (action === "png") {
      const a = document.createElement("a");
      a.href = cy.png({ full: true, scale: 2, bg: "#ffffff" });
      a.download = containerId + ".png";
      a.click();
    }
  });
}

// "Showing ..." under the filters: what is drawn of what matched.
export function statusText(data, noun) {
  if (!data.total_nodes) return "No conversations match these filters.";
  const all = !data.capped;
  const assets = all ? "all " + fmtCount(data.shown_nodes) + " assets" : fmtCount(data.shown_nodes) + " of " + fmtCount(data.total_nodes) + " assets";
  const conv = data.shown_conversations === data.total_conversations
    ? fmtCount(data.total_conversations) + " conversations"
    : fmtCount(data.shown_conversations) + " of " + fmtCount(data.total_conversations) + " conversations";
  const links = data.shown_edges === 1 ? "1 link" : fmtCount(data.shown_edges) + " links";
  let text = "Showing " + assets + " and " + conv + (noun ? " " + noun : "") + ", drawn as " + links + ".";
  if (!all) text += " The most connected are drawn: narrow the filters or raise the limit to see the rest.";
  return text;
}
