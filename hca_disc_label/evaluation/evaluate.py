"""Evaluate a prediction folder against a BIDS ground truth: find, pair, read, match, summarise.

Usage::

    from hca_disc_label.evaluation.evaluate import evaluate
    result = evaluate("preds/", "bids/", out_dir="eval/")   # EvaluationResult
    print(result.tables_markdown())

Two protocols are computed (details in :mod:`hca_disc_label.evaluation.matching`): the
paper's identity-free nearest match (DTT, FNR, FPR as in its Table 1, but in mm) and a
label-aware match by SCT value (identity accuracy, mislabelled, FP inside / outside the
annotated range). Ground truth is only compared against, never used to steer predictions.
"""

from __future__ import annotations

import logging
import os
import zlib
from pathlib import Path

from hca_disc_label.errors import DataError, HCAError
from hca_disc_label.evaluation.discovery import CasePair, find_ground_truth, find_predictions, pair_cases
from hca_disc_label.evaluation.matching import DEFAULT_FN_MM, DEFAULT_FP_MM, Disc, discs_from_points, evaluate_case
from hca_disc_label.evaluation.result import CaseResult, EvaluationResult
from hca_disc_label.evaluation.writers import write_reports
from hca_disc_label.labelfile import read_disc_labels
from hca_disc_label.naming import sidecar_path_for
from hca_disc_label.sidecar import read_sidecar

logger = logging.getLogger(__name__)


def read_discs(path: str | os.PathLike[str]) -> list[Disc]:
    """Read a disc-label NIfTI into discs in world mm (one per value, sorted by value).

    Raises:
        HCAError: the file is missing or cannot be read as a NIfTI label image.
    """
    try:
        points = read_disc_labels(path)
    except HCAError:
        raise
    except (OSError, EOFError, ValueError, zlib.error) as exc:
        raise DataError(f"{path}: cannot read disc labels ({exc})") from None
    return discs_from_points(points, source=Path(path).name)


def _evaluate_pair(pair: CasePair, fn_mm: float, fp_mm: float) -> CaseResult:
    gt = read_discs(pair.gt.path)
    if not gt:
        logger.warning("%s: the ground truth has no disc label; its predictions can only be "
                       "FP", pair.gt.path)
    pred = None if pair.pred is None else read_discs(pair.pred.path)
    metrics = evaluate_case(pair.stem, gt, pred, fn_mm=fn_mm, fp_mm=fp_mm)
    numbering = None if pair.pred is None else read_numbering(pair.pred.path)
    return CaseResult(pair.gt, None if pair.pred is None else pair.pred.path, metrics, numbering)


def read_numbering(label_path: str | os.PathLike[str]) -> dict | None:
    """The ``Numbering`` block of a prediction's JSON sidecar (``x_label-discs_dlabel.json``
    next to ``x_label-discs_dlabel.nii.gz``), or None when there is no sidecar or no block."""
    block = (read_sidecar(sidecar_path_for(Path(label_path))) or {}).get("Numbering")
    return block if isinstance(block, dict) else None


def evaluate(pred: str | os.PathLike[str], gt: str | os.PathLike[str],
             out_dir: str | os.PathLike[str] | None = None, fn_mm: float = DEFAULT_FN_MM,
             fp_mm: float = DEFAULT_FP_MM, method: str | None = None,
             plot: bool = True, allow_own: bool = False) -> EvaluationResult:
    """Evaluate predicted disc labels against a BIDS ground truth.

    Args:
        pred: predictions: a BIDS dataset (``derivatives/hca_disc_label/sub-*/[ses-*/]anat/``,
            where folder runs write) or any folder of ``<image stem>_label-discs_dlabel.nii.gz``
            files (searched recursively).
        gt: ground-truth BIDS dataset (``derivatives/labels/...`` with
            ``*_label-discs_dlabel.nii.gz`` or legacy ``*_labels-disc-manual.nii.gz``); files
            whose sidecar says hca_disc_label wrote them are left out (one warning line).
        out_dir: when given, ``per_disc.csv``, ``per_case.csv``, ``summary.md``,
            ``summary.json`` and ``error_per_level.png`` are written there.
        fn_mm: FN threshold in mm (Euclidean, world space), both protocols.
        fp_mm: FP threshold in mm (Euclidean, world space), paper protocol.
        method: method name in the tables (default: the prediction folder's name).
        plot: write ``error_per_level.png`` (needs matplotlib) when ``out_dir`` is given.
        allow_own: take ground-truth files that hca_disc_label wrote too (pseudo-labels).

    Returns:
        The per-case outcomes with summaries and report builders; ``result.files`` lists the
        files written.

    Raises:
        DataError: a folder is missing, has no ground truth, or a label file is unreadable.
        ValueError: non-positive thresholds.
    """
    if not (fn_mm > 0 and fp_mm > 0):
        raise ValueError(f"fn_mm and fp_mm must be positive mm values, got {fn_mm}, {fp_mm}")
    pred_root, gt_root = Path(pred), Path(gt)
    ground_truth = find_ground_truth(gt_root, allow_own=allow_own)
    predictions = find_predictions(pred_root)
    pairs, orphans = pair_cases(predictions, ground_truth)
    cases = [_evaluate_pair(pair, fn_mm, fp_mm) for pair in pairs]
    result = EvaluationResult(
        cases=cases,
        method=method or pred_root.resolve().name or str(pred_root),
        fn_mm=float(fn_mm),
        fp_mm=float(fp_mm),
        pred_root=pred_root,
        gt_root=gt_root,
        orphan_predictions=orphans,
    )
    overall = result.overall
    logger.info("evaluated %d cases (%d GT discs): paper DTT %.2f mm, FNR %.2f %%, FPR %.2f %%, "
                "identity accuracy %.2f %%", overall.n_cases, overall.n_gt, overall.paper_dtt.mean,
                overall.paper_fnr_pct, overall.paper_fpr_pct, overall.identity_accuracy_pct)
    if out_dir is not None:
        write_reports(result, out_dir, plot=plot)
    return result
