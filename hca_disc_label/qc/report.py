"""QC report: one PNG + JSON record per labelled image and a browsable ``index.html``.

Every run adds ``<qc>/entries/<id>.png`` and ``<qc>/entries/<id>.json`` (atomic writes, unique
names) and then rebuilds ``index.html`` from all records under an inter-process lock, so runs
writing into one QC folder in parallel (batch workers, cluster job arrays) never lose entries.
"""

from __future__ import annotations

import datetime as _dt
import html
import json
import logging
import os
import re
from pathlib import Path
from typing import Sequence

import numpy as np

from hca_disc_label.conventions import DISC_NAMES, strip_nifti_ext
from hca_disc_label.io import atomic_write, write_text_atomic

log = logging.getLogger(__name__)

LOW_CONFIDENCE = 0.5
"""Discs below this confidence are flagged in the QC report."""
PNG_SCALE_MM = 0.5
"""QC images are drawn at this many mm per screen pixel (at least 2x the model spacing)."""


def _entry_id(input_path: Path) -> str:
    stem = strip_nifti_ext(input_path.name)
    parent = re.sub(r"[^A-Za-z0-9_.-]", "_", input_path.parent.name)
    return f"{stem}__{parent}" if parent else stem


def subject_of(input_path: Path) -> str:
    """BIDS subject (``sub-XX``) from a path, else the file stem."""
    match = re.search(r"(sub-[A-Za-z0-9]+)", input_path.name)
    return match.group(1) if match else strip_nifti_ext(input_path.name)


def render_png(raw: np.ndarray, spacing_mm: float, discs: Sequence, out_path: Path) -> None:
    """Draw the mid-sagittal slab with each disc marked and named.

    Args:
        raw: ``(H, W)`` slab in the model frame (row -> inferior, col -> posterior).
        spacing_mm: model pixel spacing (mm).
        discs: records with ``model_rc``, ``name`` and ``confidence``.
        out_path: PNG file (written atomically).
    """
    from PIL import Image, ImageDraw, ImageFont

    lo, hi = np.percentile(raw, [1, 99.5]) if raw.size else (0, 1)
    gray = np.clip((raw - lo) / max(hi - lo, 1e-6), 0, 1)
    scale = max(1, int(round(spacing_mm / PNG_SCALE_MM)))
    img = Image.fromarray((gray * 255).astype(np.uint8)).convert("RGB")
    img = img.resize((img.width * scale, img.height * scale), Image.BILINEAR)
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default()
    for disc in discs:
        r, c = disc.model_rc
        y, x = (r + 0.5) * scale, (c + 0.5) * scale
        colour = (255, 40, 40) if disc.confidence >= LOW_CONFIDENCE else (255, 200, 0)
        draw.ellipse([x - 4, y - 4, x + 4, y + 4], outline=colour, width=2)
        draw.text((x + 7, y - 6), disc.name, fill=colour, font=font)
    atomic_write(out_path, lambda tmp: img.save(tmp, format="PNG"))


def write_qc_entry(
    qc_dir: Path,
    input_path: Path,
    output_path: Path,
    prepared,
    records: Sequence,
    subject: str | None = None,
    model: str = "",
    contrast: str = "",
) -> Path:
    """Write one QC entry (PNG + JSON) and rebuild the index. Returns the PNG path."""
    entries = Path(qc_dir) / "entries"
    entries.mkdir(parents=True, exist_ok=True)
    entry = _entry_id(Path(input_path))
    png = entries / f"{entry}.png"
    render_png(prepared.raw, prepared.geometry.spacing_mm, records, png)
    found = {r.value for r in records}
    missing = [DISC_NAMES[v] for v in range(min(found), max(found) + 1) if v not in found] if found else []
    record = {
        "id": entry,
        "subject": subject or subject_of(Path(input_path)),
        "input": str(Path(input_path).resolve()),
        "output": str(Path(output_path).resolve()),
        "contrast": contrast,
        "model": model,
        "slice": prepared.geometry.x_center,
        "png": f"entries/{png.name}",
        "discs": [r.to_json() for r in records],
        "missing_inside_range": missing,
        "low_confidence": [r.name for r in records if r.confidence < LOW_CONFIDENCE],
        "time": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    write_text_atomic(entries / f"{entry}.json", json.dumps(record, indent=2) + "\n")
    rebuild_index(Path(qc_dir))
    return png


def add_failure_entry(qc_dir: Path, input_path: Path, reason: str) -> None:
    """Record a failed image in the QC report (no PNG)."""
    entries = Path(qc_dir) / "entries"
    entries.mkdir(parents=True, exist_ok=True)
    entry = _entry_id(Path(input_path))
    record = {
        "id": entry,
        "subject": subject_of(Path(input_path)),
        "input": str(Path(input_path).resolve()),
        "failed": reason,
        "discs": [],
        "time": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    write_text_atomic(entries / f"{entry}.json", json.dumps(record, indent=2) + "\n")
    rebuild_index(Path(qc_dir))


def load_records(qc_dir: Path) -> list[dict]:
    """All QC records in a folder, sorted by subject then id (unreadable ones skipped)."""
    records = []
    for path in sorted((Path(qc_dir) / "entries").glob("*.json")):
        try:
            records.append(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            log.warning("skipping unreadable QC record %s", path)
    return sorted(records, key=lambda r: (r.get("subject", ""), r.get("id", "")))


def rebuild_index(qc_dir: Path) -> Path:
    """Regenerate ``index.html`` from every record, under a file lock."""
    from filelock import FileLock

    qc_dir = Path(qc_dir)
    qc_dir.mkdir(parents=True, exist_ok=True)
    with FileLock(str(qc_dir / ".index.lock"), timeout=120):
        index = qc_dir / "index.html"
        write_text_atomic(index, render_index(load_records(qc_dir)))
    return index


def _row(rec: dict) -> str:
    esc = html.escape
    if rec.get("failed"):
        return (
            f'<tr class="fail" data-subject="{esc(rec["subject"])}" data-flags="9" data-n="0">'
            f"<td>{esc(rec['subject'])}</td><td>{esc(rec['id'])}</td><td>—</td>"
            f"<td>FAILED: {esc(rec['failed'])}</td><td></td></tr>"
        )
    names = ", ".join(d["name"] for d in rec["discs"])
    flags = []
    if rec.get("missing_inside_range"):
        flags.append("missing: " + ", ".join(rec["missing_inside_range"]))
    if rec.get("low_confidence"):
        flags.append("low confidence: " + ", ".join(rec["low_confidence"]))
    cls = "flag" if flags else "ok"
    thumb = f'<a href="{esc(rec["png"])}"><img src="{esc(rec["png"])}" loading="lazy"></a>'
    return (
        f'<tr class="{cls}" data-subject="{esc(rec["subject"])}" data-flags="{len(flags)}" '
        f'data-n="{len(rec["discs"])}"><td>{esc(rec["subject"])}</td><td>{esc(rec["id"])}<br>'
        f'<small>{esc(rec.get("contrast", ""))} · {esc(rec.get("model", ""))} · slice {rec.get("slice")}</small></td>'
        f"<td>{len(rec['discs'])}</td><td>{esc(names)}<br><b>{esc('; '.join(flags))}</b></td><td>{thumb}</td></tr>"
    )


_STYLE = """
body{font-family:sans-serif;margin:1em;background:#fafafa}
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px;vertical-align:top}
th{cursor:pointer;background:#eee}tr.flag{background:#fff4d6}tr.fail{background:#ffd9d9}
img{max-height:320px}
"""

_SCRIPT = """
function sortBy(key){const tb=document.querySelector('tbody');const rows=[...tb.rows];
const num=key!=='subject';const dir=tb.dataset.dir===key?-1:1;tb.dataset.dir=dir===1?key:'';
rows.sort((a,b)=>{const x=a.dataset[key],y=b.dataset[key];
return dir*(num?(parseFloat(x)-parseFloat(y)):x.localeCompare(y));});rows.forEach(r=>tb.appendChild(r));}
"""


def render_index(records: list[dict]) -> str:
    """HTML page listing every QC record (sortable by subject, flags, disc count)."""
    n_flag = sum(1 for r in records if r.get("failed") or r.get("missing_inside_range") or r.get("low_confidence"))
    rows = "\n".join(_row(r) for r in records)
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>hca_disc_label QC</title>"
        f"<style>{_STYLE}</style><script>{_SCRIPT}</script></head><body>"
        f"<h1>hca_disc_label QC</h1><p>{len(records)} images, {n_flag} flagged. "
        "Click a column header to sort.</p><table><thead><tr>"
        "<th onclick=\"sortBy('subject')\">subject</th><th>image</th>"
        "<th onclick=\"sortBy('n')\">discs</th><th onclick=\"sortBy('flags')\">labels / flags</th>"
        f"<th>mid-sagittal slab</th></tr></thead><tbody>{rows}</tbody></table></body></html>\n"
    )


def merge_qc(sources: Sequence[Path], target: Path) -> Path:
    """Merge QC folders (e.g. one per cluster job) into ``target`` and rebuild its index."""
    import shutil

    dst = Path(target) / "entries"
    dst.mkdir(parents=True, exist_ok=True)
    for src in sources:
        for path in sorted((Path(src) / "entries").glob("*")):
            if path.is_file() and not path.name.startswith("."):
                tmp = dst / f".{path.name}.{os.getpid()}.tmp"
                shutil.copyfile(path, tmp)
                os.replace(tmp, dst / path.name)
    return rebuild_index(Path(target))
