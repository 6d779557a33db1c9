"""``hca_label export``: ONNX with dynamic size, verified against PyTorch, registered in folders."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from hca_disc_label.atomic import sha256_file
from hca_disc_label.cli.main import main
from hca_disc_label.inference.backends import create_backend
from hca_disc_label.model.build import build_torch_model
from hca_disc_label.weights.card import load_model_folder
from tests.conftest import make_tiny_model


def _onnx_and_torch(onnx_path: Path, folder, hw: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    import onnxruntime as ort
    import torch

    x = np.random.default_rng(1).random((1, 1, *hw), dtype=np.float32)
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {"image": x})
    net = build_torch_model(folder.architecture, folder.weights_path)
    with torch.inference_mode():
        ref = net(torch.from_numpy(x)).numpy()
    return got, ref


def test_export_writes_verified_dynamic_onnx(tiny_model, tmp_path, capsys):
    out = tmp_path / "sub" / "model.onnx"
    rc = main(["export", "-model", str(tiny_model), "-o", str(out), "-v", "1"])
    stdout = capsys.readouterr().out
    assert rc == 0 and out.is_file()
    assert "max abs diff" in stdout and str(out) in stdout
    folder = load_model_folder(tiny_model)
    m = folder.input_contract["size_multiple"]
    # sizes other than the export example (2m x 2m), non-square both ways
    for hw in ((5 * m, 3 * m), (m, 4 * m)):
        got, ref = _onnx_and_torch(out, folder, hw)
        assert got.shape == ref.shape == (1, len(folder.channel_values), hw[0] // 4, hw[1] // 4)
        assert np.max(np.abs(got - ref)) <= 1e-4 * np.ptp(ref)
    import onnx

    opsets = {o.domain: o.version for o in onnx.load(str(out)).opset_import}
    assert opsets[""] == 17
    assert not list(tmp_path.glob("sub/*.part"))


def test_export_opset_option(tiny_model, tmp_path, capsys):
    import onnx

    out = tmp_path / "m16.onnx"
    assert main(["export", "-model", str(tiny_model), "-o", str(out), "-opset", "16", "-v", "0"]) == 0
    assert capsys.readouterr().out == ""  # -v 0: nothing on stdout
    assert {o.domain: o.version for o in onnx.load(str(out)).opset_import}[""] == 16


def test_into_folder_adds_onnx_and_records_sha256(tmp_path, capsys):
    folder_path = make_tiny_model(tmp_path / "no_onnx", onnx=False)
    assert "onnx" not in load_model_folder(folder_path).card["files"]
    weights_sha = load_model_folder(folder_path).card["files"]["weights"]["sha256"]
    rc = main(["export", "-model", str(folder_path), "-into-folder", "-v", "1"])
    assert rc == 0, capsys.readouterr().err
    card = json.loads((folder_path / "model.json").read_text())
    info = card["files"]["onnx"]
    assert info["path"] == "model.onnx"
    assert info["sha256"] == sha256_file(folder_path / "model.onnx")
    assert info["size"] == (folder_path / "model.onnx").stat().st_size
    assert card["files"]["weights"]["sha256"] == weights_sha
    assert card["onnx"]["opset"] == 17
    folder = load_model_folder(folder_path)  # verifies every file's sha256
    assert info["sha256"] in capsys.readouterr().out
    engine = create_backend(folder, "onnx", "cpu", threads=1)
    m = folder.input_contract["size_multiple"]
    got, ref = _onnx_and_torch(folder.onnx_path, folder, (2 * m, 3 * m))
    assert np.max(np.abs(got - ref)) <= 1e-4 * np.ptp(ref)
    assert engine.predict(np.zeros((m, m), np.float32)).shape == (len(folder.channel_values), m // 4, m // 4)


def test_into_folder_replaces_onnx(tiny_model, tmp_path):
    import onnx

    folder_path = tmp_path / "copy"
    shutil.copytree(tiny_model, folder_path)
    before = load_model_folder(folder_path).card["files"]["onnx"]["sha256"]
    out = tmp_path / "also.onnx"
    assert main(["export", "-model", str(folder_path), "-into-folder", "-opset", "16", "-o", str(out),
                 "-v", "0"]) == 0
    folder = load_model_folder(folder_path)
    assert folder.card["files"]["onnx"]["sha256"] != before
    assert folder.card["onnx"]["opset"] == 16
    assert {o.domain: o.version for o in onnx.load(str(folder.onnx_path)).opset_import}[""] == 16
    assert out.read_bytes() == folder.onnx_path.read_bytes()


def test_bad_arguments_exit_2(tiny_model, tmp_path, capsys):
    assert main(["export", "-model", str(tiny_model)]) == 2  # neither -o nor -into-folder
    assert "-o" in capsys.readouterr().err
    assert main(["export", "-o", str(tmp_path / "x.onnx")]) == 2  # no -model
    assert main(["export", "-model", str(tiny_model), "-o", str(tmp_path / "x.onnx"), "-opset", "5"]) == 2
    assert main(["export", "-model", "some-registry-name", "-into-folder"]) == 2
    assert "local model folder" in capsys.readouterr().err
    assert not (tmp_path / "x.onnx").exists()


def test_onnx_only_folder_cannot_be_exported(tiny_model, tmp_path, capsys):
    from hca_disc_label.weights.release import write_model_folder

    card = load_model_folder(tiny_model).card
    card.pop("files")
    folder_path = tmp_path / "onnx_only"
    write_model_folder(folder_path, card, {"onnx": tiny_model / "model.onnx"})
    rc = main(["export", "-model", str(folder_path), "-o", str(tmp_path / "x.onnx")])
    err = capsys.readouterr().err.strip()
    assert rc == 1 and len(err.splitlines()) == 1 and "no PyTorch weights" in err


def test_help(capsys):
    assert main(["export", "-h"]) == 0
    out = capsys.readouterr().out
    assert "MANDATORY ARGUMENTS" in out and "-into-folder" in out and "-opset" in out


def test_missing_model_folder_exit_1(tmp_path, capsys):
    rc = main(["export", "-model", str(tmp_path / "nope_folder"), "-o", str(tmp_path / "x.onnx")])
    err = capsys.readouterr().err.strip()
    assert rc == 1 and "not found" in err


def test_export_emits_no_tracer_warning(tiny_model, tmp_path):
    import warnings

    import torch

    from hca_disc_label.weights.release import export_onnx

    folder = load_model_folder(tiny_model)
    net = build_torch_model(folder.architecture, folder.weights_path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        export_onnx(net, tmp_path / "w.onnx")
    assert not [w for w in caught if issubclass(w.category, torch.jit.TracerWarning)]
    assert (tmp_path / "w.onnx").is_file()
