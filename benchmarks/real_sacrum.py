#!/usr/bin/env python
"""Real-sacrum benchmark: the real T2 lumbar scans with the sacrum in view, scored out of fold.

    python benchmarks/real_sacrum.py --model MODEL[=SUB,SUB,...] [--model ...] [--data DIR]
        [--subjects PATTERN] [--json OUT] [--cases] [--calibration SPEC]

Each ``--model`` is a model spec (registry NAME[@VERSION] or a model folder) with, after ``=``,
the subjects it never trained on (its held-out fold); without ``=`` it scores every subject
(a model that never saw them, e.g. a released one). Images: ``DATA/sub-zuk*`` (default
``../shared/data/bids-train``), each whole and cut at the heights of
:func:`hca_disc_label.evaluation.real_crops.sacrum_cuts` (lower edge 12 mm above the L5/S1 tip,
8 / 25 / 45 mm below it, or whole; upper edge whole or 15 mm above T12/L1). Ground truth: the
subject's disc labels (T11/T12..L4/L5) plus the L5/S1 tip derived from its L5 mask
(:mod:`hca_disc_label.training.vertebrae`). Each image goes through the whole ``Labeller``
(mid-plane, network, decoder, numbering confidence) on the CPU.

Per subject: identity (ground-truth discs in view with a label of their value within 7 mm),
wrong images (a ground-truth disc carrying another value), of which ``ok`` (the silent ones,
the bar says none), and ``check`` images. ``--json`` keeps every image's record (for the
numbering calibration).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hca_disc_label.evaluation.real_crops import (  # noqa: E402
    heights_in_view,
    sacrum_cuts,
    sacrum_ground_truth,
    save_cut,
    score_image,
)

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "bids-train"


def run_subject(labeller, data: Path, subject: str, scratch: Path) -> list[dict]:
    """Every cut of one subject labelled and scored (one record per image)."""
    import nibabel as nib

    image_path, gt = sacrum_ground_truth(data, subject)
    img = nib.load(str(image_path))
    view = heights_in_view(img)
    records = []
    for cut in sacrum_cuts(gt):
        path = save_cut(img, cut, scratch)
        labelling = labeller.label(path)
        pred = [(d.value, np.asarray(d.mm, float)) for d in labelling.discs]
        num = labelling.numbering
        status = num.status if num is not None else "ok"
        conf = float(num.confidence) if num is not None else float("nan")
        score = score_image(gt, pred, cut, view, status, conf)
        records.append({"subject": subject, "cut": cut.name, "n_gt": score.n_gt, "right": score.right,
                        "wrong_value": score.wrong_value, "missed": score.missed, "wrong": score.wrong,
                        "status": status, "confidence": round(conf, 4),
                        "values": sorted(v for v, _ in pred)})
    return records


def summarise(records: list[dict]) -> dict:
    """Identity and image counts of a set of records."""
    n = sum(r["n_gt"] for r in records)
    right = sum(r["right"] for r in records)
    wrong = [r for r in records if r["wrong"]]
    return {"images": len(records), "gt": n, "right": right, "identity": 100.0 * right / max(n, 1),
            "wrong_images": len(wrong), "wrong_ok": sum(r["status"] == "ok" for r in wrong),
            "check": sum(r["status"] == "check" for r in records),
            "whole_wrong": sum(r["wrong"] for r in records if r["cut"] == "top=whole,bottom=whole")}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", action="append", required=True, help="SPEC[=SUB,SUB,...] (repeatable)")
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--subjects", default="sub-zuk*", help="glob of the subjects with the sacrum in view")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--cases", action="store_true", help="print every image")
    ap.add_argument("--calibration", default=None, metavar="SPEC",
                    help="judge every model's count with this model's numbering calibration (fold models have "
                         "none of their own: use the shipped model's, fitted with their out-of-fold images)")
    args = ap.parse_args(argv)
    from hca_disc_label import Labeller

    everyone = sorted(p.name for p in args.data.glob(args.subjects) if p.is_dir())
    records: list[dict] = []
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        for item in args.model:
            spec, _, subs = item.partition("=")
            subjects = [s for s in subs.split(",") if s] or everyone
            labeller = Labeller(spec, "t2", "auto", "cpu")  # ONNX when the folder has it, else torch
            if args.calibration:
                labeller.use_calibration_of(args.calibration)
            for subject in subjects:
                rows = run_subject(labeller, args.data, subject, Path(scratch))
                for r in rows:
                    r["model"] = spec
                records += rows
    print(f"real-sacrum benchmark: {len(records)} images in {time.perf_counter() - start:.0f} s")
    print("| subject | model | images | identity | wrong images | wrong & ok | check | whole image |")
    print("|---|---|---|---|---|---|---|---|")
    for subject in sorted({r["subject"] for r in records}):
        rows = [r for r in records if r["subject"] == subject]
        s = summarise(rows)
        whole = "wrong" if s["whole_wrong"] else "right"
        print(f"| {subject} | {rows[0]['model']} | {s['images']} | {s['right']}/{s['gt']} ({s['identity']:.1f} %) | "
              f"{s['wrong_images']} | {s['wrong_ok']} | {s['check']} | {whole} |")
    s = summarise(records)
    subjects_wrong_ok = sorted({r["subject"] for r in records if r["wrong"] and r["status"] == "ok"})
    print(f"| all | | {s['images']} | {s['right']}/{s['gt']} ({s['identity']:.1f} %) | {s['wrong_images']} | "
          f"{s['wrong_ok']} | {s['check']} | {s['whole_wrong']} wrong |")
    ok = [r for r in records if r["status"] == "ok"]
    so = summarise(ok)
    print(f"identity among ok images: {so['right']}/{so['gt']} ({so['identity']:.1f} %); "
          f"subjects with a wrong ok image: {', '.join(subjects_wrong_ok) or 'none'}")
    if args.cases:
        for r in records:
            print(f"  {r['subject']} {r['cut']:32s} {r['right']}/{r['n_gt']} wrong {r['wrong_value']} "
                  f"{r['status']} {r['confidence']:.3f} values {r['values']}")
    if args.json:
        args.json.write_text(json.dumps({"records": records, "summary": s}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
