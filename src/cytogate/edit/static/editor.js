// cytogate edit: the page over the JSON API (docs/edit.md).  No build step, no network beyond this server.
"use strict";

const TOKEN = document.body.dataset.token;
const W = 512, H = 512;
const SVG = "http://www.w3.org/2000/svg";
const $ = (id) => document.getElementById(id);

const ui = {
  pops: [], state: null, selected: null, plot: null, gate: null,
  draw: null,        // {kind, points} while a new gate is drawn
  drag: null,        // {onMove} while a handle is dragged
  pending: 0,        // requests and redraws under way
  target: "template", // where an edit goes: "template" or "override" (of the sample on screen)
};

// ---------------------------------------------------------------- server
async function api(method, path, body) {
  const sep = path.includes("?") ? "&" : "?";
  const opts = { method, headers: {} };
  if (body !== undefined) { opts.body = JSON.stringify(body); opts.headers["Content-Type"] = "application/json"; }
  const resp = await fetch(`${path}${sep}token=${encodeURIComponent(TOKEN)}`, opts);
  const data = await resp.json().catch(() => ({ error: `HTTP ${resp.status}` }));
  if (!resp.ok) throw new Error(data.error || `HTTP ${resp.status}`);
  return data;
}

function popUrl(path) { return "/api/populations/" + encodeURIComponent(path); }

function showError(message) {
  const box = $("error");
  box.textContent = message || "";
  box.hidden = !message;
}

async function run(work) {
  const start = performance.now();
  busy(1);
  try {
    const out = await work();
    showError("");
    return out;
  } catch (err) {
    showError(err.message);
    await refresh();  // back to what the server holds: a refused edit is never shown as done
    return null;
  } finally {
    $("status").dataset.ms = String(Math.round(performance.now() - start));
    busy(-1);
  }
}

async function refresh(list) {
  busy(1);
  try {
    await redraw(list);
  } finally {
    busy(-1);
  }
}

async function redraw(list) {
  ui.pops = list || await api("GET", "/api/populations");
  ui.state = await api("GET", "/api/state");
  if (ui.selected && !ui.pops.some((p) => p.path === ui.selected)) ui.selected = null;
  if (!ui.selected && ui.pops.length) ui.selected = ui.pops[0].path;
  renderHeader();
  renderTree();
  await loadPlot();
  renderProps();
}

// ---------------------------------------------------------------- header, tree
function renderHeader() {
  const s = ui.state;
  $("file").textContent = s.file;
  const sel = $("sample");
  if (sel.options.length !== s.samples.length) {
    sel.innerHTML = "";
    s.samples.forEach((name, i) => sel.add(new Option(name, String(i))));
  }
  sel.value = String(s.current);
  $("target-box").hidden = !s.overrides;
  if (!s.overrides) ui.target = "template";
  $("review").hidden = ui.target !== "override";
  $("review-sample").textContent = s.sample_name || "";
  $("review-file").textContent = s.overrides || "";
  $("undo").disabled = !s.can_undo;
  $("redo").disabled = !s.can_redo;
  $("status").textContent = `${s.n_events.toLocaleString()} events · ${s.modified ? "unsaved changes" : "saved"}`;
  for (const id of ["add-x", "add-y"]) {
    const box = $(id);
    if (box.options.length) continue;
    if (id === "add-y") box.add(new Option("(none: histogram)", ""));
    for (const c of s.channels) box.add(new Option(c.marker ? `${c.marker} (${c.channel})` : c.channel, c.marker || c.channel));
  }
  if (!$("add-y").dataset.set && $("add-y").options.length > 2) { $("add-y").selectedIndex = 2; $("add-y").dataset.set = "1"; }
}

function pct(count, parent) { return parent ? (100 * count / parent).toFixed(1) + "%" : "–"; }

function renderTree() {
  const root = $("tree");
  root.innerHTML = "";
  const lists = { "/": document.createElement("ul") };
  const top = document.createElement("li");
  top.dataset.path = "/";
  top.innerHTML = `<span><span>All events</span><span class="count">${ui.state.n_events.toLocaleString()}</span></span>`;
  top.appendChild(lists["/"]);
  top.firstChild.onclick = () => select("/");
  if (ui.selected === "/") top.classList.add("selected");
  root.appendChild(top);
  for (const p of ui.pops) {
    const li = document.createElement("li");
    li.dataset.path = p.path;
    if (p.path === ui.selected) li.classList.add("selected");
    const dd = (p.data_driven ? ' <span class="dd" title="data-driven gate">fit</span>' : "") +
      (p.source === "override" ? ' <span class="ov" title="overridden on this sample">override</span>' : "");
    li.innerHTML = `<span><span class="name">${escapeHtml(p.name)}${dd}</span>` +
      `<span class="count">${p.count.toLocaleString()} (${pct(p.count, p.parent_count)})</span></span>`;
    li.firstChild.onclick = () => select(p.path);
    const sub = document.createElement("ul");
    li.appendChild(sub);
    lists[p.path] = sub;
    (lists[p.parent] || lists["/"]).appendChild(li);
  }
}

function escapeHtml(text) {
  return String(text).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[c]));
}

function current() { return ui.pops.find((p) => p.path === ui.selected) || null; }

async function select(path) {
  busy(1);
  try {
    ui.selected = path;
    ui.draw = null;
    renderTree();
    await loadPlot();
    renderProps();
  } finally {
    busy(-1);
  }
}

// ---------------------------------------------------------------- plot
async function loadPlot() {
  const pop = current();
  ui.gate = pop ? JSON.parse(JSON.stringify(editedGate(pop))) : null;
  let query;
  if (ui.draw || !pop || !pop.dimensions.length) {
    const x = $("add-x").value, y = ui.draw && ui.draw.kind === "range" ? "" : $("add-y").value;
    query = `path=${encodeURIComponent(ui.selected || "/")}&x=${encodeURIComponent(x)}&y=${encodeURIComponent(y)}`;
  } else {
    query = `path=${encodeURIComponent(pop.path)}`;
  }
  try {
    ui.plot = await api("GET", "/api/plot?" + query);
  } catch (err) {
    showError(err.message);
    ui.plot = null;
  }
  drawDensity();
  drawOverlay();
}

function reviewing(pop) { return ui.target === "override" && pop && pop.template_here !== undefined; }

function editedGate(pop) {  // what the handles move: the template's gate, or this sample's override of it
  if (!reviewing(pop)) return pop.gate;
  if (pop.override && pop.override.gate !== "template") return pop.override.gate;
  return pop.template_here || pop.gate;
}

// <body data-idle="1" data-updates="N">: idle when no request or redraw is under way, N counts the
// moments it became idle.  Scripts and tests wait on these instead of on timers.
function busy(delta) {
  ui.pending += delta;
  document.body.dataset.idle = ui.pending ? "0" : "1";
  if (!ui.pending) document.body.dataset.updates = String(Number(document.body.dataset.updates || 0) + 1);
}

const LUT = (() => {  // white, then blue -> cyan -> yellow -> red
  const stops = [[255, 255, 255], [40, 60, 200], [0, 200, 220], [250, 230, 40], [220, 30, 20]];
  const out = new Uint8ClampedArray(256 * 3);
  for (let i = 1; i < 256; i++) {
    const t = (i / 255) * (stops.length - 2), k = Math.min(Math.floor(t), stops.length - 3), f = t - k;
    for (let c = 0; c < 3; c++) out[i * 3 + c] = stops[k + 1][c] * (1 - f) + stops[k + 2][c] * f;
  }
  out[0] = out[1] = out[2] = 255;
  return out;
})();

function drawDensity() {
  const ctx = $("density").getContext("2d");
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, W, H);
  const p = ui.plot;
  if (!p || !p.axes.length) return;
  if (p.density) {
    const n = p.density.bins, bytes = atob(p.density.image);
    const img = new ImageData(n, n);
    for (let i = 0; i < n * n; i++) {
      const v = bytes.charCodeAt(i);
      img.data[i * 4] = LUT[v * 3]; img.data[i * 4 + 1] = LUT[v * 3 + 1]; img.data[i * 4 + 2] = LUT[v * 3 + 2];
      img.data[i * 4 + 3] = 255;
    }
    const off = document.createElement("canvas");
    off.width = off.height = n;
    off.getContext("2d").putImageData(img, 0, 0);
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(off, 0, 0, W, H);
  } else if (p.histogram) {
    const counts = p.histogram.counts, peak = Math.max(1, p.histogram.peak), bw = W / counts.length;
    ctx.fillStyle = "#5a6fd0";
    counts.forEach((c, i) => { const h = (c / peak) * H * 0.9; ctx.fillRect(i * bw, H - h, Math.ceil(bw), h); });
  }
}

const sx = (v) => (v - ui.plot.axes[0].lo) / (ui.plot.axes[0].hi - ui.plot.axes[0].lo) * W;
const sy = (v) => H - (v - ui.plot.axes[1].lo) / (ui.plot.axes[1].hi - ui.plot.axes[1].lo) * H;
const vx = (px) => ui.plot.axes[0].lo + (px / W) * (ui.plot.axes[0].hi - ui.plot.axes[0].lo);
const vy = (py) => ui.plot.axes[1].lo + ((H - py) / H) * (ui.plot.axes[1].hi - ui.plot.axes[1].lo);

function rounded(v, axis) {  // four significant digits of the axis span: clean YAML, finer than a pixel
  const step = Math.pow(10, Math.floor(Math.log10(axis.hi - axis.lo)) - 3);
  const digits = Math.max(0, -Math.round(Math.log10(step)));
  return Number((Math.round(v / step) * step).toFixed(digits));
}

function el(tag, attrs, parent) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  (parent || $("overlay")).appendChild(node);
  return node;
}

function handle(node, onMove) {
  node.addEventListener("mousedown", (ev) => {
    if (ev.button !== 0) return;
    ev.preventDefault(); ev.stopPropagation();
    ui.drag = { onMove, moved: false };
  });
  return node;
}

function isRule(v) { return typeof v === "string" || (v !== null && typeof v === "object" && !Array.isArray(v)); }
function ruleBounds(v) {
  if (v === null || typeof v !== "object") return null;
  const opts = Object.values(v)[0];
  return opts && Array.isArray(opts.bounds) ? opts : null;
}

function drawAxes() {
  const svg = $("overlay");
  const [ax, ay] = ui.plot.axes;
  for (let i = 0; i <= 4; i++) {
    const v = ax.lo + (i / 4) * (ax.hi - ax.lo);
    el("text", { x: Math.min(W - 40, sx(v) + 2), y: H - 4 }, svg).textContent = fmt(v);
    if (ay) el("text", { x: 2, y: Math.max(12, sy(ay.lo + (i / 4) * (ay.hi - ay.lo)) - 2) }, svg)
      .textContent = fmt(ay.lo + (i / 4) * (ay.hi - ay.lo));
  }
  $("axes-x").textContent = `x: ${ax.label}` + (ay ? ` · y: ${ay.label}` : " · y: events");
}

function fmt(v) { return Math.abs(v) >= 1000 ? v.toExponential(1) : v.toFixed(2); }

function drawOverlay() {
  const svg = $("overlay");
  svg.innerHTML = "";
  const p = ui.plot, pop = current();
  $("plot-title").textContent = "";
  $("hint").textContent = "";
  if (!p || !p.axes.length) {
    if (pop) $("plot-title").textContent = `${pop.name}: ${pop.kind} gate (no axes to draw)`;
    return;
  }
  drawAxes();
  if (ui.draw) {
    $("plot-title").textContent = `Drawing a ${ui.draw.kind} under ${ui.selected === "/" ? "all events" : current()?.name} (${p.n_events.toLocaleString()} events)`;
    $("hint").textContent = ui.draw.kind === "polygon" ? "Click to place vertices; double-click to finish." : "Drag to draw; release to add the population.";
    drawPending();
    return;
  }
  if (!pop || ui.plot.path !== pop.path) return;
  $("plot-title").innerHTML = `${escapeHtml(pop.name)} <span class="muted">on ${p.events_of === "/" ? "all events" : escapeHtml(p.events_of)}</span>`;
  const kind = Object.keys(ui.gate)[0], spec = ui.gate[kind];
  if (pop.source === "override" && pop.template_here) drawTemplate(pop.template_here);
  const label = el("text", { x: W - 8, y: 16, "text-anchor": "end", id: "count" }, svg);
  label.textContent = `${pop.count.toLocaleString()} of ${pop.parent_count.toLocaleString()} (${pct(pop.count, pop.parent_count)})`;
  if ((kind === "range" || kind === "rectangle") && p.axes.length === 1) drawRange(spec, pop);
  else if (kind === "range" || kind === "rectangle") drawRectangle(spec, pop);
  else if (kind === "polygon") drawPolygon(spec);
  else if (kind === "ellipse") drawEllipse(spec);
  else if (kind === "quadrant") drawQuadrant(spec, pop);
  else if (kind === "singlet" || kind === "gmm") drawAdaptive(kind, spec, pop.fitted);
  else if (pop.fitted) drawFitted(pop.fitted);
  const hints = { polygon: "Drag vertices; double-click an edge to add one; right-click a vertex to delete it.",
    ellipse: "Drag the centre to move; drag the axis ends to stretch.", quadrant: "Drag the lines or their crossing.",
    singlet: "Data-driven: dashed where it landed; drag the dotted lines to move the bounds of the area/height ratio.",
    gmm: "Data-driven: dashed where it landed; shaded the bounds of the cluster's centre (drag their edges)." };
  $("hint").textContent = hints[kind] || (pop.data_driven ? "Data-driven: dashed where it landed on this sample, shaded its bounds (drag their edges)." : "Drag the edges and corners.");
}

// ---------------------------------------------------------------- drawing new gates
function local(ev) {
  const r = $("overlay").getBoundingClientRect();
  return [Math.max(0, Math.min(W, ev.clientX - r.left)), Math.max(0, Math.min(H, ev.clientY - r.top))];
}

function drawPending() {
  const pts = ui.draw.points;
  if (!pts.length) return;
  if (ui.draw.kind === "polygon") {
    el("polyline", { points: pts.map((q) => q.join(",")).join(" "), class: "gate" });
  } else if (pts.length === 2) {
    const [a, b] = pts;
    const y0 = ui.draw.kind === "range" ? 0 : Math.min(a[1], b[1]), h = ui.draw.kind === "range" ? H : Math.abs(a[1] - b[1]);
    el("rect", { x: Math.min(a[0], b[0]), y: y0, width: Math.abs(a[0] - b[0]), height: h, class: "gate" });
  }
}

async function startDraw(kind) {
  ui.draw = { kind, points: [] };
  busy(1);
  try {
    await loadPlot();
  } finally {
    busy(-1);
  }
}

async function finishDraw() {
  const d = ui.draw, [ax, ay] = ui.plot.axes, xName = $("add-x").value, yName = $("add-y").value;
  const name = $("add-name").value.trim() || "New population";
  let gate;
  if (d.kind === "polygon") {
    if (d.points.length < 3) { showError("a polygon needs at least 3 vertices"); return; }
    gate = { polygon: { x: xName, y: yName, vertices: d.points.map((q) => [rounded(vx(q[0]), ax), rounded(vy(q[1]), ay)]) } };
  } else {
    const [a, b] = d.points;
    const xs = [rounded(vx(Math.min(a[0], b[0])), ax), rounded(vx(Math.max(a[0], b[0])), ax)];
    if (d.kind === "range" || !ay) gate = { range: { [xName]: { min: xs[0], max: xs[1] } } };
    else gate = { rectangle: { [xName]: { min: xs[0], max: xs[1] },
      [yName]: { min: rounded(vy(Math.max(a[1], b[1])), ay), max: rounded(vy(Math.min(a[1], b[1])), ay) } } };
  }
  const parent = ui.selected || "/";
  ui.draw = null;
  const list = await run(() => api("POST", "/api/populations", { parent, name, gate }));
  if (list) {
    const made = list.filter((p) => p.parent === parent && p.name.startsWith(name)).pop();
    ui.selected = made ? made.path : ui.selected;
    await refresh(list);
  }
}

// ---------------------------------------------------------------- properties
function renderProps() {
  const box = $("props"), pop = current();
  box.innerHTML = "";
  if (!pop) {
    box.innerHTML = `<p class="muted">${ui.pops.length ? "All events." : "No populations yet: choose axes and draw a first gate."}</p>`;
    return;
  }
  const kind = Object.keys(pop.gate)[0];
  box.innerHTML = `
    <h3>${escapeHtml(pop.name)}</h3>
    <div class="muted">${escapeHtml(pop.path)} · ${escapeHtml(kind)}${pop.data_driven ? " (data-driven)" : ""}</div>
    <p id="prop-count">${pop.count.toLocaleString()} events, ${pct(pop.count, pop.parent_count)} of parent</p>
    <label>name <input id="rename-input" value="${escapeHtml(pop.name)}"> <button id="rename">Rename</button></label>
    <div id="axes-edit"></div>
    <label>${reviewing(pop) ? "override of this sample's gate (JSON)" : "gate (as in the YAML file, JSON)"}<textarea id="gate-json" spellcheck="false"></textarea></label>
    <button id="apply-json">Apply</button>
    <button id="make-static" ${pop.data_driven ? "" : "hidden"}>Make static at fitted position</button>
    <button id="delete">Delete (and below)</button>`;
  $("gate-json").value = JSON.stringify(editedGate(pop), null, 1);  // in review mode: this sample's gate
  $("rename").onclick = () => mutate(() => api("PUT", popUrl(pop.path), { name: $("rename-input").value }), true);
  $("apply-json").onclick = () => {
    let gate;
    try { gate = JSON.parse($("gate-json").value); } catch (err) { showError("not JSON: " + err.message); return; }
    if (reviewing(pop)) override(pop, gate); else mutate(() => api("PUT", popUrl(pop.path), { gate }));
  };
  $("make-static").onclick = () => mutate(() => api("POST", "/api/static/" + encodeURIComponent(pop.path)));
  $("delete").onclick = () => mutate(() => api("DELETE", popUrl(pop.path)));
  renderAxesEdit(pop, kind);
}

function axisOptions(selectEl, value) {
  for (const opt of $("add-x").options) selectEl.add(new Option(opt.text, opt.value));
  if (![...selectEl.options].some((o) => o.value === value)) selectEl.add(new Option(value, value));
  selectEl.value = value;
}

function renderAxesEdit(pop, kind) {
  const box = $("axes-edit"), spec = pop.gate[kind];
  let names = null;
  if (kind === "polygon" || kind === "ellipse") names = [spec.x, spec.y];
  else if (kind === "range" || kind === "rectangle") names = Object.keys(spec).slice(0, 2);
  if (!names || names.some((n) => typeof n !== "string")) return;
  names.forEach((name, i) => {
    const label = document.createElement("label");
    label.textContent = `${i ? "y" : "x"} axis `;
    const sel = document.createElement("select");
    sel.dataset.axis = String(i);
    axisOptions(sel, name);
    sel.onchange = () => {
      const gate = JSON.parse(JSON.stringify(pop.gate)), s = gate[kind];
      if (kind === "polygon" || kind === "ellipse") s[i ? "y" : "x"] = sel.value;
      else {
        const renamed = {};
        for (const [k, v] of Object.entries(s)) renamed[k === name ? sel.value : k] = v;
        gate[kind] = renamed;
      }
      mutate(() => api("PUT", popUrl(pop.path), { gate }), false, true);
    };
    label.appendChild(sel);
    box.appendChild(label);
  });
}

async function mutate(work, renamed = false) {
  const list = await run(work);
  if (!list) return;
  if (renamed) {  // follow the renamed population to its new path
    const name = $("rename-input") ? $("rename-input").value.trim() : null;
    const old = ui.selected, parent = old.slice(0, old.lastIndexOf("/")) || "/";
    const moved = list.find((p) => p.parent === parent && p.name === name);
    if (moved) ui.selected = moved.path;
  }
  await refresh(Array.isArray(list) ? list : undefined);
}

async function commit() {
  const pop = current();
  if (!pop || !ui.gate) return;
  if (reviewing(pop)) { await override(pop, ui.gate); return; }
  await mutate(() => api("PUT", popUrl(pop.path), { gate: ui.gate }));
}

async function override(pop, gate) {
  const who = { reason: $("review-reason").value, author: $("review-author").value, date: $("review-date").value };
  localStorage.setItem("cytogate-author", who.author);
  await mutate(() => api("PUT", "/api/overrides/" + encodeURIComponent(pop.path), { gate, ...who }));
}

// ---------------------------------------------------------------- events
window.addEventListener("mousemove", (ev) => {
  if (ui.drag) {
    const [px, py] = local(ev);
    ui.drag.moved = true;
    ui.drag.onMove(px, py);
  } else if (ui.draw && ui.draw.dragging) {
    ui.draw.points[1] = local(ev);
    drawOverlay();
  }
});
window.addEventListener("mouseup", (ev) => {
  if (ui.drag) {
    const moved = ui.drag.moved;
    ui.drag = null;
    if (moved) commit();
  } else if (ui.draw && ui.draw.dragging) {
    ui.draw.dragging = false;
    ui.draw.points[1] = local(ev);
    finishDraw();
  }
});
$("overlay").addEventListener("mousedown", (ev) => {
  if (!ui.draw || ev.button !== 0) return;
  ev.preventDefault();
  const pt = local(ev);
  if (ui.draw.kind === "polygon") { ui.draw.points.push(pt); drawOverlay(); }
  else { ui.draw.points = [pt, pt]; ui.draw.dragging = true; }
});
$("overlay").addEventListener("dblclick", (ev) => {
  if (!ui.draw || ui.draw.kind !== "polygon") return;
  ev.preventDefault();
  ui.draw.points.pop();  // the double-click's second click added a duplicate
  finishDraw();
});
document.querySelectorAll("[data-draw]").forEach((b) => { b.onclick = () => startDraw(b.dataset.draw); });
$("add-x").onchange = $("add-y").onchange = () => { if (ui.draw) startDraw(ui.draw.kind); };
$("undo").onclick = () => mutate(() => api("POST", "/api/undo"));
$("redo").onclick = () => mutate(() => api("POST", "/api/redo"));
$("save").onclick = async () => {
  const out = await run(() => api("POST", "/api/save"));
  if (out) { ui.state = out.state; renderHeader(); $("status").textContent += ` · wrote ${out.path}`; }
};
$("target").onchange = () => { ui.target = $("target").value; refresh(); };
$("review-author").value = localStorage.getItem("cytogate-author") || "";
$("review-date").value = new Date().toISOString().slice(0, 10);
$("pin-template").onclick = () => { const pop = current(); if (pop) override(pop, "template"); };
$("remove-override").onclick = () => {
  const pop = current();
  if (pop) mutate(() => api("DELETE", "/api/overrides/" + encodeURIComponent(pop.path)));
};
$("sample").onchange = () => mutate(() => api("POST", "/api/sample", { index: Number($("sample").value) }));
window.addEventListener("keydown", (ev) => {
  if (!(ev.ctrlKey || ev.metaKey) || ev.target.tagName === "TEXTAREA" || ev.target.tagName === "INPUT") return;
  const key = ev.key.toLowerCase();
  if (key === "z" && !ev.shiftKey) { ev.preventDefault(); $("undo").click(); }
  else if (key === "y" || (key === "z" && ev.shiftKey)) { ev.preventDefault(); $("redo").click(); }
  else if (key === "s") { ev.preventDefault(); $("save").click(); }
  else if (key === "escape") { ui.draw = null; loadPlot(); }
});

refresh().catch((err) => showError(err.message));
