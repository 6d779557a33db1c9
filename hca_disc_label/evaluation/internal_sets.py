"""Internal benchmark sets of the cases where the disc count is decided (never ``bids/``).

Seven named, seeded sets of model-frame images (row -> inferior, col -> posterior, values in
[0, 1], isotropic ``spacing_mm`` pixels) with exact ground-truth discs
``{SCT value: (row, col)}`` in model pixels:

* ``syn:s1s2-remnant``: lumbar / thoracolumbar fields showing the sacrum with a visible S1/S2
  remnant nucleus (a disc look-alike one level below L5/S1);
* ``syn:lumbar-sacrum-edge``: lumbar fields whose lower edge cuts the S1 body 1-30 mm below
  the L5/S1 tip (measured along the image rows);
* ``syn:lumbar-above-sacrum``: lumbar fields whose lower edge cuts the L4 or L5 body (from 5 mm
  below the L3/L4 tip to 3 mm above L5/S1): no sacrum to count from, as in a real image cut
  from below;
* ``syn:cervical-full``: full-field cervicothoracic images like spine-generic's: skull base,
  posterior fossa and jaw at the top, lower edge in the T2..T6 bodies, acquired at 0.8-1.0 mm
  and resampled to the model spacing as the pipeline does;
* ``syn:crop-from-c2``: crops whose top edge lies between the dens tip and the C2/C3 tip,
  50-120 mm tall;
* ``syn:crop-below-c2``: the same crops starting 3 mm below C2/C3 down to C4/C5 (no C2 to count
  from);
* ``syn:coronal-curve``: lumbar / thoracolumbar fields of spines curving in the coronal plane,
  with a disc in view 8 mm or more beside the drawn plane (the canal leaves the slice there);
* ``real:bids-train-crops``: the held-out subjects of the trainer's split (split seed 1, the
  trainer's own ``split_subjects``, real-sacrum subjects left out) of ``bids-train`` (or of its label extension), each cut to
  several random heights (top, bottom, both edges cut); only discs still inside are kept.

The synthetic sets drive the engine itself and only replace the field-of-view window it draws
(:mod:`.synthetic_sets`). Case ``k`` of a set is drawn from ``np.random.default_rng([seed,
SET_CODE, k, attempt])``: the same seed gives the same images whatever the set size, and a case
is redrawn (next attempt) only when its defining property does not hold. Names, stream numbers
and the case type: :mod:`.internal_case`; the real set is here.

Use::

    from hca_disc_label.evaluation.internal_sets import internal_sets
    for case in internal_sets(seed=0):           # or names=[...], n=..., train_data=...
        name, case_id, image, discs = case       # case.meta holds the set-defining geometry
"""

from __future__ import annotations

import os
import zlib
from fnmatch import fnmatch
from pathlib import Path
from typing import Iterator

import numpy as np

from hca_disc_label.evaluation.internal_case import (
    MAX_ATTEMPTS,
    REAL_SETS,
    SET_CODES,
    SET_NAMES,
    SYNTHETIC_SETS,
    InternalCase,
)
from hca_disc_label.evaluation.synthetic_sets import DEFAULT_SYNTHETIC_N, synthetic_set
from hca_disc_label.contract import DEFAULT_CHANNEL_OFFSETS_MM, centre_channel
from hca_disc_label.preprocessing import normalise_channels
from hca_disc_label.training.config import TrainConfig
from hca_disc_label.training.data import BidsCase, find_bids_pairs, load_bids_case
from hca_disc_label.training.split import split_subjects

CROPS_PER_IMAGE = 3
"""Crops per held-out real image (top cut, bottom cut, both cut)."""
SPLIT_SEED = 1
"""Split seed of the trainer runs whose held-out real subjects form the real set."""
REAL_KEEP_FRACTION = (0.45, 0.9)
"""Kept share of a real image's height per crop (as ``-real-fov-crop`` in training)."""
REAL_EDGE_MARGIN_PX = 3.0
"""A real disc is kept as ground truth only this far inside a cut edge (a disc on the edge is
half visible; the training crop treats it the same way)."""


def default_train_data() -> Path:
    """The real training dataset: ``bids-train`` in ``$HCA_SHARED_DATA`` (default
    ``../shared/data`` next to the repository)."""
    data = os.environ.get("HCA_SHARED_DATA") or Path(__file__).resolve().parents[3] / "shared" / "data"
    return Path(data) / "bids-train"


def internal_sets(names: list[str] | tuple[str, ...] | None = None, n: int | None = None, seed: int = 0,
                  spacing_mm: float = 1.0, train_data: Path | None = None,
                  crops_per_image: int = CROPS_PER_IMAGE,
                  channel_offsets_mm: tuple[float, ...] = DEFAULT_CHANNEL_OFFSETS_MM) -> Iterator[InternalCase]:
    """Yield the cases of the named sets (all of :data:`SET_NAMES` by default), set by set.

    Args:
        names: set names to yield, in this order.
        n: images per synthetic set (default :data:`DEFAULT_SYNTHETIC_N`).
        seed: base seed of every set.
        spacing_mm: model pixel spacing (mm).
        train_data: labelled BIDS dataset of the real set (default :func:`default_train_data`).
        crops_per_image: crops per held-out real image.
        channel_offsets_mm: the model's lateral input channels (mm, its input contract); more
            than one gives ``(C, H, W)`` images of the same cases.
    """
    for name in names or SET_NAMES:
        if name in SYNTHETIC_SETS:
            yield from synthetic_set(name, DEFAULT_SYNTHETIC_N if n is None else n, seed, spacing_mm,
                                     channel_offsets_mm)
        elif name in REAL_SETS:
            yield from real_crop_set(train_data, seed, crops_per_image, spacing_mm,
                                     channel_offsets_mm=channel_offsets_mm)
        else:
            raise ValueError(f"unknown internal set {name!r}; expected one of {', '.join(SET_NAMES)}")


# ----------------------------------------------------------------------------- real

SACRUM_SUBJECTS = "sub-zuk*"
"""Subjects of the real-sacrum benchmark (``benchmarks/real_sacrum.py``, scored by subject-wise
folds): left out of the internal real set, so that set stays the lumbar gradient-echo subjects
no released model trained on."""


def held_out_cases(train_data: Path | None = None, spacing_mm: float = 1.0, split_seed: int = SPLIT_SEED,
                   channel_offsets_mm: tuple[float, ...] = DEFAULT_CHANNEL_OFFSETS_MM) -> list[BidsCase]:
    """The held-out real cases (:class:`~hca_disc_label.training.data.BidsCase`) of the
    trainer's split (:func:`~hca_disc_label.training.split.split_subjects` with its default
    validation fraction and ``split_seed``) over the subjects of ``train_data`` that are not
    :data:`SACRUM_SUBJECTS`. Only the held-out images are loaded."""
    root = Path(train_data) if train_data is not None else default_train_data()
    pairs = [p for p in find_bids_pairs(root) if not fnmatch(p[0], SACRUM_SUBJECTS)]
    defaults = TrainConfig(out_dir=Path("unused"))
    _, held = split_subjects({s for s, _, _ in pairs}, defaults.val_fraction, split_seed)
    return [load_bids_case(s, img, lab, spacing_mm, defaults.slab_mm, channel_offsets_mm)
            for s, img, lab in pairs if s in held]


CROP_KINDS: tuple[str, ...] = ("top", "bottom", "both")
"""Which edges a real crop cuts (cycled over a case's crops)."""


def crop_rows(discs: dict, height: int, top: int, bottom: int) -> dict[int, tuple[float, float]]:
    """Discs of rows ``[top, bottom)`` (shifted), only those inside by the edge margin at a cut edge."""
    out = {}
    for v, (r, c) in discs.items():
        lo = REAL_EDGE_MARGIN_PX if top > 0 else 0.0
        hi = REAL_EDGE_MARGIN_PX if bottom < height else 0.0
        rr = r - top
        if lo <= rr <= (bottom - top) - 1 - hi:
            out[int(v)] = (float(rr), float(c))
    return out


def real_crop_set(train_data: Path | None = None, seed: int = 0, crops_per_image: int = CROPS_PER_IMAGE,
                  spacing_mm: float = 1.0, cases: list | None = None,
                  channel_offsets_mm: tuple[float, ...] = DEFAULT_CHANNEL_OFFSETS_MM) -> Iterator[InternalCase]:
    """Random-height crops of the held-out real images (normalised after cropping, as a
    smaller acquisition would be).

    Crop ``j`` of an image cuts the edges of ``CROP_KINDS[j % 3]``, keeps a random
    :data:`REAL_KEEP_FRACTION` of the height, and is redrawn until at least two labelled discs
    stay inside. Seeded per image by its file name, so a case does not depend on the others.

    Args:
        cases: prepared held-out cases (default :func:`held_out_cases` of ``train_data``).
        channel_offsets_mm: the cases' lateral channels (``(C, H, W)`` crops normalised with
            the mid-sagittal channel's percentiles); also how the default cases are loaded.
    """
    centre = centre_channel(tuple(float(v) for v in channel_offsets_mm))
    cases = held_out_cases(train_data, spacing_mm, channel_offsets_mm=channel_offsets_mm) if cases is None else cases
    for case in sorted(cases, key=lambda c: str(c.image_path)):
        stem = Path(case.image_path).name.split(".")[0]
        key = zlib.crc32(stem.encode())
        h = case.raw.shape[-2]
        for j in range(int(crops_per_image)):
            kind = CROP_KINDS[j % len(CROP_KINDS)]
            for attempt in range(MAX_ATTEMPTS):
                rng = np.random.default_rng([int(seed), SET_CODES["real:bids-train-crops"], key, j, attempt])
                keep = int(round(h * rng.uniform(*REAL_KEEP_FRACTION)))
                top = {"top": h - keep, "bottom": 0}.get(kind, int(rng.integers(1, max(2, h - keep))))
                bottom = min(h, top + keep)
                discs = crop_rows(case.discs, h, top, bottom)
                if len(discs) >= 2:
                    break
            else:
                continue
            meta = {"subject": case.subject, "image": str(case.image_path), "kind": kind, "rows": [top, bottom],
                    "source_height": h, "source_discs": sorted(case.discs), "attempt": attempt}
            yield InternalCase("real:bids-train-crops", f"{stem}-{kind}{j // len(CROP_KINDS) or ''}",
                               normalise_channels(case.raw[..., top:bottom, :], centre), discs, meta)
