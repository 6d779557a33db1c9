"""``hca_label -i IMG -c t1|t2``: label the intervertebral discs of one image or a dataset."""

from __future__ import annotations

import shlex
from pathlib import Path

import click

from hca_disc_label.cli.common import SCTCommand, argv_of, setup_logging, verbose_option, version_option
from hca_disc_label.conventions import CONTRASTS, DEFAULT_THRESHOLD, check_numbering_threshold, check_threshold
from hca_disc_label.errors import HCAError
from hca_disc_label.naming import contrast_from_name

_EPILOG = (
    "Sub-commands: hca_label train | evaluate | models | export | synth (each has -h).\n\n"
    "Example: hca_label -i sub-01_T2w.nii.gz -c t2 ; then "
    "sct_label_vertebrae -i sub-01_T2w.nii.gz -s sub-01_T2w_seg.nii.gz -c t2 "
    "-discfile sub-01_T2w_label-discs_dlabel.nii.gz"
)


def _parse_input(ctx: click.Context, param: click.Parameter, value: str | None) -> Path | None:
    """``-i`` must name something: an empty string would silently mean the current folder."""
    if value is None:
        return None
    if not value.strip():
        raise click.BadParameter("empty path: give an image file or a folder")
    return Path(value)


def _parse_threshold(ctx: click.Context, param: click.Parameter, value: float) -> float:
    """``-thr`` in (0, 1) (:func:`~hca_disc_label.conventions.check_threshold`, NaN refused),
    said as a click usage error."""
    try:
        return check_threshold(value)
    except HCAError:
        raise click.BadParameter(f"{value}: must be a number in (0, 1), e.g. 0.3") from None


def _parse_numbering_threshold(ctx: click.Context, param: click.Parameter, value: float | None) -> float | None:
    """``-numbering-thr`` in [0, 1] (:func:`~hca_disc_label.conventions.check_numbering_threshold`,
    NaN refused); None = the model's calibrated threshold. Said as a click usage error."""
    try:
        return check_numbering_threshold(value)
    except HCAError:
        raise click.BadParameter(f"{value}: must be a number in [0, 1], e.g. 0.95") from None


def _warn_numbering(result, image: Path, contrast: str) -> None:
    """One stderr line when the count is doubtful: the doubt and the hint that settles it."""
    numbering = getattr(result.labelling, "numbering", None)
    if numbering is not None and numbering.status == "check":
        click.echo(f"WARNING: {numbering.warning(str(image), contrast)}", err=True)


def _parse_shard(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[int, int] | None:
    """``-shard K/N`` -> ``(K, N)`` with 0 <= K < N."""
    if value is None:
        return None
    try:
        k, n = (int(part) for part in value.split("/"))
    except ValueError:
        raise click.BadParameter(f"{value!r}: expected K/N, e.g. 0/4") from None
    if n < 1 or not 0 <= k < n:
        raise click.BadParameter(f"{value!r}: need 0 <= K < N (job-array tasks numbered from 0)")
    return k, n


def _parse_initz(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[int, int] | None:
    """``-initz Z,VALUE`` -> ``(Z, VALUE)`` (SCT's syntax, e.g. ``68,4``)."""
    if value is None:
        return None
    try:
        z, v = (int(part) for part in value.split(","))
    except ValueError:
        raise click.BadParameter(f"{value!r}: expected SLICE,VALUE, e.g. 68,4") from None
    if z < 0 or not 2 <= v <= 25:
        raise click.BadParameter(f"{value!r}: need SLICE >= 0 and a disc VALUE in 2..25 (3 = C2/C3)")
    return z, v


def _check_batch_options(output, x, qc_subject, init_label=None, init_z=None, qc_dataset=None) -> None:
    for value, flag, hint in ((output, "-o", "use -ofolder"), (x, "-x", "it is chosen per image"),
                              (qc_subject, "-qc-subject", "subjects come from the file names"),
                              (qc_dataset, "-qc-dataset", "the dataset comes from the folders, as in SCT"),
                              (init_label, "-initlabel", "hints are per image"),
                              (init_z, "-initz", "hints are per image")):
        if value is not None:
            raise click.UsageError(f"{flag} applies to a single image, not to a folder ({hint}).")


def _print_result(result) -> None:
    click.echo(f"Model: {result.model_name} {result.model_version} ({result.backend}, {result.device}); "
               f"mid-sagittal slice {result.slice_index} (canonical x)")
    click.echo(f"{'disc':<8}{'value':>6}  {'voxel':<16}{'confidence':>10}")
    for d in result.discs:
        click.echo(f"{d.name:<8}{d.value:>6}  {str(d.voxel):<16}{d.confidence:>10.2f}")
    numbering = getattr(result.labelling, "numbering", None)
    if numbering is not None:
        click.echo(f"Numbering: {numbering.status} (confidence {numbering.confidence:.2f}"
                   + (", set by the hint)" if numbering.source == "hint" else
                      f", threshold {numbering.threshold:g})"))
    click.echo(f"Wrote {result.output_path} ({len(result.discs)} discs, {result.seconds:.2f} s)")
    click.echo(f"Wrote {result.sidecar_path}")
    if result.qc_path is not None:
        click.echo(f"QC: {result.qc_path.parent.parent / 'index.html'}")
    click.echo("\nTo view the labels:")
    click.echo(f"fsleyes {shlex.quote(str(result.input_path))} {shlex.quote(str(result.output_path))} -cm red -dr 0 25")


def _print_summary(summary, quiet: bool) -> None:
    """The folder run's summary on stdout; with ``quiet`` (``-v 0``) only its failures and
    doubtful counts, on stderr."""
    if not quiet:
        click.echo(summary.describe())
        return
    for path, reason in summary.failed:
        click.echo(f"ERROR: {path}: {reason}", err=True)
    if summary.numbering_check:
        click.echo(f"WARNING: {len(summary.numbering_check)} image(s) whose disc count may be off a level "
                   f"(numbering 'check'; see {summary.numbering_table or 'the QC report'})", err=True)


@click.command(
    cls=SCTCommand,
    groups={"MANDATORY": ["input_path", "contrast"]},
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    help="Label the intervertebral discs of a sagittal spine MRI with HCA-Net and write SCT disc "
    "labels (one voxel per disc at its posterior tip, value = vertebra below: 3 = C2/C3 ... "
    "25 = L5/S1), ready for sct_label_vertebrae -discfile. A folder (BIDS dataset) as -i labels "
    "every T1w/T2w image in it.",
    epilog=_EPILOG,
)
@click.option("-i", "input_path", required=True, type=click.Path(), callback=_parse_input,
              help="Input image (.nii/.nii.gz, any orientation), or a folder / BIDS dataset.")
@click.option("-c", "contrast", type=click.Choice(CONTRASTS),
              help="Contrast: t1 or t2 (taken from a _T1w/_T2w file name when omitted; with a "
              "folder, forces the contrast of every image).")
@click.option("-o", "output", type=click.Path(path_type=Path),
              help="Output label file. Default: <input>_label-discs_dlabel.nii.gz.")
@click.option("-ofolder", "ofolder", type=click.Path(path_type=Path),
              help="Output folder (default: the input's folder; for a dataset: <dataset>/derivatives/hca_disc_label).")
@click.option("-x", "x", type=int, help="Force the mid-sagittal slice (index along the file's left-right axis); all "
              "labels are written on it. Default: found by symmetry, each label on its own level's mid-plane.")
@click.option("-initlabel", "init_label", type=click.Path(path_type=Path),
              help="Fix the numbering with a label file (as in sct_label_vertebrae): one voxel at a disc's "
              "posterior tip, value = that disc (e.g. 3 = C2/C3); the detected disc within 10 mm keeps "
              "it and the others are counted from it.")
@click.option("-initz", "init_z", metavar="SLICE,VALUE", callback=_parse_initz,
              help="Fix the numbering from one axial slice (as in sct_label_vertebrae): the detected disc "
              "nearest slice SLICE of the image in RPI orientation (inferior = 0) gets VALUE, e.g. 68,4.")
@click.option("-model", "model", help="Model: registry NAME[@VERSION] or a model folder. Default: embedded model.")
@click.option("-backend", "backend", type=click.Choice(["auto", "torch", "onnx"]), default="auto", show_default=True,
              help="Inference engine.")
@click.option("-device", "device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True,
              help="Compute device.")
@click.option("-thr", "threshold", type=float, default=DEFAULT_THRESHOLD, callback=_parse_threshold,
              show_default=True, help="Minimum confidence of a written disc, in (0, 1).")
@click.option("-numbering-thr", "numbering_threshold", type=float, callback=_parse_numbering_threshold,
              help="Numbering confidence (probability that every disc value is right) under which an image is "
              "marked 'check' (sidecar Numbering.status, one warning line with the -initz hint that settles it, "
              "QC and batch list). Default: the model's calibrated cut, see hca_label models info.")
@click.option("-qc", "qc", type=click.Path(path_type=Path), help="QC folder (PNG per image + index.html).")
@click.option("-qc-dataset", "qc_dataset",
              help="If provided, this string will be mentioned in the QC report as the dataset the process "
              "was run on (default, as in SCT: the folder three levels above the image).")
@click.option("-qc-subject", "qc_subject",
              help="If provided, this string will be mentioned in the QC report as the subject the process "
              "was run on (default: the sub-XX of the file name).")
@click.option("-j", "jobs", type=click.IntRange(1, 256), default=1, show_default=True,
              help="Worker processes when -i is a folder.")
@click.option("-overwrite", "overwrite", is_flag=True,
              help="Single image: replace an existing output that hca_disc_label did not write (e.g. manual "
              "labels; refused by default). Folder mode: redo images whose labels are up to date (labels "
              "written by another tool or by hand are never overwritten there).")
@click.option("-shard", "shard", metavar="K/N", callback=_parse_shard,
              help="Folder mode: label only every N-th image starting at K (0-based), e.g. "
              "-shard ${SLURM_ARRAY_TASK_ID}/N in a cluster job array (see docs/cluster.md).")
@verbose_option
@version_option
def command(input_path, contrast, output, ofolder, x, init_label, init_z, model, backend, device, threshold,
            numbering_threshold, qc, qc_dataset, qc_subject, jobs, overwrite, shard, verbose):
    setup_logging(verbose)
    if input_path.is_dir():
        _check_batch_options(output, x, qc_subject, init_label, init_z, qc_dataset)
        from hca_disc_label.run.batch import label_dataset

        summary = label_dataset(
            input_path, out_root=ofolder, contrast=contrast, model=model, backend=backend, device=device,
            threshold=threshold, qc=qc, jobs=jobs, overwrite=overwrite, progress=verbose != "0",
            shard=shard, command_line=shlex.join(argv_of(click.get_current_context())),
            numbering_threshold=numbering_threshold,
        )
        _print_summary(summary, quiet=verbose == "0")
        return 0 if not summary.failed else 1
    if shard is not None:
        raise click.UsageError("-shard applies to a folder given as -i, not to a single image.")
    if contrast is None and contrast_from_name(input_path.name) is None:
        raise click.UsageError("Missing option '-c' (t1 or t2): it cannot be guessed from the file name.")
    from hca_disc_label.errors import ArgumentValueError
    from hca_disc_label.run.pipeline import label_discs

    try:
        result = label_discs(
            input_path, contrast=contrast, output=output, ofolder=ofolder, qc=qc, qc_subject=qc_subject,
            qc_dataset=qc_dataset, x=x, model=model, backend=backend, device=device, threshold=threshold,
            command_line=shlex.join(argv_of(click.get_current_context())), init_label=init_label, init_z=init_z,
            overwrite=overwrite, numbering_threshold=numbering_threshold,
        )
    except ArgumentValueError as exc:  # a value wrong for this image or path: a usage error (exit 2)
        raise click.BadParameter(" ".join(str(exc).split()), param_hint=f"'{exc.option}'") from None
    if verbose != "0":
        _print_result(result)
    _warn_numbering(result, input_path, result.labelling.contrast)
    return 0
