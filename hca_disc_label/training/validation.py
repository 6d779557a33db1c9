"""Validation during training: fixed images, the real decoder, distances in mm.

The validation images are fixed for a run (held-out real subjects plus seeded synthetic
slabs), and :func:`validate` decodes them exactly as ``hca_label`` does (a
:class:`~hca_disc_label.inference.labeller.Labeller` over the network being trained).
"""

from __future__ import annotations

import numpy as np

from hca_disc_label.contract import InputContract, centre_channel
from hca_disc_label.inference.labelling import ModelInfo
from hca_disc_label.preprocessing import normalise_channels, pad_to_multiple
from hca_disc_label.training.config import TrainConfig
from hca_disc_label.training.data import BidsCase, DataSpec, synthetic_sample

MISS_PENALTY_MM = 20.0
"""Distance charged to a validation disc that is missing or mislabelled (mm)."""


def validation_set(config: TrainConfig, val_cases: list[BidsCase], spec: DataSpec) -> list[tuple[str, np.ndarray, dict]]:
    """Fixed validation images ``(H, W)`` or ``(C, H, W)`` (the channels of ``spec``): held-out
    real subjects (whole slab) + seeded synthetic slabs."""
    centre = centre_channel(spec.channel_offsets_mm)
    items = [(f"real:{c.subject}", normalise_channels(c.raw, centre), c.discs) for c in val_cases]
    for k in range(config.val_synthetic):
        s = synthetic_sample(np.random.default_rng([config.effective_split_seed, 999_999, k]), spec.spacing_mm,
                             spec.channel_offsets_mm)
        items.append((f"synth:{k}", s.image, s.discs))
    return items


def validate(net, items, channel_values: list[int], stride: int, multiple: int, spacing_mm: float,
             device: str) -> dict[str, float]:
    """Run the real decoder on each validation image; distances in mm.

    Returns:
        ``score_mm`` (mean per ground-truth disc of its distance, ``MISS_PENALTY_MM`` when the
        value is missing or farther), ``median_mm`` over found discs, ``identity`` (fraction of
        GT discs found with the right value within 10 mm), ``extra`` (predicted values absent
        from GT, per image).
    """
    import torch

    from hca_disc_label.inference.backends import TorchBackend
    from hca_disc_label.inference.labeller import Labeller

    info = ModelInfo("validation", "0.0.0", "", tuple(channel_values), InputContract(spacing_mm, multiple, stride))
    labeller = Labeller.from_engine(TorchBackend(net, device), info)  # the same decoding as hca_label
    was_training = net.training
    net.eval()
    charged, found, hits, total, extra = [], [], 0, 0, 0
    with torch.inference_mode():
        for _, image, discs in items:
            detected = labeller.detect(pad_to_multiple(image, multiple), valid_shape=image.shape[-2:])
            pred = {d.value: (d.row, d.col) for d in detected}
            for v, (r, c) in discs.items():
                total += 1
                if v in pred:
                    dist = spacing_mm * float(np.hypot(pred[v][0] - r, pred[v][1] - c))
                    found.append(dist)
                    hits += dist <= 10.0
                    charged.append(min(dist, MISS_PENALTY_MM))
                else:
                    charged.append(MISS_PENALTY_MM)
            extra += len(set(pred) - set(discs))
    net.train(was_training)
    return {
        "score_mm": float(np.mean(charged)) if charged else float("nan"),
        "median_mm": float(np.median(found)) if found else float("nan"),
        "identity": hits / max(total, 1),
        "extra": extra / max(len(items), 1),
    }
