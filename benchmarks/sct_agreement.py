#!/usr/bin/env python
"""SCT in the loop: our disc labels fed to SCT's own scripts, compared with the ground truth.

    python benchmarks/sct_agreement.py [--sct DIR] [--bids DIR] [--work DIR] [--json OUT]

For every image of ``--bids`` (default ``../shared/data/bids``) that has a cord segmentation
(``derivatives/labels/sub-*/anat/*_label-SC_seg.nii.gz``) and disc labels, it runs

1. ``hca_label`` (the embedded default model), without a hint and with one ``-initlabel``
   hint: a one-voxel label file holding the middle ground-truth disc;
2. SCT's ``sct_label_vertebrae -discfile`` (vertebral level of every cord voxel) and
   ``sct_process_segmentation -discfile -vert 1:25 -perlevel 1`` (CSA per level), once on our
   labels and once on the ground-truth labels,

and the oracle (the ground truth rendered as heatmaps through our real decode and write path,
on a reoriented copy of the image: our conventions without the model's errors), and prints,
per case and run: the share of cord voxels that get the same level as with the
ground truth, the CSA of each level and its relative difference, whether SCT warned "Two
labels were projected on the same coordinate", and which discs (ours, the ground truth's) lie
beyond the cord's S-I range, by how many mm: SCT projects those onto an end of the cord.

SCT is not installed as a package: its snapshot (``--sct``, default
``../shared/third_party/spinalcordtoolbox``, or ``$HCA_SCT_DIR``) runs as an external program,
``python -m spinalcordtoolbox.scripts.<script>`` with ``PYTHONPATH`` pointing at it; its PyPI
requirements are in ``tests/integration/requirements-sct.txt``. ``tests/integration`` imports
this module and asserts the bar of issue 14 on the same figures. Running SCT (where the snapshot
is, its environment, its reading of a disc file) lives in ``benchmarks/sct_runner.py``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import sys
import tempfile
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import nibabel as nib
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sct_runner import Case, LevelRun, SCTError, run_command, sct_levels, sct_root  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DEFAULT_BIDS = REPO.parent / "shared" / "data" / "bids"


def find_cases(bids: Path = DEFAULT_BIDS) -> list[Case]:
    """Images of a BIDS folder with both ``_label-SC_seg`` and ``_label-discs_dlabel`` files."""
    cases = []
    for image in sorted(Path(bids).glob("sub-*/anat/*.nii.gz")):
        stem = image.name[: -len(".nii.gz")]
        labels = Path(bids) / "derivatives" / "labels" / image.parent.parent.name / "anat"
        seg, gt = labels / f"{stem}_label-SC_seg.nii.gz", labels / f"{stem}_label-discs_dlabel.nii.gz"
        if seg.is_file() and gt.is_file():
            contrast = "t1" if stem.endswith("T1w") else "t2"
            cases.append(Case(stem, image, seg, gt, contrast))
    return cases


def hca_label_command() -> list[str]:
    """``hca_label`` as a user runs it (the console script of this interpreter's environment)."""
    script = Path(sys.executable).with_name("hca_label")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "hca_disc_label"]


def write_hint(gt: Path, out: Path) -> int:
    """A one-voxel label file on the ground truth's grid: its middle disc. Returns the value."""
    img = nib.load(str(gt))
    data = np.rint(np.asanyarray(img.dataobj)).astype(np.int64)
    values = sorted(int(v) for v in np.unique(data) if 2 <= v <= 25)
    value = values[len(values) // 2]
    hint = np.zeros(data.shape, dtype=np.uint8)
    hint[tuple(np.argwhere(data == value)[0])] = value
    out.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(hint, img.affine, img.header), str(out))
    return value


def _canonical(path: Path) -> np.ndarray:
    return np.rint(np.asanyarray(nib.as_closest_canonical(nib.load(str(path))).dataobj)).astype(np.int64)


def _points(path: Path) -> dict[int, np.ndarray]:
    """``{value: world mm}`` of a label file (one voxel per value)."""
    img = nib.load(str(path))
    data = np.rint(np.asanyarray(img.dataobj)).astype(np.int64)
    return {int(data[tuple(v)]): img.affine[:3, :3] @ v + img.affine[:3, 3] for v in np.argwhere(data > 0)}


BEYOND_TOLERANCE_MM = 5.0
"""A disc this close beyond the cord's end slice is at the end within labelling precision
(ground truth about 1 voxel, the model's median distance about 2 mm): SCT snapping it onto the
end slice puts it where it is anyway. Farther out, the snap moves it (and two there collide)."""


def beyond_cord(discfile: Path, seg: Path) -> dict[str, dict[int, float]]:
    """Discs of a label file beyond the cord's S-I range: ``{"top"|"bottom": {value: mm beyond}}``.

    SCT snaps each disc to the nearest centreline point, so a disc above the cord's top slice
    (or below its bottom slice) lands on the cord's end; two such discs at one end collide.
    The distance is along S-I from the centre of the cord's end slice.
    """
    img = nib.as_closest_canonical(nib.load(str(seg)))
    z_cord = np.nonzero((np.asanyarray(img.dataobj) > 0).any(axis=(0, 1)))[0]
    inv = np.linalg.inv(img.affine)
    dz = float(np.linalg.norm(img.affine[:3, 2]))
    out: dict[str, dict[int, float]] = {"top": {}, "bottom": {}}
    for value, mm in sorted(_points(discfile).items()):
        z = (inv[:3, :3] @ mm + inv[:3, 3])[2]
        if z > z_cord.max() + 0.5:
            out["top"][value] = round((z - z_cord.max()) * dz, 2)
        elif z < z_cord.min() - 0.5:
            out["bottom"][value] = round((z_cord.min() - z) * dz, 2)
    return out


@dataclass
class Comparison:
    """Our labels against the ground truth, as SCT reads both."""

    case: str
    run: str  # "nohint" | "hint" | "oracle"
    hint: int | None  # value of the hinted GT disc (None: no hint)
    our_values: list[int]
    gt_values: list[int]
    cord_voxels: int
    same_level: float  # share of cord voxels whose level is the ground truth's
    csa_ours: dict[int, float]
    csa_gt: dict[int, float]
    csa_rel_diff: dict[int, float | None]  # |ours - gt| / gt per level of either (None: one lacks it)
    interior_levels: list[int]  # GT levels bounded by two discs inside the cord (not by a cord end)
    collision_ours: bool  # SCT warned "Two labels were projected on the same coordinate"
    collision_gt: bool
    lost_ours: list[int]  # discs that vanished in SCT's projection (collided with another)
    beyond_ours: dict[str, dict[int, float]] = field(default_factory=dict)  # discs beyond the cord's ends, mm
    beyond_gt: dict[str, dict[int, float]] = field(default_factory=dict)

    @property
    def max_csa_diff(self) -> float:
        """Largest relative CSA difference over all levels (inf when a level is missing in one)."""
        diffs = list(self.csa_rel_diff.values())
        return float("inf") if not diffs or any(d is None for d in diffs) else max(diffs)

    @property
    def max_interior_csa_diff(self) -> float:
        """Largest relative CSA difference over the interior levels (inf when ours lacks one)."""
        diffs = [self.csa_rel_diff.get(lv) for lv in self.interior_levels]
        return float("inf") if not diffs or any(d is None for d in diffs) else max(diffs)

    def extra_beyond(self, tolerance_mm: float = BEYOND_TOLERANCE_MM) -> dict[str, dict[int, float]]:
        """Our discs more than ``tolerance_mm`` beyond a cord end where the ground truth has none."""
        return {end: {v: d for v, d in discs.items() if d > tolerance_mm}
                for end, discs in self.beyond_ours.items()
                if not self.beyond_gt.get(end) and any(d > tolerance_mm for d in discs.values())}


def _values(path: Path) -> list[int]:
    data = np.rint(np.asanyarray(nib.load(str(path)).dataobj)).astype(np.int64)
    return sorted(int(v) for v in np.unique(data) if v != 0)


def compare(case: Case, ours: LevelRun, gt: LevelRun, our_discs: Path, run: str,
            hint: int | None = None) -> Comparison:
    """Voxel-wise level agreement on the cord, CSA per level, collisions and discs beyond the cord."""
    cord = _canonical(case.seg) > 0
    lv_ours, lv_gt = _canonical(ours.labeled_seg), _canonical(gt.labeled_seg)
    n = int(cord.sum())
    same = float((lv_ours[cord] == lv_gt[cord]).mean()) if n else 0.0
    levels = sorted(set(ours.csa) | set(gt.csa))
    rel = {lv: (abs(ours.csa[lv] - gt.csa[lv]) / gt.csa[lv] if lv in ours.csa and lv in gt.csa else None)
           for lv in levels}
    beyond_gt = beyond_cord(case.gt, case.seg)
    inside_gt = set(_values(case.gt)) - set(beyond_gt["top"]) - set(beyond_gt["bottom"])
    interior = [lv for lv in sorted(gt.csa) if lv in inside_gt and lv + 1 in inside_gt]
    lost = sorted(set(_values(our_discs)) - set(_values(ours.projected)))
    return Comparison(case.name, run, hint, _values(our_discs), _values(case.gt), n, same, ours.csa, gt.csa, rel,
                      interior, ours.collision, gt.collision, lost, beyond_cord(our_discs, case.seg), beyond_gt)


def run_hca_label(case: Case, out: Path, hint_file: Path | None = None, qc: Path | None = None) -> Path:
    """``hca_label -i IMAGE -c CONTRAST -ofolder OUT [-initlabel HINT] [-qc QC]``; the label path."""
    cmd = hca_label_command() + ["-i", str(case.image), "-c", case.contrast, "-ofolder", str(out)]
    if hint_file is not None:
        cmd += ["-initlabel", str(hint_file)]
    if qc is not None:
        cmd += ["-qc", str(qc)]
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", "1")
    run_command(cmd, env, out.parent if out.parent.exists() else Path.cwd(), "hca_label")
    return out / f"{case.name}_label-discs_dlabel.nii.gz"


def oracle_labels(case: Case, out: Path, reorient_image: bool = False) -> tuple[Case, Path]:
    """Ground truth -> heatmaps -> our real decode and write path: the labels a perfect network gets.

    No trained weights: the ground-truth discs are rendered as the network's heatmaps on the real
    preprocessing grid and go through ``label_discs`` (decoder, per-disc mid-plane, writer), so
    SCT's reading of the result tests our conventions alone. With ``reorient_image`` the image is
    first put on a permuted, flipped voxel grid (same world geometry) while the segmentation and
    ground truth stay on theirs: the labels must still be right in world space.

    Returns:
        The case (its image replaced by the reoriented copy if any) and the label file.
    """
    sys.path.insert(0, str(REPO))
    from hca_disc_label.inference.heatmaps import model_to_heatmap, render_heatmaps
    from hca_disc_label.run.pipeline import label_discs
    from hca_disc_label.image import load_image
    from hca_disc_label.labelfile import read_disc_labels
    from hca_disc_label.preprocessing import prepare_slab
    from tests.helpers import PrecomputedBackend, StandInModel, reorient

    out.mkdir(parents=True, exist_ok=True)
    if reorient_image:
        image_path = out / f"{case.name}.nii.gz"
        nib.save(reorient(nib.load(str(case.image)), (2, 0, 1), (-1, 1, -1)), str(image_path))
        case = Case(case.name, image_path, case.seg, case.gt, case.contrast)
    model = StandInModel()
    contract = model.input_contract
    image = load_image(case.image)
    gt = read_disc_labels(case.gt)
    inv = np.linalg.inv(image.affine)
    canonical = np.array([inv[:3, :3] @ np.asarray(p.mm) + inv[:3, 3] for p in gt])
    prepared = prepare_slab(image.data, image.zooms, contract["pixel_spacing_mm"], contract["size_multiple"],
                            contract["slab_thickness_mm"])
    rows_cols = prepared.geometry.canonical_to_model(canonical[:, 1:])
    stride = contract["output_stride"]
    points = {p.value: tuple(model_to_heatmap(rc, stride)) for p, rc in zip(gt, rows_cols)}
    shape = tuple(n // stride for n in prepared.image.shape)
    heatmaps = render_heatmaps(points, model.channel_values, shape, contract["heatmap_sigma_px"])
    labels = out / f"{case.name}_label-discs_dlabel.nii.gz"
    label_discs(case.image, case.contrast, output=labels, model=model, backend=PrecomputedBackend(heatmaps),
                command_line="oracle")
    return case, labels


def _voxels_and_header(path: Path) -> bytes:
    """The bytes SCT reads from a disc file (gzip's own header, which holds a time, left out)."""
    data = path.read_bytes()
    return gzip.decompress(data) if path.name.endswith(".gz") else data


def run_case(case: Case, work: Path, root: Path, pool: ThreadPoolExecutor, oracle: bool = True) -> list[Comparison]:
    """Everything for one case: GT through SCT; our labels without and with a hint (and the oracle).

    SCT reads a disc file and the image, nothing else, and gives the same answer twice: when the
    hinted run writes the very labels of the run without a hint, SCT's reading of one is used for
    both (on PAM50 that spares the slowest SCT run of the suite)."""
    base = work / case.name
    base.mkdir(parents=True, exist_ok=True)
    hint_file = base / "hint_label.nii.gz"
    hint = write_hint(case.gt, hint_file)
    gt_run = pool.submit(sct_levels, case, case.gt, base / "sct_gt", root)

    def labels(tag: str) -> tuple[Case, Path]:
        if tag == "oracle":
            return oracle_labels(case, base / tag, reorient_image=True)
        return case, run_hca_label(case, base / tag, hint_file if tag == "hint" else None)

    tags = ("nohint", "hint", "oracle") if oracle else ("nohint", "hint")
    made = {tag: pool.submit(labels, tag) for tag in tags}
    readings: dict[tuple[Path, bytes], Future] = {}
    runs = {}
    for tag in tags:
        this, path = made[tag].result()
        key = (this.image, _voxels_and_header(path))
        if key not in readings:
            readings[key] = pool.submit(sct_levels, this, path, base / tag / "sct", root)
        runs[tag] = (this, path, readings[key])
    gt_levels = gt_run.result()
    return [compare(this, reading.result(), gt_levels, path, tag, hint if tag == "hint" else None)
            for tag, (this, path, reading) in runs.items()]


def run_all(work: Path, root: Path | None = None, bids: Path = DEFAULT_BIDS, jobs: int = 2,
            oracle: bool = True) -> list[Comparison]:
    """All cases of ``bids`` (see :func:`find_cases`); SCT and hca_label run ``jobs`` at a time."""
    root = sct_root(root)
    cases = find_cases(bids)
    if not cases:
        raise SCTError(f"no image with a cord segmentation and disc labels under {bids}")
    # Each case waits on its own sub-jobs: they get their own pool so that waiting parents can
    # never hold every worker.
    with ThreadPoolExecutor(max_workers=jobs) as inner, ThreadPoolExecutor(max_workers=len(cases)) as outer:
        futures = [outer.submit(run_case, c, work, root, inner, oracle) for c in cases]
        return [cmp for f in futures for cmp in f.result()]


def _pct(x: float) -> str:
    return "missing level" if x == float("inf") else f"{100 * x:.2f} %"


def table(results: list[Comparison]) -> str:
    """Markdown table of the figures (one row per case and run)."""
    lines = ["| case | run (hinted GT disc) | our discs | GT discs | cord voxels with the GT level "
             "| CSA max diff, interior levels | CSA max diff, all levels | 'Two labels' warning ours / GT "
             "| our discs beyond the cord / GT |",
             "|---|---|---|---|---|---|---|---|---|"]
    for c in results:
        def ends(b: dict) -> str:
            return ", ".join(f"{end} " + ",".join(f"{v} ({d:g} mm)" for v, d in discs.items())
                             for end, discs in b.items() if discs) or "none"
        run = c.run + (f" ({c.hint})" if c.hint is not None else "")
        lines.append(
            f"| {c.case} | {run} | {','.join(map(str, c.our_values))} | {','.join(map(str, c.gt_values))} "
            f"| {100 * c.same_level:.1f} % of {c.cord_voxels} | {_pct(c.max_interior_csa_diff)} "
            f"| {_pct(c.max_csa_diff)} | {'yes' if c.collision_ours else 'no'} / {'yes' if c.collision_gt else 'no'} "
            f"| {ends(c.beyond_ours)} / {ends(c.beyond_gt)} |")
    lines.append("")
    lines.append("CSA per level, ours / ground truth in mm² (relative difference); * = interior level:")
    for c in results:
        parts = []
        for lv, d in c.csa_rel_diff.items():
            ours = f"{c.csa_ours[lv]:.1f}" if lv in c.csa_ours else "-"
            gt = f"{c.csa_gt[lv]:.1f}" if lv in c.csa_gt else "-"
            star = "*" if lv in c.interior_levels else ""
            parts.append(f"{lv}{star} {ours}/{gt}" + (f" ({100 * d:.1f} %)" if d is not None else ""))
        lines.append(f"- {c.case}, {c.run}: " + "; ".join(parts))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sct", type=Path, help="SCT snapshot folder (default ../shared/third_party/spinalcordtoolbox)")
    parser.add_argument("--bids", type=Path, default=DEFAULT_BIDS)
    parser.add_argument("--work", type=Path, help="keep all outputs here (default: a temporary folder)")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--no-oracle", action="store_true", help="skip the ground-truth-heatmap (oracle) run")
    args = parser.parse_args(argv)
    work = args.work or Path(tempfile.mkdtemp(prefix="sct_agreement_"))
    try:
        results = run_all(work, args.sct, args.bids, args.jobs, oracle=not args.no_oracle)
    except SCTError as exc:
        print(f"sct_agreement: {exc}", file=sys.stderr)
        return 1
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    print(table(results))
    if args.json:
        args.json.write_text(json.dumps([asdict(c) for c in results], indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
