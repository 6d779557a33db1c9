"""The fold models kept in benchmarks/fold_models: valid model folders, honest about their fold,
and usable by the real-sacrum benchmark without an ONNX file (torch backend)."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from hca_disc_label.weights.card import load_model_folder

ROOT = Path(__file__).resolve().parents[1]
FOLDS = ROOT / "benchmarks" / "fold_models"
FOLD_SUBJECTS = {"A": {"sub-zuk02", "sub-zuk07", "sub-zuk09", "sub-zuk20"},
                 "B": {"sub-zuk04", "sub-zuk08", "sub-zuk12", "sub-zuk23"}}
MODELS = sorted(p for p in FOLDS.iterdir() if p.is_dir()) if FOLDS.is_dir() else []


def test_there_are_fold_models_for_both_folds():
    assert {m.name[4] for m in MODELS} == {"A", "B"}


@pytest.mark.parametrize("folder", MODELS, ids=[m.name for m in MODELS])
def test_fold_model_is_a_verified_folder_that_held_out_its_fold(folder):
    model = load_model_folder(folder)  # checks the weights' size and sha256 against model.json
    assert "onnx" not in model.card["files"] and (folder / "weights.pt").is_file()
    command = model.card["training_data"]["command"]
    held_out = set(re.search(r"-holdout (\S+)", command).group(1).split(","))
    zuk = {s for s in held_out if s.startswith("sub-zuk")}
    assert zuk == FOLD_SUBJECTS[folder.name[4]]  # the folder's letter names the fold it never saw
    assert f"-seed {model.card['training_data']['seed']}" in command


def test_real_sacrum_benchmark_scores_a_fold_model_with_torch(shared_data, tmp_path, capsys):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        module = __import__("real_sacrum")
        argv = ["--model", f"{FOLDS / 'foldB28'}=sub-zuk08", "--data", str(shared_data / "bids-train"),
                "--calibration", "hca-compact", "--json", str(tmp_path / "r.json")]
        assert module.main(argv) == 0
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    assert "| sub-zuk08 |" in capsys.readouterr().out
    records = json.loads((tmp_path / "r.json").read_text())["records"]
    whole = next(r for r in records if r["cut"] == "top=whole,bottom=whole")
    # golden: out of fold, the whole scan is numbered right (measured 63/63 over the ten cuts)
    assert whole["right"] == whole["n_gt"] == 7 and not whole["wrong"]
