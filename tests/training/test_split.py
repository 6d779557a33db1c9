"""The trainer's subject split: held-out subjects never train, oversampling weights, the seeded split."""

from __future__ import annotations

import pytest

from hca_disc_label.errors import DataError
from hca_disc_label.training.split import case_weights, split_real, split_subjects
from tests.training.test_trainer import _config, small_bids


def test_split_subjects_is_seeded_sorted_and_keeps_the_holdout_out_of_training():
    subjects = [f"sub-{i:02d}" for i in range(10)]
    train, val = split_subjects(subjects, 0.2, 1, holdout=("sub-09",))
    assert (train, val) == split_subjects(subjects[::-1], 0.2, 1, holdout=("sub-09",))
    assert "sub-09" in val and "sub-09" not in train and len(val) == 3
    assert train == sorted(train) and val == sorted(val) and set(train) | set(val) == set(subjects)


def test_holdout_subjects_are_never_trained_on_and_oversampling_weights_them(shared_data, tmp_path):
    bids = small_bids(shared_data, tmp_path, n=4)
    subjects = sorted(p.name for p in bids.glob("sub-*"))
    config = _config(tmp_path, bids, val_fraction=0.0, holdout=(subjects[0],))
    train, val = split_real(config)
    assert {c.subject for c in val} == {subjects[0]}
    assert subjects[0] not in {c.subject for c in train} and len(train) == 3
    assert case_weights(train, ((subjects[1], 4.0),)) == tuple(4.0 if c.subject == subjects[1] else 1.0 for c in train)
    with pytest.raises(DataError, match="sub-nobody"):
        split_real(_config(tmp_path, bids, holdout=("sub-nobody",)))
