"""Spinal Cord Toolbox run as an external program: where the snapshot is, its environment, and
SCT's reading of one disc file (``sct_label_vertebrae -discfile``, ``sct_process_segmentation
-perlevel 1``). Used by ``benchmarks/sct_agreement.py`` and ``tests/integration``.

SCT is not installed as a package: its snapshot (default ``../shared/third_party/spinalcordtoolbox``,
or ``$HCA_SCT_DIR``) runs as ``python -m spinalcordtoolbox.scripts.<script>`` with ``PYTHONPATH``
pointing at it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SCT = REPO.parent / "shared" / "third_party" / "spinalcordtoolbox"
COLLISION_WARNING = "Two labels were projected on the same coordinate"
"""What SCT's ``project_centerline`` logs when two discs snap to one centreline point."""
SCT_TIMEOUT_S = 600


class SCTError(RuntimeError):
    """An SCT script (or hca_label) failed; the message ends with its output."""


@dataclass(frozen=True)
class Case:
    """A real image with a cord segmentation and ground-truth disc labels."""

    name: str  # e.g. "sub-errsm30_T2w"
    image: Path
    seg: Path
    gt: Path
    contrast: str  # "t1" | "t2" (hca_label -c and sct_label_vertebrae -c)


def sct_root(path: str | os.PathLike | None = None) -> Path:
    """The SCT snapshot folder (the one holding the ``spinalcordtoolbox`` package).

    Raises:
        SCTError: no SCT there (say where it was looked for).
    """
    root = Path(path or os.environ.get("HCA_SCT_DIR") or DEFAULT_SCT)
    if not (root / "spinalcordtoolbox" / "scripts" / "sct_label_vertebrae.py").is_file():
        raise SCTError(f"Spinal Cord Toolbox not found at {root} (set HCA_SCT_DIR or pass --sct)")
    return root


def sct_env(root: Path) -> dict[str, str]:
    """Environment for SCT subprocesses: the snapshot on PYTHONPATH, no GUI, no progress bars.

    SCT needs no ``SCT_DIR`` for the -discfile workflows used here: it only reads its own
    package files (report assets, the regions table), all inside the snapshot.
    """
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(root)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    env["MPLBACKEND"] = "Agg"
    env["SCT_PROGRESS_BAR"] = "off"
    return env


def run_command(cmd: list[str], env: dict[str, str], cwd: Path, what: str) -> str:
    """Run ``cmd`` (no stdin, at most :data:`SCT_TIMEOUT_S`); its stdout + stderr.

    Raises:
        SCTError: it exited non-zero (``what`` names it; the message ends with its output).
    """
    proc = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=SCT_TIMEOUT_S,
                          stdin=subprocess.DEVNULL)
    output = proc.stdout + proc.stderr
    if proc.returncode != 0:
        raise SCTError(f"{what} failed (exit {proc.returncode}): {' '.join(cmd)}\n{output[-4000:]}")
    return output


def run_sct(script: str, args: list[str], root: Path, cwd: Path) -> str:
    """Run one SCT script from the snapshot; returns its stdout + stderr."""
    cmd = [sys.executable, "-m", f"spinalcordtoolbox.scripts.{script}", *map(str, args)]
    env = sct_env(root)
    # SCT leaves some temporary folders behind (sct_process_segmentation): keep them in cwd
    env["TMPDIR"] = str(Path(cwd) / ".sct_tmp")
    Path(env["TMPDIR"]).mkdir(parents=True, exist_ok=True)
    return run_command(cmd, env, cwd, script)


@dataclass
class LevelRun:
    """SCT's reading of one disc file: cord levels, projected discs, CSA per level, log."""

    labeled_seg: Path
    projected: Path
    csa: dict[int, float]
    log: str

    @property
    def collision(self) -> bool:
        return COLLISION_WARNING in self.log


def sct_levels(case: Case, discfile: Path, out: Path, root: Path) -> LevelRun:
    """``sct_label_vertebrae -discfile`` then ``sct_process_segmentation -discfile -perlevel 1``."""
    out.mkdir(parents=True, exist_ok=True)
    log = run_sct("sct_label_vertebrae", ["-i", case.image, "-s", case.seg, "-c", case.contrast,
                                          "-discfile", discfile, "-ofolder", out, "-v", "1"], root, out)
    csv = out / "csa_perlevel.csv"
    log += run_sct("sct_process_segmentation", ["-i", case.seg, "-discfile", discfile, "-vert", "1:25",
                                                "-perlevel", "1", "-o", csv, "-v", "1"], root, out)
    stem = case.seg.name[: -len(".nii.gz")]
    return LevelRun(out / f"{stem}_labeled.nii.gz", out / f"{stem}_labeled_discs.nii.gz", read_csa(csv), log)


def read_csa(csv: Path) -> dict[int, float]:
    """``{level: MEAN(area) mm²}`` from ``sct_process_segmentation -perlevel 1`` output."""
    import csv as _csv

    with open(csv, newline="", encoding="utf-8") as f:
        rows = list(_csv.DictReader(f))
    return {int(float(r["VertLevel"])): float(r["MEAN(area)"]) for r in rows if r.get("VertLevel")
            and r.get("MEAN(area)") not in (None, "", "nan")}
