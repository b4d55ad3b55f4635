"""A self-contained HTML page to browse texts with each character coloured by a unit.

The page inlines its data (JSON in a ``<script type="application/json">`` block, with ``<``,
``>`` and ``&`` escaped) and builds every character's ``<span>`` with ``textContent``, so a
text holding markup stays text. A unit's values over a text are stored as 16-bit integers in
steps of its largest absolute value (its limit) / 32767 (base64, little-endian), so each
is within half a step of the trace and a 1000-review sample with five units is a few
megabytes; the status line shows four significant digits of it. No network, no
server: open the file in a browser. A unit is chosen from a list, texts are sorted by the
unit's final value or by the prediction's error, and the label, the prediction and the value
under the pointer are shown in the status line. ``#unit=K`` in the address selects the K-th
unit of the list when the page opens.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from neuron_repro.io import atomic_write
from neuron_repro.traces import character_values, text_traces

LEVELS = 32767  # a value is an int16 times its unit's limit / LEVELS
VIEWER_UNITS = 5  # a probe's sentiment unit and the next largest L1 units

_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: sans-serif; margin: 1em; }}
#bar {{ position: sticky; top: 0; background: #fff; padding: .4em 0;
  border-bottom: 1px solid #ccc; }}
#status {{ font-family: monospace; margin-top: .3em; min-height: 1.2em; }}
.text {{ font-family: monospace; white-space: pre-wrap; word-break: break-all; margin: .6em 0;
  line-height: 1.5; }}
.head {{ font-size: 80%; color: #555; }}
#legend span {{ display: inline-block; width: 1.2em; height: .9em; vertical-align: middle; }}
</style></head><body>
<div id="bar"><b>{title}</b> &middot;
unit <select id="unit"></select>
sort <select id="sort"><option value="order">as given</option>
<option value="final">final value</option><option value="error">prediction error</option></select>
<span id="legend"></span>
<div id="status">point at a character</div></div>
<div id="texts"></div>
<script type="application/json" id="data">{data}</script>
<script>
const D = JSON.parse(document.getElementById("data").textContent), LEVELS = {levels};
const unitSel = document.getElementById("unit"), sortSel = document.getElementById("sort");
const status = document.getElementById("status"), box = document.getElementById("texts");
D.units.forEach((u, k) => {{ const o = document.createElement("option"); o.value = k;
  o.textContent = u + (D.notes[k] ? " (" + D.notes[k] + ")" : ""); unitSel.appendChild(o); }});
const m = location.hash.match(/unit=(\\d+)/);
if (m && +m[1] < D.units.length) unitSel.value = m[1];
function colour(v, lim) {{ const t = Math.max(-1, Math.min(1, v / lim));
  const a = Math.round(255 * (1 - Math.abs(t)));
  return t >= 0 ? `rgb(255,${{a}},${{a}})` : `rgb(${{a}},${{a}},255)`; }}
function fmt(x) {{ return x === null ? "-" : String(x); }}
function values(t, k) {{ t.cache = t.cache || [];
  if (!t.cache[k]) {{ const b = atob(t.v[k]), view = new DataView(new ArrayBuffer(b.length));
    for (let j = 0; j < b.length; j++) view.setUint8(j, b.charCodeAt(j));
    const out = new Float64Array(b.length / 2);
    for (let j = 0; j < out.length; j++) out[j] = view.getInt16(2 * j, true) * D.limits[k] / LEVELS;
    t.cache[k] = out; }}
  return t.cache[k]; }}
function num(x) {{ return Number(x.toPrecision(4)); }}
function legend(k) {{ const lim = D.limits[k], el = document.getElementById("legend");
  el.textContent = "";
  [-1, -0.5, 0, 0.5, 1].forEach(t => {{ const s = document.createElement("span");
    s.style.background = colour(t * lim, lim); s.title = (t * lim).toPrecision(3);
    el.appendChild(s); }});
  el.appendChild(document.createTextNode(" \\u00b1" + lim.toPrecision(3))); }}
function render() {{
  const k = +unitSel.value, lim = D.limits[k];
  const order = D.texts.map((t, i) => i);
  const last = i => {{ const v = values(D.texts[i], k); return num(v[v.length - 1]); }};
  const err = i => (D.texts[i].label === null || D.texts[i].pred === null) ? -1 :
    Math.abs(D.texts[i].pred - D.texts[i].label);
  if (sortSel.value === "final") order.sort((a, b) => last(b) - last(a));
  if (sortSel.value === "error") order.sort((a, b) => err(b) - err(a));
  box.textContent = "";
  for (const i of order) {{
    const t = D.texts[i], div = document.createElement("div");
    const head = document.createElement("div");
    div.className = "text"; head.className = "head";
    head.textContent = `#${{i}} label ${{fmt(t.label)}} prediction ${{fmt(t.pred)}} ` +
      `final ${{last(i)}}`;
    div.appendChild(head);
    const v = values(t, k);
    Array.from(t.c).forEach((ch, j) => {{ const s = document.createElement("span");
      s.textContent = ch === "\\n" ? "\\u21b5" : ch; s.style.background = colour(v[j], lim);
      s.onmouseover = () => {{ status.textContent = `text #${{i}}: label ${{fmt(t.label)}}, ` +
        `prediction ${{fmt(t.pred)}}, unit ${{D.units[k]}} = ${{num(v[j])}} after ` +
        JSON.stringify(ch); }};
      div.appendChild(s); }});
    box.appendChild(div);
  }}
  legend(k);
}}
unitSel.onchange = render; sortSel.onchange = render; render();
</script></body></html>
"""


def _escaped_json(payload: dict) -> str:
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    for char, escape in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                         ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(char, escape)
    return text


def _html_escape(text: str) -> str:
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;"))


def viewer_page(texts: Sequence[bytes], traces: Sequence[np.ndarray], units: Sequence[int], *,
                labels: Sequence[int] | None = None, predictions: Sequence[int] | None = None,
                title: str, unit_notes: dict[int, str] | None = None) -> str:
    """The page's HTML.

    Parameters
    ----------
    texts : the bytes each trace was read from (``preprocess_openai`` of each text)
    traces : per text, an array of shape (len(bytes), len(units)): the cell state after each
        byte; a multi-byte character is shown once, with the state after its last byte
    units : the unit of each trace column, in the order the page offers them
    labels, predictions : optional 0/1 per text (None entries allowed)
    unit_notes : a short note per unit, shown in the unit list (e.g. "sentiment unit")
    """
    units = [int(u) for u in units]
    if not units:
        raise ValueError("no unit to show")
    if len(texts) != len(traces):
        raise ValueError(f"{len(texts)} texts but {len(traces)} traces")
    for name, values in (("labels", labels), ("predictions", predictions)):
        if values is not None and len(values) != len(texts):
            raise ValueError(f"{len(values)} {name} for {len(texts)} texts")
    checked = []
    for i, (data, trace) in enumerate(zip(texts, traces, strict=True)):
        trace = np.asarray(trace, dtype=np.float64)
        if trace.ndim != 2 or trace.shape != (len(data), len(units)):
            raise ValueError(f"text {i}: a trace of shape {trace.shape} for {len(data)} bytes "
                             f"and {len(units)} units")
        if not np.isfinite(trace).all():
            raise ValueError(f"text {i}: the trace holds values that are not finite")
        checked.append(character_values(bytes(data), trace))
    limits = np.zeros(len(units))
    for _, values in checked:
        if len(values):
            limits = np.maximum(limits, np.abs(values).max(axis=0))
    limits = np.where(limits > 0, limits, 1.0)
    rows = []
    for i, (chars, values) in enumerate(checked):
        levels = np.rint(values / limits * LEVELS).astype("<i2")  # |value| <= limit: within int16
        rows.append({
            "c": "".join(chars),
            "v": [base64.b64encode(levels[:, k].tobytes()).decode() for k in range(len(units))],
            "label": None if labels is None or labels[i] is None else int(labels[i]),
            "pred": None if predictions is None or predictions[i] is None
            else int(predictions[i]),
        })
    notes = unit_notes or {}
    payload = {"units": units, "notes": [notes.get(u, "") for u in units], "texts": rows,
               "limits": [float(x) for x in limits]}
    return _PAGE.format(title=_html_escape(title), data=_escaped_json(payload), levels=LEVELS)


def write_page(path: str | Path, page: str) -> Path:
    """Write a page atomically."""
    path = Path(path)
    with atomic_write(path, ".html.tmp") as tmp:
        Path(tmp).write_text(page, encoding="utf-8")
    return path


def write_viewer(path: str | Path, texts, traces, units, **kwargs) -> Path:
    """Write :func:`viewer_page` to ``path`` atomically."""
    return write_page(path, viewer_page(texts, traces, units, **kwargs))


def build_viewer(model, texts: Sequence[str], units: Sequence[int], *, title: str,
                 labels=None, predictions=None, unit_notes=None, device="cpu",
                 batch_size: int = 64) -> str:
    """The page for ``texts`` read by ``model``: per-byte traces of ``units`` in one batched
    pass (:func:`neuron_repro.traces.text_traces`)."""
    units = [int(u) for u in units]
    bad = [u for u in units if not 0 <= u < model.n_units]
    if bad:
        raise ValueError(f"units {bad} are outside 0..{model.n_units - 1}")
    pairs = text_traces(model, texts, units, device=device, batch_size=batch_size)
    return viewer_page([b for b, _ in pairs], [t for _, t in pairs], units, labels=labels,
                       predictions=predictions, title=title, unit_notes=unit_notes)
