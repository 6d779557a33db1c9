"""``hca_label export``: write a model's ONNX export (dynamic height/width) and check it.

The export and its check are :func:`hca_disc_label.weights.release.export_and_verify`: ONNX
Runtime and PyTorch run the same random image, of a size different from the export's example
input (so a graph frozen to the example size fails), and the largest absolute difference of
the heatmaps is printed. This module only reads the options and writes the file.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import click

from hca_disc_label.cli.common import SCTCommand, setup_logging, verbose_option

_EPILOG = (
    "Examples: hca_label export -model path/to/model_folder -o model.onnx ; "
    "hca_label export -model path/to/model_folder -into-folder (adds model.onnx to the folder "
    "and records its sha256 in model.json, so -backend onnx can use it)."
)


@click.command(
    cls=SCTCommand,
    groups={"MANDATORY": ["model"]},
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    help="Export a model to ONNX with dynamic image height and width, and verify the export "
    "against PyTorch with ONNX Runtime on a random image of another size.",
    epilog=_EPILOG,
)
@click.option("-model", "model", required=True,
              help="Model to export: registry NAME[@VERSION] or a model folder (needs weights.pt).")
@click.option("-o", "output", type=click.Path(dir_okay=False, path_type=Path),
              help="Output ONNX file (e.g. model.onnx). Optional with -into-folder.")
@click.option("-opset", "opset", type=click.IntRange(11, 20), default=None,
              help="ONNX opset version. Default: 17.")
@click.option("-into-folder", "into_folder", is_flag=True,
              help="Add or replace model.onnx inside the (local) model folder and record its sha256 "
              "in model.json.")
@verbose_option
def command(model: str, output: Path | None, opset: int | None, into_folder: bool, verbose: str) -> int:
    setup_logging(verbose)
    from hca_disc_label.weights.release import ONNX_OPSET, add_onnx_to_folder, export_and_verify

    say = click.echo if verbose != "0" else (lambda text: None)  # -v 0: nothing on stdout

    if output is None and not into_folder:
        raise click.UsageError("Missing option '-o' (output .onnx file) or '-into-folder'.")
    opset = ONNX_OPSET if opset is None else opset
    folder = _load_folder(model, into_folder)
    with tempfile.TemporaryDirectory(prefix="hca_export_") as tmp:
        onnx_tmp = Path(tmp) / "model.onnx"
        info = export_and_verify(folder, onnx_tmp, opset, say)
        size_mb = onnx_tmp.stat().st_size / 1e6
        if output is not None:
            _install_file(onnx_tmp, output)
            say(f"Wrote {output} ({size_mb:.1f} MB, opset {opset}, dynamic height/width)")
        if into_folder:
            updated = add_onnx_to_folder(folder, onnx_tmp, info)
            sha = updated.card["files"]["onnx"]["sha256"]
            say(f"Updated {updated.path / 'model.json'}: model.onnx sha256 {sha}")
    return 0


def _load_folder(spec: str, into_folder: bool):
    """Resolve ``-model``; ``-into-folder`` only accepts a local folder path."""
    from hca_disc_label.weights.card import load_model_folder
    from hca_disc_label.weights.registry import load_registry
    from hca_disc_label.weights.resolve import is_path_spec, resolve_model
    from hca_disc_label.weights.spec import parse_spec

    registry = load_registry()
    is_path = is_path_spec(spec, registry) or Path(spec).expanduser().is_dir()
    if into_folder and not is_path:
        raise click.UsageError(
            f"-into-folder needs a local model folder path, not the registry model {spec!r} "
            "(released models are pinned by the registry's checksums)."
        )
    if is_path:
        return load_model_folder(spec)
    # any contrast the model was made for: export does not depend on it, and this avoids a
    # "trained for t1, not t2" warning
    entry = registry.find(*parse_spec(spec))
    return resolve_model(spec, entry.contrasts[0] if entry and entry.contrasts else "t2")


def _install_file(src: Path, dst: Path) -> None:
    """Copy ``src`` to ``dst`` atomically (temp file in the destination folder + rename)."""
    from hca_disc_label.atomic import copy_atomic
    from hca_disc_label.errors import OutputError

    dst = dst.expanduser()
    try:
        copy_atomic(src, dst)
    except OSError as exc:
        raise OutputError(f"{dst}: cannot write ({exc.strerror or exc})") from None
