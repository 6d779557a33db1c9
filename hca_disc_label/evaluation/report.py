"""Evaluation results and their reports: per-disc/per-case CSV, Markdown, JSON and a plot.

All distances are in mm of world space (see :mod:`hca_disc_label.evaluation.metrics` for the
two protocols), each given as a 3D distance and as a sagittal-plane distance (world left-right
axis dropped). Files are written atomically (temp file + rename) so an interrupted run never
leaves a half-written report.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hca_disc_label._version import __version__
from hca_disc_label.conventions import DISC_NAMES
from hca_disc_label.evaluation.discovery import LabelFile
from hca_disc_label.evaluation.metrics import (
    CaseMetrics,
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

logger = logging.getLogger(__name__)

TABLE_CONTRASTS: tuple[str, ...] = ("T1", "T2")
"""Contrast columns always shown in the paper-shaped table (others are added when present)."""

PER_DISC_CSV = "per_disc.csv"
PER_CASE_CSV = "per_case.csv"
SUMMARY_MD = "summary.md"
SUMMARY_JSON = "summary.json"
PLOT_PNG = "error_per_level.png"
RELIABILITY_PNG = "numbering_reliability.png"


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
    """Outcome of :func:`hca_disc_label.evaluation.evaluate`.

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
    def per_disc_rows(self) -> list[dict[str, Any]]:
        """Rows of ``per_disc.csv``: one per (case, disc value) in the GT or the prediction."""
        rows: list[dict[str, Any]] = []
        for case in self.cases:
            rows.extend(_case_disc_rows(case))
        return rows

    def per_case_rows(self) -> list[dict[str, Any]]:
        """Rows of ``per_case.csv``: one per case (its own pooled summary)."""
        rows = []
        for case in self.cases:
            row: dict[str, Any] = {
                "case": case.case, "subject": case.subject, "session": case.gt_file.session or "",
                "contrast": case.contrast, "gt_file": str(case.gt_file.path),
                "pred_file": "" if case.pred_path is None else str(case.pred_path),
                "pred_missing": int(case.metrics.pred_missing),
                "numbering_status": (case.numbering or {}).get("status", ""),
                "numbering_confidence": (case.numbering or {}).get("confidence", ""),
            }
            summary = summarise([case.metrics]).as_dict()
            for key in ("n_cases", "n_pred_missing"):
                summary.pop(key)
            row.update(summary)
            rows.append(row)
        return rows

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

    def to_markdown(self) -> str:
        """Full ``summary.md`` text: tables, per-subject table and how to read them."""
        o = self.overall
        lines = [
            "# Disc labelling evaluation",
            "",
            f"- method: `{self.method}`",
            f"- predictions: `{self.pred_root}`",
            f"- ground truth: `{self.gt_root}`",
            f"- cases: {o.n_cases} images ({len(self.subjects())} subjects), {o.n_gt} GT discs, "
            f"{o.n_pred} predicted discs",
            f"- thresholds: FN {self.fn_mm:g} mm, FP {self.fp_mm:g} mm (Euclidean 3D, world space)",
            f"- hca_disc_label {__version__}",
            "",
            "## Paper protocol (Table 1 shape)",
            "",
            self.paper_table(),
            "",
            "Each GT disc is matched to its nearest prediction whatever its value (identity is "
            "ignored, as in the paper). DTT = mean (±sd, population) of the distances of the "
            f"matched GT discs, in mm. FN: no prediction within {self.fn_mm:g} mm of a GT disc. "
            f"FP: a prediction with no GT disc within {self.fp_mm:g} mm. **FNR and FPR are both "
            "divided by the number of GT discs**, as in the paper. The paper's code uses 7 px "
            "(FN) and 10 px (FP) measured along S-I on ~1 mm images and reports DTT in pixels; "
            "here every threshold and distance is a Euclidean distance in mm of world space, so "
            "numbers are comparable across voxel sizes but not digit-for-digit with the paper.",
            "",
            _DISTANCES_NOTE,
            "",
            "## Label-aware protocol",
            "",
            self.label_table(),
            "",
            f"A GT disc is correct when the prediction with the same SCT value lies within "
            f"{self.fn_mm:g} mm; identity accuracy = correct / GT discs, FNR = 100 - identity "
            "accuracy. Not-correct GT discs are *mislabelled* (a prediction of another value "
            "lies within the threshold) or *missed*. FP = predicted values absent from the GT, "
            "divided by the number of GT discs; *inside range* = between the lowest and highest "
            "GT value, *unannotated range* = outside it (often true discs the annotator did not "
            "label, e.g. lumbar GT only labels L1/L2-L5/S1). *median sag. mm* is the median "
            "sagittal-plane distance of the correct discs (see above).",
            "",
            "## Per subject",
            "",
            self.subject_table(),
            "",
        ]
        if self.has_numbering():
            s = self.selective()
            lines += [
                "## Numbering confidence (selective accuracy)", "",
                self.numbering_table(), "",
                "Each prediction's sidecar gives a numbering `confidence` (probability that every "
                "written value is right) and `status` (`check` under its threshold). Coverage = "
                "share of `ok` images; identity per status as above (correct / GT discs); an "
                "image has a wrong value when one of its GT discs is mislabelled.",
                "", "`check` images: " + (", ".join(s.check_cases) or "none"), "",
                "Reliability diagram (confidence bins vs observed share of images without a wrong "
                f"value; plot: `{RELIABILITY_PNG}`):", "",
                self.reliability_table(), "",
            ]
        if self.missing_predictions:
            lines += ["## Missing predictions (counted as all FN)", ""]
            lines += [f"- {c}" for c in self.missing_predictions] + [""]
        if self.orphan_predictions:
            lines += ["## Predictions without ground truth (not evaluated)", ""]
            lines += [f"- {p.stem}: `{p.path}`" for p in self.orphan_predictions] + [""]
        lines += ["Per-disc details: `per_disc.csv`; per-case: `per_case.csv`; all numbers: "
                  "`summary.json`; plot: `error_per_level.png`.", ""]
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict (nan written as null)."""
        data = {
            "generated_by": {"name": "hca_disc_label", "version": __version__},
            "method": self.method,
            "predictions": str(self.pred_root),
            "ground_truth": str(self.gt_root),
            "thresholds_mm": {"fn": self.fn_mm, "fp": self.fp_mm},
            "notes": {
                "units": "mm, Euclidean, world (scanner) space",
                "distances": ("*_dtt_*: 3D distance; *_dtt_sagittal_*: sagittal-plane distance "
                              "hypot(dy, dz), world left-right axis (RAS+ x) dropped, of the same "
                              "matched discs; FN/FP and identity are decided on the 3D distance"),
                "paper_protocol": "identity-free nearest match; FNR and FPR divided by #GT discs",
                "label_aware_protocol": "match by SCT value; FP split inside/unannotated range",
                "sd": "population standard deviation (ddof=0)",
                "pooling": "micro-average over discs",
            },
            "overall": self.overall.as_dict(),
            "by_contrast": {c: self.summary(contrast=c).as_dict() for c in self.contrasts()},
            "by_subject": {s: self.summary(subject=s).as_dict() for s in self.subjects()},
            "cases": self.per_case_rows(),
            "missing_predictions": self.missing_predictions,
            "numbering": ({"selective": self.selective().as_dict(),
                           "reliability": [dict(zip(("low", "high", "images", "mean_confidence", "observed"), b))
                                           for b in self.reliability()]}
                          if self.has_numbering() else None),
            "predictions_without_ground_truth": [str(p.path) for p in self.orphan_predictions],
        }
        return _json_clean(data)

    def _table_contrasts(self) -> list[str]:
        return list(TABLE_CONTRASTS) + [c for c in self.contrasts() if c not in TABLE_CONTRASTS]

    # ------------------------------------------------------------------ writing
    def write(self, out_dir: str | Path, plot: bool = True) -> dict[str, Path]:
        """Write every report into ``out_dir`` (created) and return the paths by kind."""
        from hca_disc_label.atomic import write_text_atomic

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        files = {
            "per_disc": out / PER_DISC_CSV,
            "per_case": out / PER_CASE_CSV,
            "summary_md": out / SUMMARY_MD,
            "summary_json": out / SUMMARY_JSON,
        }
        write_text_atomic(files["per_disc"], _csv_text(self.per_disc_rows(), PER_DISC_COLUMNS))
        case_rows = self.per_case_rows()
        write_text_atomic(files["per_case"], _csv_text(case_rows, list(case_rows[0]) if case_rows
                                                       else ["case"]))
        write_text_atomic(files["summary_md"], self.to_markdown())
        write_text_atomic(files["summary_json"],
                          json.dumps(self.to_json(), indent=2, allow_nan=False) + "\n")
        if plot:
            png = out / PLOT_PNG
            if plot_error_per_level(self, png):
                files["plot"] = png
            if self.has_numbering() and plot_reliability(self, out / RELIABILITY_PNG):
                files["reliability"] = out / RELIABILITY_PNG
        self.files.update(files)
        logger.info("evaluation reports written to %s", out)
        return files


_DISTANCES_NOTE = (
    "**Two distances.** *DTT mm* is the 3D Euclidean distance in world mm. *DTT sag. mm* is "
    "the distance in the sagittal plane: the same pair of discs with the world left-right axis "
    "(x of RAS+ world mm) dropped, i.e. hypot(dy, dz). Manual labels sit on whichever "
    "left-right slice the annotator clicked, while a labeller may write every disc on one "
    "slice (e.g. the centre of a mid-sagittal slab); that left-right offset says nothing about "
    "where along the spine the disc was found. The paper and SCT's `-discfile` (which snaps "
    "labels onto the cord centreline) only use the position in the sagittal plane, so the "
    "sagittal-plane distance is the comparable number; the 3D one is kept as the stricter "
    "measure. Both are computed on the same matched discs: matching, FN, FP and identity are "
    "always decided on the 3D distance."
)


# ------------------------------------------------------------------------- per-disc rows
PER_DISC_COLUMNS: list[str] = [
    "case", "subject", "session", "contrast", "value", "name", "in_gt", "in_pred",
    "pred_file_missing",
    "gt_x_mm", "gt_y_mm", "gt_z_mm", "pred_x_mm", "pred_y_mm", "pred_z_mm",
    # label-aware protocol (same value)
    "distance_mm", "distance_sagittal_mm", "label_matched", "label_fn", "label_fp",
    "label_gt_status", "mislabelled_as", "label_pred_status",
    # paper protocol (identity-free)
    "paper_nearest_pred_value", "paper_distance_mm", "paper_distance_sagittal_mm",
    "paper_matched", "paper_fn", "paper_pred_nearest_gt_value", "paper_pred_distance_mm",
    "paper_fp",
]
"""Columns of ``per_disc.csv``. One row per (case, SCT value) present in the GT and/or the
prediction; coordinates in world mm; ``distance_mm`` is the same-value distance (label-aware),
``paper_distance_mm`` the GT disc's distance to its nearest prediction of any value and
``paper_pred_distance_mm`` the predicted disc's distance to its nearest GT disc (all 3D).
``distance_sagittal_mm`` and ``paper_distance_sagittal_mm`` are the sagittal-plane distances
(world left-right axis dropped) of the same pairs as ``distance_mm`` / ``paper_distance_mm``.
Flags are 0/1; empty cells mean "not applicable"."""


def _case_disc_rows(case: CaseResult) -> list[dict[str, Any]]:
    m = case.metrics
    gt = {d.value: d for d in m.gt}
    pred = {d.value: d for d in m.pred}
    paper_gt = {x.value: x for x in m.paper.gt}
    paper_pred = {x.value: x for x in m.paper.pred}
    label_gt = {x.value: x for x in m.label.gt}
    label_pred = {x.value: x for x in m.label.pred}
    rows = []
    for value in sorted(set(gt) | set(pred)):
        g, p = gt.get(value), pred.get(value)
        row: dict[str, Any] = {
            "case": case.case, "subject": case.subject, "session": case.gt_file.session or "",
            "contrast": case.contrast, "value": value, "name": DISC_NAMES.get(value, ""),
            "in_gt": int(g is not None), "in_pred": int(p is not None),
            "pred_file_missing": int(m.pred_missing),
        }
        for prefix, disc in (("gt", g), ("pred", p)):
            for axis, coord in zip("xyz", disc.mm if disc else (None,) * 3):
                row[f"{prefix}_{axis}_mm"] = coord
        if g is not None:
            lg, pg = label_gt[value], paper_gt[value]
            row.update(distance_mm=lg.distance_mm,
                       distance_sagittal_mm=lg.distance_sagittal_mm,
                       label_matched=int(lg.correct),
                       label_fn=int(not lg.correct), label_gt_status=lg.status,
                       mislabelled_as=lg.mislabelled_as,
                       paper_nearest_pred_value=pg.nearest_value,
                       paper_distance_mm=pg.distance_mm,
                       paper_distance_sagittal_mm=pg.distance_sagittal_mm,
                       paper_matched=int(pg.matched),
                       paper_fn=int(not pg.matched))
        if p is not None:
            lp, pp = label_pred[value], paper_pred[value]
            row.update(label_fp=int(lp.false_positive), label_pred_status=lp.status,
                       paper_pred_nearest_gt_value=pp.nearest_gt_value,
                       paper_pred_distance_mm=pp.distance_mm, paper_fp=int(pp.false_positive))
        rows.append(row)
    return rows


# ------------------------------------------------------------------------------ helpers
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


def _csv_cell(value: Any) -> Any:
    if value is None or is_nan(value):
        return ""
    if isinstance(value, float):
        return f"{value:.4f}"
    return value


def _csv_text(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _csv_cell(row.get(k)) for k in columns})
    return buf.getvalue()


def _json_clean(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_clean(v) for v in value]
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else round(value, 4)
    if isinstance(value, Path):
        return str(value)
    return value


# --------------------------------------------------------------------------------- plot
def _pyplot(out_path: Path):
    """``matplotlib.pyplot`` on the Agg backend, or None (with a warning naming the file that
    is not written) when matplotlib is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        logger.warning("matplotlib is not installed: %s not written (pip install matplotlib)",
                       Path(out_path).name)
        return None
    return plt


def plot_error_per_level(result: EvaluationResult, out_path: Path) -> bool:
    """Plot the error per disc level (one point per case) into a PNG.

    Top panel: paper protocol (GT disc to nearest prediction, any value); bottom panel:
    label-aware (GT disc to the prediction with the same value). Not-matched GT discs are drawn
    as crosses at the top of the axis. Colour = contrast; a black bar = median per level.

    Returns:
        True when written; False (with a warning) when matplotlib is not installed.
    """
    plt = _pyplot(out_path)
    if plt is None:
        return False
    import numpy as np

    from hca_disc_label.atomic import atomic_write

    values = sorted({d.value for c in result.cases for d in c.metrics.gt})
    xpos = {v: i for i, v in enumerate(values)}
    contrasts = result.contrasts()
    colours = {c: f"C{i}" for i, c in enumerate(contrasts)}
    rng = np.random.default_rng(0)  # fixed jitter: identical reruns give identical plots
    fig, axes = plt.subplots(2, 1, figsize=(max(6.0, 0.45 * len(values) + 2), 7), sharex=True)
    panels = [
        ("paper protocol: nearest prediction (any value)",
         lambda c: [(m.value, m.distance_mm, m.matched) for m in c.metrics.paper.gt]),
        ("label-aware: prediction with the same value",
         lambda c: [(m.value, m.distance_mm, m.correct) for m in c.metrics.label.gt]),
    ]
    for ax, (title, getter) in zip(axes, panels):
        matched: dict[int, list[float]] = {v: [] for v in values}
        top = result.fn_mm * 1.5
        for case in result.cases:
            pts = getter(case)
            ok = [(xpos[v] + rng.uniform(-0.2, 0.2), d) for v, d, good in pts if good]
            bad = [(xpos[v] + rng.uniform(-0.2, 0.2), top) for v, d, good in pts if not good]
            for v, d, good in pts:
                if good:
                    matched[v].append(d)
            colour = colours[case.contrast]
            if ok:
                ax.scatter(*zip(*ok), s=14, color=colour, alpha=0.7)
            if bad:
                ax.scatter(*zip(*bad), s=22, color=colour, marker="x")
        for v, ds in matched.items():
            if ds:
                ax.hlines(float(np.median(ds)), xpos[v] - 0.3, xpos[v] + 0.3, color="k", lw=2)
        ax.axhline(result.fn_mm, color="grey", ls="--", lw=0.8)
        ax.set_ylim(0, top * 1.08)
        ax.set_ylabel("error (mm)")
        ax.set_title(title, fontsize=10)
    handles = [plt.Line2D([], [], ls="", marker="o", color=colours[c], label=c) for c in contrasts]
    handles += [plt.Line2D([], [], ls="", marker="x", color="k", label="not matched"),
                plt.Line2D([], [], color="k", lw=2, label="median"),
                plt.Line2D([], [], color="grey", ls="--", label=f"FN threshold {result.fn_mm:g} mm")]
    # outside the axes: crosses for unmatched discs sit at the top of each panel
    fig.legend(handles=handles, fontsize=8, loc="lower center", ncol=len(handles), frameon=False)
    axes[1].set_xticks(range(len(values)))
    axes[1].set_xticklabels([DISC_NAMES[v] for v in values], rotation=45, ha="right")
    axes[1].set_xlabel("disc level")
    fig.suptitle(f"{result.method}: error per disc level ({len(result.cases)} cases)")
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    try:
        atomic_write(Path(out_path), lambda tmp: fig.savefig(tmp, dpi=110, format="png"))
    finally:
        plt.close(fig)
    return True


def plot_reliability(result: EvaluationResult, out_path: Path, bins: int = 10) -> bool:
    """Reliability diagram of the numbering confidence into a PNG: per confidence bin, the
    observed share of images without a wrong value (bars, with image counts) against the
    diagonal; the status threshold(s) as vertical lines.

    Returns:
        True when written; False (with a warning) when matplotlib is not installed.
    """
    plt = _pyplot(out_path)
    if plt is None:
        return False
    from hca_disc_label.atomic import atomic_write

    data = result.reliability(bins)
    fig, ax = plt.subplots(figsize=(5.0, 4.6))
    width = 1.0 / bins
    for lo, hi, n, mean, acc in data:
        if n:
            ax.bar(lo, acc, width=width, align="edge", color="C0", alpha=0.7, edgecolor="k")
            ax.text(lo + width / 2, min(acc, 0.93) + 0.02, str(n), ha="center", fontsize=7)
    ax.plot([0, 1], [0, 1], color="grey", ls="--", lw=1, label="perfect calibration")
    thresholds = sorted({float(c.numbering["threshold"]) for c in result.cases
                         if c.numbering and c.numbering.get("threshold") is not None})
    for t in thresholds:
        ax.axvline(t, color="C3", lw=1.2, label=f"status threshold {t:g}")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("numbering confidence")
    ax.set_ylabel("observed: images without a wrong value")
    ax.legend(fontsize=8, loc="upper left")
    ax.set_title(f"{result.method}: numbering reliability", fontsize=10)
    fig.tight_layout()
    try:
        atomic_write(Path(out_path), lambda tmp: fig.savefig(tmp, dpi=110, format="png"))
    finally:
        plt.close(fig)
    return True
