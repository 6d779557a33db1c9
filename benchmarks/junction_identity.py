#!/usr/bin/env python
"""Identity of model + decoder on the internal junction-hard sets (never ``bids/``).

    python benchmarks/junction_identity.py [MODEL ...] [--sets NAME ...] [--n 32] [--seed 0] [--crops 3]
        [--train-data DIR] [--cache DIR] [--json OUT] [--md OUT] [--cases]

Sets (:mod:`hca_disc_label.evaluation.internal_sets`): ``syn:s1s2-remnant`` (visible S1/S2
remnant), ``syn:lumbar-sacrum-edge`` (lower edge 1-30 mm below L5/S1), ``syn:lumbar-above-sacrum``
(lower edge in the L4 or L5 body, no sacrum in view), ``syn:cervical-full``
(skull base to T2-T6, 0.8-1 mm), ``syn:crop-from-c2`` (top edge between the dens tip and
C2/C3), ``syn:crop-below-c2`` (top edge from below C2/C3 to C4/C5), ``syn:coronal-curve``
(a spine curving in the coronal plane, a disc in view 8 mm or more beside the plane), ``real:bids-train-crops``
(the split-seed-1 held-out subjects of ``--train-data``, cut
to random heights; also reported by which edges were cut). Each model runs on the same images
(backend "auto" on the CPU, the ``create_backend`` / ``decode_heatmaps`` path of
``decoder_identity.py``; a model's landmark channels go to the decoder with its disc channels).
A model with lateral input channels (``input.channel_offsets_mm``) gets the same cases drawn
with those channels.

A GT disc is *right* when the decoded disc of its value lies within 10 mm; *missed* when no
decoded disc of any value does. *Wrong values* counts decoded discs whose nearest GT disc
(within 10 mm) has another value, split by offset = decoded - true value (-1: named one level
too cranial, e.g. the S1/S2 remnant taken for L5/S1 and L5/S1 called L4/L5). An image is *fully
right* when every GT disc is right and no decoded disc has a wrong value. Median distance is
over the right discs (mm).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hca_disc_label.contract import InputContract  # noqa: E402
from hca_disc_label.evaluation.internal_case import SET_NAMES  # noqa: E402
from hca_disc_label.evaluation.internal_sets import CROPS_PER_IMAGE, internal_sets  # noqa: E402
from hca_disc_label.inference.backends import create_backend  # noqa: E402
from hca_disc_label.inference.decode import decode_heatmaps  # noqa: E402
from hca_disc_label.preprocessing import pad_to_multiple  # noqa: E402
from hca_disc_label.weights.resolve import resolve_model  # noqa: E402

RIGHT_MM = 10.0
EXT_DATA = Path("/work/runs/bids-train-ext")


def _default_train_data(shared: Path) -> Path:
    """The lead's label extension of bids-train when present (it labels L5/S1 and T12/L1), else bids-train."""
    return EXT_DATA if EXT_DATA.is_dir() else shared / "data" / "bids-train"


class _Model:
    """A model folder with its backend and an optional heatmap cache."""

    def __init__(self, spec: str, backend: str, cache: Path | None):
        self.folder = resolve_model(spec)
        self.engine = create_backend(self.folder, backend, "cpu")
        contract = self.folder.input_contract
        self.stride, self.multiple = int(contract["output_stride"]), int(contract["size_multiple"])
        self.spacing = float(contract["pixel_spacing_mm"])
        self.offsets = InputContract.from_mapping(contract).channel_offsets_mm
        files = json.dumps(self.folder.card.get("files", {}), sort_keys=True).encode()
        # run folders often share a name and version: label those by the path given
        self.label = f"{self.folder.name} {self.folder.version}" + (f" ({spec})" if Path(spec).exists() else "")
        self.key = f"{self.folder.name}-{self.folder.version}-{hashlib.sha256(files).hexdigest()[:10]}"
        self.cache = cache / self.key if cache else None

    def heatmaps(self, set_name: str, case_id: str, image: np.ndarray) -> np.ndarray:
        digest = hashlib.sha256(np.ascontiguousarray(image).tobytes()).hexdigest()[:16]
        path = self.cache / set_name.replace(":", "_") / f"{case_id}.npz" if self.cache else None
        if path is not None and path.exists():
            with np.load(path) as z:
                if str(z["image_sha"]) == digest:
                    return z["heatmaps"]
        out = self.engine.predict(pad_to_multiple(image.astype(np.float32), self.multiple))
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            np.savez_compressed(path, heatmaps=out.astype(np.float32), image_sha=digest)
        return out

    def decode(self, heatmaps: np.ndarray, shape) -> dict[int, tuple[float, float]]:
        # channel_values may end with landmark codes (-landmarks models): the decoder splits them off
        return {d.value: (d.row, d.col) for d in decode_heatmaps(
            heatmaps, list(self.folder.channel_values), self.stride, self.spacing, valid_shape=shape)}


def score_case(discs: dict, pred: dict, spacing: float) -> dict:
    """Per-image counts (see the module docstring); distances in mm."""
    limit = RIGHT_MM / spacing
    right, dist, missed = 0, [], 0
    for v, p in discs.items():
        d = np.hypot(*np.subtract(pred[v], p)) if v in pred else np.inf
        if d <= limit:
            right += 1
            dist.append(float(d * spacing))
        elif not any(np.hypot(*np.subtract(q, p)) <= limit for q in pred.values()):
            missed += 1
    offsets = []
    for v, q in pred.items():
        near = min(discs, key=lambda u: np.hypot(*np.subtract(discs[u], q)), default=None)
        if near is not None and near != v and np.hypot(*np.subtract(discs[near], q)) <= limit:
            offsets.append(int(v - near))
    return {"discs": len(discs), "right": right, "dist": dist, "missed": missed, "offsets": offsets,
            "full": right == len(discs) and not offsets}


def summarise(rows: list[dict]) -> dict:
    dist = [d for r in rows for d in r["dist"]]
    offsets = [o for r in rows for o in r["offsets"]]
    n_discs = sum(r["discs"] for r in rows)
    return {"images": len(rows), "discs": n_discs,
            "identity": 100.0 * sum(r["right"] for r in rows) / max(1, n_discs),
            "full": 100.0 * sum(r["full"] for r in rows) / max(1, len(rows)),
            "median_mm": float(np.median(dist)) if dist else float("nan"),
            "wrong": len(offsets), "wrong_minus1": offsets.count(-1), "wrong_plus1": offsets.count(1),
            "wrong_other": sum(1 for o in offsets if abs(o) != 1), "missed": sum(r["missed"] for r in rows)}


def _groups(per_case: dict[str, list[dict]]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for name, rows in per_case.items():
        out[name] = rows
        kinds = list(dict.fromkeys(r["kind"] for r in rows if r.get("kind")))
        for kind in kinds if len(kinds) > 1 else []:  # real crops: which edges were cut
            out[f"{name} [{kind} cut]"] = [r for r in rows if r.get("kind") == kind]
    syn = [r for k, v in per_case.items() if k.startswith("syn:") for r in v]
    if syn and len([k for k in per_case if k.startswith("syn:")]) > 1:
        out["all synthetic"] = syn
    if len(per_case) > 1:
        out["all"] = [r for v in per_case.values() for r in v]
    return out


def table(label: str, per_case: dict[str, list[dict]]) -> list[str]:
    """Markdown table of one model's results, one row per set (and group)."""
    lines = [f"model {label}", "",
             "| set | images | discs | identity % | images fully right % | median mm (right) "
             "| wrong values (-1 / +1 / other) | missed |",
             "|---|---|---|---|---|---|---|---|"]
    for name, rows in _groups(per_case).items():
        s = summarise(rows)
        lines.append(f"| {name} | {s['images']} | {s['discs']} | {s['identity']:.1f} | {s['full']:.1f} | "
                     f"{s['median_mm']:.2f} | {s['wrong']} ({s['wrong_minus1']} / {s['wrong_plus1']} / "
                     f"{s['wrong_other']}) | {s['missed']} |")
    return lines


def side_by_side(results: dict[str, dict[str, list[dict]]]) -> list[str]:
    """Markdown table: identity % / images fully right % / wrong values per set, a column per model."""
    labels = list(results)
    lines = ["side by side: identity % / images fully right % / wrong values", "",
             "| set | " + " | ".join(labels) + " |", "|---|" + "---|" * len(labels)]
    for name in _groups(next(iter(results.values()))):
        cells = []
        for label in labels:
            s = summarise(_groups(results[label])[name])
            cells.append(f"{s['identity']:.1f} / {s['full']:.1f} / {s['wrong']}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="*", default=["hca-compact"], help="model names or folders (default hca-compact)")
    ap.add_argument("--sets", nargs="+", default=list(SET_NAMES), choices=list(SET_NAMES))
    ap.add_argument("--n", type=int, default=None, help="images per synthetic set (default 32)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--crops", type=int, default=CROPS_PER_IMAGE, help="crops per held-out real image")
    ap.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared")
    ap.add_argument("--train-data", type=Path, default=None,
                    help=f"labelled dataset whose split-seed-1 held-out subjects are cropped (default {EXT_DATA} "
                         "when it exists, else SHARED/data/bids-train)")
    ap.add_argument("--backend", default="auto", choices=["auto", "torch", "onnx"])
    ap.add_argument("--cache", type=Path, default=None, help="save heatmaps here (and reuse them)")
    ap.add_argument("--json", type=Path, default=None, help="write the summaries and per-case results")
    ap.add_argument("--md", type=Path, default=None, help="write the printed tables (markdown)")
    ap.add_argument("--cases", action="store_true", help="list every image that is not fully right")
    args = ap.parse_args(argv)
    train_data = args.train_data or _default_train_data(args.shared)
    models = [_Model(m, args.backend, args.cache) for m in args.models]
    for k, m in enumerate(models):
        if any(o.label == m.label for o in models[:k]):
            m.label += f" #{k + 1}"
    spacings = {m.spacing for m in models}
    if len(spacings) != 1:
        raise SystemExit("models with different pixel spacings cannot share the images")
    spacing = spacings.pop()
    results: dict[str, dict[str, list[dict]]] = {m.label: {} for m in models}
    t0 = time.perf_counter()
    by_offsets: dict[tuple[float, ...], list[_Model]] = {}
    for m in models:  # the same cases, drawn with each model's lateral input channels
        by_offsets.setdefault(m.offsets, []).append(m)
    for offsets, group in by_offsets.items():
        for case in internal_sets(args.sets, n=args.n, seed=args.seed, spacing_mm=spacing, train_data=train_data,
                                  crops_per_image=args.crops, channel_offsets_mm=offsets):
            name, case_id, image, discs = case
            for m in group:
                pred = m.decode(m.heatmaps(name, case_id, image), image.shape[-2:])
                row = score_case(discs, pred, spacing)
                row.update(case=case_id, gt=sorted(discs), pred=sorted(pred), kind=case.meta.get("kind"))
                results[m.label].setdefault(name, []).append(row)
    report = [f"internal sets seed {args.seed}, real data {train_data}"]
    for label, per_case in results.items():
        report += [""] + table(label, per_case)
        if args.cases:
            report += [f"- {name} {r['case']}: right {r['right']}/{r['discs']}, offsets {r['offsets']}, "
                       f"missed {r['missed']}, gt {r['gt']}, decoded {r['pred']}"
                       for name, rows in per_case.items() for r in rows if not r["full"]]
    if len(results) > 1:
        report += [""] + side_by_side(results)
    print("\n".join(report))
    print(f"({time.perf_counter() - t0:.0f} s)")
    if args.md:
        args.md.parent.mkdir(parents=True, exist_ok=True)
        args.md.write_text("\n".join(report) + "\n")
    out = {label: {"summary": {k: summarise(v) for k, v in _groups(pc).items()}, "cases": pc}
           for label, pc in results.items()}
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"seed": args.seed, "train_data": str(train_data), "models": out}, indent=1))
    return out


if __name__ == "__main__":
    main()
