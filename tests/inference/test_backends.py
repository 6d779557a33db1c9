"""Backends: ONNX Runtime vs PyTorch parity on real images, import hygiene, device errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from hca_disc_label.cli.main import main
from hca_disc_label.contract import InputContract
from hca_disc_label.image import load_image
from hca_disc_label.inference.backends import create_backend
from hca_disc_label.inference.labeller import Labeller
from hca_disc_label.preprocessing import prepare_input
from hca_disc_label.run.pipeline import label_discs
from hca_disc_label.weights.card import load_model_folder
from hca_disc_label.weights.registry import load_registry
from hca_disc_label.weights.resolve import resolve_model
from tests.conftest import REPO, make_tiny_model

PARITY_IMAGES = [
    "sub-errsm30/anat/sub-errsm30_T2w.nii.gz",
    "sub-pam50/anat/sub-pam50_T2w.nii.gz",
    "sub-ivd11/anat/sub-ivd11_T2w.nii.gz",
]
"""Real images (relative to the shared BIDS folder), read in place."""

THRESHOLD = 0.0001
"""Random-weight models give weak peaks (see tests/conftest.make_tiny_model)."""


def _child_env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["HCA_DISC_LABEL_OFFLINE"] = "1"
    return env


def _run_child(code: str) -> dict:
    """Run ``code`` in a fresh interpreter; it prints one JSON line last."""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_child_env(),
                          cwd=str(REPO), timeout=300)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------- import hygiene
def test_onnx_path_never_imports_torch_or_scipy_ndimage(tiny_model, shared_data, tmp_path):
    """Import hygiene of a labelling run: torch would cost seconds, ``scipy.ndimage`` a third
    of a second of every run (its filters are written in numpy on this path)."""
    image = shared_data / "bids" / PARITY_IMAGES[0]
    out = tmp_path / "labels.nii.gz"
    argv = ["-i", str(image), "-c", "t2", "-backend", "onnx", "-model", str(tiny_model),
            "-thr", str(THRESHOLD), "-o", str(out), "-v", "0"]
    code = (
        "import json, sys\n"
        "from hca_disc_label.cli.main import main\n"
        f"rc = main({argv!r})\n"
        "print(json.dumps({'rc': rc, 'torch': 'torch' in sys.modules,"
        " 'ort': 'onnxruntime' in sys.modules, 'ndimage': 'scipy.ndimage' in sys.modules}))\n"
    )
    result = _run_child(code)
    assert result == {"rc": 0, "torch": False, "ort": True, "ndimage": False}
    assert out.is_file() and np.count_nonzero(np.asanyarray(nib.load(str(out)).dataobj)) > 0
    sidecar = json.loads(out.with_name("labels.json").read_text())
    assert sidecar["GeneratedBy"][0]["Backend"] == "onnx"


def test_help_imports_neither_torch_nor_onnxruntime():
    code = (
        "import contextlib, io, json, sys\n"
        "from hca_disc_label.cli.main import main\n"
        "buf = io.StringIO()\n"
        "with contextlib.redirect_stdout(buf):\n"
        "    rc = main(['-h'])\n"
        "print(json.dumps({'rc': rc, 'usage': 'Usage:' in buf.getvalue(),"
        " 'heavy': sorted(m for m in ('torch', 'onnxruntime') if m in sys.modules)}))\n"
    )
    assert _run_child(code) == {"rc": 0, "usage": True, "heavy": []}


# --------------------------------------------------------------------------- parity
def parity_models(tiny_model: Path) -> list:
    """Model folders whose ONNX and PyTorch outputs must agree.

    The tiny random-weight model always; the shipped default for T2 as soon as its embedded
    folder exists (then it must load and carry an ONNX file: no silent fallback).
    """
    models = [load_model_folder(tiny_model)]
    registry = load_registry()
    entry = registry.default_for("t2")
    embedded = registry.embedded_dir(entry) if entry is not None else None
    if embedded is not None and (embedded / "model.json").is_file():
        default = resolve_model(None, "t2")
        assert default.onnx_path is not None, f"default model {default.spec} ships no ONNX file"
        models.append(default)
    return models


@pytest.fixture(scope="module")
def backend_pairs(tiny_model):
    """[(model folder, torch backend, onnx backend)] on CPU, one thread (shared machine)."""
    return [(m, create_backend(m, "torch", "cpu", threads=1), create_backend(m, "onnx", "cpu", threads=1))
            for m in parity_models(tiny_model)]


@pytest.mark.parametrize("relpath", PARITY_IMAGES, ids=lambda p: Path(p).name.split("_")[0])
def test_onnx_matches_torch_on_real_images(backend_pairs, shared_data, tmp_path, relpath):
    image_path = shared_data / "bids" / relpath
    image = load_image(image_path)
    compared = []
    for folder, torch_be, onnx_be in backend_pairs:
        c = folder.input_contract
        prepared = prepare_input(InputContract.from_mapping(c), image.data, image.zooms)
        ref = torch_be.predict(prepared.image)
        got = onnx_be.predict(prepared.image)
        assert got.shape == ref.shape == (len(folder.channel_values),
                                          *(s // int(c["output_stride"]) for s in prepared.image.shape))
        span = float(ref.max() - ref.min())
        assert span > 0
        assert float(np.max(np.abs(got - ref))) <= 1e-4 * span, folder.spec

        decoded = []
        for engine in (torch_be, onnx_be):
            labeller = Labeller(folder, "t2", engine, threshold=THRESHOLD)
            discs = labeller.detect(prepared.image, valid_shape=(prepared.geometry.height, prepared.geometry.width))
            decoded.append([(d.value, round(d.row, 3), round(d.col, 3)) for d in discs])
        assert decoded[0] == decoded[1] and decoded[0], folder.spec

        written = []
        for engine in (torch_be, onnx_be):
            out = tmp_path / f"{folder.name}_{engine.name}.nii.gz"
            result = label_discs(image_path, output=out, command_line="parity",
                                 labeller=Labeller(folder, "t2", engine, threshold=THRESHOLD))
            written.append(([(d.value, d.voxel) for d in result.discs], np.asanyarray(nib.load(str(out)).dataobj)))
        assert written[0][0] == written[1][0], folder.spec
        np.testing.assert_array_equal(written[0][1], written[1][1])
        compared.append(folder.spec)
    assert compared, "no model was compared"


# --------------------------------------------------------------------------- errors
def _cuda_visible(backend: str) -> bool:
    if backend == "torch":
        import torch

        return torch.cuda.is_available()
    import onnxruntime as ort

    return "CUDAExecutionProvider" in ort.get_available_providers()


@pytest.mark.parametrize("backend", ["torch", "onnx"])
def test_device_cuda_without_gpu_is_a_clear_error(backend, tiny_model, shared_data, tmp_path, capsys):
    if _cuda_visible(backend):
        pytest.skip(f"a CUDA device is visible to {backend}: this checks CPU-only machines")
    out = tmp_path / "labels.nii.gz"
    rc = main(["-i", str(shared_data / "bids" / PARITY_IMAGES[0]), "-c", "t2", "-model", str(tiny_model),
               "-backend", backend, "-device", "cuda", "-thr", str(THRESHOLD), "-o", str(out), "-v", "0"])
    err = capsys.readouterr().err.strip()
    assert rc == 1
    assert len(err.splitlines()) == 1 and "cuda" in err.lower() and "Traceback" not in err
    assert not out.exists()


def test_onnx_backend_without_onnx_file_is_a_clear_error(shared_data, tmp_path, capsys):
    folder = make_tiny_model(tmp_path / "no_onnx", onnx=False)
    out = tmp_path / "labels.nii.gz"
    rc = main(["-i", str(shared_data / "bids" / PARITY_IMAGES[0]), "-c", "t2", "-model", str(folder),
               "-backend", "onnx", "-thr", str(THRESHOLD), "-o", str(out), "-v", "0"])
    err = capsys.readouterr().err.strip()
    assert rc == 1
    assert len(err.splitlines()) == 1 and "no ONNX file" in err and "hca_label export" in err
    assert not out.exists()


def test_auto_backend_prefers_onnx_and_threads_are_applied(tiny_model):
    import torch

    folder = load_model_folder(tiny_model)
    assert create_backend(folder, "auto", "cpu").name == "onnx"
    onnx_be = create_backend(folder, "onnx", "cpu", threads=1)
    assert onnx_be.session.get_session_options().intra_op_num_threads == 1
    before = torch.get_num_threads()
    try:
        torch_be = create_backend(folder, "torch", "cpu", threads=1)
        assert torch_be.name == "torch" and torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
    from hca_disc_label.errors import ModelError

    with pytest.raises(ModelError, match="threads"):
        create_backend(folder, "onnx", "cpu", threads=0)
