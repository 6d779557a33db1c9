"""Snapshot of the labels written for every ``../shared/data/bids`` image (no-change check).

Runs ``hca_label`` once per image (default model, ``-backend onnx``, contrast from the name)
through whatever ``hca_disc_label`` is importable, and writes ``{image: [{value, voxel, mm}]}``
as JSON. ``tests/data/bids_labels_expected.json`` was made with the code before issue 12::

    git worktree add /tmp/before 2aef5ce
    PYTHONPATH=/tmp/before python benchmarks/bids_labels_snapshot.py --out tests/data/bids_labels_expected.json

``tests/test_bids_no_change.py`` recomputes the labels with the current code and compares.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

BIDS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "bids"


def snapshot(bids: Path = BIDS) -> dict[str, list[dict]]:
    """``{relative image path: [{"value", "voxel", "mm"}]}`` as written by ``hca_label``."""
    from hca_disc_label.cli.main import main

    out: dict[str, list[dict]] = {}
    images = sorted(p for p in bids.glob("sub-*/anat/*.nii.gz"))
    with tempfile.TemporaryDirectory() as tmp:
        for k, image in enumerate(images):
            target = Path(tmp) / f"{k}_label-discs_dlabel.nii.gz"
            contrast = "t1" if "_T1w" in image.name else "t2"
            rc = main(["-i", str(image), "-c", contrast, "-o", str(target), "-backend", "onnx", "-v", "0"])
            if rc != 0:
                raise SystemExit(f"{image}: exit {rc}")
            sidecar = json.loads(target.with_name(target.name[:-7] + ".json").read_text())
            out[image.relative_to(bids).as_posix()] = [
                {"value": d["value"], "voxel": d["voxel"], "mm": d["mm"]} for d in sidecar["Discs"]]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    args.out.write_text(json.dumps(snapshot(), indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
