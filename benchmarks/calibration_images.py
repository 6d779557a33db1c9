"""Images of the numbering calibration, in the model frame (``benchmarks/calibrate_numbering.py``).

Every generator yields ``(set, group, id, image, discs)``: the set name (``real``, ``synthetic``,
``junction``, ``real-sacrum``, ``bids``), the group whose images share a subject or spine (the
cross-validation folds), an id, the image normalised to [0, 1] as ``(H, W)`` (or ``(C, H, W)``
for a model with lateral input channels at ``offsets`` mm), and the ground-truth discs
``{value: (row, col)}`` in model-frame pixels of 1 mm (row -> inferior, col -> posterior).
``bids`` images are yielded only to REPORT them, never to fit.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hca_disc_label.training.sample import EDGE_MARGIN_PX  # noqa: E402

SYNTH_MODES = {"crop": 0.35, "lumbar": 0.25, "cervical": 0.15, "thoracolumbar": 0.1,
               "cervicothoracic": 0.08, "whole": 0.04, "thoracic": 0.03}
"""Field-of-view mix of the synthetic calibration images (junction-hard cases first)."""


def _crop_rows(rng: np.random.Generator, height: int) -> tuple[int, int]:
    """A random field-of-view cut: top and/or bottom removed, 45-90 % of the height kept."""
    keep = rng.uniform(0.45, 0.9)
    kind = rng.choice(["top", "bottom", "both"])
    cut = int(round((1.0 - keep) * height))
    if kind == "top":
        a = cut
    elif kind == "bottom":
        a = 0
    else:
        a = int(rng.integers(0, cut + 1))
    return a, a + height - cut


def _cropped(image: np.ndarray, discs: dict, a: int, b: int) -> tuple[np.ndarray, dict]:
    """Rows ``[a, b)`` of an image ``(H, W)`` or stack ``(C, H, W)`` and the discs kept inside."""
    h = b - a
    kept = {v: (r - a, c) for v, (r, c) in discs.items() if EDGE_MARGIN_PX <= r - a <= h - 1 - EDGE_MARGIN_PX}
    return image[..., a:b, :], kept


def _normalise(image: np.ndarray, offsets: tuple[float, ...]) -> np.ndarray:
    """Percentile normalisation of an image, or of a lateral stack with its mid-sagittal channel's percentiles."""
    from hca_disc_label.contract import centre_channel
    from hca_disc_label.preprocessing import normalise_channels

    return normalise_channels(image, centre_channel(offsets))


def internal_images(train_data: Path, n_synthetic: int, n_crops: int, seed: int, n_junction: int,
                     offsets: tuple[float, ...] = (0.0,)):
    """Yield (set, group, id, image in [0, 1], GT discs {value: (row, col)}) of the internal sets;
    images ``(H, W)``, or ``(C, H, W)`` for a model with lateral input channels ``offsets`` (mm)."""
    from hca_disc_label.synth.slab import generate_slab
    from hca_disc_label.evaluation.internal_sets import held_out_cases

    for n, case in enumerate(held_out_cases(train_data, channel_offsets_mm=offsets)):
        group = f"real:{case.subject}"
        yield "real", group, f"{case.subject}_{n}_full", _normalise(case.raw, offsets), dict(case.discs)
        rng = np.random.default_rng([seed, 1, n])
        for k in range(n_crops):
            a, b = _crop_rows(rng, case.raw.shape[-2])
            raw, discs = _cropped(case.raw, case.discs, a, b)
            if len(discs) >= 1:
                yield "real", group, f"{case.subject}_{n}_crop{k}", _normalise(raw, offsets), discs
    yield from junction_images(n_junction, seed, offsets)
    modes, weights = list(SYNTH_MODES), np.array(list(SYNTH_MODES.values()))
    for k in range(n_synthetic):
        rng = np.random.default_rng([seed, 2, k])
        mode = str(rng.choice(modes, p=weights / weights.sum()))
        slab = generate_slab(rng, spacing_mm=1.0, fov_mode=mode, channel_offsets_mm=offsets)
        image, discs = _normalise(slab.image, offsets), dict(slab.discs)
        if rng.random() < 0.5 and image.shape[-2] > 80:
            a, b = _crop_rows(rng, image.shape[-2])
            image, discs = _cropped(slab.image, discs, a, b)
            image = _normalise(image, offsets)
        if discs:
            yield "synthetic", f"synthetic:{k}", f"synthetic_{k}_{mode}", image, discs


def junction_images(n: int, seed: int, offsets: tuple[float, ...] = (0.0,)):
    """The synthetic junction sets of ``evaluation.internal_sets`` (S1/S2 remnant, sacrum at the
    lower edge, full cervical fields, crops from C2), ``n`` images each."""
    try:
        from hca_disc_label.evaluation.internal_case import SYNTHETIC_SETS
        from hca_disc_label.evaluation.internal_sets import internal_sets
    except ImportError:  # older checkout without the named internal sets
        print("evaluation.internal_sets not available: no junction set", flush=True)
        return
    for case in internal_sets(names=list(SYNTHETIC_SETS), n=n, seed=seed, channel_offsets_mm=offsets):
        name, case_id, image, discs = case
        yield "junction", f"junction:{name}:{case_id}", f"{name.replace(':', '-')}_{case_id}", image, dict(discs)


def bids_images(shared: Path, offsets: tuple[float, ...] = (0.0,)):
    from hca_disc_label.image import load_image
    from hca_disc_label.labelfile import read_disc_labels
    from hca_disc_label.preprocessing import prepare_slab
    from hca_disc_label.training.data import find_bids_pairs

    for subject, img, lab in find_bids_pairs(shared / "data" / "bids"):
        image = load_image(img)
        slab = prepare_slab(image.data, image.zooms, spacing_mm=1.0, size_multiple=1, channel_offsets_mm=offsets)
        points = read_disc_labels(lab)
        can = image.file_to_canonical(np.array([p.voxel for p in points], dtype=float))
        rc = slab.geometry.canonical_to_model(can[:, 1:])
        name = img.name.split(".")[0]
        yield "bids", f"bids:{subject}", name, slab.image[..., : slab.geometry.height, : slab.geometry.width], {
            p.value: (float(r), float(c)) for p, (r, c) in zip(points, rc)}


def sacrum_images(shared: Path, subjects: Sequence[str], n_crops: int, seed: int, offsets: tuple[float, ...] = (0.0,)):
    """The real-sacrum images of ``subjects`` in the model frame (see the module docstring)."""
    from hca_disc_label.evaluation.real_crops import SACRUM_BOTTOM_CUTS_MM, TOP_MARGIN_MM, sacrum_ground_truth
    from hca_disc_label.image import load_image
    from hca_disc_label.preprocessing import prepare_slab

    data = shared / "data" / "bids-train"
    for n, subject in enumerate(subjects):
        path, gt = sacrum_ground_truth(data, subject)
        image = load_image(path)
        to_vox = np.linalg.inv(image.affine)
        can = np.array([to_vox[:3, :3] @ p + to_vox[:3, 3] for p in gt.values()])
        slab = prepare_slab(image.data, image.zooms, spacing_mm=1.0, size_multiple=1,
                            x_center=int(np.round(np.median(can[:, 0]))), channel_offsets_mm=offsets)
        raw = slab.raw[..., : slab.geometry.height, : slab.geometry.width]
        rc = slab.geometry.canonical_to_model(can[:, 1:])
        discs = {v: (float(r), float(c)) for v, (r, c) in zip(gt, rc)}
        h, tip = raw.shape[-2], discs[25][0]
        group = f"real-sacrum:{subject}"
        windows = [(0, h, "full")]
        tops = [0, max(0, int(round(discs[20][0] - TOP_MARGIN_MM)))] if 20 in discs else [0]
        for top in tops:
            for below in SACRUM_BOTTOM_CUTS_MM:
                bottom = h if below is None else int(round(min(h, tip + below)))
                if (top, bottom) != (0, h) and bottom - top >= 64:
                    windows.append((top, bottom, f"t{top}b{bottom}"))
        rng = np.random.default_rng([seed, 3, n])
        windows += [(*_crop_rows(rng, h), f"crop{k}") for k in range(n_crops)]
        for a, b, name in windows:
            cut, kept = _cropped(raw, discs, a, b)
            if kept:
                yield "real-sacrum", group, f"{subject}_{name}", _normalise(cut, offsets), kept
