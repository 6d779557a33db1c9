"""SCT in the loop: the Spinal Cord Toolbox snapshot run as an external program.

SCT is not installed: its snapshot (``../shared/third_party/spinalcordtoolbox``, or
``$HCA_SCT_DIR``) runs with ``PYTHONPATH`` pointing at it, with the PyPI packages of
``requirements-sct.txt`` (``.ci/run`` installs them). Without them these tests fail, saying
what to install: they never skip, since CI must show SCT consuming our labels.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
REQUIREMENTS = Path(__file__).with_name("requirements-sct.txt")
SCT_SCRIPTS = ("sct_label_vertebrae", "sct_process_segmentation", "sct_run_batch", "sct_deepseg", "sct_label_utils")
"""Wrapped on PATH as an SCT install puts them there (sct_deepseg only so a missing
segmentation fails with SCT's own message rather than "command not found"; sct_label_utils
-display gives the pipeline script the discs' values)."""


def load_runner():
    """``benchmarks/sct_runner.py`` (SCT as an external program), the module sct_agreement uses."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    import sct_runner

    return sct_runner


def load_agreement():
    """``benchmarks/sct_agreement.py`` as a module (the same figures the benchmark prints)."""
    spec = importlib.util.spec_from_file_location("sct_agreement", REPO / "benchmarks" / "sct_agreement.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("sct_agreement", module)
    spec.loader.exec_module(module)
    return sys.modules["sct_agreement"]


@dataclass(frozen=True)
class SCT:
    """The snapshot, its environment, and a folder of ``sct_*`` commands for PATH."""

    root: Path
    env: dict
    bin: Path

    def path_env(self, **extra: str) -> dict:
        """Environment with the ``sct_*`` wrappers and this interpreter's scripts (hca_label) first.

        ``TMPDIR`` is a folder of the session's own: SCT leaves temporary folders behind. Every
        process of one pipeline gets the same one, so SCT's QC lock (in the temp folder) is shared.
        """
        env = dict(self.env)
        env["PATH"] = os.pathsep.join([str(self.bin), str(Path(sys.executable).parent), env.get("PATH", "")])
        env["TMPDIR"] = str(self.bin.parent / "sct_tmp")
        Path(env["TMPDIR"]).mkdir(exist_ok=True)
        env.update(extra)
        return env


@pytest.fixture(scope="session")
def sct(tmp_path_factory) -> SCT:
    runner = load_runner()
    try:
        root = runner.sct_root()
    except runner.SCTError as exc:
        pytest.fail(str(exc), pytrace=False)
    env = runner.sct_env(root)
    modules = ", ".join(f"spinalcordtoolbox.scripts.{name}" for name in SCT_SCRIPTS[:3])
    check = subprocess.run([sys.executable, "-c", f"import {modules}, spinalcordtoolbox.reports.qc2"],
                           env=env, capture_output=True, text=True, timeout=300)
    if check.returncode != 0:
        pytest.fail(f"SCT at {root} cannot be imported: {check.stderr.strip().splitlines()[-1]}\n"
                    f"install its packages: python -m pip install -r {REQUIREMENTS}", pytrace=False)
    bin_dir = tmp_path_factory.mktemp("sct_bin")
    for name in SCT_SCRIPTS:
        wrapper = bin_dir / name
        wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m spinalcordtoolbox.scripts.{name} "$@"\n')
        wrapper.chmod(0o755)
    return SCT(root, env, bin_dir)


@pytest.fixture(scope="module")
def isolated_env(tmp_path_factory):
    """Module-wide: hca_label subprocesses use a private model cache and never the network."""
    mp = pytest.MonkeyPatch()
    mp.setenv("HCA_DISC_LABEL_HOME", str(tmp_path_factory.mktemp("hca_home_module")))
    mp.setenv("HCA_DISC_LABEL_OFFLINE", "1")
    mp.setenv("OMP_NUM_THREADS", "1")
    yield
    mp.undo()
