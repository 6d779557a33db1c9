"""The QC page: ``index.html`` / ``hca_label.html`` rendered from the QC records (pure function).

:func:`render_index` is called by :func:`hca_disc_label.qc.report.rebuild_index` under the
folder's lock; nothing here touches files.
"""

from __future__ import annotations

import html

from hca_disc_label.sidecar import now_iso as _now

LOW_CONFIDENCE = 0.5
"""Discs below this confidence are flagged in the QC report (pictures and page)."""


def _flags(rec: dict) -> list[tuple[str, str]]:
    """(css class, text) badges of a record."""
    if rec.get("failed"):
        return [("bad", "FAILED")]
    flags = []
    if not rec.get("discs"):
        flags.append(("bad", "no disc"))
    if rec.get("missing_inside_range"):
        flags.append(("miss", "missing: " + ", ".join(rec["missing_inside_range"])))
    if rec.get("low_confidence"):
        flags.append(("low", "low confidence: " + ", ".join(rec["low_confidence"])))
    if _status(rec) == "check":
        flags.append(("check", "numbering check"))
    return flags


def _status(rec: dict) -> str:
    """Numbering status of a record: "ok", "check" or "" (failed, or no Numbering block)."""
    numbering = rec.get("numbering") or {}
    return str(numbering.get("status", "")) if not rec.get("failed") else ""


def _numbering_cell(rec: dict) -> str:
    """Numbering status badge, confidence, the doubt and the hint that settles it."""
    esc = html.escape
    numbering = rec.get("numbering") or {}
    status = _status(rec)
    if not status:
        return '<td class="num">—</td>'
    conf = numbering.get("confidence")
    conf_text = f"{conf:.2f}" if isinstance(conf, (int, float)) else "?"
    parts = [f'<span class="badge {"check" if status == "check" else "nok"}">numbering {esc(status)} '
             f"{conf_text}</span>"]
    if numbering.get("source") == "hint":
        parts.append('<div class="meta">count set by the hint</div>')
    elif status == "check":
        alt = numbering.get("alternative") or {}
        if alt.get("offset"):
            parts.append(f'<div class="meta">alternative: every value {int(alt["offset"]):+d} '
                         f"({alt.get('confidence', 0):.2f}), drawn in cyan</div>")
        if numbering.get("question"):
            parts.append(f'<div class="meta">{esc(str(numbering["question"]))}</div>')
        if numbering.get("hint"):
            parts.append(f'<div class="meta">confirm with <code>{esc(str(numbering["hint"]))}</code></div>')
    return f'<td class="num">{"".join(parts)}</td>'


def _numbering_key(rec: dict) -> str:
    """Sort key of the numbering column: check first, least sure first; no status last."""
    conf = (rec.get("numbering") or {}).get("confidence")
    if not _status(rec) or not isinstance(conf, (int, float)):
        return "3"
    return f"{(0 if _status(rec) == 'check' else 1) + float(conf):g}"


def _row(rec: dict) -> str:
    esc = html.escape
    subject = str(rec.get("subject", ""))
    image = str(rec.get("image") or rec.get("id", ""))
    title = esc(str(rec.get("input", "")))
    flags = _flags(rec)
    badges = " ".join(f'<span class="badge {cls}">{esc(text)}</span>' for cls, text in flags)
    n_discs = len(rec.get("discs", []))
    attrs = (f'data-subject="{esc(subject)}" data-image="{esc(image)}" data-n="{n_discs}" '
             f'data-flags="{9 if rec.get("failed") else len(flags)}" '
             f'data-numbering="{_numbering_key(rec)}" data-status="{_status(rec)}"')
    if rec.get("failed"):
        return (
            f'<tr class="fail" {attrs}><td class="subj">{esc(subject)}</td>'
            f'<td class="img" title="{title}">{esc(image)}</td><td class="n">—</td>'
            f'{_numbering_cell(rec)}<td class="labels">{badges}<div class="reason">{esc(str(rec["failed"]))}</div></td>'
            '<td class="thumb"><div class="nothumb">no image</div></td></tr>'
        )
    names = ", ".join(esc(str(d.get("name", ""))) for d in rec.get("discs", []))
    meta = " · ".join(esc(str(v)) for v in (rec.get("contrast"), rec.get("model"),
                                            f"slice {rec.get('slice')}") if v)
    png = esc(str(rec.get("png", "")))
    thumb = f'<a href="{png}" target="_blank"><img src="{png}" alt="{esc(image)}" loading="lazy"></a>'
    return (
        f'<tr class="{"flag" if flags else "ok"}" {attrs}><td class="subj">{esc(subject)}</td>'
        f'<td class="img" title="{title}">{esc(image)}<div class="meta">{meta}</div></td>'
        f'<td class="n">{n_discs}</td>{_numbering_cell(rec)}<td class="labels"><div class="names">{names}</div>{badges}</td>'
        f'<td class="thumb">{thumb}</td></tr>'
    )


FIT_WIDTH_PX = 1400
"""The page's table fits a window this wide (a laptop screen) without a horizontal scroll bar."""
COLUMN_MAX_PX = {"subj": 130, "img": 230, "n": 50, "num": 220, "labels": 280, "thumb": 290}
"""The widest each column may grow (content wraps inside); with the cell paddings, borders
and the page margins they add up to less than :data:`FIT_WIDTH_PX`."""
CELL_EXTRA_PX = 18
"""Horizontal padding + border of one cell."""
PAGE_MARGIN_PX = 48
"""Left + right margin of the page body."""


def _column_css() -> str:
    w = COLUMN_MAX_PX
    return (f"td.subj{{max-width:{w['subj']}px}}td.img{{max-width:{w['img']}px}}td.n{{width:{w['n']}px}}"
            f"td.num{{max-width:{w['num']}px}}td.labels{{max-width:{w['labels']}px}}"
            f"td.thumb{{max-width:{w['thumb']}px}}td.thumb img{{max-width:{w['thumb'] - 4}px}}")


_STYLE = """
body{font-family:system-ui,sans-serif;margin:1em 24px;background:#fafafa;color:#222}
h1{margin:.2em 0}.summary{margin:.4em 0 .8em}.summary b{font-size:1.1em}
.legend{color:#555;font-size:.9em;margin-bottom:.6em;max-width:1300px}
table{border-collapse:collapse;background:#fff}
td,th{border:1px solid #ccc;padding:6px 8px;vertical-align:top;text-align:left;overflow-wrap:anywhere}
th{background:#e8e8e8;position:sticky;top:0;z-index:1;white-space:nowrap}
th.sort{cursor:pointer;user-select:none}th.sort:hover{background:#d8d8d8}
th.sort::after{content:" \\2195";color:#888}
td.subj{font-weight:600}td.n{text-align:center}
.meta{color:#666;font-size:.85em;margin-top:.2em}.names{margin-bottom:.3em}
.reason{margin-top:.3em;color:#900}
tr.flag{background:#fffaf0}tr.fail{background:#fff0f0}
.badge{display:inline-block;border-radius:4px;padding:1px 6px;margin:2px 2px 0 0;font-size:.85em}
.badge.bad{background:#c62828;color:#fff}.badge.miss{background:#ffcc80}.badge.low{background:#fff59d}
.badge.check{background:#6a1b9a;color:#fff}.badge.nok{background:#c8e6c9}
button{margin-left:1em}
td.thumb{background:#111;padding:2px;text-align:center}
td.thumb img{max-height:400px;height:auto;width:auto;display:block;margin:auto}
.nothumb{color:#bbb;height:60px;line-height:60px;width:120px}
label.only{margin-left:1em}
""" + _column_css() + "\n"

_SCRIPT = """
function sortBy(key){const tb=document.querySelector('tbody');const rows=[...tb.rows];
const num=key==='n'||key==='flags'||key==='numbering';const dir=tb.dataset.key===key&&tb.dataset.dir==='1'?-1:1;
tb.dataset.key=key;tb.dataset.dir=String(dir);
rows.sort((a,b)=>{const x=a.dataset[key],y=b.dataset[key];
const c=num?(parseFloat(x)-parseFloat(y)):x.localeCompare(y,undefined,{numeric:true});
return dir*(c||a.dataset.image.localeCompare(b.dataset.image));});
rows.forEach(r=>tb.appendChild(r));}
function flaggedOnly(on){document.querySelectorAll('tbody tr.ok').forEach(r=>{r.hidden=on;});}
function checkFirst(){const tb=document.querySelector('tbody');tb.dataset.key='';sortBy('numbering');}
function checkOnly(on){document.querySelectorAll('tbody tr').forEach(r=>{r.hidden=on&&r.dataset.status!=='check';});}
"""


def render_index(records: list[dict]) -> str:
    """HTML page listing every QC record.

    One row per image: subject, image name (full path on hover), disc count, disc names,
    flag badges (failed, no disc, missing discs inside the found range, low confidence) and a
    thumbnail of the labelled mid-sagittal slab (click: full size). Sortable by subject, disc
    count and flags; a checkbox hides rows without flags.
    """
    n_fail = sum(1 for r in records if r.get("failed"))
    n_flag = sum(1 for r in records if not r.get("failed") and _flags(r))
    n_ok = len(records) - n_fail - n_flag
    n_check = sum(1 for r in records if _status(r) == "check")
    rows = "\n".join(_row(r) for r in records)
    generated = html.escape(_now())
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width'><title>hca_disc_label QC</title>"
        f"<style>{_STYLE}</style><script>{_SCRIPT}</script></head><body>"
        "<h1>hca_disc_label QC</h1>"
        f"<div class='summary'><b>{len(records)}</b> images: <b>{n_ok}</b> ok, "
        f"<b>{n_flag}</b> flagged, <b>{n_fail}</b> failed"
        "<label class='only'><input type='checkbox' onchange='flaggedOnly(this.checked)'> "
        "flagged and failed only</label>"
        f"<span class='numsum'> · <b>{n_check}</b> numbering check</span>"
        "<button id='checkfirst' onclick='checkFirst()'>check first</button>"
        "<label class='only'><input type='checkbox' id='checkonly' onchange='checkOnly(this.checked)'> "
        "numbering check only</label></div>"
        "<div class='legend'>Red circle: disc; yellow: confidence below "
        f"{LOW_CONFIDENCE:g}. Flags: discs missing between the highest and lowest found disc, "
        "low-confidence discs, failures, numbering check (the count may be one level off: the "
        "alternative numbering is drawn in cyan, the hint confirms it). Click a sortable header to sort; "
        "click a picture for "
        f"full size. Generated {generated}.</div>"
        "<table><thead><tr>"
        "<th class='sort' onclick=\"sortBy('subject')\">subject</th>"
        "<th class='sort' onclick=\"sortBy('image')\">image</th>"
        "<th class='sort' onclick=\"sortBy('n')\">discs</th>"
        "<th class='sort' onclick=\"sortBy('numbering')\">numbering</th>"
        "<th class='sort' onclick=\"sortBy('flags')\">labels / flags</th>"
        f"<th>labelled mid-sagittal slab</th></tr></thead><tbody>\n{rows}\n</tbody></table>"
        "</body></html>\n"
    )
