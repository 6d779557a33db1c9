"""Our QC entry in SCT's QC report: the record, the pictures, SCT's page in a real browser."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from hca_disc_label.qc import sct_qc, sct_view
from tests.integration.browser import Browser, BrowserError, find_chromium

CASE = ("sub-errsm30", "sub-errsm30_T2w")
CASES = (CASE, ("sub-pam50", "sub-pam50_T2w"))


def _files(shared_data: Path, subject: str, stem: str) -> tuple[Path, Path]:
    bids = shared_data / "bids"
    return (bids / subject / "anat" / f"{stem}.nii.gz",
            bids / "derivatives" / "labels" / subject / "anat" / f"{stem}_label-discs_dlabel.nii.gz")


def _entry(qc: Path, shared_data: Path, case=CASE, **kw) -> dict:
    image, labels = _files(shared_data, *case)
    path = sct_qc.write_sct_qc_entry(qc, image, labels, command_line="/venv/bin/hca_label -i x -c t2", **kw)
    return json.loads(path.read_text(encoding="utf-8"))


def test_record_has_sct_keys_and_names_our_command(tmp_path, shared_data):
    rec = _entry(tmp_path / "qc", shared_data)
    assert tuple(rec) == sct_qc.RECORD_KEYS
    assert rec["command"] == "hca_label" and rec["plane"] == "Sagittal"
    assert rec["cmdline"] == "hca_label -i x -c t2"  # the program path cut to the command name
    # dataset / subject / contrast from <dataset>/<subject>/<contrast>/<file>, as SCT derives them
    assert (rec["dataset"], rec["subject"], rec["contrast"]) == ("bids", "sub-errsm30", "anat")
    assert Path(rec["path"], rec["inputFile"]) == _files(shared_data, *CASE)[0]
    assert rec["rank"] == "" and rec["qc"] == ""
    dt.datetime.strptime(rec["date"], "%Y-%m-%d %H:%M:%S.%f")
    folder = Path(rec["backgroundImage"]).parent
    assert folder.parts[:4] == ("bids", "sub-errsm30", "anat", "hca_label")
    assert folder.name == dt.datetime.strptime(rec["date"], "%Y-%m-%d %H:%M:%S.%f").strftime("%Y_%m_%d_%H%M%S.%f")
    assert Path(rec["overlayImage"]).parent == folder


def test_subject_and_dataset_overrides(tmp_path, shared_data):
    rec = _entry(tmp_path / "qc", shared_data, subject="S01", dataset="site-A")
    assert (rec["dataset"], rec["subject"]) == ("site-A", "S01")
    assert rec["backgroundImage"].startswith("site-A/S01/anat/hca_label/")


def test_pictures_same_size_overlay_transparent_with_marks_at_the_discs(tmp_path, shared_data):
    qc = tmp_path / "qc"
    image, labels = _files(shared_data, *CASE)
    rec = _entry(qc, shared_data)
    with Image.open(qc / rec["backgroundImage"]) as b, Image.open(qc / rec["overlayImage"]) as o:
        assert b.size == o.size and b.width == sct_view.WIDTH_PX
        assert o.mode == "RGBA"
        back, alpha = np.asarray(b.convert("L")), np.asarray(o)[..., 3]
    assert back.std() > 20  # anatomy, not a blank picture
    assert (alpha == 0).mean() > 0.9  # the overlay leaves the anatomy visible ...
    view = sct_view.view_from_files(image, labels)
    sy, sx = alpha.shape[0] / view.image.shape[0], alpha.shape[1] / view.image.shape[1]
    for _v, _name, row, col, _c in view.discs:  # ... and marks every disc where it is
        y, x = int((row + 0.5) * sy), int((col + 0.5) * sx)
        assert alpha[max(0, y - 10): y + 10, max(0, x - 10): x + 10].max() == 255


def test_view_from_slab_keeps_the_model_frame(tmp_path):
    from types import SimpleNamespace

    raw = np.zeros((100, 40), np.float32)
    raw[:, 20] = 1
    rec = SimpleNamespace(value=4, name="C3/C4", model_rc=(30.0, 20.0), confidence=0.2)
    view = sct_view.view_from_slab(raw, 0.5, [rec])
    assert view.pixel_mm == (0.5, 0.5) and view.discs == ((4, "C3/C4", 30.0, 20.0, 0.2),)
    w, h = sct_view.render_pictures(view, tmp_path / "b.png", tmp_path / "o.png")
    assert (w, h) == (sct_view.WIDTH_PX, 5 * sct_view.WIDTH_PX // 2)  # proportions kept (50 x 20 mm)
    rgba = np.asarray(Image.open(tmp_path / "o.png"))
    yellow = (rgba[..., 0] > 200) & (rgba[..., 1] > 180) & (rgba[..., 2] < 60) & (rgba[..., 3] == 255)
    assert yellow.any()  # a low-confidence disc is yellow, as in our own page


def test_a_doubtful_count_enters_sct_report_failed_and_says_so(tmp_path, shared_data):
    """Numbering ``check``: qc = ❌ under the row id SCT's page computes (SHA-1 of path:cmdline:date),
    so "Save Fails" lists it; the overlay's top line names the doubt. An ``ok`` count stays unmarked."""
    import hashlib

    qc = tmp_path / "qc"
    doubt = {"status": "check", "confidence": 0.69, "hint": "-initz 72,2"}
    rec = _entry(qc, shared_data, numbering=doubt)
    assert rec["qc"] == sct_qc.FAILED_MARK == "\u274c" and rec["rank"] == ""
    assert rec["id"] == hashlib.sha1(f"{rec['path']}:{rec['cmdline']}:{rec['date']}".encode()).hexdigest()
    assert tuple(k for k in rec if k != "id") == sct_qc.RECORD_KEYS
    ok = _entry(qc, shared_data, numbering={"status": "ok", "confidence": 0.99})
    assert ok["qc"] == "" and "id" not in ok
    assert sct_view.numbering_doubt(doubt) == "NUMBERING CHECK 0.69: -initz 72,2"
    cyan = []
    for r in (rec, ok):
        rgba = np.asarray(Image.open(qc / r["overlayImage"]))[:40]
        cyan.append(((rgba[..., 0] < 60) & (rgba[..., 1] > 200) & (rgba[..., 2] > 200) & (rgba[..., 3] == 255)).sum())
    assert cyan[0] > 50 and cyan[1] == 0  # the doubt line, on the doubtful entry only


def test_entries_of_one_instant_never_collide(tmp_path, shared_data):
    qc = tmp_path / "qc"
    when = dt.datetime(2026, 1, 2, 3, 4, 5, 6)
    recs = [_entry(qc, shared_data, now=when) for _ in range(3)]
    assert len({r["backgroundImage"] for r in recs}) == 3
    assert len(list((qc / "_json").glob("*.json"))) == 3
    assert len(sct_qc.records_of(qc)) == 3


def test_own_page_gives_index_html_to_sct(tmp_path):
    qc = tmp_path / "qc"
    assert sct_qc.own_pages(qc) == [qc / "index.html", qc / "hca_label.html"]
    (qc / "js").mkdir(parents=True)
    (qc / "js" / "datasets.js").write_text("window.SCT_QC_UUID = ''\nwindow.SCT_QC_DATASETS = []\n")
    assert sct_qc.own_pages(qc) == [qc / "hca_label.html"]


def _sct_assets(sct) -> Path:
    return sct.root / "spinalcordtoolbox" / "reports" / "assets"


def _lay_out_sct_report(sct, qc: Path) -> None:
    """Build SCT's page the way SCT does after each entry: its assets copied in, then its own
    refresh script (shipped in the report's py/ folder, run from there) lists ``_json``."""
    shutil.copytree(_sct_assets(sct), qc, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("__pycache__", "__init__.py"))
    proc = subprocess.run([sys.executable, "refresh_qc_entries.py"], cwd=qc / "py", capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


def _datasets(qc: Path) -> tuple[str, list]:
    text = (qc / "js" / "datasets.js").read_text(encoding="utf-8")
    uuid = text.split("window.SCT_QC_UUID = '", 1)[1].split("'", 1)[0]
    return uuid, json.loads(text.split("window.SCT_QC_DATASETS = ", 1)[1].rstrip().rstrip(";"))


def test_refresh_lists_new_entries_like_sct_and_keeps_the_report_id(tmp_path, shared_data, sct):
    qc = tmp_path / "qc"
    assert sct_qc.refresh_sct_report(qc) is None  # no SCT page: nothing to refresh
    _entry(qc, shared_data)
    _lay_out_sct_report(sct, qc)
    uuid, listed = _datasets(qc)
    assert len(listed) == 1 and uuid
    _entry(qc, shared_data, case=CASES[1])  # refresh=True: our writer re-lists at once
    ours_uuid, ours = _datasets(qc)
    subprocess.run([sys.executable, "refresh_qc_entries.py"], cwd=qc / "py", check=True, timeout=60)
    sct_uuid, theirs = _datasets(qc)
    assert ours_uuid == sct_uuid == uuid  # reviewers' marks (kept per report id) survive
    assert ours == theirs and len(ours) == 2
    (qc / "js" / "datasets.js").write_text("var somethingElse = 1;\n")
    assert sct_qc.refresh_sct_report(qc) is None  # an unknown format is left alone
    assert (qc / "js" / "datasets.js").read_text() == "var somethingElse = 1;\n"


def test_refresh_waits_for_the_lock_sct_holds(tmp_path, shared_data, sct):
    """SCT's QC writers serialise on a portalocker semaphore named after the folder: ours too."""
    qc = tmp_path / "qc"
    _entry(qc, shared_data)
    _lay_out_sct_report(sct, qc)
    real = qc.resolve()
    holder = textwrap.dedent(f"""
        import hashlib, sys, time, portalocker
        name = "sct_qc-{real.name}-" + hashlib.md5({str(real)!r}.encode()).hexdigest()
        s = portalocker.BoundedSemaphore(maximum=1, name=name, timeout=60, check_interval=0.1)
        s.acquire(); print("held", flush=True); time.sleep(1.5)
        print(time.time(), flush=True); s.release()
    """)
    proc = subprocess.Popen([sys.executable, "-c", holder], stdout=subprocess.PIPE, text=True, env=sct.env)
    try:
        assert proc.stdout.readline().strip() == "held"
        assert sct_qc.refresh_sct_report(qc) is not None
        done = time.time()
        released = float(proc.stdout.readline())
        assert done >= released  # it waited for SCT's holder to let go
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == 0


def _chromium() -> str:
    binary = find_chromium()
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("Chromium is needed in CI (.ci/run installs it: apt-get install chromium)")
        pytest.skip("needs Chromium (apt-get install -y chromium)")
    return binary


ROWS_JS = "[...document.querySelectorAll('tbody tr')].map(r => r.innerText)"
LOADED_JS = """
(async () => {
  const imgs = [...document.images].filter(i => (i.getAttribute('src') || '').includes('/hca_label/'));
  await Promise.all(imgs.map(i => i.complete ? null : new Promise(r => { i.onload = i.onerror = r; })));
  return imgs.map(i => ({src: i.getAttribute('src'), w: i.naturalWidth, h: i.naturalHeight}));
})()
"""


def open_report(browser: Browser, index: Path, min_rows: int, attempts: int = 4) -> list[str]:
    """Open SCT's report and return its table rows (the text of each).

    SCT's page renders its table rows lazily (a virtualised list); in headless Chromium about
    one load in eight leaves the table body sized but empty, whatever the wait, and a reload
    renders it. So: wait up to 15 s, reload if still empty, a few times.
    """
    browser.open(index.as_uri())
    for attempt in range(attempts):
        try:
            return browser.wait_for(f"(() => {{ const r = {ROWS_JS}; return r.length >= {min_rows} ? r : null; }})()",
                                    15)
        except BrowserError:
            if attempt == attempts - 1:
                raise
            browser.evaluate("location.reload()")
            browser.wait_for("document.readyState === 'complete'", 30)
    raise AssertionError("unreachable")


def select_row(browser: Browser, text: str) -> list[dict]:
    """Click the first table row containing ``text`` and return our pictures once loaded."""
    clicked = browser.evaluate(
        f"(() => {{ const r = [...document.querySelectorAll('tbody tr')].find(r => r.innerText.includes({text!r}));"
        " if (!r) return false; r.click(); return true; })()")
    assert clicked, f"no row with {text!r}"
    browser.wait_for("[...document.images].some(i => (i.getAttribute('src') || '').includes('/hca_label/'))", 60)
    return browser.evaluate(LOADED_JS)


def test_sct_report_page_lists_our_entry_and_loads_its_pictures(tmp_path, shared_data, sct):
    qc = tmp_path / "qc"
    recs = [_entry(qc, shared_data, case=case) for case in CASES]
    _lay_out_sct_report(sct, qc)
    with Browser(_chromium()) as browser:
        rows = open_report(browser, qc / "index.html", 2)
        assert browser.evaluate("document.title") == "SCT QC Report"  # SCT's page, not ours
        for rec in recs:
            assert any(rec["inputFile"] in row and rec["subject"] in row for row in rows), rows
        for rec in recs:
            pictures = select_row(browser, rec["inputFile"])
            srcs = {p["src"] for p in pictures}
            assert {rec["backgroundImage"], rec["overlayImage"]} <= srcs, srcs
            with Image.open(qc / rec["backgroundImage"]) as b:
                assert all((p["w"], p["h"]) == b.size for p in pictures)  # decoded: they loaded
        # the right-arrow key (SCT's "Toggle Overlay") shows our overlay over the anatomy
        browser.evaluate("document.body.dispatchEvent(new KeyboardEvent('keydown', "
                         "{key: 'ArrowRight', code: 'ArrowRight', bubbles: true}))")
        browser.wait_for("[...document.images].some(i => (i.getAttribute('src') || '').includes("
                         "'/hca_label/') && i.getAttribute('src').endsWith('overlay_img.png') && "
                         "getComputedStyle(i).opacity === '1')", 30)
        text = browser.evaluate("document.body.innerText")
        assert "hca_disc_label" in text and "hca_label -i x -c t2" in text  # version and command shown
        shot = browser.screenshot(tmp_path / "sct_report.png")
    assert shot.stat().st_size > 20_000
    if os.environ.get("HCA_KEEP_SCT_QC_SCREENSHOT"):
        shutil.copyfile(shot, os.environ["HCA_KEEP_SCT_QC_SCREENSHOT"])


def test_merge_copies_records_with_their_pictures_once(tmp_path, shared_data):
    a, b, target = tmp_path / "job1", tmp_path / "job2", tmp_path / "merged"
    rec_a = _entry(a, shared_data)
    rec_b = _entry(b, shared_data, case=CASES[1])
    assert sct_qc.merge_sct_entries([a, b], target) == 2
    assert sct_qc.merge_sct_entries([a, b], target) == 0  # already there: kept, not doubled
    merged = sct_qc.records_of(target)
    assert sorted(r["inputFile"] for r in merged) == sorted([rec_a["inputFile"], rec_b["inputFile"]])
    for rec in merged:
        assert (target / rec["backgroundImage"]).is_file() and (target / rec["overlayImage"]).is_file()


def test_remove_undoes_only_this_process_last_entry(tmp_path, shared_data):
    qc = tmp_path / "qc"
    image, _ = _files(shared_data, *CASE)
    first = _entry(qc, shared_data)
    second = _entry(qc, shared_data)
    assert sct_qc.remove_sct_entry(qc, image)
    left = sct_qc.records_of(qc)
    assert [r["backgroundImage"] for r in left] == [first["backgroundImage"]]
    assert not (qc / second["backgroundImage"]).parent.exists()
    assert not sct_qc.remove_sct_entry(qc, image)  # nothing more of ours to undo
    assert len(sct_qc.records_of(qc)) == 1


def test_batch_run_writes_one_sct_entry_per_image_and_lists_them_in_sct_page(tmp_path, shared_data, sct,
                                                                            isolated_env):
    """hca_label on a dataset (two workers): every image's SCT-style entry, SCT's page re-listed once."""
    data = tmp_path / "ds"
    for subject, stem in CASES:
        image, _ = _files(shared_data, subject, stem)
        (data / subject / "anat").mkdir(parents=True)
        shutil.copyfile(image, data / subject / "anat" / image.name)
    qc = tmp_path / "qc"
    _entry(qc, shared_data)  # an earlier entry, then SCT's page laid out as SCT leaves it
    _lay_out_sct_report(sct, qc)
    proc = subprocess.run([str(Path(sys.executable).with_name("hca_label")), "-i", str(data), "-j", "2",
                           "-qc", str(qc), "-v", "0"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    ours = [r for r in sct_qc.records_of(qc) if r["dataset"] == "ds"]
    assert sorted((r["subject"], r["inputFile"]) for r in ours) == sorted(
        (subject, f"{stem}.nii.gz") for subject, stem in CASES)
    _, listed = _datasets(qc)
    assert len(listed) == 3  # the batch's end re-listed SCT's page with both new entries
    assert "SCT QC Report" in (qc / "index.html").read_text()  # left to SCT
    assert "hca_disc_label QC" in (qc / "hca_label.html").read_text()
