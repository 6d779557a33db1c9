"""``hca_label models``: list, inspect, install, verify and locate versioned models.

Examples::

    hca_label models list
    hca_label models info hca-compact@0.1.0 -json
    hca_label models install hca-compact@0.4.0
    hca_label models install hca-compact@0.4.0 -from-file weights.pt   # offline / air-gapped
    hca_label models install my-site-model -from-file /shared/exports/my-site-model/
    hca_label models verify
    hca_label models path hca-compact

Failures raise :class:`hca_disc_label.errors.ModelError` (exit 1 through the dispatcher).
"""

from __future__ import annotations

import json
from typing import Any

import click

from hca_disc_label.errors import ModelError

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.group(name="models", context_settings=CONTEXT)
def command() -> None:
    """Manage HCA-Net models: the registry, the download cache and embedded defaults.

    Models are found in the package (embedded defaults, always offline), in the cache
    ($HCA_DISC_LABEL_HOME or the user cache dir, <name>/<version>/) or downloaded with their
    SHA-256 checked. HCA_DISC_LABEL_OFFLINE=1 forbids downloads.
    """


@command.command(name="list")
@click.option("-json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def list_cmd(as_json: bool) -> None:
    """List registered and installed models (name, version, contrasts, default, status)."""
    from hca_disc_label.weights.cache import list_models

    rows = list_models()
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("No models registered or installed.")
        return
    table = [["NAME", "VERSION", "CONTRASTS", "DEFAULT FOR", "STATUS"]] + [
        [r["name"], r["version"], ",".join(r["contrasts"]) or "-", ",".join(r["default_for"]) or "-", r["status"]]
        for r in rows
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    for row in table:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())


@command.command(name="info")
@click.argument("spec", metavar="NAME[@VERSION]")
@click.option("-json", "as_json", is_flag=True, help="Print JSON (registry entry and model card).")
def info_cmd(spec: str, as_json: bool) -> None:
    """Show the model card of NAME[@VERSION] (or a model folder path); never downloads."""
    info = _gather_info(spec)
    if as_json:
        click.echo(json.dumps(info, indent=2))
    else:
        from hca_disc_label.weights.card_text import format_model_info

        click.echo(format_model_info(info))


@command.command(name="install")
@click.argument("spec", metavar="[NAME[@VERSION]]", required=False)
@click.option(
    "-from-file", "from_file", type=click.Path(exists=True, dir_okay=True, file_okay=True), default=None,
    help="Install from a model folder (with model.json) or from a single weights/ONNX file of the "
    "registry entry (its SHA-256 must match). No network.",
)
@click.option("-force", "force", is_flag=True, help="Reinstall even if a verified copy exists.")
@click.option(
    "-v", "verbose", type=click.Choice(["0", "1", "2"]), default="1", show_default=True,
    help="Verbosity: 0 quiet (no progress bar), 1 normal, 2 debug.",
)
def install_cmd(spec: str | None, from_file: str | None, force: bool, verbose: str) -> None:
    """Download (or copy with -from-file) NAME[@VERSION] into the cache, checksums verified.

    NAME may be omitted when -from-file is a model folder (its model.json names it).
    """
    from hca_disc_label.weights.store import install_model

    if spec is None and from_file is None:
        raise click.UsageError("give NAME[@VERSION], or -from-file with a model folder")

    folder = install_model(spec, from_file=from_file, force=force, progress=int(verbose) > 0)
    if int(verbose) > 0:
        click.echo(f"{folder.spec}: {folder.path}")


@command.command(name="verify")
def verify_cmd() -> None:
    """Re-check the SHA-256 of every embedded and installed model (exit 1 on any failure)."""
    from hca_disc_label.weights.cache import verify_installed

    results = verify_installed()
    if not results:
        click.echo("No models installed.")
        return
    for name, version, ok, message in results:
        click.echo(f"{'OK  ' if ok else 'FAIL'}  {name}@{version}  {message}")
    failed = sum(1 for r in results if not r[2])
    if failed:
        raise ModelError(f"{failed} of {len(results)} model(s) failed verification")


@command.command(name="path")
@click.argument("spec", metavar="NAME[@VERSION]")
def path_cmd(spec: str) -> None:
    """Print the folder of an embedded or installed model (verified; never downloads)."""
    from hca_disc_label.weights.resolve import locate_model

    folder = locate_model(spec)
    if folder is None:
        raise ModelError(f"{spec} is not installed; run: hca_label models install {spec}")
    click.echo(str(folder.path))


# --------------------------------------------------------------------------- info helpers
def _gather_info(spec: str) -> dict[str, Any]:
    """Registry entry + local card + status for ``spec``, without network access."""
    from hca_disc_label.weights.cache import model_status
    from hca_disc_label.weights.registry import load_registry
    from hca_disc_label.weights.resolve import is_path_spec, locate_model
    from hca_disc_label.weights.spec import parse_spec

    registry = load_registry()
    entry = None
    if not is_path_spec(spec, registry):
        name, version = parse_spec(spec)
        entry = registry.find(name, version)
    status, path, card = "not installed", None, None
    try:
        folder = locate_model(spec)
    except ModelError as exc:
        if entry is None:
            raise
        folder, status = None, f"error: {exc}"
    if folder is not None:
        card, path = folder.card, str(folder.path)
        status = model_status(registry, entry) if entry is not None else "local folder"
    elif entry is not None and not status.startswith("error"):
        status = model_status(registry, entry)
    source: dict[str, Any] = dict(entry.raw) if entry is not None else {}
    return {
        "name": (card or source)["name"],
        "version": (card or source)["version"],
        "status": status,
        "path": path,
        "registry": source or None,
        "card": card,
        "numbering": _numbering_of(folder),
    }


def _numbering_of(folder) -> dict[str, Any] | None:
    """The calibrated numbering cut of an installed model (``-numbering-thr`` default) and
    what it was fitted on; None when the model is not installed."""
    if folder is None:
        return None
    from hca_disc_label.inference.labeller import model_calibration

    calibration = model_calibration(folder)
    return {"threshold": calibration.threshold, "source": calibration.source}
