"""Evaluation results: per-case outcomes, summaries by contrast and subject, and their tables.

All distances are in mm of world space (see :mod:`hca_disc_label.evaluation.matching` for the
two protocols), each given as a 3D distance and as a sagittal-plane distance (world left-right
axis dropped). The Markdown tables here are what the CLI prints; the report files are
:mod:`.writers`, the plots :mod:`.plots`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from hca_disc_label.evaluation.aggregation import (
    DistanceStats,
    GroupSummary,
    NumberedCase,
    SelectiveAccuracy,
    is_nan,
    numbered_case,
    reliability_bins,
    selective_accuracy,
    summarise,
)
from hca_disc_label.evaluation.discovery import LabelFile
from hca_disc_label.evaluation.matching import CaseMetrics

TABLE_CONTRASTS: tuple[str, ...] = ("T1", "T2")
"""Contrast columns always shown in the paper-shaped table (others are added when present)."""


@dataclass(frozen=True)
class CaseResult:
    """One evaluated case: where its files are and both protocols' outcomes.

    Attributes:
        gt_file: the ground-truth label file (stem, subject, session, contrast).
        pred_path: the prediction file, None when it was missing.
        metrics: per-disc outcomes of both protocols.
        numbering: the prediction sidecar's ``Numbering`` block (None when it has none).
    """

    gt_file: LabelFile
    pred_path: Path | None
    metrics: CaseMetrics
    numbering: dict | None = None

    @property
    def case(self) -> str:
        """Image stem, e.g. ``"sub-01_T2w"``."""
        return self.gt_file.stem

    @property
    def subject(self) -> str:
        """BIDS subject, or the stem when it has none."""
        return self.gt_file.subject or self.gt_file.stem

    @property
    def contrast(self) -> str:
        """``"T1"``, ``"T2"`` or another BIDS suffix."""
        return self.gt_file.contrast


@dataclass
class EvaluationResult:
    """Outcome of :func:`hca_disc_label.evaluation.evaluate.evaluate`.

    Attributes:
        cases: one entry per ground-truth image, sorted by stem.
        method: method name used in the tables.
        fn_mm: FN threshold (mm) used by both protocols.
        fp_mm: FP threshold (mm) used by the paper protocol.
        pred_root: where the predictions were read.
        gt_root: where the ground truth was read.
        orphan_predictions: prediction files whose image has no ground truth (not evaluated).
        files: report files written, by kind (``"per_disc"``, ``"summary_md"``...).
    """

    cases: list[CaseResult]
    method: str
    fn_mm: float
    fp_mm: float
    pred_root: Path
    gt_root: Path
    orphan_predictions: list[LabelFile] = field(default_factory=list)
    files: dict[str, Path] = field(default_factory=dict)

    # ------------------------------------------------------------------ summaries
    def summary(self, contrast: str | None = None, subject: str | None = None) -> GroupSummary:
        """Pooled summary of all cases, or of one contrast and/or one subject."""
        chosen = [c.metrics for c in self.cases
                  if (contrast is None or c.contrast == contrast)
                  and (subject is None or c.subject == subject)]
        return summarise(chosen)

    @property
    def overall(self) -> GroupSummary:
        """Pooled summary of every case."""
        return self.summary()

    def contrasts(self) -> list[str]:
        """Contrasts present among the cases, T1 and T2 first."""
        present = {c.contrast for c in self.cases}
        return [c for c in TABLE_CONTRASTS if c in present] + sorted(present - set(TABLE_CONTRASTS))

    def subjects(self) -> list[str]:
        """Subjects present among the cases, sorted."""
        return sorted({c.subject for c in self.cases})

    # ------------------------------------------------------------------ numbering status
    def numbered_cases(self) -> list[NumberedCase]:
        """Every case with its numbering status and confidence (None / nan when absent)."""
        return [numbered_case(c.metrics, c.numbering) for c in self.cases if not c.metrics.pred_missing]

    def selective(self) -> SelectiveAccuracy:
        """Selective accuracy: identity of ``ok`` vs ``check`` images, coverage."""
        return selective_accuracy(self.numbered_cases())

    def has_numbering(self) -> bool:
        """True when at least one prediction carries a ``Numbering`` block."""
        return any(c.status is not None for c in self.numbered_cases())

    def reliability(self, bins: int = 10) -> list[tuple[float, float, int, float, float]]:
        """Confidence bins vs observed share of images without a wrong value."""
        cases = [c for c in self.numbered_cases() if c.status is not None]
        return reliability_bins([c.confidence for c in cases], [not c.wrong_value for c in cases], bins)

    def numbering_table(self) -> str:
        """Markdown table of the selective accuracy (one row)."""
        s = self.selective()
        head = ["images", "ok", "check", "coverage %", "identity ok %", "identity check %",
                "images with a wrong value", "of them check"]
        row = [str(s.n_images), str(s.n_ok), str(s.n_check), _num(100.0 * s.coverage, 1),
               f"{_num(s.identity_ok_pct, 1)} ({s.correct_ok}/{s.gt_ok})",
               f"{_num(s.identity_check_pct, 1)} ({s.correct_check}/{s.gt_check})",
               str(s.wrong_images), str(s.wrong_flagged)]
        return _markdown([head, row])

    def reliability_table(self, bins: int = 10) -> str:
        """Markdown reliability diagram: confidence bin, images, mean confidence, observed."""
        rows = [["confidence", "images", "mean confidence", "all values right"]]
        for lo, hi, n, mean, acc in self.reliability(bins):
            if n:
                rows.append([f"{lo:.1f}-{hi:.1f}", str(n), _num(mean, 3), _num(acc, 3)])
        return _markdown(rows)

    @property
    def missing_predictions(self) -> list[str]:
        """Cases whose prediction file was missing (counted as all FN)."""
        return [c.case for c in self.cases if c.metrics.pred_missing]

    # ------------------------------------------------------------------ tables
    def paper_table(self) -> str:
        """Markdown table shaped like the paper's Table 1 (paper protocol, one row).

        Per contrast: 3D DTT, sagittal-plane DTT (same matched discs, left-right axis
        dropped), FNR and FPR.
        """
        contrasts = self._table_contrasts()
        head = ["method"]
        for c in contrasts:
            head += [f"{c} DTT mm", f"{c} DTT sag. mm", f"{c} FNR %", f"{c} FPR %"]
        row = [self.method]
        for c in contrasts:
            s = self.summary(contrast=c)
            row += [_mean_sd(s.paper_dtt), _mean_sd(s.paper_dtt_sagittal),
                    _num(s.paper_fnr_pct), _num(s.paper_fpr_pct)]
        return _markdown([head, row])

    def label_table(self) -> str:
        """Markdown table of the label-aware protocol, one row per contrast and overall."""
        head = ["method", "contrast", "cases", "GT discs", "identity acc %", "DTT mm",
                "median mm", "median sag. mm", "max mm (disc)", "FNR %", "FPR %", "mislabelled",
                "missed", "FP inside range", "FP unannotated range"]
        rows = [head]
        groups = [(c, self.summary(contrast=c)) for c in self.contrasts()] + [("all", self.overall)]
        for name, s in groups:
            rows.append([self.method, name, str(s.n_cases), str(s.n_gt),
                         _num(s.identity_accuracy_pct), _mean_sd(s.label_dtt),
                         _num(s.label_dtt.median), _num(s.label_dtt_sagittal.median),
                         _max_worst(s.label_dtt), _num(s.label_fnr_pct),
                         _num(s.label_fpr_pct), str(s.label_mislabelled), str(s.label_missed),
                         str(s.label_fp_inside_range), str(s.label_fp_unannotated_range)])
        return _markdown(rows)

    def subject_table(self) -> str:
        """Markdown table with one row per subject (both protocols)."""
        head = ["subject", "cases", "GT discs", "pred discs", "paper DTT mm", "paper median mm",
                "paper median sag. mm", "paper max mm (disc)", "FNR %", "FPR %", "identity acc %",
                "label DTT mm", "label median mm", "label FP inside / unannotated"]
        rows = [head]
        for subject in self.subjects():
            s = self.summary(subject=subject)
            rows.append([subject, str(s.n_cases), str(s.n_gt), str(s.n_pred),
                         _mean_sd(s.paper_dtt), _num(s.paper_dtt.median),
                         _num(s.paper_dtt_sagittal.median), _max_worst(s.paper_dtt),
                         _num(s.paper_fnr_pct), _num(s.paper_fpr_pct),
                         _num(s.identity_accuracy_pct), _mean_sd(s.label_dtt),
                         _num(s.label_dtt.median),
                         f"{s.label_fp_inside_range} / {s.label_fp_unannotated_range}"])
        return _markdown(rows)

    def tables_markdown(self) -> str:
        """The two headline tables (paper protocol, label-aware), as printed by the CLI."""
        text = (f"Paper protocol (identity-free nearest match, mm):\n\n{self.paper_table()}\n\n"
                f"Label-aware protocol (match by SCT value, mm):\n\n{self.label_table()}\n\n"
                "DTT mm: 3D distance; sag.: sagittal-plane distance (world left-right axis "
                "dropped). Matching, FN and FP use the 3D distance.\n")
        if self.has_numbering():
            checks = ", ".join(self.selective().check_cases) or "none"
            text += (f"\nNumbering status (selective accuracy; check: {checks}):\n\n{self.numbering_table()}\n\n"
                     f"Reliability (confidence bins vs observed):\n\n{self.reliability_table()}\n")
        return text

    def _table_contrasts(self) -> list[str]:
        return list(TABLE_CONTRASTS) + [c for c in self.contrasts() if c not in TABLE_CONTRASTS]


def _num(value: float, digits: int = 2) -> str:
    return "n/a" if value is None or is_nan(value) else f"{value:.{digits}f}"


def _mean_sd(stats: DistanceStats) -> str:
    if stats.n == 0:
        return "n/a"
    return f"{stats.mean:.2f} (±{stats.sd:.2f})"


def _max_worst(stats: DistanceStats) -> str:
    if stats.n == 0:
        return "n/a"
    return f"{stats.max:.2f} ({stats.worst})"


def _markdown(rows: Sequence[Sequence[str]]) -> str:
    def line(cells: Iterable[str]) -> str:
        return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"

    head, *body = rows
    return "\n".join([line(head), "|" + "---|" * len(head)] + [line(r) for r in body])
