"""Entry point of ``hca_label``: dispatch to the labelling command or a sub-command.

``hca_label -i IMG -c t2`` labels an image; ``hca_label SUBCOMMAND ...`` runs a sub-command.
Every command is callable in-process as ``main([...])``, which returns the exit code:
0 success, 1 runtime failure (one-line error on stderr), 2 bad arguments (usage on stderr).
Only click is imported here so ``hca_label -h`` is instant.
"""

from __future__ import annotations

import importlib
import sys
import traceback
from typing import Sequence

import click

SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "train": ("hca_disc_label.cli.train", "train HCA-Net on synthetic and/or BIDS data"),
    "evaluate": ("hca_disc_label.cli.evaluate", "compare predicted and manual disc labels (mm)"),
    "models": ("hca_disc_label.cli.models", "list, install, verify released models"),
    "export": ("hca_disc_label.cli.export", "export a model to ONNX"),
    "synth": ("hca_disc_label.cli.synth", "write synthetic spine images with exact labels"),
}


def _invoke(command: click.Command, args: list[str], prog: str) -> int:
    from hca_disc_label.errors import HCAError

    try:
        result = command.main(args=args, prog_name=prog, standalone_mode=False, obj={"argv": [*prog.split(), *args]})
    except click.UsageError as exc:
        if exc.ctx is None:  # parse errors before a context exists carry no usage line
            click.echo(f"Usage: {prog} [OPTIONS]\nTry '{prog} -h' for help.\n", err=True)
        exc.show()
        return 2
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.Abort:
        click.echo("hca_label: aborted", err=True)
        return 1
    except click.ClickException as exc:
        exc.show()
        return 1
    except HCAError as exc:
        click.echo(f"hca_label: error: {exc}", err=True)
        return 1
    except KeyboardInterrupt:
        click.echo("hca_label: interrupted", err=True)
        return 130
    except Exception as exc:  # a bug: still one line unless debugging
        if "-v" in args and args[args.index("-v") + 1 : args.index("-v") + 2] == ["2"]:
            traceback.print_exc()
        first = str(exc).splitlines()[0] if str(exc) else ""
        click.echo(f"hca_label: unexpected error: {type(exc).__name__}: {first} (rerun with -v 2 for details)", err=True)
        return 1
    return result if isinstance(result, int) else 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``hca_label`` with ``argv`` (default ``sys.argv[1:]``) and return the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in SUBCOMMANDS:
        module = importlib.import_module(SUBCOMMANDS[args[0]][0])
        return _invoke(module.command, args[1:], f"hca_label {args[0]}")
    from hca_disc_label.cli.label import command

    return _invoke(command, args, "hca_label")


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
