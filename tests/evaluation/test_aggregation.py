"""evaluation.aggregation: summaries pooled over cases, with answers worked out by hand."""

from __future__ import annotations

import math

import pytest

from hca_disc_label.evaluation.aggregation import DistanceStats, summarise
from hca_disc_label.evaluation.matching import evaluate_case
from tests.evaluation.helpers import GT, moved


def test_summaries_pool_discs_across_cases():
    a = evaluate_case("a", GT, moved(GT, dz=1.0))  # 5 discs at 1 mm
    b = evaluate_case("b", GT[:1], moved(GT[:1], dz=6.0))  # 1 disc at 6 mm
    s = summarise([a, b])
    assert s.n_gt == 6 and s.paper_dtt.n == 6
    assert s.paper_dtt.mean == pytest.approx(11 / 6)  # micro-average, not mean of case means
    assert s.paper_dtt.max == pytest.approx(6.0) and s.paper_dtt.worst == "b C2/C3"
    assert s.paper_dtt.median == pytest.approx(1.0)
    assert s.paper_dtt.sd == pytest.approx(((5 * (1 - 11 / 6) ** 2 + (6 - 11 / 6) ** 2) / 6) ** 0.5)


def test_distance_stats_empty():
    st = DistanceStats.from_samples([])
    assert st.n == 0 and st.worst is None and math.isnan(st.median)
