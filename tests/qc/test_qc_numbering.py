"""QC page and numbering status: badges, check-first sorting and filtering, the alternative drawn."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from hca_disc_label.conventions import disc_name
from hca_disc_label.qc.page import render_index
from hca_disc_label.qc.report import find_entry, write_qc_entry


def _prepared(height=120, width=80):
    rng = np.random.default_rng(0)
    raw = rng.random((height, width)).astype(np.float32)
    raw[:, width // 2 - 3: width // 2 + 3] += 2.0
    return SimpleNamespace(centre_raw=raw, geometry=SimpleNamespace(spacing_mm=1.0, x_center=12))


class _Disc:
    def __init__(self, value, row, col, confidence=0.9):
        self.value, self.name, self.confidence, self.model_rc = value, disc_name(value), confidence, (row, col)

    def to_json(self):
        return {"value": self.value, "name": self.name, "confidence": self.confidence}


def _block(status, conf, offset=-1, question="is the lowest disc L5/S1 or L4/L5?", hint="-initz 40,25"):
    return {"confidence": conf, "status": status, "alternative": {"offset": offset, "confidence": 1 - conf},
            "anchors": [], "threshold": 0.95, "source": "network", "question": question, "hint": hint}


def _write(qc: Path, name: str, block, discs=None):
    src = qc.parent / "in" / name
    discs = discs or [_Disc(24, 30, 40), _Disc(25, 70, 42)]
    write_qc_entry(qc, src, src.with_name(name.replace(".nii.gz", "_label-discs_dlabel.nii.gz")), _prepared(),
                   discs, model="m 1", contrast="t2", numbering=block)
    return src


def test_record_and_page_show_status_and_confidence(tmp_path):
    qc = tmp_path / "qc"
    a = _write(qc, "sub-01_T2w.nii.gz", _block("ok", 0.991))
    b = _write(qc, "sub-02_T2w.nii.gz", _block("check", 0.58))
    _write(qc, "sub-03_T2w.nii.gz", None)  # an older record / a model without the block
    assert find_entry(qc, a)["numbering"]["status"] == "ok"
    assert find_entry(qc, b)["numbering"]["confidence"] == 0.58
    page = (qc / "index.html").read_text()
    assert "numbering check 0.58" in page and "numbering ok 0.99" in page
    assert "is the lowest disc L5/S1 or L4/L5?" in page and "-initz 40,25" in page
    assert "<b>1</b> numbering check" in page


def test_alternative_numbering_is_drawn_on_the_picture(tmp_path):
    from PIL import Image

    qc = tmp_path / "qc"
    plain = _write(qc, "sub-01_T2w.nii.gz", None)
    doubt = _write(qc, "sub-02_T2w.nii.gz", _block("check", 0.5))
    with Image.open(qc / find_entry(qc, plain)["png"]) as p1, Image.open(qc / find_entry(qc, doubt)["png"]) as p2:
        a, b = np.asarray(p1.convert("RGB")).astype(int), np.asarray(p2.convert("RGB")).astype(int)
    assert a.shape == b.shape
    # the alternative names are drawn in their own colour (cyan) left of the markers
    cyan = lambda img: ((img[..., 0] < 90) & (img[..., 1] > 180) & (img[..., 2] > 180)).sum()  # noqa: E731
    assert cyan(b) > 50 + cyan(a)


def test_render_index_orders_check_first_on_request():
    records = [{"id": f"i{k}", "subject": f"sub-{k}", "image": f"sub-{k}_T2w.nii.gz", "discs": [{"name": "L5/S1"}],
                "png": "", "numbering": blk} for k, blk in enumerate([_block("ok", 0.99), _block("check", 0.4), None])]
    page = render_index(records)
    assert "sortBy('numbering')" in page and "checkOnly(this.checked)" in page
    assert 'data-numbering="0.4"' in page and 'data-status="check"' in page


CHROMIUM = "/usr/bin/chromium"


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Chromium (apt-get install -y chromium)")
def test_check_first_and_filter_in_headless_chromium(tmp_path):
    from tests.integration.browser import Browser

    qc = tmp_path / "qc"
    _write(qc, "sub-01_T2w.nii.gz", _block("ok", 0.99))
    _write(qc, "sub-02_T2w.nii.gz", _block("check", 0.81))
    _write(qc, "sub-03_T2w.nii.gz", _block("ok", 0.97))
    _write(qc, "sub-04_T2w.nii.gz", _block("check", 0.42))
    rows_js = "[...document.querySelectorAll('tbody tr')].filter(r => !r.hidden).map(r => r.dataset.image)"
    with Browser(CHROMIUM, width=1200, height=900) as browser:
        browser.open((qc / "index.html").as_uri(), settle_s=0.3)
        assert browser.evaluate(rows_js)[0] == "sub-01_T2w.nii.gz"  # by subject until asked
        text = browser.evaluate("document.body.innerText")
        assert "numbering check 0.42" in text and "numbering ok 0.99" in text
        browser.evaluate("document.getElementById('checkfirst').click()")
        assert browser.evaluate(rows_js) == ["sub-04_T2w.nii.gz", "sub-02_T2w.nii.gz", "sub-03_T2w.nii.gz",
                                             "sub-01_T2w.nii.gz"]
        browser.evaluate("const c = document.getElementById('checkonly'); c.checked = true; "
                         "c.dispatchEvent(new Event('change'))")
        assert browser.evaluate(rows_js) == ["sub-04_T2w.nii.gz", "sub-02_T2w.nii.gz"]
        record = json.loads((qc / "entries").glob("sub-04*.json").__next__().read_text())
        assert record["numbering"]["status"] == "check"
