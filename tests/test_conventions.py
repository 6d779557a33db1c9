"""conventions: the one check of each user value (disc threshold, numbering threshold, contrast)."""

from __future__ import annotations

import pytest

from hca_disc_label.conventions import CONTRASTS, check_contrast, check_numbering_threshold, check_threshold
from hca_disc_label.errors import HCAError, ModelError


def test_threshold_in_the_open_unit_interval():
    assert check_threshold(0.3) == 0.3 and isinstance(check_threshold(1 / 2), float)
    for bad in (0.0, 1.0, -0.1, float("nan")):
        with pytest.raises(HCAError, match=r"threshold must be in \(0, 1\)"):
            check_threshold(bad)


def test_numbering_threshold_in_the_closed_unit_interval_or_none():
    assert check_numbering_threshold(None) is None
    assert check_numbering_threshold(0) == 0.0 and check_numbering_threshold(1) == 1.0
    for bad in (1.01, -0.5, float("nan")):
        with pytest.raises(HCAError, match=r"numbering threshold must be in \[0, 1\]"):
            check_numbering_threshold(bad)


def test_contrast_is_one_of_the_known():
    assert [check_contrast(c) for c in CONTRASTS] == list(CONTRASTS)
    with pytest.raises(HCAError, match="unknown contrast 't3'"):
        check_contrast("t3")
    with pytest.raises(ModelError, match="unknown contrast 't3'"):  # the registry's error type
        check_contrast("t3", ModelError)
