// cytogate edit: each gate kind drawn over the plot with its handles (loaded before editor.js,
// whose state `ui` and helpers `el`, `handle`, `sx`, `sy`, `vx`, `vy`, `rounded` these use).
"use strict";

// bounds of one box dimension as written: [lo, hi] list or {min, max} mapping
function getBounds(b) { return Array.isArray(b) ? [b[0], b[1]] : [b.min === undefined ? null : b.min, b.max === undefined ? null : b.max]; }
function setBound(spec, name, which, value) {
  const b = spec[name];
  if (Array.isArray(b)) b[which === "min" ? 0 : 1] = value; else b[which] = value;
}

function thresholdLine(value, axisIndex, role, onMove, fitted, spec, name) {
  // one threshold: a draggable line when static; the fitted value and its draggable bounds when data-driven
  const vertical = axisIndex === 0, svg = $("overlay");
  const pos = (v) => vertical ? sx(v) : sy(v);
  const line = (v, cls) => vertical ? el("line", { x1: pos(v), x2: pos(v), y1: 0, y2: H, class: cls }, svg)
    : el("line", { y1: pos(v), y2: pos(v), x1: 0, x2: W, class: cls }, svg);
  const axis = ui.plot.axes[axisIndex];
  const toValue = (px, py) => rounded(vertical ? vx(px) : vy(py), axis);
  if (typeof value === "number") {
    line(value, "edge");
    const h = line(value, "handle" + (vertical ? "" : " h"));
    h.dataset.role = role;
    handle(h, (px, py) => onMove(toValue(px, py)));
  } else if (isRule(value)) {
    const opts = ruleBounds(value);
    if (opts) {
      const [a, b] = opts.bounds;
      if (vertical) el("rect", { x: pos(a), y: 0, width: Math.max(0, pos(b) - pos(a)), height: H, class: "band" }, svg);
      else el("rect", { x: 0, y: pos(b), width: W, height: Math.max(0, pos(a) - pos(b)), class: "band" }, svg);
      [0, 1].forEach((k) => {
        line(opts.bounds[k], "bound-edge");
        const h = line(opts.bounds[k], "handle" + (vertical ? "" : " h"));
        h.dataset.role = `${role}-bound-${k ? "hi" : "lo"}`;
        handle(h, (px, py) => { opts.bounds[k] = toValue(px, py); drawOverlay(); });
      });
    }
    if (fitted !== null && fitted !== undefined && Number.isFinite(fitted)) line(fitted, "fitted").dataset.role = `${role}-fitted`;
  }
}

function drawRange(spec, pop) {
  const name = Object.keys(spec)[0], [lo, hi] = getBounds(spec[name]);
  const fit = pop.fitted ? [pop.fitted.mins[0], pop.fitted.maxs[0]] : [null, null];
  const a = typeof lo === "number" ? lo : fit[0] ?? ui.plot.axes[0].lo, b = typeof hi === "number" ? hi : fit[1] ?? ui.plot.axes[0].hi;
  el("rect", { x: sx(a), y: 0, width: Math.max(0, sx(b) - sx(a)), height: H, class: "gate" });
  thresholdLine(lo, 0, "min", (v) => { setBound(spec, name, "min", v); drawOverlay(); }, fit[0]);
  thresholdLine(hi, 0, "max", (v) => { setBound(spec, name, "max", v); drawOverlay(); }, fit[1]);
}

function drawRectangle(spec, pop) {
  const names = Object.keys(spec).slice(0, 2);
  const [ax, ay] = ui.plot.axes;
  const bx = getBounds(spec[names[0]]), by = getBounds(spec[names[1]]);
  const fit = (i, which) => pop.fitted ? pop.fitted[which][i] : null;
  const num = (v, f, edge) => typeof v === "number" ? v : (f ?? edge);
  const x0 = num(bx[0], fit(0, "mins"), ax.lo), x1 = num(bx[1], fit(0, "maxs"), ax.hi);
  const y0 = num(by[0], fit(1, "mins"), ay.lo), y1 = num(by[1], fit(1, "maxs"), ay.hi);
  el("rect", { x: sx(x0), y: sy(y1), width: Math.max(0, sx(x1) - sx(x0)), height: Math.max(0, sy(y0) - sy(y1)), class: "gate" });
  const setter = (name, which) => (v) => { setBound(spec, name, which, v); drawOverlay(); };
  thresholdLine(bx[0], 0, "x-min", setter(names[0], "min"), fit(0, "mins"));
  thresholdLine(bx[1], 0, "x-max", setter(names[0], "max"), fit(0, "maxs"));
  thresholdLine(by[0], 1, "y-min", setter(names[1], "min"), fit(1, "mins"));
  thresholdLine(by[1], 1, "y-max", setter(names[1], "max"), fit(1, "maxs"));
  for (const [i, j] of [[0, 0], [0, 1], [1, 0], [1, 1]]) {  // corners where both bounds are numbers
    if (typeof bx[i] !== "number" || typeof by[j] !== "number") continue;
    const c = el("circle", { cx: sx(bx[i]), cy: sy(by[j]), r: 5, class: "handle" });
    c.dataset.role = `corner-${i}${j}`;
    handle(c, (px, py) => {
      setBound(spec, names[0], i ? "max" : "min", rounded(vx(px), ax));
      setBound(spec, names[1], j ? "max" : "min", rounded(vy(py), ay));
      drawOverlay();
    });
  }
}

function drawPolygon(spec) {
  const [ax, ay] = ui.plot.axes, verts = spec.vertices;
  const shape = el("polygon", { points: verts.map((v) => `${sx(v[0])},${sy(v[1])}`).join(" "), class: "gate" });
  shape.addEventListener("dblclick", (ev) => {  // add a vertex on the nearest edge
    const [px, py] = local(ev);
    let best = 0, bestD = Infinity;
    verts.forEach((v, i) => {
      const w = verts[(i + 1) % verts.length];
      const d = segDist(px, py, sx(v[0]), sy(v[1]), sx(w[0]), sy(w[1]));
      if (d < bestD) { bestD = d; best = i; }
    });
    verts.splice(best + 1, 0, [rounded(vx(px), ax), rounded(vy(py), ay)]);
    commit();
  });
  verts.forEach((v, i) => {
    const c = el("circle", { cx: sx(v[0]), cy: sy(v[1]), r: 5, class: "handle" });
    c.dataset.role = "vertex";
    c.dataset.index = String(i);
    handle(c, (px, py) => { verts[i] = [rounded(vx(px), ax), rounded(vy(py), ay)]; drawOverlay(); });
    c.addEventListener("contextmenu", (ev) => {
      ev.preventDefault();
      if (verts.length <= 3) { showError("a polygon needs at least 3 vertices"); return; }
      verts.splice(i, 1);
      commit();
    });
  });
}

function segDist(px, py, ax, ay, bx, by) {
  const dx = bx - ax, dy = by - ay, t = Math.max(0, Math.min(1, ((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy || 1)));
  return Math.hypot(px - ax - t * dx, py - ay - t * dy);
}

function eigen(cov) {  // symmetric 2x2: eigenvalues and unit eigenvectors
  const [[a, b], [, c]] = cov, tr = a + c, det = a * c - b * b, disc = Math.sqrt(Math.max(0, tr * tr / 4 - det));
  const l1 = tr / 2 + disc, l2 = tr / 2 - disc;
  let v1 = Math.abs(b) > 1e-300 ? [b, l1 - a] : (a >= c ? [1, 0] : [0, 1]);
  const n = Math.hypot(v1[0], v1[1]);
  v1 = [v1[0] / n, v1[1] / n];
  return { l: [l1, Math.max(l2, 0)], v: [v1, [-v1[1], v1[0]]] };
}

function sig(v) { return Number(v.toPrecision(6)); }

function ellipsePoints(mean, cov, d) {
  const e = eigen(cov), pts = [];
  for (let k = 0; k < 72; k++) {
    const t = (2 * Math.PI * k) / 72, a = Math.sqrt(d * e.l[0]) * Math.cos(t), b = Math.sqrt(d * e.l[1]) * Math.sin(t);
    pts.push([mean[0] + a * e.v[0][0] + b * e.v[1][0], mean[1] + a * e.v[0][1] + b * e.v[1][1]]);
  }
  return { pts, e };
}

function drawEllipse(spec) {
  const d = spec.distance_square, { pts, e } = ellipsePoints(spec.mean, spec.covariance, d);
  el("polygon", { points: pts.map((q) => `${sx(q[0])},${sy(q[1])}`).join(" "), class: "gate" });
  const centre = el("circle", { cx: sx(spec.mean[0]), cy: sy(spec.mean[1]), r: 6, class: "handle" });
  centre.dataset.role = "centre";
  handle(centre, (px, py) => { spec.mean = [sig(vx(px)), sig(vy(py))]; drawOverlay(); });
  [0, 1].forEach((k) => {
    const r = Math.sqrt(d * e.l[k]), end = [spec.mean[0] + r * e.v[k][0], spec.mean[1] + r * e.v[k][1]];
    const c = el("circle", { cx: sx(end[0]), cy: sy(end[1]), r: 5, class: "handle" });
    c.dataset.role = `axis-${k}`;
    handle(c, (px, py) => {  // stretch along this axis, keeping the orientation
      const dx = vx(px) - spec.mean[0], dy = vy(py) - spec.mean[1];
      const len = Math.max(1e-12, Math.abs(dx * e.v[k][0] + dy * e.v[k][1]));
      const l = [e.l[0], e.l[1]];
      l[k] = (len * len) / d;
      const cov = [[0, 0], [0, 0]];
      for (let m = 0; m < 2; m++) for (let i = 0; i < 2; i++) for (let j = 0; j < 2; j++) cov[i][j] += l[m] * e.v[m][i] * e.v[m][j];
      spec.covariance = [[sig(cov[0][0]), sig(cov[0][1])], [sig(cov[1][0]), sig(cov[1][1])]];
      drawOverlay();
    });
  });
}

function drawQuadrant(spec, pop) {
  const ids = Object.keys(spec.dividers).slice(0, 2);
  const fittedValues = {};
  if (pop.fitted) for (const dv of pop.fitted.dividers) fittedValues[dv.id] = dv.values;
  const single = [];
  ids.forEach((id, axisIndex) => {
    if (axisIndex >= ui.plot.axes.length) return;
    let value = spec.dividers[id], holder = spec.dividers, key = id;
    if (value && typeof value === "object" && !Array.isArray(value) && "values" in value) { holder = value; key = "values"; value = value.values; }
    const values = Array.isArray(value) ? value : [value];
    values.forEach((v, k) => {
      const set = (nv) => { if (Array.isArray(holder[key])) holder[key][k] = nv; else holder[key] = nv; drawOverlay(); };
      thresholdLine(v, axisIndex, `divider-${axisIndex}`, set, (fittedValues[id] || [])[k]);
    });
    single.push(values.length === 1 && typeof values[0] === "number" ? { holder, key } : null);
  });
  if (single.length === 2 && single[0] && single[1]) {
    const c = el("circle", { cx: sx(single[0].holder[single[0].key]), cy: sy(single[1].holder[single[1].key]), r: 6, class: "handle" });
    c.dataset.role = "crossing";
    handle(c, (px, py) => {
      single[0].holder[single[0].key] = rounded(vx(px), ui.plot.axes[0]);
      single[1].holder[single[1].key] = rounded(vy(py), ui.plot.axes[1]);
      drawOverlay();
    });
  }
}

function drawAdaptive(kind, spec, f) {  // singlet and gmm: where the fit landed, and their bounds to drag
  if (f) drawFitted(f);
  if (!spec || typeof spec !== "object" || !spec.bounds) return;
  const [ax, ay] = ui.plot.axes;
  if (kind === "singlet" && ay && Array.isArray(spec.bounds)) {
    // bounds of the median area/height ratio r: the lines height = area / r through the origin
    spec.bounds.forEach((r, k) => {
      if (typeof r !== "number" || !(r > 0)) return;
      const end = Math.min(ax.hi, ay.hi * r);  // where the line leaves the plot
      el("line", { x1: sx(0), y1: sy(0), x2: sx(end), y2: sy(end / r), class: "bound-edge" });
      const c = el("circle", { cx: sx(end * 0.9), cy: sy((end * 0.9) / r), r: 5, class: "handle" });
      c.dataset.role = `ratio-bound-${k ? "hi" : "lo"}`;
      handle(c, (px, py) => {
        const a = vx(px), h = vy(py);
        if (a > 0 && h > 0) spec.bounds[k] = Number((a / h).toPrecision(4));
        drawOverlay();
      });
    });
  } else if (kind === "gmm" && !Array.isArray(spec.bounds)) {
    // bounds of the chosen component's mean, per dimension: a band on each drawn axis
    (spec.dimensions || []).slice(0, ui.plot.axes.length).forEach((name, axisIndex) => {
      const pair = spec.bounds[typeof name === "string" ? name : ""];
      if (!Array.isArray(pair)) return;
      const vertical = axisIndex === 0, axis = ui.plot.axes[axisIndex];
      const pos = (v) => vertical ? sx(v) : sy(v);
      if (vertical) el("rect", { x: pos(pair[0]), y: 0, width: Math.max(0, pos(pair[1]) - pos(pair[0])), height: H, class: "band" });
      else el("rect", { x: 0, y: pos(pair[1]), width: W, height: Math.max(0, pos(pair[0]) - pos(pair[1])), class: "band" });
      [0, 1].forEach((k) => {
        const attrs = vertical ? { x1: pos(pair[k]), x2: pos(pair[k]), y1: 0, y2: H } : { y1: pos(pair[k]), y2: pos(pair[k]), x1: 0, x2: W };
        el("line", { ...attrs, class: "bound-edge" });
        const h = el("line", { ...attrs, class: "handle" + (vertical ? "" : " h") });
        h.dataset.role = `mean-${axisIndex ? "y" : "x"}-bound-${k ? "hi" : "lo"}`;
        handle(h, (px, py) => { pair[k] = rounded(vertical ? vx(px) : vy(py), axis); drawOverlay(); });
      });
    });
  }
}

function drawFitted(f) {  // singlet and gmm: where the fit landed (made static to edit)
  if (f.vertices) el("polygon", { points: f.vertices.map((v) => `${sx(v[0])},${sy(v[1])}`).join(" "), class: "fitted" });
  else if (f.mean && f.covariance && f.mean.length >= 2 && ui.plot.axes.length === 2) {
    const cov = [[f.covariance[0][0], f.covariance[0][1]], [f.covariance[1][0], f.covariance[1][1]]];
    const { pts } = ellipsePoints(f.mean, cov, f.distance_sq);
    el("polygon", { points: pts.map((q) => `${sx(q[0])},${sy(q[1])}`).join(" "), class: "fitted" });
  }
}

function drawTemplate(gate) {  // the template's gate where it lands on this sample, beside its override
  const kind = Object.keys(gate)[0], spec = gate[kind], [ax, ay] = ui.plot.axes;
  const cls = { class: "template" };
  if ((kind === "range" || kind === "rectangle") && spec && typeof spec === "object") {
    const names = Object.keys(spec), bx = getBounds(spec[names[0]]);
    const x0 = typeof bx[0] === "number" ? bx[0] : ax.lo, x1 = typeof bx[1] === "number" ? bx[1] : ax.hi;
    if (!ay || names.length < 2) { el("rect", { ...cls, x: sx(x0), y: 0, width: Math.max(0, sx(x1) - sx(x0)), height: H }); return; }
    const by = getBounds(spec[names[1]]);
    const y0 = typeof by[0] === "number" ? by[0] : ay.lo, y1 = typeof by[1] === "number" ? by[1] : ay.hi;
    el("rect", { ...cls, x: sx(x0), y: sy(y1), width: Math.max(0, sx(x1) - sx(x0)), height: Math.max(0, sy(y0) - sy(y1)) });
  } else if (kind === "polygon" && ay) {
    el("polygon", { ...cls, points: spec.vertices.map((v) => `${sx(v[0])},${sy(v[1])}`).join(" ") });
  } else if (kind === "ellipse" && ay) {
    const { pts } = ellipsePoints(spec.mean, spec.covariance, spec.distance_square);
    el("polygon", { ...cls, points: pts.map((q) => `${sx(q[0])},${sy(q[1])}`).join(" ") });
  }
}
