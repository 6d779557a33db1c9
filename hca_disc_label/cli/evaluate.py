"""``hca_label evaluate``: compare predicted disc labels with manual ones, in mm of world space."""

from __future__ import annotations

from pathlib import Path

import click

from hca_disc_label.cli.common import SCTCommand, setup_logging, verbose_option
from hca_disc_label.conventions import CONTRASTS

_HELP = (
    "Evaluate disc labels against a BIDS ground truth (manual labels in derivatives/labels/sub-*/"
    "[ses-*/]anat/*_label-discs_dlabel.nii.gz or *_labels-disc-manual.nii.gz; files whose sidecar "
    "says hca_disc_label wrote them are left out), pairing images by stem. "
    "Reports, in mm of world space: the paper's identity-free protocol (DTT mean ± sd, FNR, FPR, "
    "both rates divided by the number of GT discs, Table 1 shape per contrast T1/T2) and a "
    "label-aware protocol (identity accuracy, mislabelled discs, FP inside / outside the "
    "annotated range). Every distance is given in 3D and in the sagittal plane (world "
    "left-right axis dropped, as the paper and SCT's -discfile use); matching, FN and FP use the "
    "3D distance. Writes per_disc.csv, per_case.csv, summary.md, summary.json and "
    "error_per_level.png into -o, and prints the tables."
)
_EPILOG = (
    "Examples: hca_label evaluate -pred preds/ -gt bids/ -o eval/ ; "
    "hca_label evaluate -model hca-compact -c t2 -gt bids/ -o eval/ (labels the dataset first, "
    "into eval/predictions)"
)


def _run_inference(gt: Path, out_dir: Path, model: str, contrast: str | None, jobs: int,
                   verbose: str) -> Path:
    """Label every image of the GT dataset into ``out_dir/predictions``; return that folder.

    The ground truth is never passed to inference: only the images are read.
    """
    from hca_disc_label.errors import HCAError

    try:
        from hca_disc_label.run.batch import label_dataset
    except ImportError as exc:
        raise HCAError(
            "-model needs batch labelling (hca_disc_label.run.batch), which is not "
            f"available in this installation ({exc}); label the dataset with "
            "'hca_label -i DATASET -ofolder DIR' and pass -pred DIR") from None
    pred_dir = out_dir / "predictions"
    summary = label_dataset(gt, out_root=pred_dir, contrast=contrast, model=model, jobs=jobs,
                            progress=verbose != "0")
    describe = getattr(summary, "describe", None)
    if callable(describe):
        click.echo(describe())
    return pred_dir


@click.command(
    cls=SCTCommand,
    groups={"MANDATORY": ["pred", "gt"]},
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    help=_HELP,
    epilog=_EPILOG,
)
@click.option("-pred", "pred", type=click.Path(path_type=Path),
              help="Predictions: a BIDS dataset (its derivatives/hca_disc_label, where folder runs "
              "write) or a folder of <image stem>_label-discs_dlabel.nii.gz files. Not needed with -model.")
@click.option("-gt", "gt", required=True, type=click.Path(path_type=Path),
              help="Ground-truth BIDS dataset (or its derivatives/labels folder).")
@click.option("-o", "out_dir", type=click.Path(path_type=Path), default=Path("hca_label_evaluation"),
              show_default=True, help="Output folder for the reports.")
@click.option("-fn-mm", "fn_mm", type=click.FloatRange(0.0, min_open=True), default=7.0,
              show_default=True,
              help="FN threshold (mm, Euclidean): a GT disc with no prediction this close is "
              "missed (both protocols). The paper used 7 px along S-I on ~1 mm images.")
@click.option("-fp-mm", "fp_mm", type=click.FloatRange(0.0, min_open=True), default=10.0,
              show_default=True,
              help="FP threshold (mm, Euclidean): a prediction with no GT disc this close is a "
              "false positive (paper protocol). The paper used 10 px along S-I.")
@click.option("-method", "method",
              help="Method name in the tables (default: the model name with -model, else the "
              "prediction folder's name).")
@click.option("-model", "model",
              help="Label the ground-truth dataset's images first with this model (registry "
              "NAME[@VERSION] or model folder), into <-o>/predictions; replaces -pred.")
@click.option("-c", "contrast", type=click.Choice(CONTRASTS),
              help="With -model: contrast of the images (default: from _T1w/_T2w names).")
@click.option("-j", "jobs", type=click.IntRange(1, 256), default=1, show_default=True,
              help="With -model: worker processes for labelling.")
@click.option("-no-plot", "no_plot", is_flag=True, help="Do not write error_per_level.png.")
@click.option("-allow-own-labels", "allow_own", is_flag=True,
              help="Take ground-truth files that hca_disc_label wrote (pseudo-labels) as well; by default "
              "they are left out with a warning, since they are not manual labels.")
@verbose_option
def command(pred: Path | None, gt: Path, out_dir: Path, fn_mm: float, fp_mm: float,
            method: str | None, model: str | None, contrast: str | None, jobs: int,
            no_plot: bool, allow_own: bool, verbose: str) -> int:
    """Evaluate predictions (or run a model first) and print the Markdown tables."""
    setup_logging(verbose)
    if pred is None and model is None:
        raise click.UsageError("Missing option '-pred' (or '-model' to label the dataset first).")
    if pred is not None and model is not None:
        raise click.UsageError("Use either '-pred' or '-model', not both.")
    if model is None and (contrast is not None):
        raise click.UsageError("'-c' only applies with '-model'.")
    if model is not None:
        pred = _run_inference(gt, out_dir, model, contrast, jobs, verbose)
        method = method or model
    from hca_disc_label.evaluation.evaluate import evaluate

    result = evaluate(pred, gt, out_dir=out_dir, fn_mm=fn_mm, fp_mm=fp_mm, method=method,
                      plot=not no_plot, allow_own=allow_own)
    click.echo(result.tables_markdown())
    if result.missing_predictions:
        click.echo(f"Missing predictions (counted as all FN): "
                   f"{', '.join(result.missing_predictions)}")
    if result.orphan_predictions:
        click.echo(f"Predictions without ground truth (not evaluated): "
                   f"{', '.join(p.stem for p in result.orphan_predictions)}")
    for path in result.files.values():
        click.echo(f"Wrote {path}")
    return 0
