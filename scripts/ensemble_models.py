#!/usr/bin/env python
"""Average K model folders of one recipe into one ensemble model folder.

    python scripts/ensemble_models.py RUN_SEED1/model RUN_SEED2/model RUN_SEED3/model \
        -o models_out/hca-compact-ens --version 0.6.0

The members must share the architecture, channel values, input contract and name (models
trained with the same recipe and different seeds). With ``--widen``, one-channel members may
join parasagittal ones that agree in everything else: each is widened to their channel offsets
with zero weights on the side channels (``inflate_input_channels``), so it computes exactly what
it did on the mid-sagittal channel alone. The output folder runs everywhere a model
folder does (``hca_label -model OUT``, ``Labeller(OUT)``, both backends, release_model.py): its
card's architecture is the members' plus ``"ensemble": K``, its weights one state dict with
keys ``members.<k>.<member key>`` (the members' weights as stored), its ONNX file the averaging
graph (checked against PyTorch as ``hca_label export`` does). The card's ``training_data``
lists the members: folder name, model name@version, sha256 of their weights, and each one's
own ``training_data`` block. Exit code 2 on bad arguments or members that do not agree.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from hca_disc_label.errors import ModelError  # noqa: E402
from hca_disc_label.model.build import ENSEMBLE_KEY  # noqa: E402
from hca_disc_label.weights.card import ModelFolder, load_model_folder  # noqa: E402
from hca_disc_label.weights.spec import is_valid_name, is_valid_version  # noqa: E402

log = logging.getLogger("ensemble_models")

AGREEING = ("architecture", "channel_values", "input", "name")
"""Card entries every member must share."""


class MemberError(ValueError):
    """The members cannot form one ensemble (exit 2)."""


def _normalised_architecture(architecture: dict) -> dict:
    """The full ModelConfig dict of an architecture (defaults filled in), for comparison."""
    from hca_disc_label.model.hca_net import ModelConfig

    return ModelConfig.from_dict(architecture).to_dict()


def _normalised_input(contract: dict) -> dict:
    """The full input contract (defaults filled in: a card written before a key existed, such
    as ``channel_offsets_mm``, means its default), for comparison."""
    from hca_disc_label.contract import InputContract

    return InputContract.from_mapping(contract).to_dict()


def _one_channel(member: ModelFolder) -> bool:
    return _normalised_architecture(member.architecture)["in_channels"] == 1


def _without_channels(key: str, entry: dict) -> dict:
    """An architecture or input contract with its input channels left out (what widening changes)."""
    drop = "in_channels" if key == "architecture" else "channel_offsets_mm"
    return {k: v for k, v in entry.items() if k != drop}


def widest(members: list[ModelFolder]) -> ModelFolder:
    """The member with the most input channels (the first of them): the ensemble's input."""
    return max(members, key=lambda m: _normalised_architecture(m.architecture)["in_channels"])


def check_members(members: list[ModelFolder], widen: bool = False) -> None:
    """Raise :class:`MemberError` unless the members can be averaged.

    Each member is one network (not an ensemble) with PyTorch weights, and every member's
    architecture and input contract (defaults filled in), channel values and name equal the
    first's. With ``widen``, a one-channel member may differ from the widest member in its input
    channels only (architecture ``in_channels``, contract ``channel_offsets_mm``).
    """
    first = widest(members) if widen else members[0]
    for member in members:
        if ENSEMBLE_KEY in member.architecture:
            raise MemberError(f"{member.path} is already an ensemble: give its members instead")
        if member.file_path("weights") is None:
            raise MemberError(f"{member.path} has no PyTorch weights (ONNX only)")
    for member in members:
        for key in AGREEING:
            mine, theirs = member.card.get(key), first.card.get(key)
            if key == "architecture":
                mine, theirs = _normalised_architecture(mine), _normalised_architecture(theirs)
            elif key == "input":
                mine, theirs = _normalised_input(mine), _normalised_input(theirs)
            if widen and key in ("architecture", "input") and _one_channel(member):
                mine, theirs = _without_channels(key, mine), _without_channels(key, theirs)
            if mine != theirs:
                raise MemberError(f"{member.path} and {first.path} differ in {key}: "
                                  f"{member.card.get(key)!r} vs {first.card.get(key)!r}")
    paths = [m.path.resolve() for m in members]
    if len(set(paths)) != len(paths):
        raise MemberError("a member folder is given twice")


def widened_weights(member: ModelFolder, offsets: list[float]) -> dict:
    """A one-channel member's weights for a ``len(offsets)``-channel input: its first convolution
    reads the mid-sagittal channel only (side channels get zero weights); the other weights are
    unchanged. Stored in the member's own dtype."""
    import torch

    from hca_disc_label.contract import centre_channel
    from hca_disc_label.model.build import inflate_input_channels
    from hca_disc_label.model.hca_net import HCANet, ModelConfig

    weights = torch.load(str(member.weights_path), map_location="cpu", weights_only=True)
    net = HCANet(ModelConfig.from_dict(member.architecture))
    net.load_state_dict({k: v.float() for k, v in weights.items()})
    wide = inflate_input_channels(net, len(offsets), centre_channel(tuple(float(v) for v in offsets)))
    return {k: v.to(weights[k].dtype) for k, v in wide.state_dict().items()}


def ensemble_state(members: list[ModelFolder], offsets: list[float] | None = None) -> dict:
    """One state dict ``members.<k>.<key>`` of the members' weights (as stored, float16 or 32);
    with ``offsets`` (several channels), one-channel members are widened to them."""
    import torch

    state = {}
    for k, member in enumerate(members):
        if offsets is not None and len(offsets) > 1 and _one_channel(member):
            weights = widened_weights(member, offsets)
        else:
            weights = torch.load(str(member.weights_path), map_location="cpu", weights_only=True)
        state.update({f"members.{k}.{key}": value for key, value in weights.items()})
    return state


def training_record(members: list[ModelFolder]) -> dict:
    """The card's ``training_data``: how the ensemble was made and every member's recipe."""
    return {
        "ensemble": {
            "combination": "mean of the members' merged heatmaps",
            "command": " ".join(["python", "scripts/ensemble_models.py", *sys.argv[1:]]),
            "members": [
                {"folder": str(m.path), "model": m.spec, "weights_sha256": m.files["weights"]["sha256"],
                 "input_channels": _normalised_architecture(m.architecture)["in_channels"],
                 "training_data": m.card.get("training_data")}
                for m in members
            ],
        }
    }


def write_ensemble(members: list[ModelFolder], out: Path, *, name: str | None, version: str | None) -> Path:
    """Write the ensemble folder ``out`` (weights, card, verified ONNX); returns its path."""
    from hca_disc_label.weights.release import (
        ONNX_OPSET,
        add_onnx_to_folder,
        export_and_verify,
        write_trained_model,
    )

    first = widest(members)
    offsets = _normalised_input(first.input_contract)["channel_offsets_mm"]
    architecture = {**first.architecture, ENSEMBLE_KEY: len(members)}
    path = write_trained_model(
        out, ensemble_state(members, offsets), architecture, first.channel_values, first.input_contract,
        name=name or first.name, version=version or first.version, training=training_record(members),
        validation={}, with_onnx=False, contrasts=tuple(first.contrasts), half=False,
        description=f"Ensemble of {len(members)} {first.name} models (heatmaps averaged): "
                    + (first.description or ""),
    )
    folder = load_model_folder(path)
    with tempfile.TemporaryDirectory(prefix="hca_ensemble_") as tmp:
        onnx_tmp = Path(tmp) / "model.onnx"
        info = export_and_verify(folder, onnx_tmp, ONNX_OPSET, say=log.info)
        add_onnx_to_folder(folder, onnx_tmp, info)
    return path


def main(argv: list[str] | None = None) -> int:
    """Command line; returns the exit code (2: bad arguments or members that disagree)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("members", nargs="+", type=Path, help="member model folders (at least 2)")
    ap.add_argument("-o", "--output", type=Path, required=True, help="the ensemble model folder to write")
    ap.add_argument("--version", help="semantic version of the ensemble (default: the first member's)")
    ap.add_argument("--name", help="model name of the ensemble (default: the members')")
    ap.add_argument("--widen", action="store_true",
                    help="let one-channel members join parasagittal ones (widened, side channels unused)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        if len(args.members) < 2:
            raise MemberError("an ensemble needs at least 2 member folders")
        if args.name is not None and not is_valid_name(args.name):
            raise MemberError(f"invalid model name {args.name!r}")
        if args.version is not None and not is_valid_version(args.version):
            raise MemberError(f"invalid semantic version {args.version!r}")
        if args.output.exists() and (not args.output.is_dir() or any(args.output.iterdir())):
            raise MemberError(f"output {args.output} exists and is not an empty folder")
        members = [load_model_folder(p) for p in args.members]
        check_members(members, args.widen)
    except (MemberError, ModelError) as exc:
        print(f"ensemble_models.py: error: {exc}", file=sys.stderr)
        return 2
    try:
        path = write_ensemble(members, args.output, name=args.name, version=args.version)
    except ModelError as exc:
        print(f"ensemble_models.py: error: {exc}", file=sys.stderr)
        return 1
    print(f"wrote the ensemble of {len(members)} models to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
