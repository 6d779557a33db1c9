"""QC report: one PNG + JSON record per labelled image and a browsable ``index.html``.

Every run adds ``<qc>/entries/<id>.png`` and ``<qc>/entries/<id>.json`` (atomic writes, one id
per input file) and then rebuilds ``index.html`` from all records under an inter-process lock,
so runs writing into one QC folder in parallel (batch workers, cluster job arrays) never lose
entries: each writer's rebuild starts after its own record is on disk, so the last rebuild to
take the lock sees every record.

:func:`record_labelling` is the one write path of a labelled image (the pipeline calls it
before the label files are committed, so a QC failure leaves no labels behind); further entry
writers (e.g. an SCT-style ``qc2`` record) are called from there. Batch workers pass
``rebuild=False`` and the batch parent rebuilds the index once at the end (and now and then
while running): the index is a pure function of the records, so this changes only when the
page appears, never what it lists.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import logging
import os
import re
from pathlib import Path
from typing import Sequence

import numpy as np

from hca_disc_label.atomic import atomic_write, copy_atomic, folder_lock, remove_stale_temps, write_text_atomic
from hca_disc_label.conventions import DISC_NAMES
from hca_disc_label.naming import bids_entities, strip_nifti_ext
from hca_disc_label.qc.draw import BLACK, CYAN, font, grey, mark_disc
from hca_disc_label.qc.page import LOW_CONFIDENCE, render_index
from hca_disc_label.qc.sct_qc import (
    merge_sct_entries,
    own_pages,
    refresh_sct_report,
    remove_sct_entry,
    write_sct_qc_entry,
)
from hca_disc_label.qc.sct_view import view_from_slab

log = logging.getLogger(__name__)

PNG_HEIGHT_PX = 800
"""QC pictures are resampled to this height (aspect kept) so that disc names have the same
size on every picture of the report, whatever the field of view."""
INDEX_LOCK_TIMEOUT_S = 300
"""How long a writer waits for the index lock (a slow shared file system can be busy)."""

def _abs(path: Path) -> str:
    # abspath, not resolve(): a git-annex / DataLad image is a symlink into the object store,
    # whose target changes with the content; the entry must follow the dataset path.
    return os.path.abspath(os.fspath(path))


def entry_id(input_path: Path) -> str:
    """Stable QC entry id of an input image: ``<stem>-<8 hex of its absolute path>``.

    One id per input file, so relabelling an image replaces its entry, and images with the
    same name in different folders or datasets (``site1/sub-01``, ``site2/sub-01``) do not
    collide in a shared QC folder.
    """
    stem = re.sub(r"[^A-Za-z0-9_.-]", "_", strip_nifti_ext(Path(input_path).name))
    digest = hashlib.sha1(_abs(Path(input_path)).encode("utf-8")).hexdigest()[:8]
    return f"{stem}-{digest}"


def subject_of(input_path: Path) -> str:
    """BIDS subject (``sub-XX``) from a path, else the file stem."""
    subject = bids_entities(Path(input_path).name)[0].get("sub")
    return f"sub-{subject}" if subject is not None else strip_nifti_ext(Path(input_path).name)


def render_png(raw: np.ndarray, spacing_mm: float, discs: Sequence, out_path: Path,
               alternative_offset: int | None = None) -> None:
    """Draw the mid-sagittal slab with each disc marked and named.

    The picture is resampled to :data:`PNG_HEIGHT_PX` rows (same factor on both axes, so
    anatomy keeps its proportions) and the names are drawn at a fixed size on top.

    Args:
        raw: ``(H, W)`` slab in the model frame (row -> inferior, col -> posterior).
        spacing_mm: model pixel spacing (mm); unused since pictures are scaled to a fixed
            height, kept for callers.
        discs: records with ``model_rc`` (model-frame pixels), ``name`` and ``confidence``.
            Confident discs are red, those under :data:`LOW_CONFIDENCE` yellow.
        out_path: PNG file (written atomically).
        alternative_offset: the other numbering of a doubtful count (every value + this): its
            names are drawn in cyan on the other side of each marker, ending in "?".
    """
    from PIL import Image, ImageDraw

    img = Image.fromarray(grey(raw)).convert("RGB")
    scale = PNG_HEIGHT_PX / max(img.height, 1)
    img = img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))), Image.BILINEAR)
    draw = ImageDraw.Draw(img)
    text_font = font(26)
    for disc in discs:
        r, c = disc.model_rc
        y, x = (r + 0.5) * scale, (c + 0.5) * scale
        tx, ty = mark_disc(draw, x, y, disc.name, disc.confidence, text_font, img.size, radius=7, ring=3, gap=12,
                           stroke=3)
        if alternative_offset:
            # the other numbering's name on the other side of the marker
            alt = _alt_name(int(disc.value) + int(alternative_offset)) + "?"
            left, top, right, bottom = draw.textbbox((0, 0), alt, font=text_font)
            ax = x - 12 - (right - left) if tx > x else x + 12
            draw.text((max(ax, 0), ty), alt, fill=CYAN, font=text_font, stroke_width=3, stroke_fill=BLACK)
    atomic_write(out_path, lambda tmp: img.save(tmp, format="PNG"))


def _alt_name(value: int) -> str:
    """Name of a value of the alternative numbering (also S1/S2 below L5/S1, none above C1/C2)."""
    return DISC_NAMES.get(value) or {26: "S1/S2"}.get(value, "no disc")


def _missing_inside_range(values: set[int]) -> list[str]:
    if not values:
        return []
    return [DISC_NAMES[v] for v in range(min(values), max(values) + 1) if v not in values]


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def write_qc_entry(
    qc_dir: Path,
    input_path: Path,
    output_path: Path,
    prepared,
    records: Sequence,
    subject: str | None = None,
    model: str = "",
    contrast: str = "",
    rebuild: bool = True,
    numbering: dict | None = None,
) -> Path:
    """Write one QC entry (PNG + JSON) and, with ``rebuild``, rebuild the index.

    Args:
        qc_dir: QC folder (created if needed).
        input_path: the labelled image.
        output_path: the written disc-label file.
        prepared: the :class:`~hca_disc_label.preprocessing.PreparedSlab` (``centre_raw`` slab in the
            model frame, ``geometry.spacing_mm`` and ``geometry.x_center``).
        records: disc records (``value``, ``name``, ``confidence``, ``model_rc``, ``to_json()``).
        subject: subject shown in the report (default: ``sub-XX`` from the file name).
        model: model name and version shown in the report.
        contrast: "t1" / "t2".
        rebuild: rebuild ``index.html`` afterwards (batch workers leave it to the parent).
        numbering: the sidecar's ``Numbering`` block (status, confidence, alternative); a
            ``check`` image gets the alternative numbering drawn next to the chosen one.

    Returns:
        The PNG path.

    Raises:
        OSError: the folder cannot be written; nothing of this entry is left behind.
    """
    entries = Path(qc_dir) / "entries"
    entries.mkdir(parents=True, exist_ok=True)
    entry = entry_id(Path(input_path))
    png = entries / f"{entry}.png"
    doubtful = bool(numbering) and numbering.get("status") == "check"
    render_png(prepared.centre_raw, prepared.geometry.spacing_mm, records, png,
               alternative_offset=(numbering.get("alternative") or {}).get("offset") if doubtful else None)
    record = {
        **_record_head(input_path, subject),
        "output": _abs(Path(output_path)),
        "contrast": contrast,
        "model": model,
        "slice": prepared.geometry.x_center,
        "png": f"entries/{png.name}",
        "discs": [r.to_json() for r in records],
        "missing_inside_range": _missing_inside_range({int(r.value) for r in records}),
        "low_confidence": [r.name for r in records if r.confidence < LOW_CONFIDENCE],
        "numbering": dict(numbering) if numbering else None,
        "time": _now(),
    }
    try:
        write_text_atomic(entries / f"{entry}.json", json.dumps(record, indent=2) + "\n")
    except BaseException:
        png.unlink(missing_ok=True)
        raise
    if rebuild:
        rebuild_index(Path(qc_dir))
    return png


def record_labelling(qc_dir: Path, labelling, output_path: Path, subject: str | None = None,
                     rebuild: bool = True, dataset: str | None = None) -> Path:
    """The QC write path of one labelled image: every entry writer is called from here.

    Args:
        qc_dir: QC folder.
        labelling: a :class:`~hca_disc_label.inference.labelling.Labelling` (input path, slab, discs, model).
        output_path: the label file being written.
        subject: subject shown in the report (default: from the file name).
        rebuild: rebuild ``index.html`` (False in batch workers).
        dataset: dataset of the SCT-style entry (SCT's ``-qc-dataset``; default from the folders).

    Returns:
        The PNG of our entry.

    Raises:
        OSError: an entry cannot be written (the caller then rolls back the labels).
    """
    numbering = labelling.numbering.to_json() if getattr(labelling, "numbering", None) is not None else None
    png = write_qc_entry(
        Path(qc_dir), labelling.input_path, output_path, labelling.prepared, labelling.discs, subject=subject,
        model=f"{labelling.model.name} {labelling.model.version}", contrast=labelling.contrast, rebuild=False,
        numbering=numbering,
    )
    # The same run as an entry of SCT's own QC report (issue 14, qc/sct_qc.py), so a folder
    # shared with SCT's commands lists it beside them; SCT's page is re-listed by rebuild_index.
    try:
        view = view_from_slab(labelling.prepared.centre_raw, labelling.prepared.geometry.spacing_mm, labelling.discs)
        write_sct_qc_entry(qc_dir, labelling.input_path, output_path, view, subject=subject, dataset=dataset,
                           refresh=False, numbering=numbering)
    except BaseException:
        remove_entry(Path(qc_dir), labelling.input_path)  # all entries of this image or none
        raise
    if rebuild:
        rebuild_index(Path(qc_dir))
    return png


def remove_entry(qc_dir: Path, input_path: Path) -> None:
    """Remove the QC entry of an input image (rollback when its labels could not be committed)."""
    entries = Path(qc_dir) / "entries"
    entry = entry_id(Path(input_path))
    for ext in (".json", ".png"):
        (entries / f"{entry}{ext}").unlink(missing_ok=True)
    remove_sct_entry(Path(qc_dir), Path(input_path))  # and its SCT-style entry (issue 14)


def _record_head(input_path: Path, subject: str | None) -> dict:
    """The fields every QC record starts with: ``id``, ``subject`` (default: ``sub-XX`` from the
    file name), ``image`` (file name) and ``input`` (absolute path)."""
    path = Path(input_path)
    return {"id": entry_id(path), "subject": subject or subject_of(path), "image": path.name, "input": _abs(path)}


def add_failure_entry(qc_dir: Path, input_path: Path, reason: str, subject: str | None = None,
                      rebuild: bool = True) -> Path:
    """Record a failed image in the QC report (replacing any earlier entry of that image).

    Returns:
        The JSON record path.
    """
    entries = Path(qc_dir) / "entries"
    entries.mkdir(parents=True, exist_ok=True)
    entry = entry_id(Path(input_path))
    record = {
        **_record_head(input_path, subject),
        "failed": reason,
        "discs": [],
        "time": _now(),
    }
    path = entries / f"{entry}.json"
    write_text_atomic(path, json.dumps(record, indent=2) + "\n")
    # A picture from an earlier successful run would contradict the failure.
    (entries / f"{entry}.png").unlink(missing_ok=True)
    if rebuild:
        rebuild_index(Path(qc_dir))
    return path


def find_entry(qc_dir: Path, input_path: Path) -> dict | None:
    """The QC record of an input image, or None (missing or unreadable)."""
    path = Path(qc_dir) / "entries" / f"{entry_id(Path(input_path))}.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def load_records(qc_dir: Path) -> list[dict]:
    """All QC records in a folder, sorted by subject then image (unreadable ones skipped)."""
    records = []
    for path in sorted((Path(qc_dir) / "entries").glob("*.json")):
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            log.warning("skipping unreadable QC record %s", path)
            continue
        if isinstance(record, dict) and "id" in record:
            records.append(record)
    return sorted(records, key=lambda r: (str(r.get("subject", "")), str(r.get("image", r.get("id", "")))))


def remove_stale_temps_in(qc_dir: Path, recursive: bool = False) -> int:
    """Remove leftover temporary files of killed runs (nobody holds them) from a QC folder: its
    entries and SCT records, and with ``recursive`` the whole tree (SCT-style picture folders).
    Returns how many were removed."""
    qc_dir = Path(qc_dir)
    if recursive:
        return len(remove_stale_temps(qc_dir, recursive=True))
    return sum(len(remove_stale_temps(folder)) for folder in (qc_dir, qc_dir / "entries", qc_dir / "_json"))


def rebuild_index(qc_dir: Path) -> Path:
    """Regenerate our page from every record, under the folder's inter-process lock (see ``sct_qc.own_pages``)."""
    qc_dir = Path(qc_dir)
    qc_dir.mkdir(parents=True, exist_ok=True)
    with folder_lock(qc_dir, timeout_s=INDEX_LOCK_TIMEOUT_S):
        # A folder shared with SCT: SCT's index.html lists every entry (ours too) and is left to
        # it; our page is always hca_label.html as well (issue 14, qc/sct_qc.py).
        page = render_index(load_records(qc_dir))
        pages = own_pages(qc_dir)
        for index in pages:
            write_text_atomic(index, page)
        refresh_sct_report(qc_dir)
    return pages[0]


def merge_qc(sources: Sequence[Path], target: Path) -> Path:
    """Merge QC folders (e.g. one per cluster job) into ``target`` and rebuild its index.

    Records are copied atomically (pictures before their records, so a record never points at
    a missing picture); an entry present in several sources keeps the newest copy by record
    time. Returns the index path.
    """
    def copy(src_file: Path) -> None:
        copy_atomic(src_file, dst / src_file.name)

    dst = Path(target) / "entries"
    dst.mkdir(parents=True, exist_ok=True)
    for src in sources:
        for record in sorted((Path(src) / "entries").glob("*.json")):
            if record.name.startswith(".") or not _newer_or_absent(record, dst / record.name):
                continue
            picture = record.with_suffix(".png")
            if picture.is_file():
                copy(picture)
            copy(record)
    merge_sct_entries(sources, target)  # the SCT-style entries too (issue 14)
    return rebuild_index(Path(target))


def _newer_or_absent(src: Path, dst: Path) -> bool:
    try:
        theirs = json.loads(dst.read_text(encoding="utf-8")).get("time", "")
    except (OSError, ValueError, AttributeError):
        return True
    try:
        ours = json.loads(src.read_text(encoding="utf-8")).get("time", "")
    except (OSError, ValueError, AttributeError):
        return False
    return str(ours) >= str(theirs)
