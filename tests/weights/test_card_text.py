"""The readable ``models info`` text and other user-facing texts (issue 18 item 7)."""

from __future__ import annotations

import re

from hca_disc_label.cli.main import main
from hca_disc_label.weights.card_text import WIDTH, channel_summary, compact, format_model_info
from tests.conftest import REPO


def test_models_info_is_readable(capsys):
    assert main(["models", "info", "hca-compact"]) == 0
    out = capsys.readouterr().out
    prose = [line for line in out.splitlines() if "sha256" not in line]  # file rows: a 64-digit hash
    assert max(len(line) for line in prose) <= WIDTH
    channels = next(line for line in out.splitlines() if line.strip().startswith("channels:"))
    assert "?" not in channels and "25 L5/S1" in channels
    assert re.search(r"numbering: +status 'check' below a confidence of 0\.\d+", out)  # the calibrated cut
    assert "validation:" in out and "(the full card: hca_label models info NAME[@VERSION] -json)" in out


def test_channels_are_named_from_the_conventions():
    text = channel_summary([2, 3, 4, 5, 102, 125, 126, 999])
    assert text.startswith("8: discs 2 C1/C2 .. 5 C4/C5 (4)")
    assert "landmarks 102 C2 body, 125 S1 body, 126 S1/S2 (never written)" in text and "unknown 999 ?" in text
    assert channel_summary([3, 5]) == "2: discs 3 C2/C3, 5 C4/C5"


def test_long_blocks_are_summarised():
    assert compact({"subjects": list(range(40)), "lr": 0.000123456, "nested": {"a": {"b": 1}}}) == \
        "subjects=[40 items], lr=0.0001235, nested=(a={1 keys})"
    report = {"ground_truth": "bids", "overall": {"n_cases": 8, "n_gt": 53, "identity_accuracy_pct": 90.566,
                                                  "paper_dtt_mean_mm": 1.8527, "paper_dtt_median_mm": 1.7321,
                                                  "paper_fnr_pct": 0.0, "paper_fpr_pct": 11.32},
              "by_contrast": {"T2": {"n_cases": 7}}, "cases": [{"x": 1}] * 500}
    info = {"name": "m", "version": "1.0.0", "status": "local folder", "path": "/m", "registry": None,
            "card": {"validation": {"bids": report, "internal": {"score_mm": 1.0264}}, "files": {}},
            "numbering": None}
    text = format_model_info(info)
    assert "identity 90.6%; DTT 1.85mm mean, 1.73mm median; FNR 0.0%, FPR 11.3%" in text.replace("\n" + " " * 17, " ")
    assert "T2:" in text and "internal:" in text and "score_mm=1.026" in text
    assert len(text) < 2000 and max(len(line) for line in text.splitlines()) <= WIDTH


def test_no_stale_model_names_in_help_and_readme(capsys):
    assert main(["-h"]) == 0
    help_text = " ".join(capsys.readouterr().out.split())
    assert "0.3.0" not in help_text and "calibrated cut, see hca_label models info" in help_text
    assert main(["evaluate", "-h"]) == 0
    evaluate_help = capsys.readouterr().out
    assert "hca-net-t2" not in evaluate_help and "-model hca-compact" in evaluate_help
    readme = (REPO / "README.md").read_text()
    numbering_line = next(line for line in readme.splitlines() if "-numbering-thr 0.9" in line)
    assert "0.93" not in numbering_line and "hca_label models info" in numbering_line
