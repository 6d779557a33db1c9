"""The fold models kept in benchmarks/fold_models: valid model folders, honest about their fold
(the real-sacrum benchmark scoring one on torch is in tests/evaluation/test_real_crops.py)."""

from __future__ import annotations

import re
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

