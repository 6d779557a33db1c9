"""The labelling pipeline: NIfTI in, SCT disc-label NIfTI (+ JSON sidecar, + QC) out.

:func:`label_discs` is load -> :meth:`~hca_disc_label.inference.labeller.Labeller.label` -> write;
:func:`write_outputs` is the one place label files are committed (used by the single-image CLI
and by batch workers):

1. the label image and its sidecar are written to temporary files beside their targets;
2. the QC entry (when asked for) is written; if that fails, the temporary files are removed
   and nothing is left (an :class:`~hca_disc_label.errors.OutputError` names the QC path);
3. both temporary files are renamed over their targets, the sidecar first, with signals held
   (the QC entry is removed again if that fails), so labels never exist without their sidecar
   and QC entry.
"""

from __future__ import annotations

import logging
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from hca_disc_label.atomic import commit, critical, discard, remove_stale_temps, temp_path_for
from hca_disc_label.conventions import DEFAULT_THRESHOLD
from hca_disc_label.errors import HCAError, HintError, OutputError
from hca_disc_label.image import check_output_path
from hca_disc_label.inference.labeller import Labeller
from hca_disc_label.inference.labelling import DiscRecord, Labelling
from hca_disc_label.labelfile import write_label_file
from hca_disc_label.naming import contrast_from_name, output_name, sidecar_path_for
from hca_disc_label.qc.report import record_labelling, remove_entry, remove_stale_temps_in
from hca_disc_label.sidecar import TOOL_NAME, refuse_own_labels, sidecar_text, written_by_us

log = logging.getLogger(__name__)


@dataclass
class LabelResult:
    """What :func:`label_discs` produced (files written + the in-memory labelling)."""

    input_path: Path
    output_path: Path
    sidecar_path: Path
    discs: list[DiscRecord]
    model_name: str
    model_version: str
    backend: str
    device: str
    slice_index: int
    seconds: float
    qc_path: Path | None = None
    labelling: Labelling | None = None


def default_output_path(input_path: Path, output: Path | None, ofolder: Path | None) -> Path:
    """Resolve the output file: ``-o`` wins, else ``<stem>_label-discs_dlabel.nii.gz`` in
    ``-ofolder`` or next to the input."""
    if output is not None:
        output = Path(output)
        return output if ofolder is None or output.is_absolute() else Path(ofolder) / output
    folder = Path(ofolder) if ofolder is not None else Path(input_path).parent
    return folder / output_name(Path(input_path).name)


def check_not_foreign(out_path: Path, overwrite: bool = False) -> None:
    """Refuse to replace a label file this package did not write (manual labels) unless told.

    Raises:
        OutputError: ``out_path`` exists, its sidecar does not name us, and not ``overwrite``.
    """
    if not overwrite and not written_by_us(out_path):
        raise OutputError(f"{out_path}: exists and was not written by {TOOL_NAME} (manual labels?): "
                          "not overwritten; pass -overwrite to replace it or choose -o / -ofolder")


def write_outputs(labelling: Labelling, out_path: Path, command_line: str, qc: Path | None = None,
                  qc_subject: str | None = None, rebuild_qc_index: bool = True,
                  sidecar_extra: dict | None = None, qc_dataset: str | None = None) -> tuple[Path, Path | None]:
    """Commit the label image, its sidecar and the QC entry: all of them or none.

    Args:
        labelling: the in-memory result.
        out_path: label file (the sidecar goes next to it).
        command_line: recorded in the sidecar.
        qc: QC folder, or None.
        qc_subject: subject shown in QC.
        rebuild_qc_index: rebuild ``index.html`` (batch workers leave it to the parent).
        sidecar_extra: further top-level sidecar blocks.
        qc_dataset: dataset of the SCT QC entry (SCT's ``-qc-dataset``; default from the folders).

    Returns:
        ``(sidecar path, QC picture or None)``.

    Raises:
        OutputError: naming the path that could not be written; nothing is left behind.
    """
    out_path = Path(out_path)
    side_path = sidecar_path_for(out_path)
    sidecar = labelling.sidecar(command_line, extra=sidecar_extra)
    temps: list[Path] = []
    try:
        tmp_label = temp_path_for(out_path)
        temps.append(tmp_label)
        write_label_file(labelling.image, labelling.label_points(), tmp_label)
        tmp_side = temp_path_for(side_path)
        temps.append(tmp_side)
        tmp_side.write_text(sidecar_text(sidecar), encoding="utf-8")
    except OSError as exc:
        for tmp in temps:
            discard(tmp)
        raise OutputError(f"{out_path}: cannot write output ({exc.strerror or exc})") from None
    except BaseException:
        for tmp in temps:
            discard(tmp)
        raise
    qc_path = None
    try:
        if qc is not None:
            try:
                qc_path = record_labelling(Path(qc), labelling, out_path, subject=qc_subject,
                                           rebuild=rebuild_qc_index, dataset=qc_dataset)
            except OSError as exc:
                where = exc.filename or qc
                raise OutputError(f"{where}: cannot write the QC entry ({exc.strerror or exc}); "
                                  f"no labels written") from None
        side_done = False
        try:
            # The sidecar goes first: a process killed (SIGKILL) between the two renames leaves a
            # sidecar without labels, which the next run simply redoes, never labels that look
            # like someone else's. Other signals wait until both are in place.
            with critical():
                commit(tmp_side, side_path, sync_folder=False)
                side_done = True
                commit(tmp_label, out_path)  # same folder: one folder fsync for both
        except OSError as exc:
            if side_done:  # the labels could not follow their new sidecar: remove both
                side_path.unlink(missing_ok=True)
                out_path.unlink(missing_ok=True)
            if qc is not None:
                remove_entry(Path(qc), labelling.input_path)
            raise OutputError(f"{out_path}: cannot write output ({exc.strerror or exc})") from None
    finally:
        for tmp in temps:
            discard(tmp)  # no-op for committed ones
    return side_path, qc_path


def label_discs(
    input_path: str | Path,
    contrast: str | None = None,
    output: str | Path | None = None,
    ofolder: str | Path | None = None,
    qc: str | Path | None = None,
    qc_subject: str | None = None,
    x: int | None = None,
    model: object = None,
    backend: object = "auto",
    device: str = "auto",
    threshold: float = DEFAULT_THRESHOLD,
    slab_thickness_mm: float | None = None,
    command_line: str | None = None,
    init_label: str | Path | None = None,
    init_z: tuple[int, int] | None = None,
    overwrite: bool = False,
    labeller: Labeller | None = None,
    rebuild_qc_index: bool = True,
    numbering_threshold: float | None = None,
    remove_leftovers: bool = True,
    qc_dataset: str | None = None,
) -> LabelResult:
    """Label the intervertebral discs of a sagittal spine MRI in SCT's convention.

    Args:
        input_path: 3D NIfTI image, any orientation and voxel size (never modified).
        contrast: "t1" or "t2" (selects the default model); None = from the file name's BIDS
            suffix (``_T1w`` / ``_T2w``), or the ``labeller``'s. Logged either way.
        output, ofolder: output label file (default: ``<stem>_label-discs_dlabel.nii.gz`` in ``ofolder``,
            default the input's folder).
        qc: QC folder; a PNG, a JSON record and ``index.html`` are written there.
        qc_subject, qc_dataset: subject shown in QC (default: from the file name) and dataset of the
            SCT QC entry (default, as in SCT: the folder three levels up).
        x: force the mid-sagittal slice (index along the file's own left-right axis).
        model, backend, device, threshold, slab_thickness_mm: see
            :class:`~hca_disc_label.inference.labeller.Labeller` (ignored when ``labeller`` is given).
        command_line: recorded in the sidecar (default: ``sys.argv``).
        init_label: SCT ``-initlabel`` label image (any grid; matched in world mm).
        init_z: SCT ``-initz`` ``(slice, value)``, slice = axial index in RPI (inferior = 0).
        overwrite: replace an existing output that this package did not write.
        labeller: a ready :class:`~hca_disc_label.inference.labeller.Labeller` (reused across calls).
        rebuild_qc_index: rebuild the QC ``index.html`` (batch workers leave it to the parent).
        numbering_threshold: numbering confidence under which the sidecar's ``Numbering``
            status is ``check`` (None = the model's calibrated threshold; ignored with ``labeller``).
        remove_leftovers: first remove the temporary files that killed runs left beside the
            output and in the QC folder's entries (batch runs do it once, for the whole tree).

    Returns:
        A :class:`LabelResult` (``result.labelling.numbering``: how sure the count is).

    Raises:
        HCAError: bad input, unknown contrast, unwritable output, an existing foreign output,
            model problems, or no disc found; nothing is written in those cases.
        ArgumentValueError: ``output``, ``x`` or ``init_z`` wrong for this image or path.
    """
    start = time.perf_counter()
    input_path = Path(input_path)
    if labeller is None:
        labeller = Labeller(model, _contrast_of(input_path, contrast), backend, device, threshold, slab_thickness_mm,
                            numbering_threshold=numbering_threshold)
    else:
        log.debug("%s: contrast %s (the labeller's)", input_path, labeller.contrast)
    out_path = default_output_path(input_path, output and Path(output), ofolder and Path(ofolder))
    _check_before_labelling(out_path, input_path, overwrite, init_label)
    if remove_leftovers:
        _remove_leftovers(out_path, qc and Path(qc))
    labelling = labeller.label(input_path, x=x, init_label=init_label, init_z=init_z)
    cmd = command_line if command_line is not None else " ".join(sys.argv)
    t = time.perf_counter()
    side_path, qc_path = write_outputs(labelling, out_path, cmd, qc=qc and Path(qc), qc_subject=qc_subject,
                                       rebuild_qc_index=rebuild_qc_index, qc_dataset=qc_dataset)
    labelling.timings["write"] = time.perf_counter() - t
    seconds = time.perf_counter() - start
    log.info("%s: %d discs in %.2f s", input_path, len(labelling.discs), seconds)
    return LabelResult(input_path=input_path, output_path=out_path, sidecar_path=side_path, discs=labelling.discs,
                       model_name=labelling.model.name, model_version=labelling.model.version,
                       backend=labelling.backend, device=labelling.device, slice_index=labelling.slice_index,
                       seconds=seconds, qc_path=qc_path, labelling=labelling)


def _check_before_labelling(out_path: Path, input_path: Path, overwrite: bool, init_label: str | Path | None) -> None:
    """What must hold before any labelling (so a refusal costs no network run).

    Raises:
        ArgumentValueError / OutputError: the output path (:func:`~hca_disc_label.image.check_output_path`).
        OutputError: an existing output this package did not write (without ``overwrite``).
        HintError: the ``-initlabel`` file is one of our own outputs.
    """
    check_output_path(out_path, input_path)
    check_not_foreign(out_path, overwrite)
    refused = init_label is not None and refuse_own_labels(Path(init_label), "-initlabel")
    if refused:
        raise HintError(refused)


def _remove_leftovers(out_path: Path, qc: Path | None) -> None:
    """Remove temporary files of killed runs (nobody holds them) beside the output and in QC."""
    remove_stale_temps(out_path.parent)
    if qc is not None:
        remove_stale_temps_in(qc)


def _contrast_of(input_path: Path, contrast: str | None) -> str:
    """The contrast to label ``input_path`` with: ``contrast`` when given, else the file name's
    BIDS suffix (logged at info level, a given one at debug level).

    Raises:
        HCAError: no contrast given and none in the file name.
    """
    if contrast is not None:
        log.debug("%s: contrast %s (given)", input_path, contrast)
        return contrast
    found = contrast_from_name(input_path.name)
    if found is None:
        raise HCAError(f"{input_path}: contrast unknown (no _T1w/_T2w in the file name): "
                       "pass contrast=\"t1\" or \"t2\"")
    log.info("%s: contrast %s (from the file name's BIDS suffix)", input_path, found)
    return found
