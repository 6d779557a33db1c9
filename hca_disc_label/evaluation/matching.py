"""Matching predicted discs to ground truth, case by case, in millimetres of world (scanner) space.

Everything here is pure numpy on points that are already in world mm (the coordinates a
label voxel has through its file's affine), so a prediction written on another grid than
the ground truth is still compared correctly, and voxel size or orientation never changes a
distance. Ground truth is only ever compared against; it never steers anything.

Two protocols are computed for each case (one image):

* **Paper protocol** (identity-free, shaped like Table 1 of the HCA-Net paper): every
  ground-truth (GT) disc is matched to its nearest prediction whatever its value. The GT disc
  is a false negative (FN) when that prediction is farther than ``fn_mm``; otherwise the
  distance is a distance-to-target (DTT) sample. A prediction is a false positive (FP) when
  its nearest GT disc is farther than ``fp_mm``. FNR = FN / #GT and FPR = FP / #GT: the paper
  divides **both** by the number of GT discs. One prediction may serve several GT discs, as
  in the paper. The peers apply 7 px (FN) and 10 px (FP) along the S-I axis on ~1 mm images;
  here the thresholds are Euclidean distances in mm (defaults 7 and 10 mm).
* **Label-aware protocol**: a GT disc is *correct* when a prediction with the same SCT value
  lies within ``fn_mm``; identity accuracy = correct / #GT. A GT disc that is not correct is
  *mislabelled* when a prediction of another value lies within ``fn_mm`` of it, else
  *missed*. A predicted value absent from the GT is a FP, split into *inside-range* (between
  the lowest and highest GT value) and *unannotated-range* (outside it: possibly a true disc
  that the annotator simply did not label, e.g. the lumbar GT only labels 21-25). A predicted
  value present in the GT but farther than ``fn_mm`` from it is *misplaced* (counted on the
  GT side as a FN, not as a FP).

Every distance is reported twice (matching always uses the first):

* **3D distance** (``distance_mm``): the Euclidean distance in world mm.
* **Sagittal-plane distance** (``distance_sagittal_mm``): the same pair of points with the
  world left-right axis dropped, i.e. ``hypot(dy, dz)`` in the NIfTI world frame (RAS+ mm as
  nibabel reports it, x = left-right). A labeller that writes every disc on the centre slice
  of a mid-sagittal slab differs from manual labels placed on neighbouring left-right slices
  by an offset that says nothing about disc localisation; the paper's evaluation and SCT's
  ``-discfile`` (which snaps labels onto the cord centreline) only use the position in the
  sagittal plane. FN/FP decisions and identity matching stay on the 3D distance, so adding the
  sagittal numbers changes no count.

Pooling cases into summaries is :mod:`.aggregation`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from hca_disc_label.conventions import DISC_NAMES

logger = logging.getLogger(__name__)

DEFAULT_FN_MM = 7.0
"""Default FN threshold (mm, Euclidean) for both protocols."""

DEFAULT_FP_MM = 10.0
"""Default FP threshold (mm, Euclidean) for the paper protocol."""

NAN = float("nan")

LR_AXIS = 0
"""World axis dropped for the sagittal-plane distance: x of RAS+ world mm (left-right)."""


@dataclass(frozen=True)
class Disc:
    """One disc label in world space.

    Attributes:
        value: SCT disc value (2..25).
        mm: world (scanner) coordinates in mm, through the label file's affine (x, y, z of
            the NIfTI world frame, i.e. RAS+ mm as nibabel reports them).
    """

    value: int
    mm: tuple[float, float, float]

    @property
    def name(self) -> str:
        """SCT name of the disc, e.g. ``"C2/C3"``."""
        return DISC_NAMES.get(self.value, str(self.value))


def distance_mm(a: Disc, b: Disc) -> float:
    """Euclidean 3D distance between two discs, in world mm."""
    return float(np.linalg.norm(np.subtract(a.mm, b.mm)))


def sagittal_distance_mm(a: Disc, b: Disc) -> float:
    """Distance in the sagittal plane (world left-right axis dropped), in mm.

    ``hypot(dy, dz)`` of the world (RAS+) coordinates: a pure left-right offset gives 0.
    """
    d = np.subtract(a.mm, b.mm)
    return float(np.hypot(*np.delete(d, LR_AXIS)))


def discs_from_points(points: Iterable[Any], source: str = "") -> list[Disc]:
    """Turn label points into one :class:`Disc` per SCT disc value, sorted by value.

    Args:
        points: objects with ``value`` (int) and ``mm`` (3 floats, world mm) attributes, such
            as ``hca_disc_label.labelfile.LabelPoint``; one per non-zero voxel or already one per
            value.
        source: file name used in warnings.

    Returns:
        Discs sorted by value. Several points with one value are replaced by their centroid in
        mm (with a warning); values that are not disc values (1, 49, 50, 60, ...) are dropped
        with a warning.
    """
    grouped: dict[int, list[tuple[float, float, float]]] = {}
    for point in points:
        grouped.setdefault(int(point.value), []).append(tuple(float(c) for c in point.mm))
    discs = []
    for value in sorted(grouped):
        coords = grouped[value]
        if value not in DISC_NAMES:
            logger.warning("%s: label value %d is not an SCT disc value (2..25); ignored",
                           source or "labels", value)
            continue
        if len(coords) > 1:
            logger.warning("%s: %d voxels have value %d (%s); using their centroid",
                           source or "labels", len(coords), value, DISC_NAMES[value])
        centroid = np.mean(np.asarray(coords, dtype=float), axis=0)
        discs.append(Disc(value, (float(centroid[0]), float(centroid[1]), float(centroid[2]))))
    return discs


# --------------------------------------------------------------------------- paper protocol
@dataclass(frozen=True)
class PaperGTMatch:
    """Paper protocol outcome of one GT disc.

    Attributes:
        value: GT disc value.
        nearest_value: value of the nearest prediction (any value), None without predictions.
        distance_mm: Euclidean distance to that prediction (nan without predictions).
        matched: distance_mm <= fn_mm (else the GT disc is a FN).
        distance_sagittal_mm: sagittal-plane distance (left-right axis dropped) to the same
            prediction (nan without predictions); the nearest prediction is chosen in 3D.
    """

    value: int
    nearest_value: int | None
    distance_mm: float
    matched: bool
    distance_sagittal_mm: float = NAN


@dataclass(frozen=True)
class PaperPredMatch:
    """Paper protocol outcome of one prediction.

    Attributes:
        value: predicted disc value.
        nearest_gt_value: value of the nearest GT disc, None when the GT is empty.
        distance_mm: distance to that GT disc (nan when the GT is empty).
        false_positive: distance_mm > fp_mm (or no GT at all).
    """

    value: int
    nearest_gt_value: int | None
    distance_mm: float
    false_positive: bool


@dataclass(frozen=True)
class PaperCaseMetrics:
    """Paper protocol (identity-free nearest match) of one case."""

    gt: tuple[PaperGTMatch, ...]
    pred: tuple[PaperPredMatch, ...]

    @property
    def n_fn(self) -> int:
        """GT discs without a prediction within fn_mm."""
        return sum(not m.matched for m in self.gt)

    @property
    def n_fp(self) -> int:
        """Predictions whose nearest GT disc is farther than fp_mm."""
        return sum(m.false_positive for m in self.pred)


def _distance_matrix(a: Sequence[Disc], b: Sequence[Disc]) -> np.ndarray:
    """Euclidean mm distances, shape (len(a), len(b))."""
    pa = np.asarray([d.mm for d in a], dtype=float).reshape(-1, 3)
    pb = np.asarray([d.mm for d in b], dtype=float).reshape(-1, 3)
    return np.linalg.norm(pa[:, None, :] - pb[None, :, :], axis=-1)


def paper_protocol(gt: Sequence[Disc], pred: Sequence[Disc], fn_mm: float = DEFAULT_FN_MM,
                   fp_mm: float = DEFAULT_FP_MM) -> PaperCaseMetrics:
    """Identity-free nearest-neighbour matching, as in the paper's Table 1 (but in mm).

    Args:
        gt: ground-truth discs (world mm).
        pred: predicted discs (world mm).
        fn_mm: a GT disc whose nearest prediction is farther than this is a FN.
        fp_mm: a prediction whose nearest GT disc is farther than this is a FP.

    Returns:
        Per-GT and per-prediction outcomes, in the input orders.
    """
    dist = _distance_matrix(gt, pred)
    gt_matches = []
    for i, disc in enumerate(gt):
        if len(pred) == 0:
            gt_matches.append(PaperGTMatch(disc.value, None, NAN, False))
            continue
        j = int(np.argmin(dist[i]))
        d = float(dist[i, j])
        gt_matches.append(PaperGTMatch(disc.value, pred[j].value, d, d <= fn_mm,
                                       sagittal_distance_mm(disc, pred[j])))
    pred_matches = []
    for j, disc in enumerate(pred):
        if len(gt) == 0:
            pred_matches.append(PaperPredMatch(disc.value, None, NAN, True))
            continue
        i = int(np.argmin(dist[:, j]))
        d = float(dist[i, j])
        pred_matches.append(PaperPredMatch(disc.value, gt[i].value, d, d > fp_mm))
    return PaperCaseMetrics(tuple(gt_matches), tuple(pred_matches))


# --------------------------------------------------------------------- label-aware protocol
GT_CORRECT = "correct"
GT_MISLABELLED = "mislabelled"
GT_MISSED = "missed"
PRED_CORRECT = "correct"
PRED_MISPLACED = "misplaced"
PRED_FP_INSIDE = "fp_inside_range"
PRED_FP_UNANNOTATED = "fp_unannotated_range"


@dataclass(frozen=True)
class LabelGTMatch:
    """Label-aware outcome of one GT disc.

    Attributes:
        value: GT disc value.
        distance_mm: distance to the prediction with the same value (nan if there is none),
            recorded even when it is farther than fn_mm.
        status: ``"correct"`` (same value within fn_mm), ``"mislabelled"`` (not correct, but a
            prediction of another value lies within fn_mm) or ``"missed"``.
        mislabelled_as: value of the nearest other-valued prediction within fn_mm when
            mislabelled, else None.
        distance_sagittal_mm: sagittal-plane distance (left-right axis dropped) to the
            prediction with the same value (nan if there is none); never used for the status.
    """

    value: int
    distance_mm: float
    status: str
    mislabelled_as: int | None = None
    distance_sagittal_mm: float = NAN

    @property
    def correct(self) -> bool:
        """Same-value prediction within fn_mm."""
        return self.status == GT_CORRECT


@dataclass(frozen=True)
class LabelPredMatch:
    """Label-aware outcome of one prediction.

    Attributes:
        value: predicted value.
        status: ``"correct"``, ``"misplaced"`` (value in the GT but farther than fn_mm),
            ``"fp_inside_range"`` or ``"fp_unannotated_range"`` (value absent from the GT,
            inside / outside the GT's lowest..highest labelled value).
    """

    value: int
    status: str

    @property
    def false_positive(self) -> bool:
        """Predicted value absent from the GT."""
        return self.status in (PRED_FP_INSIDE, PRED_FP_UNANNOTATED)


@dataclass(frozen=True)
class LabelCaseMetrics:
    """Label-aware protocol (match by SCT value) of one case."""

    gt: tuple[LabelGTMatch, ...]
    pred: tuple[LabelPredMatch, ...]

    def count(self, status: str, side: str = "gt") -> int:
        """Number of GT (``side="gt"``) or predicted (``"pred"``) discs with ``status``."""
        items = self.gt if side == "gt" else self.pred
        return sum(m.status == status for m in items)


def label_aware_protocol(gt: Sequence[Disc], pred: Sequence[Disc],
                         fn_mm: float = DEFAULT_FN_MM) -> LabelCaseMetrics:
    """Match discs by SCT value (identity matters).

    Args:
        gt: ground-truth discs, at most one per value (see :func:`discs_from_points`).
        pred: predicted discs, at most one per value.
        fn_mm: distance within which a same-value prediction is correct (and within which an
            other-valued prediction makes a GT disc "mislabelled").

    Returns:
        Per-GT and per-prediction outcomes, in the input orders.
    """
    pred_by_value = {d.value: d for d in pred}
    gt_by_value = {d.value: d for d in gt}
    dist = _distance_matrix(gt, pred)
    gt_matches = []
    for i, disc in enumerate(gt):
        same = pred_by_value.get(disc.value)
        d_same = NAN if same is None else distance_mm(disc, same)
        d_sag = NAN if same is None else sagittal_distance_mm(disc, same)
        if same is not None and d_same <= fn_mm:
            gt_matches.append(LabelGTMatch(disc.value, d_same, GT_CORRECT,
                                           distance_sagittal_mm=d_sag))
            continue
        others = [(float(dist[i, j]), p.value) for j, p in enumerate(pred)
                  if p.value != disc.value and dist[i, j] <= fn_mm]
        if others:
            gt_matches.append(LabelGTMatch(disc.value, d_same, GT_MISLABELLED, min(others)[1],
                                           distance_sagittal_mm=d_sag))
        else:
            gt_matches.append(LabelGTMatch(disc.value, d_same, GT_MISSED,
                                           distance_sagittal_mm=d_sag))
    lo = min(gt_by_value, default=None)
    hi = max(gt_by_value, default=None)
    pred_matches = []
    for disc in pred:
        target = gt_by_value.get(disc.value)
        if target is not None:
            d = distance_mm(disc, target)
            pred_matches.append(LabelPredMatch(disc.value,
                                               PRED_CORRECT if d <= fn_mm else PRED_MISPLACED))
        elif lo is not None and lo < disc.value < hi:
            pred_matches.append(LabelPredMatch(disc.value, PRED_FP_INSIDE))
        else:
            pred_matches.append(LabelPredMatch(disc.value, PRED_FP_UNANNOTATED))
    return LabelCaseMetrics(tuple(gt_matches), tuple(pred_matches))


# ------------------------------------------------------------------------------ one case
@dataclass(frozen=True)
class CaseMetrics:
    """Both protocols for one case.

    Attributes:
        case: case identifier (the image stem, e.g. ``"sub-01_T2w"``).
        gt: GT discs sorted by value.
        pred: predicted discs sorted by value (empty when the prediction file is missing).
        paper: paper protocol outcome.
        label: label-aware protocol outcome.
        pred_missing: no prediction file existed for this case (all GT discs are FN).
    """

    case: str
    gt: tuple[Disc, ...]
    pred: tuple[Disc, ...]
    paper: PaperCaseMetrics
    label: LabelCaseMetrics
    pred_missing: bool = False


def evaluate_case(case: str, gt: Sequence[Disc], pred: Sequence[Disc] | None,
                  fn_mm: float = DEFAULT_FN_MM, fp_mm: float = DEFAULT_FP_MM) -> CaseMetrics:
    """Compute both protocols for one case.

    Args:
        case: case identifier used in reports.
        gt: ground-truth discs (world mm), one per value.
        pred: predicted discs (world mm), one per value; None when the prediction file is
            missing (then every GT disc is a FN and the case is flagged).
        fn_mm: FN threshold in mm (both protocols).
        fp_mm: FP threshold in mm (paper protocol).
    """
    if fn_mm <= 0 or fp_mm <= 0:
        raise ValueError("fn_mm and fp_mm must be positive (mm)")
    gt_sorted = tuple(sorted(gt, key=lambda d: d.value))
    pred_sorted = tuple(sorted(pred or (), key=lambda d: d.value))
    return CaseMetrics(
        case=case,
        gt=gt_sorted,
        pred=pred_sorted,
        paper=paper_protocol(gt_sorted, pred_sorted, fn_mm, fp_mm),
        label=label_aware_protocol(gt_sorted, pred_sorted, fn_mm),
        pred_missing=pred is None,
    )
