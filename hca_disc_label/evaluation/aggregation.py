"""Pooling evaluated cases: distance statistics, group summaries, numbering selective accuracy.

Pooled summaries (:func:`summarise`) are micro-averages over discs: DTT statistics pool all
matched discs of the group, FNR/FPR divide the group's FN/FP counts by its GT disc count.
Standard deviations are population standard deviations (``ddof=0``). The per-case matching
and both protocols are :mod:`.matching`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hca_disc_label.conventions import DISC_NAMES
from hca_disc_label.evaluation.matching import (
    GT_CORRECT,
    GT_MISLABELLED,
    GT_MISSED,
    NAN,
    PRED_CORRECT,
    PRED_FP_INSIDE,
    PRED_FP_UNANNOTATED,
    PRED_MISPLACED,
    CaseMetrics,
)


@dataclass(frozen=True)
class DistanceStats:
    """Statistics of a set of distances in mm (nan when empty).

    Attributes:
        n: number of distances.
        mean, sd, median, max: in mm; sd is the population standard deviation (ddof=0).
        worst: ``"<case> <disc name>"`` of the largest distance, None when empty.
    """

    n: int
    mean: float
    sd: float
    median: float
    max: float
    worst: str | None

    @classmethod
    def from_samples(cls, samples: Sequence[tuple[float, str]]) -> DistanceStats:
        """Build from ``(distance_mm, "<case> <disc name>")`` pairs."""
        if not samples:
            return cls(0, NAN, NAN, NAN, NAN, None)
        values = np.asarray([s[0] for s in samples], dtype=float)
        k = int(np.argmax(values))
        return cls(len(values), float(values.mean()), float(values.std()),
                   float(np.median(values)), float(values[k]), samples[k][1])


def _pct(num: int, den: int) -> float:
    return 100.0 * num / den if den else NAN


@dataclass(frozen=True)
class GroupSummary:
    """Pooled (micro-averaged over discs) metrics of a group of cases.

    Counts are numbers of discs; percentages are in % of the group's GT disc count ``n_gt``
    (nan when ``n_gt`` is 0). ``paper_*`` fields follow the paper protocol, ``label_*`` the
    label-aware protocol (see the module docstring). ``*_dtt`` are 3D distances and
    ``*_dtt_sagittal`` the sagittal-plane distances (left-right axis dropped) of the *same*
    matched discs (matching is decided in 3D), so both have the same ``n``.
    """

    n_cases: int
    n_pred_missing: int
    n_gt: int
    n_pred: int
    paper_matched: int
    paper_fn: int
    paper_fp: int
    paper_fnr_pct: float
    paper_fpr_pct: float
    paper_dtt: DistanceStats
    paper_dtt_sagittal: DistanceStats
    label_correct: int
    identity_accuracy_pct: float
    label_fn: int
    label_mislabelled: int
    label_missed: int
    label_misplaced: int
    label_fp_inside_range: int
    label_fp_unannotated_range: int
    label_fnr_pct: float
    label_fpr_pct: float
    label_fpr_inside_range_pct: float
    label_dtt: DistanceStats
    label_dtt_sagittal: DistanceStats
    cases: tuple[str, ...] = field(default=())

    def as_dict(self) -> dict[str, Any]:
        """Flat dict (DTT stats expanded as ``paper_dtt_mean_mm``,
        ``paper_dtt_sagittal_mean_mm`` ...), nan kept as float."""
        out: dict[str, Any] = {}
        for key, value in self.__dict__.items():
            if key == "cases":
                continue
            if isinstance(value, DistanceStats):
                out[f"{key}_n"] = value.n
                for stat in ("mean", "sd", "median", "max"):
                    out[f"{key}_{stat}_mm"] = getattr(value, stat)
                out[f"{key}_worst"] = value.worst
            else:
                out[key] = value
        return out


def summarise(cases: Sequence[CaseMetrics]) -> GroupSummary:
    """Pool the discs of several cases into one :class:`GroupSummary`."""
    paper_samples: list[tuple[float, str]] = []
    paper_sag_samples: list[tuple[float, str]] = []
    label_samples: list[tuple[float, str]] = []
    label_sag_samples: list[tuple[float, str]] = []
    n_gt = n_pred = 0
    paper_fn = paper_fp = 0
    counts = {s: 0 for s in (GT_CORRECT, GT_MISLABELLED, GT_MISSED)}
    pred_counts = {s: 0 for s in (PRED_CORRECT, PRED_MISPLACED, PRED_FP_INSIDE,
                                  PRED_FP_UNANNOTATED)}
    for c in cases:
        n_gt += len(c.gt)
        n_pred += len(c.pred)
        paper_fn += c.paper.n_fn
        paper_fp += c.paper.n_fp
        for m in c.paper.gt:
            if m.matched:
                where = f"{c.case} {DISC_NAMES[m.value]}"
                paper_samples.append((m.distance_mm, where))
                paper_sag_samples.append((m.distance_sagittal_mm, where))
        for m in c.label.gt:
            counts[m.status] += 1
            if m.correct:
                where = f"{c.case} {DISC_NAMES[m.value]}"
                label_samples.append((m.distance_mm, where))
                label_sag_samples.append((m.distance_sagittal_mm, where))
        for p in c.label.pred:
            pred_counts[p.status] += 1
    label_fn = n_gt - counts[GT_CORRECT]
    label_fp = pred_counts[PRED_FP_INSIDE] + pred_counts[PRED_FP_UNANNOTATED]
    return GroupSummary(
        n_cases=len(cases),
        n_pred_missing=sum(c.pred_missing for c in cases),
        n_gt=n_gt,
        n_pred=n_pred,
        paper_matched=n_gt - paper_fn,
        paper_fn=paper_fn,
        paper_fp=paper_fp,
        paper_fnr_pct=_pct(paper_fn, n_gt),
        paper_fpr_pct=_pct(paper_fp, n_gt),
        paper_dtt=DistanceStats.from_samples(paper_samples),
        paper_dtt_sagittal=DistanceStats.from_samples(paper_sag_samples),
        label_correct=counts[GT_CORRECT],
        identity_accuracy_pct=_pct(counts[GT_CORRECT], n_gt),
        label_fn=label_fn,
        label_mislabelled=counts[GT_MISLABELLED],
        label_missed=counts[GT_MISSED],
        label_misplaced=pred_counts[PRED_MISPLACED],
        label_fp_inside_range=pred_counts[PRED_FP_INSIDE],
        label_fp_unannotated_range=pred_counts[PRED_FP_UNANNOTATED],
        label_fnr_pct=_pct(label_fn, n_gt),
        label_fpr_pct=_pct(label_fp, n_gt),
        label_fpr_inside_range_pct=_pct(pred_counts[PRED_FP_INSIDE], n_gt),
        label_dtt=DistanceStats.from_samples(label_samples),
        label_dtt_sagittal=DistanceStats.from_samples(label_sag_samples),
        cases=tuple(c.case for c in cases),
    )


def is_nan(value: Any) -> bool:
    """True for float nan (and numpy floats), False for anything else."""
    return isinstance(value, float) and math.isnan(value)


# ------------------------------------------------------------ numbering confidence (selective)
# How well the per-image numbering status (sidecar ``Numbering``: ``ok`` / ``check`` with a
# confidence) separates images whose values are right from those with a wrong value.

NUMBERING_OK = "ok"
NUMBERING_CHECK = "check"


@dataclass(frozen=True)
class NumberedCase:
    """One image with its numbering status and its label-aware outcome.

    Attributes:
        case: image stem.
        status: ``"ok"``, ``"check"``, or None when the prediction carries no ``Numbering``.
        confidence: the sidecar's numbering confidence (nan when absent).
        n_gt, n_correct: GT discs and those found with their value (label-aware protocol).
        wrong_value: a GT disc is mislabelled (a prediction of another value lies on it).
    """

    case: str
    status: str | None
    confidence: float
    n_gt: int
    n_correct: int
    wrong_value: bool


def numbered_case(metrics: CaseMetrics, numbering: dict | None) -> NumberedCase:
    """Combine a case's metrics with its sidecar's ``Numbering`` block (or None)."""
    status = None if not numbering else numbering.get("status")
    conf = NAN if not numbering or numbering.get("confidence") is None else float(numbering["confidence"])
    return NumberedCase(metrics.case, status, conf, len(metrics.gt), metrics.label.count(GT_CORRECT),
                        metrics.label.count(GT_MISLABELLED) > 0)


@dataclass(frozen=True)
class SelectiveAccuracy:
    """Identity of ``ok`` images vs ``check`` images.

    Attributes:
        n_images: images with a numbering status (others are ignored here).
        n_ok, n_check: images per status; ``coverage`` = n_ok / n_images.
        gt_ok, correct_ok, gt_check, correct_check: GT discs and correct ones per status;
            ``identity_ok_pct`` / ``identity_check_pct`` = correct / GT in %.
        wrong_images: images with a wrong value; ``wrong_flagged``: of them ``check``.
        check_cases: stems of the ``check`` images.
        n_without_status: images whose prediction had no ``Numbering`` block.
    """

    n_images: int
    n_ok: int
    n_check: int
    coverage: float
    gt_ok: int
    correct_ok: int
    gt_check: int
    correct_check: int
    identity_ok_pct: float
    identity_check_pct: float
    wrong_images: int
    wrong_flagged: int
    check_cases: tuple[str, ...] = ()
    n_without_status: int = 0

    def as_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out["check_cases"] = list(self.check_cases)
        return out


def selective_accuracy(cases: Sequence[NumberedCase]) -> SelectiveAccuracy:
    """Pool images by numbering status (micro-average over GT discs)."""
    rated = [c for c in cases if c.status in (NUMBERING_OK, NUMBERING_CHECK)]
    ok = [c for c in rated if c.status == NUMBERING_OK]
    check = [c for c in rated if c.status == NUMBERING_CHECK]
    gt_ok, cor_ok = sum(c.n_gt for c in ok), sum(c.n_correct for c in ok)
    gt_ck, cor_ck = sum(c.n_gt for c in check), sum(c.n_correct for c in check)
    wrong = [c for c in rated if c.wrong_value]
    return SelectiveAccuracy(
        n_images=len(rated), n_ok=len(ok), n_check=len(check),
        coverage=len(ok) / len(rated) if rated else NAN,
        gt_ok=gt_ok, correct_ok=cor_ok, gt_check=gt_ck, correct_check=cor_ck,
        identity_ok_pct=_pct(cor_ok, gt_ok), identity_check_pct=_pct(cor_ck, gt_ck),
        wrong_images=len(wrong), wrong_flagged=sum(c.status == NUMBERING_CHECK for c in wrong),
        check_cases=tuple(c.case for c in check), n_without_status=len(cases) - len(rated),
    )


def reliability_bins(confidence: Sequence[float], correct: Sequence[bool], bins: int = 10
                     ) -> list[tuple[float, float, int, float, float]]:
    """Reliability diagram data: ``(low, high, images, mean confidence, share correct)`` for
    ``bins`` equal confidence bins over [0, 1] (the last bin includes 1; nan where empty).
    ``correct`` is per image ("every value right"); nan confidences are skipped."""
    conf = np.asarray(confidence, dtype=float)
    ok = np.asarray(correct, dtype=bool)
    keep = ~np.isnan(conf)
    conf, ok = conf[keep], ok[keep]
    edges = np.linspace(0.0, 1.0, bins + 1)
    idx = np.clip(np.digitize(conf, edges[1:-1], right=False), 0, bins - 1)
    out = []
    for b in range(bins):
        sel = idx == b
        n = int(sel.sum())
        out.append((float(edges[b]), float(edges[b + 1]), n, float(conf[sel].mean()) if n else NAN,
                    float(ok[sel].mean()) if n else NAN))
    return out
