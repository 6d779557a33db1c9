"""scripts/landmark_labels.py: the S1/S2 points read by eye become training landmark labels that
``load_bids_case`` picks up; nothing is overwritten, nothing is written inside ../shared."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.conftest import REPO
from tests.helpers import link_bids_subjects, load_script

SCRIPT = REPO / "scripts" / "landmark_labels.py"


def _script():
    return load_script(SCRIPT)


def _tree(shared_data: Path, tmp_path: Path, subjects: tuple[str, ...]) -> Path:
    return link_bids_subjects(shared_data, tmp_path, list(subjects))


def test_s1s2_label_is_written_below_the_lumbar_discs_and_read_for_training(shared_data, tmp_path):
    from hca_disc_label.labelfile import read_disc_labels
    from hca_disc_label.training.data import find_bids_pairs, load_bids_case

    root = _tree(shared_data, tmp_path, ("sub-myo01", "sub-zuk02"))
    script = _script()
    written = script.write_landmarks(root)
    assert [p.parent.parent.name for p in written] == ["sub-zuk02"]  # only the subjects read by eye
    assert read_disc_labels(written[0]) == []  # the landmark value is not a disc value
    cases = {s: load_bids_case(s, i, lab, 1.0) for s, i, lab in find_bids_pairs(root)}
    assert cases["sub-myo01"].landmarks == {}
    zuk = cases["sub-zuk02"]
    assert set(zuk.landmarks) == {126}
    row, col = zuk.landmarks[126]
    l4l5 = zuk.discs[24]
    # S1/S2 lies one to two vertebrae below L4/L5 (model rows grow inferior, 1 mm pixels)
    assert 40 < row - l4l5[0] < 90 and abs(col - l4l5[1]) < 50
    # never overwritten, never written inside ../shared
    with pytest.raises(script.HCAError, match="exists"):
        script.write_landmarks(root)
    assert script.main([str(Path(shared_data) / "bids-train")]) == 1


def test_make_sample_trains_a_labelled_landmark_where_it_is(shared_data, tmp_path):
    from hca_disc_label.training.data import DataSpec, find_bids_pairs, load_bids_case, make_sample

    root = _tree(shared_data, tmp_path, ("sub-zuk02",))
    _script().write_landmarks(root)
    cases = [load_bids_case(s, i, lab, 1.0) for s, i, lab in find_bids_pairs(root)]
    spec = DataSpec(synthetic_fraction=0.0, real_cases=cases, augment_real=0.0, heights=(448,), widths=(320,))
    seen = 0
    for index in range(6):
        sample = make_sample(spec, 0, 0, index)
        assert 126 in sample.known and 126 not in sample.unsure
        seen += 126 in sample.landmarks
    assert seen >= 1
    assert np.isfinite(np.array(cases[0].landmarks[126])).all()
