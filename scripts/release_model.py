#!/usr/bin/env python
"""Publish a trained model folder as an embedded default (how models/hca-compact was made).

    python scripts/release_model.py RUN/model EVAL_DIR --name hca-compact --version 0.1.0 \
        --notes "first embedded default"

Copies the folder's weights and ONNX file into ``models/<name>/`` with a card that records the
validation measured by ``hca_label evaluate`` (EVAL_DIR/summary.json and summary.md), writes
``models/<name>/MODEL_CARD.md`` and pins the files (sha256, size) in ``models/registry.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from hca_disc_label.conventions import LANDMARKS  # noqa: E402
from hca_disc_label.weights.card import load_model_folder  # noqa: E402
from hca_disc_label.weights.release import (  # noqa: E402
    entry_from_folder,
    update_registry_entry,
    write_model_folder,
)


def _params(folder) -> int:
    from hca_disc_label.model.build import build_torch_model
    from hca_disc_label.model.hca_net import count_parameters

    return count_parameters(build_torch_model(folder.architecture, folder.weights_path))


def _channels_text(contract: dict) -> str:
    """The input channels of a parasagittal model ("" for the one mid-sagittal channel)."""
    offsets = contract.get("channel_offsets_mm") or [0]
    if len(offsets) == 1:
        return ""
    return f"; {len(offsets)} input channels: slabs at {', '.join(f'{v:g}' for v in offsets)} mm lateral"


def _ensemble_text(arch: dict) -> str:
    """"The mean of K ..." for an ensemble architecture ("" for one network)."""
    k = arch.get("ensemble")
    return f"The mean of the heatmaps of {k} networks, each " if k else ""


def _training_lines(t: dict) -> list[str]:
    """The card's training section: one run's recipe, or each member's for an ensemble."""
    ens = t.get("ensemble")
    if ens:
        lines = [f"- Ensemble built with `{ens.get('command', '')}` ({ens.get('combination', '')})."]
        for m in ens.get("members", []):
            lines.append(f"- Member {m.get('model')} (`{m.get('folder')}`, weights sha256 "
                         f"{str(m.get('weights_sha256', ''))[:12]}): seed {(m.get('training_data') or {}).get('seed')}")
            lines += ["  " + line for line in _training_lines(m.get("training_data") or {})]
        return lines
    data = t.get("data") or {}
    return [
        f"- Command: `{t.get('command', '')}`",
        f"- Seed {t.get('seed')}, {t.get('steps')} steps of batch {t.get('batch_size')}, {t.get('optimizer')}, "
        f"lambda_sk {t.get('lambda_sk')}, foreground weight {t.get('foreground_weight')}.",
        f"- Data: synthetic spines (hca_disc_label.synth, fraction {data.get('synthetic_fraction')}) + "
        f"{', '.join(data.get('bids') or []) or 'no real data'} "
        f"({len(data.get('train_subjects') or [])} training subjects, "
        f"{len(data.get('val_subjects') or [])} held out for checkpoint selection).",
        f"- Machine: {t.get('machine')}; {t.get('images_per_second')} images/s; {t.get('date')}.",
    ]


def model_card_markdown(card: dict, params: int, eval_md: str) -> str:
    discs = [v for v in card["channel_values"] if v not in LANDMARKS]
    landmarks = [v for v in card["channel_values"] if v in LANDMARKS]
    t = card.get("training_data") or {}
    arch = card["architecture"]
    contract = card["input"]
    lines = [
        f"# {card['name']} {card['version']}",
        "",
        card.get("description", ""),
        "",
        "## Network",
        f"- {_ensemble_text(arch)}HCA-Net, {arch.get('num_stacks')} stacks, width {arch.get('width')}, hourglass depth "
        f"{arch.get('depth')}, stem stride {arch.get('stem_stride')}; {params:,} parameters"
        + (" in all." if arch.get("ensemble") else "."),
        f"- Channels: one per SCT disc value, {discs[0]}..{discs[-1]}"
        + (f"; landmarks {', '.join(f'{c} ({LANDMARKS[c]})' for c in landmarks)}." if landmarks else "."),
        f"- Input contract: {contract['pixel_spacing_mm']} mm pixels, {contract.get('slab_thickness_mm', 6)} mm "
        f"mid-sagittal slab, percentile normalisation ({contract.get('low_percentile')}–"
        f"{contract.get('high_percentile')}) to [0, 1], padding to a multiple of {contract['size_multiple']}, "
        f"output stride {contract['output_stride']}, heatmap sigma {contract.get('heatmap_sigma_px')} px"
        + _channels_text(contract) + ".",
        "",
        "## Training (reproducible)",
        *_training_lines(t),
        "- Never trained on `../shared/data/bids/` (the validation set below).",
        "",
        "## Validation on ../shared/data/bids (never used for training)",
        "",
        "Measured with `hca_label evaluate -model models/" + card["name"] + " -gt ../shared/data/bids`.",
        "",
        eval_md.strip(),
        "",
    ]
    return "\n".join(lines)


def _retire_replaced_entries(registry_file: Path, name: str, version: str, contrasts: list[str]) -> None:
    """Drop entries whose embedded files this release overwrites; hand the defaults over.

    ``models/<name>/`` holds one version: an older entry pointing there would fail its
    checksums, so it leaves the registry (it stays in git history and can be installed from a
    file). Other models stop being the default for the released contrasts.
    """
    from hca_disc_label.atomic import write_json_atomic

    data = json.loads(registry_file.read_text(encoding="utf-8"))
    kept = []
    for m in data["models"]:
        if m.get("embedded") == name and m.get("version") != version:
            print(f"retiring {m['name']} {m['version']} (its embedded files are replaced)")
            continue
        m["default_for"] = [c for c in m.get("default_for", []) if c not in contrasts]
        kept.append(m)
    data["models"] = kept
    write_json_atomic(registry_file, data)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model_dir", type=Path)
    ap.add_argument("eval_dir", type=Path)
    ap.add_argument("--name", default="hca-compact")
    ap.add_argument("--version", default="0.1.0")
    ap.add_argument("--notes", default="first embedded default model")
    ap.add_argument("--description", default=(
        "Compact HCA-Net trained with hca_label train on synthetic spines and real lumbar "
        "gradient-echo images; embedded default for T1w and T2w sagittal images."))
    args = ap.parse_args()

    src = load_model_folder(args.model_dir)
    summary = json.loads((args.eval_dir / "summary.json").read_text())
    eval_md = (args.eval_dir / "summary.md").read_text()
    card = dict(src.card)
    card.update(name=args.name, version=args.version, description=args.description,
                release_notes=f"{args.version}: {args.notes}")
    card["validation"] = {"internal": (src.card.get("validation") or {}), "bids": summary}
    dest = REPO / "models" / args.name
    files = {"weights": src.weights_path}
    if src.onnx_path is not None:
        files["onnx"] = src.onnx_path
    _retire_replaced_entries(REPO / "models" / "registry.json", args.name, args.version, ["t1", "t2"])
    folder = write_model_folder(dest, card, files)
    (dest / "MODEL_CARD.md").write_text(model_card_markdown(folder.card, _params(folder), eval_md))
    entry = entry_from_folder(folder, embedded=args.name, default_for=["t1", "t2"])
    update_registry_entry(REPO / "models" / "registry.json", entry)
    print(f"released {args.name} {args.version} into {dest}")


if __name__ == "__main__":
    main()
