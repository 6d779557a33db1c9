"""Training: loss goes down on a fixed batch, resume is exact, output model folder runs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from hca_disc_label.conventions import DISC_VALUES
from tests.conftest import TINY_ARCH
from tests.helpers import link_bids_subjects


def small_bids(shared_data: Path, tmp_path: Path, n: int = 4) -> Path:
    """A BIDS tree of ``n`` real training subjects (symlinks to ../shared/data/bids-train)."""
    return link_bids_subjects(shared_data, tmp_path, n=n)


def _config(tmp_path, bids, **kw):
    from hca_disc_label.training.config import TrainConfig

    base = dict(out_dir=tmp_path / "run", architecture=dict(TINY_ARCH), steps=4, batch_size=2, lr=1e-3,
                bids=[bids], synthetic_fraction=0.0, val_synthetic=0, val_every=2, val_fraction=0.25,
                heights=(128,), widths=(64,), workers=0, progress=False, export_onnx=False, seed=3)
    base.update(kw)
    return TrainConfig(**base)


def test_train_step_reduces_loss_on_fixed_batch(shared_data, tmp_path):
    import torch

    from hca_disc_label.model.hca_net import HCANet, ModelConfig
    from hca_disc_label.model.loss import HCALoss
    from hca_disc_label.training.data import DataSpec, collate, load_bids_case, make_sample, find_bids_pairs
    from hca_disc_label.training.trainer import train_step

    torch.manual_seed(0)
    bids = small_bids(shared_data, tmp_path, 2)
    cases = [load_bids_case(s, i, l, 1.0) for s, i, l in find_bids_pairs(bids)]
    spec = DataSpec(synthetic_fraction=0.0, real_cases=cases, heights=(192,), widths=(128,))
    net = HCANet(ModelConfig(**TINY_ARCH))
    batch = [collate([make_sample(spec, 0, 0, i) for i in range(2)], list(DISC_VALUES), net.output_stride)]
    assert batch[0]["present"].sum() >= 4
    crit = HCALoss()
    opt = torch.optim.RMSprop(list(net.parameters()) + list(crit.parameters()), lr=2e-3)
    losses = [train_step(net, crit, opt, batch, 2, 1.0, "cpu")[0] for _ in range(25)]
    assert losses[-1] < 0.5 * losses[0], losses


def test_samples_are_deterministic(shared_data, tmp_path):
    from hca_disc_label.training.data import DataSpec, find_bids_pairs, load_bids_case, make_sample

    bids = small_bids(shared_data, tmp_path, 2)
    cases = [load_bids_case(s, i, l, 1.0) for s, i, l in find_bids_pairs(bids)]
    spec = DataSpec(synthetic_fraction=0.0, real_cases=cases, heights=(192,), widths=(128,))
    a, b, c = make_sample(spec, 1, 5, 0), make_sample(spec, 1, 5, 0), make_sample(spec, 1, 6, 0)
    np.testing.assert_array_equal(a.image, b.image)
    assert a.discs == b.discs
    assert not np.array_equal(a.image, c.image)


def test_resume_continues_from_same_step(shared_data, tmp_path):
    from hca_disc_label.training.trainer import train

    bids = small_bids(shared_data, tmp_path)
    full = train(_config(tmp_path / "a", bids, steps=6))
    train(_config(tmp_path / "b", bids, steps=4))
    resumed = train(_config(tmp_path / "b", bids, steps=6, resume=True))
    assert len(full.losses) == len(resumed.losses) == 6
    np.testing.assert_allclose(resumed.losses, full.losses, rtol=1e-4)
    rows = (tmp_path / "b" / "run" / "metrics.csv").read_text().splitlines()
    assert [int(r.split(",")[0]) for r in rows[1:]] == [1, 2, 3, 4, 5, 6]


def test_tiny_run_writes_model_folder_that_labels(shared_data, tmp_path):
    from hca_disc_label.cli.main import main

    bids = small_bids(shared_data, tmp_path)
    rc = main(["train", "-ofolder", str(tmp_path / "run"), "-data", str(bids), "-synthetic-fraction", "0",
               "-real-fov-crop", "0.5", "-arch", str(_arch_file(tmp_path)), "-steps", "3", "-batch", "2", "-val-every", "3",
               "-heights", "128", "-widths", "64", "-workers", "0", "-v", "0", "-name", "tiny-run",
               "-val-synthetic", "0"])
    assert rc == 0
    model_dir = tmp_path / "run" / "model"
    card = json.loads((model_dir / "model.json").read_text())
    assert card["name"] == "tiny-run" and card["channel_values"] == list(DISC_VALUES)
    assert card["training_data"]["steps"] == 3 and "onnx" in card["files"]
    assert card["training_data"]["data"]["real_fov_crop"] == 0.5
    assert set(card["training_data"]["data"]["val_subjects"]).isdisjoint(card["training_data"]["data"]["train_subjects"])
    img = shared_data / "bids" / "sub-errsm30" / "anat" / "sub-errsm30_T2w.nii.gz"
    out = tmp_path / "labels.nii.gz"
    rc = main(["-i", str(img), "-c", "t2", "-model", str(model_dir), "-thr", "0.0001", "-o", str(out), "-v", "0"])
    assert rc == 0 and out.exists()


def _arch_file(tmp_path: Path) -> Path:
    path = tmp_path / "arch.json"
    path.write_text(json.dumps(TINY_ARCH))
    return path


def test_resume_without_checkpoint_is_a_clear_error(tmp_path, shared_data):
    from hca_disc_label.cli.main import main

    rc = main(["train", "-ofolder", str(tmp_path / "nothing"), "-resume", "-steps", "2", "-v", "0",
               "-arch", str(_arch_file(tmp_path)), "-heights", "128", "-widths", "64"])
    assert rc == 1


def test_fine_tune_from_model_folder_then_install_and_label(shared_data, tmp_path, tiny_model):
    from hca_disc_label.cli.main import main

    bids = small_bids(shared_data, tmp_path)
    run = tmp_path / "ft"
    rc = main(["train", "-ofolder", str(run), "-data", str(bids), "-init", str(tiny_model), "-steps", "2",
               "-synthetic-fraction", "0",
               "-batch", "2", "-heights", "128", "-widths", "64", "-workers", "0", "-val-synthetic", "0",
               "-name", "site-ft", "-version", "1.2.0", "-v", "0"])
    assert rc == 0
    card = json.loads((run / "model" / "model.json").read_text())
    assert card["training_data"]["init"] == "tiny-test@0.0.1"
    assert card["architecture"] == json.loads((tiny_model / "model.json").read_text())["architecture"]
    # a colleague installs the exported folder and runs it by name
    assert main(["models", "install", "-from-file", str(run / "model")]) == 0
    img = shared_data / "bids" / "sub-ivd11" / "anat" / "sub-ivd11_T2w.nii.gz"
    out = tmp_path / "ivd11.nii.gz"
    assert main(["-i", str(img), "-c", "t2", "-model", "site-ft@1.2.0", "-thr", "0.0001", "-o", str(out), "-v", "0"]) == 0
    assert out.exists()


def test_parasagittal_run_labels_with_both_backends(tmp_path):
    """-channel-offsets: 2 synthetic steps, then a synthetic volume labelled by ONNX and torch."""
    import nibabel as nib

    from hca_disc_label.cli.main import main
    from hca_disc_label.image import load_image
    from hca_disc_label.inference.labeller import Labeller
    from hca_disc_label.preprocessing import prepare_input
    from hca_disc_label.synth.volume import generate_volume

    rc = main(["train", "-ofolder", str(tmp_path / "run"), "-channel-offsets", "-10,0,10", "-arch",
               str(_arch_file(tmp_path)), "-steps", "2", "-batch", "2", "-heights", "128", "-widths", "64",
               "-workers", "0", "-val-synthetic", "0", "-v", "0", "-name", "para"])
    assert rc == 0
    model_dir = tmp_path / "run" / "model"
    card = json.loads((model_dir / "model.json").read_text())
    assert card["input"]["channel_offsets_mm"] == [-10.0, 0.0, 10.0] and card["architecture"]["in_channels"] == 3
    volume = generate_volume(np.random.default_rng(0), fov_mode="crop")
    img = tmp_path / "synth_T2w.nii.gz"
    nib.save(nib.Nifti1Image(volume.data, volume.affine), str(img))
    for backend in ("onnx", "torch"):
        out = tmp_path / f"{backend}.nii.gz"
        assert main(["-i", str(img), "-c", "t2", "-model", str(model_dir), "-backend", backend, "-thr", "0.0001",
                     "-o", str(out), "-qc", str(tmp_path / "qc"), "-v", "0"]) == 0
        assert np.count_nonzero(np.asanyarray(nib.load(str(out)).dataobj)) > 0
    onnx, torch_ = (Labeller(model_dir, backend=b) for b in ("onnx", "torch"))
    loaded = load_image(img)
    prepared = prepare_input(onnx.contract, loaded.data, loaded.zooms)
    assert prepared.image.shape[0] == 3
    a, b = onnx.engine.predict(prepared.image), torch_.engine.predict(prepared.image)
    assert np.abs(a - b).max() <= 1e-4 * max(float(np.ptp(b)), 1e-6)


def test_bad_channel_offsets_are_an_argument_error(tmp_path, capsys):
    from hca_disc_label.cli.main import main

    rc = main(["train", "-ofolder", str(tmp_path / "run"), "-channel-offsets", "-10,10", "-v", "0"])
    assert rc == 2 and "include 0" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_widen_without_init_or_below_two_is_an_argument_error(tmp_path, capsys):
    from hca_disc_label.cli.main import main

    rc = main(["train", "-ofolder", str(tmp_path / "run"), "-widen", "96", "-steps", "1", "-v", "0"])
    err = capsys.readouterr().err
    assert rc == 2 and "only an -init model is widened" in err and "Traceback" not in err
    assert not (tmp_path / "run").exists()
    assert main(["train", "-ofolder", str(tmp_path / "run2"), "-widen", "1", "-v", "0"]) == 2
