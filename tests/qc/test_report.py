"""QC report: entries, flags, the index page, parallel writers, merging, browser rendering."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from hca_disc_label.inference.labelling import DiscRecord
from hca_disc_label.qc import report
from hca_disc_label.qc.page import render_index
from hca_disc_label.qc.report import (
    add_failure_entry,
    entry_id,
    find_entry,
    load_records,
    merge_qc,
    rebuild_index,
    write_qc_entry,
)

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "qc_screenshot.sh"
CHROMIUM = "/usr/bin/chromium"


def _prepared(height: int = 120, width: int = 80, seed: int = 0) -> SimpleNamespace:
    """Stand-in for a PreparedSlab: a model-frame slab and its geometry."""
    rng = np.random.default_rng(seed)
    raw = rng.random((height, width)).astype(np.float32)
    raw[:, width // 2 - 3: width // 2 + 3] += 2.0  # a bright "canal" so the picture has structure
    return SimpleNamespace(centre_raw=raw, geometry=SimpleNamespace(spacing_mm=1.0, x_center=12))


def _disc(value: int, row: float, col: float, confidence: float) -> DiscRecord:
    from hca_disc_label.conventions import disc_name

    return DiscRecord(value=value, name=disc_name(value), voxel=(1, 2, 3), mm=(1.0, 2.0, 3.0),
                      confidence=confidence, model_rc=(row, col))


def _entry(qc: Path, name: str, discs=None, folder: Path | None = None, rebuild: bool = True) -> Path:
    src = (folder or qc.parent / "in") / name
    discs = discs if discs is not None else [_disc(3, 20, 40, 0.9), _disc(4, 40, 42, 0.8)]
    write_qc_entry(qc, src, src.with_name(name.replace(".nii.gz", "_label-discs_dlabel.nii.gz")),
                   _prepared(), discs, model="tiny 0.0.1", contrast="t2", rebuild=rebuild)
    return src


def test_entry_records_flags_and_picture(tmp_path):
    from PIL import Image

    qc = tmp_path / "qc"
    discs = [_disc(3, 20, 40, 0.9), _disc(4, 40, 42, 0.2), _disc(6, 80, 79.5, 0.7)]  # C4/C5 missing
    src = _entry(qc, "sub-07_T2w.nii.gz", discs)
    rec = find_entry(qc, src)
    assert rec["subject"] == "sub-07" and rec["image"] == "sub-07_T2w.nii.gz"
    assert rec["missing_inside_range"] == ["C4/C5"] and rec["low_confidence"] == ["C3/C4"]
    assert [d["name"] for d in rec["discs"]] == ["C2/C3", "C3/C4", "C5/C6"]
    png = qc / rec["png"]
    with Image.open(png) as img:
        assert img.height == report.PNG_HEIGHT_PX
        assert abs(img.width / img.height - 80 / 120) < 0.02  # aspect kept
        pixels = np.asarray(img.convert("RGB")).astype(int)
    reddish = (pixels[..., 0] > 200) & (pixels[..., 1] < 90) & (pixels[..., 2] < 90)
    yellowish = (pixels[..., 0] > 200) & (pixels[..., 1] > 180) & (pixels[..., 2] < 60)
    assert reddish.sum() > 50 and yellowish.sum() > 50  # confident and low-confidence discs drawn
    index = (qc / "index.html").read_text()
    assert "missing: C4/C5" in index and "low confidence: C3/C4" in index
    assert "sortBy('subject')" in index


def test_entry_ids_are_stable_and_distinct_across_folders(tmp_path):
    a = tmp_path / "site1" / "sub-01" / "anat" / "sub-01_T2w.nii.gz"
    b = tmp_path / "site2" / "sub-01" / "anat" / "sub-01_T2w.nii.gz"
    assert entry_id(a) == entry_id(Path(str(a)))
    assert entry_id(a) != entry_id(b) and entry_id(a).startswith("sub-01_T2w-")


def test_index_sorted_by_subject_and_failures_listed(tmp_path):
    qc = tmp_path / "qc"
    for name in ["sub-10_T2w.nii.gz", "sub-02_T2w.nii.gz", "sub-01_T1w.nii.gz"]:
        _entry(qc, name)
    bad = tmp_path / "in" / "sub-05_T2w.nii.gz"
    add_failure_entry(qc, bad, "corrupt <gzip> & truncated")
    records = load_records(qc)
    assert [r["subject"] for r in records] == ["sub-01", "sub-02", "sub-05", "sub-10"]
    index = (qc / "index.html").read_text()
    rows = [line for line in index.splitlines() if line.startswith("<tr ")]
    assert len(rows) == 4 and 'class="fail"' in rows[2]
    assert "corrupt &lt;gzip&gt; &amp; truncated" in index  # escaped
    assert "4</b> images: <b>3</b> ok, <b>0</b> flagged, <b>1</b> failed" in index


def test_failure_replaces_an_earlier_success_and_vice_versa(tmp_path):
    qc = tmp_path / "qc"
    src = _entry(qc, "sub-01_T2w.nii.gz")
    png = qc / find_entry(qc, src)["png"]
    assert png.is_file()
    add_failure_entry(qc, src, "no disc found")
    assert len(load_records(qc)) == 1 and find_entry(qc, src)["failed"] == "no disc found"
    assert not png.exists()
    _entry(qc, "sub-01_T2w.nii.gz")
    assert len(load_records(qc)) == 1 and not find_entry(qc, src).get("failed")


def test_entries_without_rebuild_only_change_when_the_page_is_built(tmp_path):
    qc = tmp_path / "qc"
    _entry(qc, "sub-01_T2w.nii.gz", rebuild=False)
    add_failure_entry(qc, tmp_path / "sub-02_T2w.nii.gz", "bad", rebuild=False)
    assert not (qc / "index.html").exists()
    assert not hasattr(report, "_deferred")  # no process-wide switch any more
    rebuild_index(qc)
    assert (qc / "index.html").read_text().count("data-subject=") == 2


_WRITER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from types import SimpleNamespace
    import numpy as np
    from hca_disc_label.qc.report import write_qc_entry


    class Disc:  # what write_qc_entry reads from a DiscRecord (lighter to import)
        value, name, confidence, model_rc = 3, "C2/C3", 0.9, (10.0, 10.0)

        def to_json(self):
            return {"value": 3, "name": "C2/C3", "confidence": 0.9}


    qc, go, k = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
    prepared = SimpleNamespace(centre_raw=np.random.default_rng(k).random((60, 40)).astype(np.float32),
                               geometry=SimpleNamespace(spacing_mm=1.0, x_center=5))
    disc = Disc()
    while not go.exists():  # start together: maximum contention on the index
        time.sleep(0.01)
    for j in range(3):
        src = qc.parent / "in" / f"sub-{k:02d}" / f"sub-{k:02d}_run-{j}_T2w.nii.gz"
        write_qc_entry(qc, src, src.with_suffix(".lab.nii.gz"), prepared, [disc])
""")


def test_parallel_writers_never_lose_entries(tmp_path):
    qc, go = tmp_path / "qc", tmp_path / "go"
    script = tmp_path / "writer.py"
    script.write_text(_WRITER)
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen([sys.executable, str(script), str(qc), str(go), str(k)], env=env,
                              stderr=subprocess.PIPE, text=True) for k in range(8)]
    time.sleep(0.5)
    go.touch()
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    assert len(load_records(qc)) == 24
    index = (qc / "index.html").read_text()
    assert index.count("data-subject=") == 24
    assert not [p for p in (qc / "entries").iterdir() if p.name.startswith(".")]  # no temp files left


def test_merge_qc_unions_folders_and_keeps_the_newest(tmp_path):
    a, b, target = tmp_path / "a", tmp_path / "b", tmp_path / "merged"
    shared = tmp_path / "in" / "sub-01_T2w.nii.gz"
    _entry(a, "sub-01_T2w.nii.gz")
    _entry(b, "sub-02_T2w.nii.gz")
    add_failure_entry(b, shared, "newer failure")
    # Make b's record of the shared image newer than a's by its recorded time.
    rec = json.loads((b / "entries" / f"{entry_id(shared)}.json").read_text())
    rec["time"] = "2999-01-01T00:00:00+00:00"
    (b / "entries" / f"{entry_id(shared)}.json").write_text(json.dumps(rec))
    merge_qc([b, a], target)
    records = load_records(target)
    assert sorted(r["subject"] for r in records) == ["sub-01", "sub-02"]
    assert find_entry(target, shared)["failed"] == "newer failure"
    assert (target / "index.html").read_text().count("data-subject=") == 2


def test_render_index_of_nothing_is_a_valid_page():
    page = render_index([])
    assert page.startswith("<!DOCTYPE html>") and "<b>0</b> images" in page


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Chromium (apt-get install -y chromium)")
def test_qc_index_renders_in_headless_chromium(tmp_path):
    from PIL import Image

    qc = tmp_path / "qc"
    for k, name in enumerate(["sub-01_T2w.nii.gz", "sub-02_T1w.nii.gz"]):
        _entry(qc, name, [_disc(3 + k, 20, 40, 0.9), _disc(5 + k, 60, 45, 0.3)])
    add_failure_entry(qc, tmp_path / "in" / "sub-03_T2w.nii.gz", "corrupt or truncated image data")
    out = tmp_path / "shot.png"
    proc = subprocess.run(["bash", str(SCRIPT), str(qc), str(out), "1200x900"], capture_output=True,
                          text=True, timeout=120, env={**os.environ, "CHROMIUM": CHROMIUM})
    assert proc.returncode == 0, proc.stderr
    assert out.stat().st_size > 20_000
    with Image.open(out) as img:
        assert img.size == (1200, 900)
        rgb = np.asarray(img.convert("RGB"))
    colours = np.unique(rgb.reshape(-1, 3), axis=0)
    assert len(colours) > 200  # text, badges and thumbnails, not a blank page
    # the thumbnails were loaded: the slab's dark picture background covers a good area
    dark = (rgb.max(axis=-1) < 40).mean()
    assert dark > 0.05
    if os.environ.get("HCA_KEEP_QC_SCREENSHOT"):
        shutil.copyfile(out, os.environ["HCA_KEEP_QC_SCREENSHOT"])


def test_screenshot_script_rejects_a_missing_index(tmp_path):
    proc = subprocess.run(["bash", str(SCRIPT), str(tmp_path / "nothing")], capture_output=True, text=True,
                          timeout=30)
    assert proc.returncode == 2 and "no such file" in proc.stderr


def test_page_table_fits_a_1400_pixel_window():
    """Every column has a maximum width (content wraps inside it); together with paddings and
    margins they fit 1400 px, and no cell refuses to wrap (only the one-word headers)."""
    import re

    from hca_disc_label.qc import page

    widths = page.COLUMN_MAX_PX
    total = sum(widths.values()) + len(widths) * page.CELL_EXTRA_PX + page.PAGE_MARGIN_PX
    assert total <= page.FIT_WIDTH_PX == 1400
    long = "sub-averyveryverylongsubjectname_ses-baselinescan_acq-sagittalhighres_run-01_T2w.nii.gz"
    records = [
        {"id": "a", "subject": "sub-01", "image": long, "input": "/x/" + long, "discs": [{"name": "C2/C3"}] * 20,
         "missing_inside_range": ["T5/T6", "T6/T7"], "low_confidence": ["L5/S1"], "contrast": "t2",
         "model": "hca-compact 0.4.0", "slice": 12, "png": "entries/a.png",
         "numbering": {"status": "check", "confidence": 0.69, "alternative": {"offset": 1, "confidence": 0.3},
                       "question": "is the highest disc C1/C2 or C2/C3?", "hint": "-initz 72,2"}},
        {"id": "b", "subject": "sub-02", "image": "b.nii.gz", "failed": "x" * 400, "discs": []},
    ]
    text = page.render_index(records)
    style = text.split("<style>")[1].split("</style>")[0]
    assert not re.findall(r"td[^{}]*\{[^}]*nowrap", style)
    used = set(re.findall(r'<td class="(\w+)"', text))
    assert used <= set(widths) and {"img", "num", "labels", "thumb"} <= used
    for cls in widths:
        assert f"td.{cls}{{max-width:{widths[cls]}px}}" in style or f"td.{cls}{{width:{widths[cls]}px}}" in style
    assert "td.thumb img{max-width:" in style and "overflow-wrap:anywhere" in style
