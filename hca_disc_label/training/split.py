"""Which real subjects train and which validate: the seeded, subject-wise split of the trainer.

:func:`split_subjects` is public on purpose: evaluation rebuilds a run's held-out set with it
(:mod:`hca_disc_label.evaluation.internal_sets`), so the two can never disagree.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

from hca_disc_label.contract import DEFAULT_CHANNEL_OFFSETS_MM
from hca_disc_label.errors import DataError
from hca_disc_label.training.config import TrainConfig
from hca_disc_label.training.data import BidsCase, find_bids_pairs, load_bids_case


def split_subjects(subjects: Iterable[str], val_fraction: float, split_seed: int,
                   holdout: Iterable[str] = ()) -> tuple[list[str], list[str]]:
    """``(training subjects, validation subjects)``, sorted: ``holdout`` always validates, and a
    seeded ``val_fraction`` of the others (the trainer's split, also used to rebuild its
    held-out set for evaluation)."""
    held = set(holdout)
    rest = sorted(set(subjects) - held)
    rng = np.random.default_rng(split_seed)
    rng.shuffle(rest)
    n_val = int(round(val_fraction * len(rest))) if len(rest) > 1 else 0
    val = set(rest[:n_val]) | held
    return sorted(set(subjects) - val), sorted(val)


def split_real(config: TrainConfig, channel_offsets_mm: tuple[float, ...] = DEFAULT_CHANNEL_OFFSETS_MM
               ) -> tuple[list[BidsCase], list[BidsCase]]:
    """Load BIDS cases (one slab per lateral channel offset, mm) and split them by subject (seeded)."""
    pairs = [p for root in config.bids for p in find_bids_pairs(Path(root), allow_own=config.allow_own_labels)]
    if config.bids and not pairs:
        raise DataError(f"no labelled T1w/T2w image found in {', '.join(map(str, config.bids))}")
    everyone = {s for s, _, _ in pairs}
    unknown = set(config.holdout) - everyone
    if unknown:
        raise DataError(f"-holdout names subjects not in the data: {', '.join(sorted(unknown))}")
    _, val_subjects = split_subjects(everyone, config.val_fraction, config.effective_split_seed, config.holdout)
    train, val = [], []
    for subject, img, lab in pairs:
        case = load_bids_case(subject, img, lab, config.spacing_mm, config.slab_mm, channel_offsets_mm)
        (val if subject in val_subjects else train).append(case)
    return train, val


def case_weights(cases: list, oversample: tuple[tuple[str, float], ...]) -> tuple[float, ...]:
    """Drawing weight of each real case (1, or the factor of the first matching prefix)."""
    return tuple(next((f for prefix, f in oversample if c.subject.startswith(prefix)), 1.0) for c in cases)
