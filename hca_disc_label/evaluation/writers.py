"""Writing an evaluation's reports: ``per_disc.csv``, ``per_case.csv``, ``summary.md``,
``summary.json`` (and the plots of :mod:`.plots`).

Files are written atomically (temp file + rename) so an interrupted run never leaves a
half-written report.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hca_disc_label._version import __version__
from hca_disc_label.atomic import write_text_atomic
from hca_disc_label.conventions import DISC_NAMES
from hca_disc_label.evaluation.aggregation import is_nan, summarise
from hca_disc_label.evaluation.plots import plot_error_per_level, plot_reliability
from hca_disc_label.evaluation.result import CaseResult, EvaluationResult

logger = logging.getLogger(__name__)

PER_DISC_CSV = "per_disc.csv"
PER_CASE_CSV = "per_case.csv"
SUMMARY_MD = "summary.md"
SUMMARY_JSON = "summary.json"
PLOT_PNG = "error_per_level.png"
RELIABILITY_PNG = "numbering_reliability.png"

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


def per_disc_rows(result: EvaluationResult) -> list[dict[str, Any]]:
    """Rows of ``per_disc.csv``: one per (case, disc value) in the GT or the prediction."""
    rows: list[dict[str, Any]] = []
    for case in result.cases:
        rows.extend(_case_disc_rows(case))
    return rows

def per_case_rows(result: EvaluationResult) -> list[dict[str, Any]]:
    """Rows of ``per_case.csv``: one per case (its own pooled summary)."""
    rows = []
    for case in result.cases:
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


def summary_markdown(result: EvaluationResult) -> str:
    """The ``summary.md`` text: tables, per-subject table and how to read them."""
    o = result.overall
    lines = [
        "# Disc labelling evaluation",
        "",
        f"- method: `{result.method}`",
        f"- predictions: `{result.pred_root}`",
        f"- ground truth: `{result.gt_root}`",
        f"- cases: {o.n_cases} images ({len(result.subjects())} subjects), {o.n_gt} GT discs, "
        f"{o.n_pred} predicted discs",
        f"- thresholds: FN {result.fn_mm:g} mm, FP {result.fp_mm:g} mm (Euclidean 3D, world space)",
        f"- hca_disc_label {__version__}",
        "",
        "## Paper protocol (Table 1 shape)",
        "",
        result.paper_table(),
        "",
        "Each GT disc is matched to its nearest prediction whatever its value (identity is "
        "ignored, as in the paper). DTT = mean (±sd, population) of the distances of the "
        f"matched GT discs, in mm. FN: no prediction within {result.fn_mm:g} mm of a GT disc. "
        f"FP: a prediction with no GT disc within {result.fp_mm:g} mm. **FNR and FPR are both "
        "divided by the number of GT discs**, as in the paper. The paper's code uses 7 px "
        "(FN) and 10 px (FP) measured along S-I on ~1 mm images and reports DTT in pixels; "
        "here every threshold and distance is a Euclidean distance in mm of world space, so "
        "numbers are comparable across voxel sizes but not digit-for-digit with the paper.",
        "",
        _DISTANCES_NOTE,
        "",
        "## Label-aware protocol",
        "",
        result.label_table(),
        "",
        f"A GT disc is correct when the prediction with the same SCT value lies within "
        f"{result.fn_mm:g} mm; identity accuracy = correct / GT discs, FNR = 100 - identity "
        "accuracy. Not-correct GT discs are *mislabelled* (a prediction of another value "
        "lies within the threshold) or *missed*. FP = predicted values absent from the GT, "
        "divided by the number of GT discs; *inside range* = between the lowest and highest "
        "GT value, *unannotated range* = outside it (often true discs the annotator did not "
        "label, e.g. lumbar GT only labels L1/L2-L5/S1). *median sag. mm* is the median "
        "sagittal-plane distance of the correct discs (see above).",
        "",
        "## Per subject",
        "",
        result.subject_table(),
        "",
    ]
    if result.has_numbering():
        s = result.selective()
        lines += [
            "## Numbering confidence (selective accuracy)", "",
            result.numbering_table(), "",
            "Each prediction's sidecar gives a numbering `confidence` (probability that every "
            "written value is right) and `status` (`check` under its threshold). Coverage = "
            "share of `ok` images; identity per status as above (correct / GT discs); an "
            "image has a wrong value when one of its GT discs is mislabelled.",
            "", "`check` images: " + (", ".join(s.check_cases) or "none"), "",
            "Reliability diagram (confidence bins vs observed share of images without a wrong "
            f"value; plot: `{RELIABILITY_PNG}`):", "",
            result.reliability_table(), "",
        ]
    if result.missing_predictions:
        lines += ["## Missing predictions (counted as all FN)", ""]
        lines += [f"- {c}" for c in result.missing_predictions] + [""]
    if result.orphan_predictions:
        lines += ["## Predictions without ground truth (not evaluated)", ""]
        lines += [f"- {p.stem}: `{p.path}`" for p in result.orphan_predictions] + [""]
    lines += ["Per-disc details: `per_disc.csv`; per-case: `per_case.csv`; all numbers: "
              "`summary.json`; plot: `error_per_level.png`.", ""]
    return "\n".join(lines)


def summary_json(result: EvaluationResult) -> dict[str, Any]:
    """The ``summary.json`` content: a JSON-ready dict (nan written as null)."""
    data = {
        "generated_by": {"name": "hca_disc_label", "version": __version__},
        "method": result.method,
        "predictions": str(result.pred_root),
        "ground_truth": str(result.gt_root),
        "thresholds_mm": {"fn": result.fn_mm, "fp": result.fp_mm},
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
        "overall": result.overall.as_dict(),
        "by_contrast": {c: result.summary(contrast=c).as_dict() for c in result.contrasts()},
        "by_subject": {s: result.summary(subject=s).as_dict() for s in result.subjects()},
        "cases": per_case_rows(result),
        "missing_predictions": result.missing_predictions,
        "numbering": ({"selective": result.selective().as_dict(),
                       "reliability": [dict(zip(("low", "high", "images", "mean_confidence", "observed"), b))
                                       for b in result.reliability()]}
                      if result.has_numbering() else None),
        "predictions_without_ground_truth": [str(p.path) for p in result.orphan_predictions],
    }
    return _json_clean(data)


def write_reports(result: EvaluationResult, out_dir: str | Path, plot: bool = True) -> dict[str, Path]:
    """Write every report into ``out_dir`` (created); the paths by kind, also added to
    ``result.files``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = {
        "per_disc": out / PER_DISC_CSV,
        "per_case": out / PER_CASE_CSV,
        "summary_md": out / SUMMARY_MD,
        "summary_json": out / SUMMARY_JSON,
    }
    write_text_atomic(files["per_disc"], _csv_text(per_disc_rows(result), PER_DISC_COLUMNS))
    case_rows = per_case_rows(result)
    write_text_atomic(files["per_case"], _csv_text(case_rows, list(case_rows[0]) if case_rows
                                                   else ["case"]))
    write_text_atomic(files["summary_md"], summary_markdown(result))
    write_text_atomic(files["summary_json"],
                      json.dumps(summary_json(result), indent=2, allow_nan=False) + "\n")
    if plot:
        png = out / PLOT_PNG
        if plot_error_per_level(result, png):
            files["plot"] = png
        if result.has_numbering() and plot_reliability(result, out / RELIABILITY_PNG):
            files["reliability"] = out / RELIABILITY_PNG
    result.files.update(files)
    logger.info("evaluation reports written to %s", out)
    return files


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
