"""scripts/ensemble_models.py: tiny member folders -> one ensemble folder both backends and the
CLI run; members that disagree -> exit 2."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from hca_disc_label.weights.card import load_model_folder
from tests.conftest import REPO, TINY_ARCH, make_tiny_model
from tests.helpers import load_script

SCRIPT = REPO / "scripts" / "ensemble_models.py"


def _script():
    return load_script(SCRIPT)


@pytest.fixture(scope="module")
def members(tmp_path_factory):
    root = tmp_path_factory.mktemp("members")
    return [make_tiny_model(root / f"seed{s}", seed=s, onnx=False) for s in (1, 2)]


def _volume(path):
    """A small synthetic sagittal volume (1 mm, RPI): smooth bright bands along z + noise."""
    rng = np.random.default_rng(0)
    z = np.arange(96)
    band = 100 + 80 * (np.sin(z / 4.0) > 0)
    data = np.broadcast_to(band, (24, 64, 96)).astype(np.float32) + rng.normal(0, 5, (24, 64, 96))
    img = nib.Nifti1Image(data.astype(np.float32), np.eye(4))
    img.set_qform(np.eye(4), 1)
    img.set_sform(np.eye(4), 1)
    nib.save(img, str(path))
    return path


def test_the_ensemble_folder_gives_the_mean_heatmaps_on_both_backends_and_labels(members, tmp_path):
    from hca_disc_label.inference.backends import create_backend

    out = tmp_path / "ens"
    assert _script().main([str(m) for m in members] + ["-o", str(out), "--version", "0.1.0"]) == 0
    folder = load_model_folder(out)
    sources = [load_model_folder(m) for m in members]
    assert folder.architecture == {**sources[0].architecture, "ensemble": 2} and folder.version == "0.1.0"
    assert folder.onnx_path is not None and folder.card["onnx"]["opset"]
    record = folder.card["training_data"]["ensemble"]
    assert [Path(r["folder"]).name for r in record["members"]] == ["seed1", "seed2"]
    assert [r["weights_sha256"] for r in record["members"]] == [s.files["weights"]["sha256"] for s in sources]
    assert [r["training_data"] for r in record["members"]] == [s.card["training_data"] for s in sources]

    image = np.random.default_rng(1).random((48, 32), dtype=np.float32)
    expected = np.mean([create_backend(s, "torch", "cpu").predict(image) for s in sources], axis=0)
    for backend in ("torch", "onnx"):
        got = create_backend(folder, backend, "cpu").predict(image)
        assert got.shape == expected.shape
        assert np.max(np.abs(got - expected)) <= 1e-4 * max(np.ptp(expected), 1.0), backend

    # the release card names the ensemble and keeps every member's recipe
    spec = importlib.util.spec_from_file_location("release_model", REPO / "scripts" / "release_model.py")
    release = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(release)
    text = release.model_card_markdown(folder.card, 1, "")
    assert "The mean of the heatmaps of 2 networks" in text
    assert text.count("- Member tiny-test@0.0.1") == 2 and "ensemble_models.py" in text

    img = _volume(tmp_path / "sub-01_T2w.nii.gz")
    argv = ["-i", str(img), "-c", "t2", "-model", str(out), "-thr", "0.0001", "-backend", "onnx", "-v", "0"]
    code = ("import json, sys\nfrom hca_disc_label.cli.main import main\n"
            f"rc = main({argv!r})\nprint(json.dumps({{'rc': rc, 'torch': 'torch' in sys.modules}}))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == {"rc": 0, "torch": False}, proc.stderr
    sidecar = json.loads((tmp_path / "sub-01_T2w_label-discs_dlabel.json").read_text())
    assert sidecar["GeneratedBy"][0]["Model"]["Name"] == "tiny-test" and sidecar["Discs"]


def test_members_that_disagree_or_bad_arguments_exit_2(members, tmp_path, capsys):
    script = _script()
    other = make_tiny_model(tmp_path / "two_stacks", seed=3, onnx=False, architecture={**TINY_ARCH, "num_stacks": 2})
    renamed = make_tiny_model(tmp_path / "renamed", seed=4, onnx=False, name="other-name")
    cases = [
        ([members[0], other], "differ in architecture"),
        ([members[0], renamed], "differ in name"),
        ([members[0]], "at least 2"),
        ([members[0], members[0]], "given twice"),
        ([members[0], tmp_path / "missing"], "not found"),
    ]
    for folders, message in cases:
        rc = script.main([str(f) for f in folders] + ["-o", str(tmp_path / "out")])
        err = capsys.readouterr().err.strip().splitlines()[-1]  # (the helpers above log too)
        assert rc == 2 and err.startswith("ensemble_models.py: error: ") and message in err, (message, err)
        assert not (tmp_path / "out").exists()
    rc = script.main([str(m) for m in members] + ["-o", str(tmp_path / "out"), "--version", "one"])
    assert rc == 2 and "invalid semantic version" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        script.main([str(members[0])])  # no -o
    assert exc.value.code == 2


def _with_input(member: Path, out: Path, **changes) -> Path:
    """A copy of a member folder whose card's input contract has ``changes``."""
    import shutil

    shutil.copytree(member, out)
    card = json.loads((out / "model.json").read_text())
    card["input"].update(changes)
    (out / "model.json").write_text(json.dumps(card, indent=2))
    return out


def test_an_input_key_written_as_its_default_agrees_with_its_absence(members, tmp_path, capsys):
    """A card from before ``channel_offsets_mm`` existed and one that writes its default
    ``[0.0]`` describe the same input (members trained by different code versions); a real
    difference in the input contract still refuses."""
    script = _script()
    assert "channel_offsets_mm" not in json.loads((members[0] / "model.json").read_text())["input"]
    explicit = _with_input(members[1], tmp_path / "explicit", channel_offsets_mm=[0.0])
    assert script.main([str(members[0]), str(explicit), "-o", str(tmp_path / "ens")]) == 0
    first_input = json.loads((members[0] / "model.json").read_text())["input"]
    assert load_model_folder(tmp_path / "ens").card["input"] == first_input
    thinner = _with_input(members[1], tmp_path / "thinner", slab_thickness_mm=4.0)
    assert script.main([str(members[0]), str(thinner), "-o", str(tmp_path / "ens2")]) == 2
    assert "differ in input" in capsys.readouterr().err and not (tmp_path / "ens2").exists()


def test_widen_lets_one_channel_members_join_a_parasagittal_one_unchanged(members, tmp_path, capsys):
    """With ``--widen`` a one-channel member reads only the mid-sagittal channel of the
    parasagittal input: the ensemble equals the mean of the parasagittal member on the stack
    and the one-channel member on its centre channel, on both backends. Without the flag, or
    with side channels at other offsets, the members are refused."""
    from hca_disc_label.inference.backends import create_backend

    script = _script()
    wide = make_tiny_model(tmp_path / "wide", seed=5, onnx=False, channel_offsets_mm=[-25.0, 0.0, 25.0])
    other = make_tiny_model(tmp_path / "other", seed=6, onnx=False, channel_offsets_mm=[-20.0, 0.0, 20.0])
    assert script.main([str(members[0]), str(wide), "-o", str(tmp_path / "no")]) == 2
    assert "differ in architecture" in capsys.readouterr().err and not (tmp_path / "no").exists()
    assert script.main([str(wide), str(other), str(members[0]), "--widen", "-o", str(tmp_path / "no2")]) == 2
    assert "differ in input" in capsys.readouterr().err and not (tmp_path / "no2").exists()

    out = tmp_path / "mixed"
    assert script.main([str(members[0]), str(wide), str(members[1]), "--widen", "-o", str(out)]) == 0
    folder = load_model_folder(out)
    assert folder.architecture["in_channels"] == 3 and folder.architecture["ensemble"] == 3
    assert folder.card["input"]["channel_offsets_mm"] == [-25.0, 0.0, 25.0]
    record = folder.card["training_data"]["ensemble"]["members"]
    assert [r["input_channels"] for r in record] == [1, 3, 1]

    stack = np.random.default_rng(2).random((3, 48, 32), dtype=np.float32)
    sources = [load_model_folder(p) for p in (members[0], wide, members[1])]
    parts = [create_backend(s, "torch", "cpu").predict(stack if s.architecture.get("in_channels") == 3 else stack[1])
             for s in sources]
    expected = np.mean(parts, axis=0)
    for backend in ("torch", "onnx"):
        got = create_backend(folder, backend, "cpu").predict(stack)
        assert np.max(np.abs(got - expected)) <= 1e-4 * max(np.ptp(expected), 1.0), backend
