#!/usr/bin/env python
"""Rebuild the per-image numbering calibration and print the selective-accuracy table.

    python benchmarks/calibrate_numbering.py [MODEL] --cache /tmp/coord/cache_13 [--write] \
        [--train-data /work/runs/bids-train-ext] [--synthetic 900] [--junction 80] [--real-crops 15] [--seed 13]

Stage 1 (once per model, cached): network heatmaps of the INTERNAL images (built by
``benchmarks/calibration_images.py``), never of ``bids/``
for fitting:

* ``synthetic`` -- seeded synthetic slabs (``hca_disc_label.synth``) drawn towards the fields
  of view where the count is hard (crops, lumbar with the S1/S2 look-alike, cervical, junction
  to junction), half of them cut again to a random 45-90 % of their height;
* ``real`` -- the held-out subjects of split seed 1 of ``--train-data`` (the subjects no
  released model trained on; with the extended labels when given) and ``--real-crops`` random
  field-of-view crops of each (top and/or bottom cut away);
* ``real-sacrum`` -- with ``--oof SPEC=SUB,SUB`` (repeatable): the real T2 scans with the
  sacrum in view (``bids-train/sub-zuk*``, ground truth = disc labels + the L5/S1 tip from the L5
  mask), each subject's heatmaps from the fold model that never trained on it (out of fold: how
  a model meets a real sacrum it has not seen), whole, cut at the real-sacrum benchmark's heights
  and at ``--real-crops`` random heights;
* ``bids`` -- ``SHARED/data/bids``, cached only to REPORT it.

Stage 2: decode every cached image (``inference.decode.decode_details``), compute the numbering
features (``inference.numbering.numbering_features``), label each image right / wrong (every
decoded disc within 10 mm of a ground-truth disc carries that disc's value), fit the logistic
regression (``inference.calibration.fit_logistic``) on synthetic + real, and pick the threshold
on them (the highest coverage at which the cross-validated disc identity among ``ok`` images is
at least ``--target``). The table reports 5-fold cross-validated confidences (folds by subject /
synthetic spine) for the internal sets and the shipped fit for ``bids`` (report only).
``--write`` stores the coefficients in ``models/numbering_calibration.json`` under the model's
weights sha256 (read by ``inference.calibration.load_calibration``).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from calibration_images import bids_images, internal_images, sacrum_images  # noqa: E402

from hca_disc_label.contract import InputContract  # noqa: E402

# ----------------------------------------------------------------------------- stage 1: cache


def _oof_folds(items: Sequence[str]) -> list[tuple[str, list[str]]]:
    """``["SPEC=SUB,SUB", ...] -> [(SPEC, [SUB, SUB]), ...]``."""
    out = []
    for item in items:
        spec, _, subs = item.partition("=")
        out.append((spec, [s for s in subs.split(",") if s]))
    return out


def build_cache(args, folder) -> None:
    from hca_disc_label.inference.backends import create_backend
    from hca_disc_label.preprocessing import pad_to_multiple

    out = args.cache / folder.sha256[:12]
    out.mkdir(parents=True, exist_ok=True)
    manifest = {"model": folder.spec, "train_data": str(args.train_data), "synthetic": args.synthetic,
                "junction": args.junction, "real_crops": args.real_crops, "seed": args.seed}
    if args.oof:
        manifest["oof"] = list(args.oof)
    done = out / "manifest.json"
    if done.exists():
        built = json.loads(done.read_text())
        if {k: v for k, v in built.items() if k != "code"} == manifest:
            print(f"cache {out}: complete ({len(list(out.glob('*.npz')))} images, built at code "
                  f"{built.get('code', '?')})", flush=True)
            args.code = built.get("code", "")
            return
    manifest["code"] = args.code = _code_version()
    engine = create_backend(folder, "auto", "cpu")
    multiple = int(folder.input_contract["size_multiple"])
    offsets = InputContract.from_mapping(folder.input_contract).channel_offsets_mm
    sources = [bids_images(args.shared, offsets)]
    if args.train_data is not None:
        sources.insert(0, internal_images(args.train_data, args.synthetic, args.real_crops, args.seed, args.junction,
                                           offsets))
    count = 0
    for source in sources:
        for set_name, group, ident, image, discs in source:
            path = out / f"{set_name}__{ident}.npz"
            if path.exists():
                continue
            heatmaps = engine.predict(pad_to_multiple(image.astype(np.float32), multiple))
            np.savez_compressed(
                path, heatmaps=heatmaps.astype(np.float16), valid_shape=np.array(image.shape[-2:]),
                gt=json.dumps({str(v): list(p) for v, p in discs.items()}), set=set_name, group=group)
            count += 1
            if count % 50 == 0:
                print(f"cached {count} images", flush=True)
    for spec, subjects in _oof_folds(args.oof):
        from hca_disc_label.weights.resolve import resolve_model

        fold_engine = create_backend(resolve_model(spec), "auto", "cpu")
        for set_name, group, ident, image, discs in sacrum_images(args.shared, subjects, args.real_crops, args.seed,
                                                                   offsets):
            path = out / f"{set_name}__{ident}.npz"
            if not path.exists():
                heatmaps = fold_engine.predict(pad_to_multiple(image.astype(np.float32), multiple))
                np.savez_compressed(
                    path, heatmaps=heatmaps.astype(np.float16), valid_shape=np.array(image.shape[-2:]),
                    gt=json.dumps({str(v): list(p) for v, p in discs.items()}), set=set_name, group=group)
    done.write_text(json.dumps(manifest) + "\n")
    print(f"cache {out}: {len(list(out.glob('*.npz')))} images", flush=True)


# ----------------------------------------------------------------------------- stage 2: fit


MATCH_MM = 10.0
"""A decoded disc is judged against the ground-truth disc within this distance (model px of 1 mm)."""


def judge(discs: Sequence, gt: dict) -> dict:
    """Right / wrong of one image: ``all_right`` (every judged written value right), the
    shift of the judged discs, and disc identity counts (GT discs whose value is found there)."""
    pred = {d.value: (d.row, d.col) for d in discs}
    offsets = []
    for d in discs:
        near = min(gt, key=lambda v: np.hypot(gt[v][0] - d.row, gt[v][1] - d.col), default=None)
        if near is not None and np.hypot(gt[near][0] - d.row, gt[near][1] - d.col) <= MATCH_MM:
            offsets.append(d.value - near)
    right = sum(1 for v, q in gt.items() if v in pred and np.hypot(*np.subtract(pred[v], q)) <= MATCH_MM)
    return {"judged": len(offsets), "all_right": bool(offsets) and all(o == 0 for o in offsets),
            "shift": int(np.median(offsets)) if offsets and len(set(offsets)) == 1 else None,
            "gt_discs": len(gt), "gt_right": right}


def load_cases(cache: Path, folder) -> list[dict]:
    """Decode every cached image and compute its features and its verdict."""
    from hca_disc_label.inference.decode import decode_details
    from hca_disc_label.inference.numbering import numbering_features

    contract = folder.input_contract
    cases = []
    for path in sorted((cache / folder.sha256[:12]).glob("*.npz")):
        z = np.load(path)
        gt = {int(v): tuple(p) for v, p in json.loads(str(z["gt"])).items()}
        dec = decode_details(z["heatmaps"].astype(np.float32), list(folder.channel_values),
                             int(contract["output_stride"]), float(contract["pixel_spacing_mm"]),
                             valid_shape=tuple(int(v) for v in z["valid_shape"]))
        if not dec.discs:
            continue
        verdict = judge(dec.discs, gt)
        if not verdict["judged"]:
            continue
        ev = numbering_features(dec)
        cases.append({"id": path.stem, "set": str(z["set"]), "group": str(z["group"]), "decoding": dec,
                      "features": ev.features, "alt": ev.alt_offset, "scores": ev.scores, **verdict})
    return cases


def _matrix(cases: list[dict], features: Sequence[str]) -> np.ndarray:
    return np.array([[c["features"][f] for f in features] for c in cases], dtype=float)


def fit(cases: list[dict], features: Sequence[str], l2: float):
    """``(Calibration without threshold, standardisation)`` fitted on ``cases``."""
    from hca_disc_label.inference.calibration import Calibration, fit_logistic

    x = _matrix(cases, features)
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale = np.where(scale > 1e-9, scale, 1.0)
    y = np.array([c["all_right"] for c in cases], dtype=float)
    # every internal set weighs the same, whatever its size
    sets = [c["set"] for c in cases]
    w = np.array([1.0 / sets.count(s) for s in sets]) * len(cases) / len(set(sets))
    coef, b = fit_logistic((x - mean) / scale, y, l2, w)
    return Calibration(tuple(features), tuple(float(c) for c in coef), b, tuple(float(m) for m in mean),
                       tuple(float(s) for s in scale))


def cross_validated(cases: list[dict], features: Sequence[str], l2: float, folds: int, seed: int) -> np.ndarray:
    """Out-of-fold confidence of every case (folds by group: subject / synthetic spine)."""
    groups = sorted({c["group"] for c in cases})
    rng = np.random.default_rng(seed)
    rng.shuffle(groups)
    fold_of = {g: n % folds for n, g in enumerate(groups)}
    out = np.zeros(len(cases))
    for f in range(folds):
        train = [c for c in cases if fold_of[c["group"]] != f]
        cal = fit(train, features, l2)
        for n, c in enumerate(cases):
            if fold_of[c["group"]] == f:
                out[n] = cal.probability(c["features"])
    return out


def selective(cases: list[dict], conf: np.ndarray, thr: float) -> dict:
    ok = conf >= thr
    def ident(sel):
        d = sum(c["gt_discs"] for c, s in zip(cases, sel) if s)
        r = sum(c["gt_right"] for c, s in zip(cases, sel) if s)
        return r, d
    r_ok, d_ok = ident(ok)
    r_ck, d_ck = ident(~ok)
    wrong = np.array([not c["all_right"] for c in cases])
    return {"images": len(cases), "ok": int(ok.sum()), "check": int((~ok).sum()),
            "coverage": ok.mean() if len(cases) else float("nan"),
            "id_ok": r_ok / d_ok if d_ok else float("nan"), "id_check": r_ck / d_ck if d_ck else float("nan"),
            "disc_ok": (r_ok, d_ok), "wrong_images": int(wrong.sum()),
            "wrong_flagged": int((wrong & ~ok).sum()),
            "all_right_ok": float(np.mean([c["all_right"] for c, s in zip(cases, ok) if s])) if ok.any() else float("nan")}


def choose_threshold(cases: list[dict], conf: np.ndarray, target: float) -> float:
    """Lowest cut (highest coverage) from which on the cross-validated disc identity among ok
    images of all internal images together stays at or above ``target``."""
    grid = np.round(np.arange(0.05, 0.991, 0.01), 2)
    passing = [selective(cases, conf, t)["id_ok"] >= target or not selective(cases, conf, t)["ok"] for t in grid]
    for n, t in enumerate(grid):
        if all(passing[n:]):
            return float(t)
    return float(grid[-1])


def reliability(cases: list[dict], conf: np.ndarray, bins: int = 10) -> list[tuple]:
    """``(low, high, images, mean confidence, share all right)`` per confidence bin."""
    from hca_disc_label.evaluation.aggregation import reliability_bins

    return reliability_bins(conf, [c["all_right"] for c in cases], bins)


def alternative_direction(cases: list[dict]) -> tuple[int, int]:
    """Among images numbered uniformly one level off: how often the alternative is the truth."""
    off = [c for c in cases if c["shift"] in (-1, 1)]
    return sum(1 for c in off if c["alt"] == -c["shift"]), len(off)


def print_table(title: str, cases: list[dict], conf: np.ndarray, thr: float) -> None:
    print(f"\n{title} (threshold {thr:.2f})")
    print("| set | images | ok | check | coverage | disc identity ok | disc identity check | images with a wrong value"
          " | of them check | all values right among ok |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for s in sorted({c["set"] for c in cases}) + ["all"]:
        idx = [n for n, c in enumerate(cases) if s == "all" or c["set"] == s]
        r = selective([cases[n] for n in idx], conf[idx], thr)
        print(f"| {s} | {r['images']} | {r['ok']} | {r['check']} | {100 * r['coverage']:.1f} % | "
              f"{100 * r['id_ok']:.1f} % ({r['disc_ok'][0]}/{r['disc_ok'][1]}) | {100 * r['id_check']:.1f} % | "
              f"{r['wrong_images']} | {r['wrong_flagged']} | {100 * r['all_right_ok']:.1f} % |")


def _code_version() -> str:
    """Short commit of the checkout (the synthetic engine and internal sets change between
    commits, so a cache is tied to the code that built it), or "" outside git."""
    import subprocess

    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=10,
                             cwd=Path(__file__).resolve().parents[1]).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""
    return sha


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", nargs="?", default="hca-compact")
    ap.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared")
    ap.add_argument("--cache", type=Path, default=Path("/tmp/coord/cache_13"))
    ap.add_argument("--train-data", type=Path, default=None,
                    help="labelled dataset whose split-seed-1 held-out subjects are the real internal set "
                         "(default SHARED/data/bids-train; /work/runs/bids-train-ext has labels to L5/S1)")
    ap.add_argument("--synthetic", type=int, default=900)
    ap.add_argument("--real-crops", type=int, default=15)
    ap.add_argument("--junction", type=int, default=80, help="images per synthetic junction set")
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--oof", action="append", default=[], metavar="SPEC=SUB,SUB",
                    help="fold model and the real-sacrum subjects it never trained on (repeatable)")
    ap.add_argument("--cache-only", action="store_true")
    ap.add_argument("--target", type=float, default=0.99, help="disc identity among ok images to reach")
    ap.add_argument("--write", action="store_true", help="store the fit in numbering_calibration.json")
    ap.add_argument("--features", default="log_margin,agree,alt_agree,log_discs,junction,edge_room,skips")
    ap.add_argument("--l2", type=float, default=1e-2)
    args = ap.parse_args()
    from hca_disc_label.weights.resolve import resolve_model

    folder = resolve_model(args.model)
    if args.train_data is None:
        args.train_data = args.shared / "data" / "bids-train"
    build_cache(args, folder)
    if args.cache_only:
        return
    from hca_disc_label.inference.labeller import calibration_table_path

    cases = load_cases(args.cache, folder)
    internal = [c for c in cases if c["set"] != "bids"]
    bids = [c for c in cases if c["set"] == "bids"]
    feats = tuple(args.features.split(","))
    conf_cv = cross_validated(internal, feats, args.l2, 5, args.seed)
    thr = choose_threshold(internal, conf_cv, args.target)
    cal = fit(internal, feats, args.l2)
    source = (f"{folder.name} {folder.version}: logistic on {len(internal)} internal images "
              f"(benchmarks/calibrate_numbering.py --seed {args.seed}, cache built at code {args.code or '?'})")
    from dataclasses import replace

    cal = replace(cal, threshold=thr, source=source)
    print(f"model {folder.name} {folder.version} (weights {folder.sha256[:12]}), features {', '.join(feats)}, "
          f"L2 {args.l2}, threshold {thr:.2f} (cross-validated disc identity among ok >= {100 * args.target:g} %)")
    print("coefficients (standardised):", {f: round(c, 3) for f, c in zip(feats, cal.coef)},
          "intercept", round(cal.intercept, 3))
    print_table("Internal, 5-fold cross-validated confidence (folds by subject / synthetic spine)", internal,
                conf_cv, thr)
    conf_fit = np.array([cal.probability(c["features"]) for c in internal])
    print_table("Internal, shipped fit (in-sample)", internal, conf_fit, thr)
    right, n = alternative_direction(internal)
    print(f"\nalternative = the truth in {right}/{n} internal images numbered uniformly one level off")
    print("\nReliability (internal, cross-validated): confidence bin | images | mean confidence | all values right")
    for lo, hi, k, mc, acc in reliability(internal, conf_cv):
        if k:
            print(f"  {lo:.1f}-{hi:.1f} | {k} | {mc:.3f} | {acc:.3f}")
    if bids:
        conf_b = np.array([cal.probability(c["features"]) for c in bids])
        print_table("bids (REPORT ONLY, never fitted on), shipped fit", bids, conf_b, thr)
        for c, p in zip(bids, conf_b):
            print(f"  {c['id'][6:]:24s} confidence {p:.3f} {'ok' if p >= thr else 'check':5s} "
                  f"values {'right' if c['all_right'] else 'WRONG'} ({c['gt_right']}/{c['gt_discs']}), "
                  f"alternative {c['alt']:+d}")
    if args.write:
        path = calibration_table_path()
        table = json.loads(path.read_text()) if path.exists() else {"schema": 1, "models": {}}
        table.setdefault("models", {})[folder.sha256] = cal.to_json()
        path.write_text(json.dumps(table, indent=2) + "\n")
        print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
