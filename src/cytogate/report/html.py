"""The self-contained HTML page of a run report: :func:`render_html`.

One file, no network: styles and vanilla JavaScript are inline, images are
``data:`` URLs.  Tables are embedded as JSON and rendered by the page's script
(sortable by a click on a header, filterable, shown 250 rows at a time), so a
500-sample run stays responsive.  Each sample's gate pictures sit in their own
``<script type="application/json">`` block and are turned into thumbnails
only when the sample is opened; a click on a thumbnail shows the full-size
image.

Self-test hooks for headless browsers: every JavaScript error (``onerror``,
unhandled rejections, ``console.error``) is written into ``#js-errors``; the
URL fragment ``#selftest`` sorts the counts table by count (descending) by
clicking its header, opens the first sample with plots, and writes a JSON
summary (errors, image natural widths, the first sorted counts) into
``#selftest-result`` once the images have loaded.
"""

from __future__ import annotations

import html
import json
import math
from typing import Any

import numpy as np
import pandas as pd

from .._version import __version__
from .data import ReportData, b64

__all__ = ["render_html"]

_COUNT_COLUMNS = ("sample", "name", "parent", "count", "parent_count", "freq_parent", "freq_total")
_META_HINTS = ("subject", "arm", "visit", "day", "site")


def _plain(value: Any) -> Any:
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        v = float(value)
        return None if math.isnan(v) or math.isinf(v) else v
    if value is None or (isinstance(value, str)):
        return value
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return str(value)


def _json(obj: Any) -> str:
    """JSON safe inside a ``<script>`` element."""
    return json.dumps(obj, separators=(",", ":"), allow_nan=False).replace("</", "<\\/")


def _table(frame: pd.DataFrame, columns: list[str] | None = None, labels: dict[str, str] | None = None
           ) -> dict[str, Any]:
    cols = [c for c in (columns or list(frame.columns)) if c in frame.columns]
    rows = [[_plain(v) for v in row] for row in frame[cols].itertuples(index=False, name=None)]
    return {"columns": [{"key": c, "label": (labels or {}).get(c, c)} for c in cols], "rows": rows}


def _esc(text: Any) -> str:
    return html.escape("" if text is None else str(text))


def _kv(pairs: list[tuple[str, Any]]) -> str:
    body = "".join(f"<tr><th>{_esc(k)}</th><td>{_esc(v)}</td></tr>" for k, v in pairs if v not in (None, ""))
    return f"<table class='kv'>{body}</table>"


def _provenance(m: dict[str, Any]) -> str:
    strategy = m.get("strategy") or {}
    sheet = m.get("sample_sheet") or {}
    totals = m.get("totals") or {}
    return _kv([
        ("cytogate (run)", m.get("cytogate")), ("cytogate (report)", __version__), ("python", m.get("python")),
        ("started", m.get("started")), ("finished", m.get("finished")), ("seconds", m.get("seconds")),
        ("runner", m.get("runner")), ("strategy file", strategy.get("path")),
        ("strategy sha256", strategy.get("sha256")), ("strategy format", strategy.get("format")),
        ("sample sheet", sheet.get("path")), ("sample sheet sha256", sheet.get("sha256")),
        ("files", totals.get("files")), ("ok", totals.get("ok")), ("reused from an earlier run", totals.get("reused")),
        ("failed", totals.get("failed")), ("events", f"{totals.get('events', 0):,}" if totals else None),
        ("options", json.dumps(m.get("options"), sort_keys=True) if m.get("options") else None),
    ])  # fmt: skip


def _inputs_table(m: dict[str, Any]) -> dict[str, Any]:
    entries = m.get("inputs") or []
    frame = pd.DataFrame([{"sample": e.get("sample"), "status": e.get("status"), "n_events": e.get("n_events"),
                           "sha256": e.get("sha256"), "path": e.get("path"),
                           "reason": e.get("reason", "")} for e in entries])
    return _table(frame) if len(frame) else {"columns": [], "rows": []}


def _counts_table(data: ReportData) -> dict[str, Any]:
    counts = data.counts.copy()
    meta = [c for c in _META_HINTS if c in counts.columns]
    if "parent" in counts.columns:
        counts["parent"] = counts["parent"].astype(str).str.rsplit("/", n=1).str[-1].replace("", "all events")
    for col in ("freq_parent", "freq_total"):
        if col in counts.columns:
            counts[col] = 100 * counts[col].astype(float)
    extra = ["cells_per_ul"] if "cells_per_ul" in counts.columns and counts["cells_per_ul"].notna().any() else []
    if "gate_source" in counts.columns:  # where each gate came from: template, fitted, override
        extra.append("gate_source")
    columns = ["sample", *meta, "name", "parent", "count", "parent_count", "freq_parent", "freq_total", *extra,
               "population"]
    labels = {"name": "population", "population": "path", "freq_parent": "% of parent", "freq_total": "% of total",
              "parent_count": "parent count", "cells_per_ul": "cells/µL", "gate_source": "gate"}
    return _table(counts, columns, labels)


def _qc_table(data: ReportData) -> dict[str, Any]:
    rows = []
    if data.qc is not None and len(data.qc):
        for r in data.qc.itertuples(index=False):
            bad = int(getattr(r, "bad_bins_rate", 0) or 0) + int(getattr(r, "bad_bins_signal", 0) or 0)
            if bad or int(getattr(r, "events_removed", 0) or 0) or int(getattr(r, "events_flagged", 0) or 0):
                rows.append({"sample": r.sample, "flag": "acquisition QC",
                             "detail": f"{bad} bad time bin(s); {getattr(r, 'events_flagged', 0)} events flagged, "
                                       f"{getattr(r, 'events_removed', 0)} removed"})  # fmt: skip
    if "gate_source" in data.counts.columns:
        overridden = data.counts[data.counts["gate_source"] == "override"]
        for r in overridden.itertuples(index=False):
            rows.append({"sample": r.sample, "flag": "override",
                         "detail": f"{r.population}: gate overridden for this sample (see the manifest for who, "
                                   f"when and why); gate plots draw the strategy's template"})
    fits = data.fits
    recorded = fits is not None and len(fits) > 0
    if fits is not None and recorded:  # every sample's fallbacks, from the run's own record
        for r in fits[fits["status"] == "fallback"].itertuples(index=False):
            rows.append({"sample": r.sample, "flag": "fit fallback",
                         "detail": f"{r.population} {r.parameter} = {r.value:.4g}: {r.reason}"})
    for s in data.samples:
        for f in s.flags:
            if recorded and ": fallback threshold (" in f:
                continue  # listed above from fits.parquet
            rows.append({"sample": s.sample, "flag": "gate", "detail": f})
        if s.error:
            rows.append({"sample": s.sample, "flag": "plot", "detail": s.error})
    return _table(pd.DataFrame(rows, columns=["sample", "flag", "detail"]))


def _fits_table(data: ReportData) -> dict[str, Any]:
    """One row per gate parameter: how many samples fitted, fell back or skipped it, and where it landed."""
    if data.fits is None or not len(data.fits):
        return {"columns": [], "rows": []}
    rows = []
    for (population, parameter), group in data.fits.groupby(["population", "parameter"], sort=False):
        status = group["status"]
        values = group.loc[status.isin(["fitted", "fallback"]), "value"].astype(float)
        fell = list(dict.fromkeys(group.loc[status == "fallback", "sample"].astype(str)))
        rows.append({"population": population, "parameter": parameter, "fitted": int((status == "fitted").sum()),
                     "fallback": len(fell), "skipped": int((status == "skipped").sum()),
                     "overridden": int((status == "override").sum()),
                     "median": float(values.median()) if len(values) else None,
                     "range": f"{values.min():.4g} – {values.max():.4g}" if len(values) else "",
                     "fell back in": ", ".join(fell[:5]) + (f" … (+{len(fell) - 5})" if len(fell) > 5 else "")})
    return _table(pd.DataFrame(rows))


def _fits_summary(data: ReportData) -> str:
    summary = data.manifest.get("fits") or {}
    if not summary and (data.fits is None or not len(data.fits)):
        return "No data-driven gates or skipped parts recorded (no fits.parquet in the run folder)."
    return (f"From fits.parquet: {summary.get('fits', '?')} fits, {summary.get('fallbacks', '?')} fell back to "
            f"their declared fallback, {summary.get('skipped', '?')} optional parts skipped because a file lacks "
            "the channel.  Gate plots mark a fallback in red.")


def _sample_blocks(data: ReportData) -> tuple[str, list[dict[str, Any]]]:
    """One JSON script block per sample with plots, and the index the page lists."""
    blocks, index = [], []
    meta_cols = [c for c in _META_HINTS if c in data.counts.columns]
    first = data.counts.drop_duplicates("sample").set_index("sample") if len(data.counts) else None
    for i, s in enumerate(data.samples):
        payload = {"sample": s.sample, "error": s.error, "flags": s.flags,
                   "panels": [{"path": p.path, "title": p.title, "thumb": b64(p.thumb), "full": b64(p.full),
                               "flags": list(p.flags)} for p in s.panels]}  # fmt: skip
        blocks.append(f"<script type='application/json' id='sample-{i}'>{_json(payload)}</script>")
        meta = {}
        if first is not None and s.sample in first.index:
            meta = {c: _plain(first.at[s.sample, c]) for c in meta_cols}
        index.append({"sample": s.sample, "block": f"sample-{i}", "n": len(s.panels), "flags": len(s.flags),
                      "meta": meta})
    return "\n".join(blocks), index


def _figures(figures: list[tuple[str, bytes]], cls: str) -> str:
    return "".join(f"<figure class='{cls}'><img alt='{_esc(name)}' src='data:image/png;base64,{b64(png)}'>"
                   f"<figcaption>{_esc(name)}</figcaption></figure>" for name, png in figures)


def render_html(data: ReportData) -> str:
    """The report page as one HTML string (see the module docstring)."""
    m = data.manifest
    title = f"cytogate report — {data.run_dir.name}"
    totals = m.get("totals") or {}
    blocks, index = _sample_blocks(data)
    tables: dict[str, Any] = {
        "counts": _counts_table(data),
        "failures": _table(data.failures) if len(data.failures) else {"columns": [], "rows": []},
        "qc": _qc_table(data),
        "outliers": _table(data.outliers.assign(freq_parent=100 * data.outliers["freq_parent"].astype(float),
                                                batch_median=100 * data.outliers["batch_median"].astype(float))
                           if len(data.outliers) else data.outliers,
                           labels={"freq_parent": "% of parent", "batch_median": "batch median %",
                                   "robust_z": "robust z"}),
        "inputs": _inputs_table(m),
        "fits": _fits_table(data),
    }
    change_html = ""
    for name, frame in data.change_tables.items():
        tables[f"change-{name}"] = _table(frame)
        change_html += f"<h3>{_esc(name.replace('_', ' '))}.csv</h3><div class='tbl' data-table='change-{name}'></div>"
    if data.change_dir is not None:
        change_html = (f"<p class='muted'>From <code>{_esc(data.change_dir)}</code>.</p>" + change_html
                       + _figures(data.change_figures, "wide"))
    else:
        change_html = "<p class='muted'>No change analysis in this run folder (<code>change/</code>, or " \
                      "<code>cytogate report DIR --change DIR</code>).</p>"
    n_fail = len(data.failures)
    summary = (f"{totals.get('files', '?')} files, {totals.get('ok', '?')} gated, {totals.get('failed', 0)} failed; "
               f"{data.counts['sample'].nunique() if len(data.counts) else 0} samples × "
               f"{data.counts['population'].nunique() if len(data.counts) else 0} populations; "
               f"{len(data.outliers)} outlier value(s)")
    notes = "".join(f"<li>{_esc(n)}</li>" for n in data.notes)
    drift = _figures(data.drift, "drift") or "<p class='muted'>No data-driven thresholds drawn.</p>"
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>{_esc(title)}</title><style>{_CSS}</style>",
        f"<script>{_ERRORS_JS}</script></head><body>",
        "<nav><b>cytogate</b> <a href='#summary'>Summary</a><a href='#counts'>Counts</a>"
        "<a href='#samples'>Gate plots</a><a href='#qc'>QC</a><a href='#outliers'>Outliers</a>"
        "<a href='#fits'>Fits</a><a href='#drift'>Drift</a><a href='#change'>Change</a><a href='#failures'>Failures</a>"
        "<a href='#provenance'>Provenance</a></nav><main>",
        f"<h1>{_esc(title)}</h1>",
        f"<section id='summary'><h2>Summary</h2><p>{_esc(summary)}</p>"
        f"<p class='muted'>Strategy: {_esc(data.strategy_name)}</p><ul class='notes'>{notes}</ul></section>",
        "<section id='counts'><h2>Counts and frequencies</h2><p class='muted'>Click a header to sort, type to "
        "filter (all columns; <code>col:text</code> for one column); click a sample to see its gates.</p>"
        "<div class='tbl' data-table='counts'></div></section>",
        "<section id='samples'><h2>Gate plots</h2><p class='muted'>Each gate on its parent's events "
        "(thumbnails; click for full size).</p><div class='picker'><input id='sample-filter' "
        "placeholder='filter samples'><div id='sample-list'></div></div><div id='sample-view'></div></section>",
        "<section id='qc'><h2>QC flags</h2><div class='tbl' data-table='qc'></div></section>",
        "<section id='outliers'><h2>Outlier samples</h2><p class='muted'>Robust z-score of logit(% of parent) "
        "against the batch (median, 1.4826·MAD), |z| ≥ 3.5.</p>"
        "<div class='tbl' data-table='outliers'></div></section>",
        f"<section id='fits'><h2>Data-driven fits</h2><p class='muted'>{_esc(_fits_summary(data))}</p>"
        "<div class='tbl' data-table='fits'></div></section>",
        f"<section id='drift'><h2>Data-driven gates across files</h2>{drift}</section>",
        f"<section id='change'><h2>Change from baseline</h2>{change_html}</section>",
        f"<section id='failures'><h2>Failures ({n_fail})</h2><div class='tbl' data-table='failures'></div></section>",
        f"<section id='provenance'><h2>Provenance</h2>{_provenance(m)}<h3>Inputs</h3>"
        "<div class='tbl' data-table='inputs'></div></section>",
        "</main><div id='lightbox' hidden><img alt='full size'><p></p></div>",
        "<ul id='js-errors' hidden></ul><pre id='selftest-result' hidden></pre>",
        f"<script type='application/json' id='tables'>{_json(tables)}</script>",
        f"<script type='application/json' id='sample-index'>{_json(index)}</script>",
        blocks,
        f"<script>{_APP_JS}</script></body></html>",
    ]
    return "\n".join(parts)


_CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1d2430;background:#fafbfc}
nav{position:sticky;top:0;background:#1f3b63;color:#fff;padding:6px 16px;z-index:5}
nav a{color:#dbe6f7;margin-left:14px;text-decoration:none}nav a:hover{color:#fff}
main{max-width:1280px;margin:0 auto;padding:8px 20px 40px}
h1{font-size:22px}h2{font-size:18px;border-bottom:1px solid #d5dbe3;padding-bottom:3px;margin-top:28px}
h3{font-size:15px}.muted{color:#5b6675;font-size:13px}code{background:#eef1f5;padding:0 3px}
table{border-collapse:collapse;font-size:12.5px;background:#fff}
th,td{border:1px solid #e1e5eb;padding:2px 6px;text-align:left;white-space:nowrap}
td.num{text-align:right;font-variant-numeric:tabular-nums}
table.data th{cursor:pointer;background:#eef2f7;position:sticky;top:0;user-select:none}
table.data th.asc::after{content:" ▲"}table.data th.desc::after{content:" ▼"}
table.kv th{background:#eef2f7;width:220px}table.kv td{white-space:normal;word-break:break-all}
.tbl{overflow:auto;max-height:620px;border:1px solid #e1e5eb}
.tblbar{margin:4px 0}.tblbar input{width:320px;padding:3px 6px}.tblbar span{margin-left:10px;color:#5b6675}
a.sample{color:#1f4e9c;cursor:pointer;text-decoration:underline}
.picker{display:flex;flex-wrap:wrap;gap:4px;align-items:center}#sample-filter{width:220px;padding:3px 6px}
#sample-list{display:flex;flex-wrap:wrap;gap:4px;max-height:140px;overflow:auto}
#sample-list button{font-size:12px;border:1px solid #b9c4d3;background:#fff;border-radius:3px;cursor:pointer}
#sample-list button.flagged{border-color:#d9822b}#sample-list button.active{background:#1f3b63;color:#fff}
.thumbs{display:flex;flex-wrap:wrap;gap:8px;margin-top:10px}
.thumbs figure{margin:0;width:150px;background:#fff;border:1px solid #e1e5eb;padding:3px;cursor:zoom-in}
.thumbs figure.flag{border-color:#d9822b}.thumbs img{width:100%}
figcaption{font-size:11px;color:#38414d;word-wrap:break-word}
figure.drift,figure.wide{display:inline-block;margin:6px;vertical-align:top;background:#fff;border:1px solid #e1e5eb}
figure.drift img{max-width:480px}figure.wide img{max-width:620px}
#lightbox{position:fixed;inset:0;background:rgba(20,25,35,.75);display:flex;flex-direction:column;
align-items:center;justify-content:center;z-index:10;cursor:zoom-out}#lightbox[hidden]{display:none}
#lightbox img{background:#fff;max-width:92vw;max-height:85vh;image-rendering:auto}#lightbox p{color:#fff}
.flags{color:#a04d00;font-size:13px}.notes li{color:#5b6675}
"""

# Recorded before anything else runs, so that a headless browser's DOM dump shows every error.
_ERRORS_JS = """
window.__errors=[];
function __record(msg){window.__errors.push(String(msg));var ul=document.getElementById('js-errors');
if(ul&&document.readyState!=='loading'){var li=document.createElement('li');li.textContent=String(msg);
ul.appendChild(li);ul.hidden=false;}}
window.addEventListener('error',function(e){__record('error: '+e.message+' at '+e.filename+':'+e.lineno);});
window.addEventListener('unhandledrejection',function(e){__record('unhandled rejection: '+e.reason);});
(function(){var ce=console.error;console.error=function(){__record('console.error: '+
Array.prototype.join.call(arguments,' '));return ce.apply(console,arguments);};})();
document.addEventListener('DOMContentLoaded',function(){var ul=document.getElementById('js-errors');
window.__errors.forEach(function(m){var li=document.createElement('li');li.textContent=m;ul.appendChild(li);});
if(window.__errors.length)ul.hidden=false;});
"""

_APP_JS = r"""
(function(){
'use strict';
var TABLES=JSON.parse(document.getElementById('tables').textContent);
var INDEX=JSON.parse(document.getElementById('sample-index').textContent);
var PAGE=250, views={};
function fmt(v,key){
  if(v===null||v===undefined)return '';
  if(typeof v==='number'){
    if(/freq|%|median|robust_z|pct|ratio|estimate|se$|ci|p_|^p$|mean|sd|change/.test(key)&&!Number.isInteger(v))
      return Math.abs(v)>=100?v.toFixed(1):v.toPrecision(4);
    if(Number.isInteger(v))return v.toLocaleString('en-US');
    return v.toPrecision(5);
  }
  return String(v);
}
function cmp(a,b){
  if(a===null||a===undefined)return (b===null||b===undefined)?0:1;
  if(b===null||b===undefined)return -1;
  if(typeof a==='number'&&typeof b==='number')return a-b;
  return String(a).localeCompare(String(b),undefined,{numeric:true});
}
function makeTable(host){
  var name=host.getAttribute('data-table'), spec=TABLES[name];
  if(!spec||!spec.columns.length||!spec.rows.length){host.outerHTML="<p class='muted'>None.</p>";return;}
  var st={name:name,spec:spec,rows:spec.rows.slice(),shown:PAGE,sortKey:null,desc:false,filter:''};
  views[name]=st;
  var bar=document.createElement('div');bar.className='tblbar';
  var input=document.createElement('input');input.placeholder='filter '+spec.rows.length+' rows';
  var info=document.createElement('span');bar.appendChild(input);bar.appendChild(info);
  host.parentNode.insertBefore(bar,host);
  var table=document.createElement('table');table.className='data';table.id='table-'+name;
  var thead=document.createElement('thead'),tr=document.createElement('tr');
  spec.columns.forEach(function(c,i){var th=document.createElement('th');th.textContent=c.label;
    th.setAttribute('data-key',c.key);th.addEventListener('click',function(){sortBy(st,i);});tr.appendChild(th);});
  thead.appendChild(tr);table.appendChild(thead);var tbody=document.createElement('tbody');table.appendChild(tbody);
  host.appendChild(table);
  var more=document.createElement('button');more.textContent='show more rows';more.hidden=true;
  more.addEventListener('click',function(){st.shown+=PAGE;render(st);});host.parentNode.insertBefore(more,host.nextSibling);
  st.table=table;st.tbody=tbody;st.info=info;st.more=more;
  input.addEventListener('input',function(){st.filter=input.value.trim().toLowerCase();st.shown=PAGE;render(st);});
  render(st);
}
function filtered(st){
  var f=st.filter;if(!f)return st.rows;
  var col=-1,text=f,m=/^([^:]+):(.*)$/.exec(f);
  if(m){st.spec.columns.forEach(function(c,i){if(c.key.toLowerCase()===m[1]||c.label.toLowerCase()===m[1])col=i;});
    if(col>=0)text=m[2].trim();}
  return st.rows.filter(function(r){
    if(col>=0)return String(r[col]===null?'':r[col]).toLowerCase().indexOf(text)>=0;
    for(var i=0;i<r.length;i++){if(r[i]!==null&&String(r[i]).toLowerCase().indexOf(text)>=0)return true;}return false;});
}
function sortBy(st,i){
  var key=st.spec.columns[i].key;
  if(st.sortKey===key)st.desc=!st.desc;else{st.sortKey=key;st.desc=false;}
  st.rows.sort(function(a,b){var c=cmp(a[i],b[i]);return st.desc?-c:c;});
  // nulls last in both directions
  st.rows.sort(function(a,b){return (a[i]===null)-(b[i]===null);});
  var ths=st.table.querySelectorAll('th');
  for(var k=0;k<ths.length;k++){ths[k].className=(k===i)?(st.desc?'desc':'asc'):'';}
  st.shown=PAGE;render(st);
}
function render(st){
  var rows=filtered(st),frag=document.createDocumentFragment(),cols=st.spec.columns;
  var sampleCol=-1;cols.forEach(function(c,i){if(c.key==='sample')sampleCol=i;});
  rows.slice(0,st.shown).forEach(function(r){
    var tr=document.createElement('tr');
    r.forEach(function(v,i){var td=document.createElement('td');
      if(typeof v==='number')td.className='num';
      if(i===sampleCol&&hasPlots(v)){var a=document.createElement('a');a.className='sample';a.textContent=v;
        a.addEventListener('click',function(){openSample(v,true);});td.appendChild(a);}
      else td.textContent=fmt(v,cols[i].key);
      tr.appendChild(td);});
    frag.appendChild(tr);});
  st.tbody.textContent='';st.tbody.appendChild(frag);
  st.info.textContent=Math.min(st.shown,rows.length)+' of '+rows.length+' rows'+(rows.length<st.rows.length?' (filtered from '+st.rows.length+')':'');
  st.more.hidden=rows.length<=st.shown;
}
var bySample={};INDEX.forEach(function(e){bySample[e.sample]=e;});
function hasPlots(s){return Object.prototype.hasOwnProperty.call(bySample,s);}
function sampleList(){
  var list=document.getElementById('sample-list'),filt=document.getElementById('sample-filter');
  function draw(){var f=filt.value.trim().toLowerCase();list.textContent='';
    INDEX.forEach(function(e){var label=e.sample+' '+Object.values(e.meta).join(' ');
      if(f&&label.toLowerCase().indexOf(f)<0)return;
      var b=document.createElement('button');b.textContent=e.sample;b.title=label;b.setAttribute('data-sample',e.sample);
      if(e.flags)b.className='flagged';b.addEventListener('click',function(){openSample(e.sample,false);});list.appendChild(b);});
    if(!INDEX.length)list.innerHTML="<span class='muted'>No gate plots in this report.</span>";}
  filt.addEventListener('input',draw);draw();
}
function openSample(name,scroll){
  var e=bySample[name];if(!e)return null;
  var data=JSON.parse(document.getElementById(e.block).textContent);
  var view=document.getElementById('sample-view');view.textContent='';
  var h=document.createElement('h3');h.textContent=name+' '+Object.keys(e.meta).map(function(k){return k+': '+e.meta[k];}).join(', ');
  view.appendChild(h);
  if(data.error){var pe=document.createElement('p');pe.className='flags';pe.textContent=data.error;view.appendChild(pe);}
  if(data.flags.length){var pf=document.createElement('p');pf.className='flags';pf.textContent='⚠ '+data.flags.join(' · ');view.appendChild(pf);}
  var box=document.createElement('div');box.className='thumbs';
  data.panels.forEach(function(p){var fig=document.createElement('figure');if(p.flags.length)fig.className='flag';
    var img=document.createElement('img');img.alt=p.title;img.src='data:image/png;base64,'+p.thumb;
    var cap=document.createElement('figcaption');cap.textContent=p.title;fig.title=p.path;
    fig.appendChild(img);fig.appendChild(cap);fig.addEventListener('click',function(){showFull(p);});box.appendChild(fig);});
  view.appendChild(box);
  var btns=document.querySelectorAll('#sample-list button');
  for(var i=0;i<btns.length;i++)btns[i].classList.toggle('active',btns[i].getAttribute('data-sample')===name);
  if(scroll)document.getElementById('samples').scrollIntoView();
  return box;
}
function showFull(p){var lb=document.getElementById('lightbox');lb.querySelector('img').src='data:image/png;base64,'+p.full;
  lb.querySelector('p').textContent=p.path+' — '+p.title;lb.hidden=false;}
document.getElementById('lightbox').addEventListener('click',function(){this.hidden=true;});
document.addEventListener('keydown',function(ev){if(ev.key==='Escape')document.getElementById('lightbox').hidden=true;});
var hosts=document.querySelectorAll('.tbl[data-table]');for(var i=0;i<hosts.length;i++)makeTable(hosts[i]);
sampleList();
function selftest(){
  var out={errors:[],images:[],sorted:[],sample:null};
  var st=views.counts;
  if(st){var ths=st.table.querySelectorAll('th');
    for(var k=0;k<ths.length;k++){if(ths[k].getAttribute('data-key')==='count'){ths[k].click();ths[k].click();}}
    var idx=-1;st.spec.columns.forEach(function(c,i){if(c.key==='count')idx=i;});
    var trs=st.tbody.querySelectorAll('tr');for(var r=0;r<Math.min(20,trs.length);r++)
      out.sorted.push(Number(trs[r].children[idx].textContent.replace(/,/g,'')));}
  var imgs=[];
  if(INDEX.length){out.sample=INDEX[0].sample;var box=openSample(INDEX[0].sample,false);
    imgs=Array.prototype.slice.call(box.querySelectorAll('img'));}
  imgs=imgs.concat(Array.prototype.slice.call(document.querySelectorAll('figure.drift img,figure.wide img')));
  var pending=imgs.map(function(img){return img.complete?Promise.resolve():new Promise(function(res){
    img.addEventListener('load',res);img.addEventListener('error',res);});});
  Promise.all(pending).then(function(){
    out.images=imgs.map(function(img){return img.naturalWidth;});out.errors=window.__errors.slice();
    var pre=document.getElementById('selftest-result');pre.textContent=JSON.stringify(out);pre.hidden=false;});
}
if(location.hash==='#selftest')selftest();
})();
"""
