"""Snapshot of the labels written for every ``../shared/data/bids`` image (no-change check).

Runs ``hca_label`` once per image (default model, ``-backend onnx``, contrast from the name)
through whatever ``hca_disc_label`` is importable, and writes ``{image: [{value, voxel, mm}]}``
as JSON (with ``"_model"``: the default model the labels come from).
``tests/data/bids_labels_expected.json`` is now the labels of hca-compact 0.8.0 made by the
current code (``python benchmarks/bids_labels_snapshot.py --out tests/data/bids_labels_expected.json``).
Issue 12's refactor was checked against the code just before it (1093493, default model
hca-compact 0.3.0), from a checkout whose interpreter does not put this checkout first (e.g. a
venv with a ``.pth`` line to this venv's site-packages)::

    git worktree add /tmp/base 1093493 && ln -s /tmp/base/models /tmp/base/hca_disc_label/models
    PYTHONPATH=/tmp/base /tmp/venv_before/bin/python benchmarks/bids_labels_snapshot.py \
        --out tests/data/bids_labels_expected.json

After a deliberate change of the labels (a new default model, a new mid-plane or decoder),
regenerate it with the current code: ``python benchmarks/bids_labels_snapshot.py --out ...``.

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


def default_model() -> dict:
    """``{"Name", "Version", "SHA256"}`` of the default T2 model (the labels depend on it)."""
    from hca_disc_label.weights.resolve import resolve_model

    folder = resolve_model(None, "t2")
    return {"Name": folder.name, "Version": folder.version, "SHA256": folder.sha256}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    args.out.write_text(json.dumps({"_model": default_model(), **snapshot()}, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
