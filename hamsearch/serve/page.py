"""``GET /``: one HTML page, no build step, nothing loaded from outside.

A grid of corpus thumbnails (when the service has them); clicking one, or
uploading an image, shows its top 10 by Hamming distance beside the top 10
re-ranked on the stored float features (Lin et al.'s hierarchical search,
their Figure 3 live).  A code box searches by hex code on any index.
"""

from __future__ import annotations

import html
import json

__all__ = ["page_html"]

_STYLE = """
body{font:14px system-ui,sans-serif;margin:16px;color:#222;background:#fafafa}
h1{font-size:20px;margin:0 0 4px} .muted{color:#777} .row{display:flex;gap:24px;flex-wrap:wrap}
#grid{display:grid;grid-template-columns:repeat(12,60px);gap:4px;margin:8px 0}
#grid img,.hit img,#query img{width:56px;height:56px;image-rendering:pixelated;
 border:2px solid transparent;background:#000;cursor:pointer}
#grid img:hover{border-color:#e80}
.col{background:#fff;border:1px solid #ddd;padding:8px;width:590px}
.col h2{font-size:15px;margin:0 0 6px} .hits{display:flex;flex-wrap:wrap;gap:4px}
.hit{display:flex;flex-direction:column;align-items:center;width:112px;padding:3px 0;
 font-size:12px;text-align:center;border:1px solid #eee}
.hit.same{background:#eef8ee} .err{color:#b00} code{font-size:12px}
"""

_SCRIPT = r"""
const CFG = JSON.parse(document.getElementById('cfg').textContent);
const $ = (id) => document.getElementById(id);
function headers(extra) {
  const h = Object.assign({}, extra || {});
  const t = sessionStorage.getItem('hamsearch-token');
  if (t) h['Authorization'] = 'Bearer ' + t;
  return h;
}
async function api(path, opts) {
  opts = opts || {};
  opts.headers = headers(opts.headers);
  const r = await fetch(path, opts);
  const body = await r.json();
  if (!r.ok) throw new Error((body.error && body.error.message) || r.statusText);
  return body;
}
function thumb(id) {
  const img = document.createElement('img');
  img.alt = 'item ' + id; img.dataset.id = id;
  fetch('/v1/items/' + id + '/thumbnail.png', {headers: headers()})
    .then(r => r.ok ? r.blob() : null)
    .then(b => { if (b) img.src = URL.createObjectURL(b); });
  return img;
}
function showError(e) { $('status').textContent = String(e.message || e); $('status').className = 'err'; }
function status(text) { $('status').textContent = text; $('status').className = 'muted'; }
function render(colId, title, hits, queryLabel) {
  const col = $(colId);
  col.innerHTML = '';
  const h = document.createElement('h2'); h.textContent = title; col.appendChild(h);
  if (!hits) { col.appendChild(document.createTextNode('(the index holds no features)')); return; }
  let same = 0;
  const box = document.createElement('div'); box.className = 'hits'; col.appendChild(box);
  for (const hit of hits) {
    const div = document.createElement('div');
    div.className = 'hit result';
    if (CFG.thumbnails) { const im = thumb(hit.id); im.onclick = () => similar(hit.id); div.appendChild(im); }
    const label = hit.label ? ' ' + hit.label : '';
    if (queryLabel && hit.label === queryLabel) { div.classList.add('same'); same++; }
    const t = document.createElement('span');
    t.textContent = 'id ' + hit.id + label;
    const d = document.createElement('span');
    d.textContent = 'Hamming ' + hit.distance +
      (hit.score !== undefined ? ', feature ' + hit.score.toFixed(2) : '');
    div.appendChild(t); div.appendChild(d); box.appendChild(div);
  }
  if (queryLabel) { const p = document.createElement('div'); p.className = 'muted';
    p.textContent = same + ' of ' + hits.length + ' share the query\u2019s label'; col.appendChild(p); }
}
async function labelled(hits) { return hits; }
async function similar(id) {
  try {
    status('searching\u2026');
    const r = await api('/v1/items/' + id + '/similar?k=10');
    const q = $('query'); q.innerHTML = '';
    if (CFG.thumbnails) q.appendChild(thumb(id));
    const ql = r.label || null;
    q.appendChild(document.createTextNode(' query: id ' + id + (ql ? ' (' + ql + ')' : '')));
    render('hamming', 'Hamming only', await labelled(r.hamming), ql);
    render('hier', 'Hierarchical (re-ranked on features)', await labelled(r.hierarchical), ql);
    status('done');
  } catch (e) { showError(e); }
}
async function upload(file) {
  try {
    status('searching\u2026');
    const fd = new FormData(); fd.append('files', file); fd.append('k', '10');
    const r = await api('/v1/images/search', {method: 'POST', body: fd});
    const q = $('query'); q.innerHTML = '';
    const img = document.createElement('img'); img.src = URL.createObjectURL(file); q.appendChild(img);
    q.appendChild(document.createTextNode(' query: ' + file.name));
    render('hamming', 'Hamming only', await labelled(r.results[0]), null);
    render('hier', 'Hierarchical (re-ranked on features)',
           r.hierarchical ? await labelled(r.hierarchical[0]) : null, null);
    status('done');
  } catch (e) { showError(e); }
}
async function byCode() {
  try {
    const code = $('code').value.trim();
    const r = await api('/v1/search', {method: 'POST', headers: {'Content-Type': 'application/json'},
                                        body: JSON.stringify({codes: [code], k: 10})});
    $('query').textContent = 'query: code ' + code;
    render('hamming', 'Hamming only', await labelled(r.results[0]), null);
    render('hier', 'Hierarchical', null, null);
    status('done');
  } catch (e) { showError(e); }
}
async function loadGrid() {
  if (!CFG.thumbnails) { $('grid').textContent = '(no corpus thumbnails: search by code below)'; return; }
  try {
    const seed = Math.floor(Math.random() * 1e9);
    const r = await api('/v1/items?limit=48&seed=' + seed);
    const g = $('grid'); g.innerHTML = '';
    for (const it of r.items) { const im = thumb(it.id); im.className = 'thumb';
      im.title = 'id ' + it.id + (it.label ? ' (' + it.label + ')' : '');
      im.onclick = () => similar(it.id); g.appendChild(im); }
    status(r.items.length + ' of ' + r.total + ' items shown; click one');
  } catch (e) { showError(e); }
}
$('token').value = sessionStorage.getItem('hamsearch-token') || '';
$('token').onchange = () => { sessionStorage.setItem('hamsearch-token', $('token').value.trim()); loadGrid(); };
$('file').onchange = (ev) => { if (ev.target.files[0]) upload(ev.target.files[0]); };
$('shuffle').onclick = loadGrid;
$('go').onclick = byCode;
loadGrid();
"""


def page_html(service) -> str:
    """The page, with the service's facts inlined as JSON (no external loads)."""
    items = service.items
    cfg = {"nbits": service.nbits, "thumbnails": items is not None,
           "model": service.encoder is not None, "public_read": service.config.public_read}
    blob = json.dumps(cfg).replace("</", "<\\/")
    model = "" if service.encoder is None else html.escape(service.encoder.name)
    upload = ('<label>or upload an image: <input type="file" id="file" accept="image/png,image/jpeg">'
              '</label>' if service.encoder is not None else
              '<input type="file" id="file" hidden><span class="muted">(no model: image upload '
              'off)</span>')
    token = ('' if service.config.public_read else
             '<label>token: <input type="password" id="token" size="24"></label> ')
    if service.config.public_read:
        token = '<input type="hidden" id="token">'
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>hamsearch</title><link rel="icon" href="data:,">
<style>{_STYLE}</style></head><body>
<h1>hamsearch</h1>
<div class="muted">{service.nbits}-bit codes, {len(service.index):,} in the index{', model ' + model if model else ''}</div>
<p>{token}<button id="shuffle">shuffle</button> {upload}</p>
<div id="grid"></div>
<p><label>hex code: <input id="code" size="40"></label> <button id="go">search</button></p>
<div id="status" class="muted"></div>
<p id="query"></p>
<div class="row"><div class="col" id="hamming"></div><div class="col" id="hier"></div></div>
<script type="application/json" id="cfg">{blob}</script>
<script>{_SCRIPT}</script>
</body></html>
"""
