"""Entry point of ``hca_label``: dispatch to the labelling command or a sub-command.

``hca_label -i IMG -c t2`` labels an image; ``hca_label SUBCOMMAND ...`` runs a sub-command.
Every command is callable in-process as ``main([...])``, which returns the exit code:
0 success, 1 runtime failure (one-line error on stderr), 2 bad arguments (usage on stderr).
Only click is imported here so ``hca_label -h`` is instant.
"""

from __future__ import annotations

import contextlib
import importlib
import signal
import sys
import threading
import traceback
from typing import Iterator, Sequence

import click

SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "train": ("hca_disc_label.cli.train", "train HCA-Net on synthetic and/or BIDS data"),
    "evaluate": ("hca_disc_label.cli.evaluate", "compare predicted and manual disc labels (mm)"),
    "models": ("hca_disc_label.cli.models", "list, install, verify released models"),
    "export": ("hca_disc_label.cli.export", "export a model to ONNX"),
    "synth": ("hca_disc_label.cli.synth", "write synthetic spine images with exact labels"),
}

EXTRAS_OF_COMMAND: dict[str, tuple[str, ...]] = {"train": ("torch", "onnx"), "export": ("torch", "onnx")}
"""Sub-commands whose own pip extra (``hca_disc_label[train]``...) installs the modules they
need; checked before the command runs (``train -no-onnx`` needs no onnx), so a training run
never fails at its final export for want of onnx."""


class Terminated(BaseException):
    """SIGTERM turned into an exception, so every ``finally`` (temporary files, workers) runs."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _raise_terminated(signum, frame) -> None:
    from hca_disc_label.atomic import defer_if_critical

    if not defer_if_critical(signum):  # never between renaming a label file and its sidecar
        raise Terminated(signum)


def _raise_interrupt(signum, frame) -> None:
    from hca_disc_label.atomic import defer_if_critical

    if not defer_if_critical(signum):
        raise KeyboardInterrupt


@contextlib.contextmanager
def _signals() -> Iterator[None]:
    """SIGTERM -> :class:`Terminated`, SIGINT -> KeyboardInterrupt, both held while a label
    file and its sidecar are renamed into place, for the duration of a command (main thread)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, handler)
                for sig, handler in ((signal.SIGTERM, _raise_terminated), (signal.SIGINT, _raise_interrupt))}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _cleanup() -> None:
    from hca_disc_label.atomic import remove_pending

    remove_pending()  # temporary files of writes cut short


def _missing_extra(exc: Exception, prog: str) -> str | None:
    """The one-line error of an optional dependency (torch, onnx) that is not installed, naming
    the pip extra of the command (``hca_label train`` -> ``[train]``), or None for other errors."""
    if not isinstance(exc, ModuleNotFoundError):
        return None
    from hca_disc_label.extras import EXTRA_OF_MODULE, missing_extra_message

    module = (exc.name or "").split(".")[0]
    if module not in EXTRA_OF_MODULE:
        return None
    sub = prog.split()[1] if len(prog.split()) > 1 else None
    return missing_extra_message(module, prog, extra=sub if sub in EXTRAS_OF_COMMAND else None)


def _check_extras(sub: str, args: list[str]) -> str | None:
    """The one-line error when sub-command ``sub`` lacks a module of its extra (None when all
    are there, or when only its help is asked for)."""
    needed = EXTRAS_OF_COMMAND.get(sub, ())
    if not needed or not args or {"-h", "--help"} & set(args):
        return None
    from hca_disc_label.errors import MissingExtraError
    from hca_disc_label.extras import require

    try:
        require(tuple(m for m in needed if not (m == "onnx" and "-no-onnx" in args)), f"hca_label {sub}", sub)
    except MissingExtraError as exc:
        return str(exc)
    return None


def _help_on_stderr(command: click.Command, prog: str) -> int:
    """No argument at all for a command that needs some: the help on stderr, exit 2 (as SCT)."""
    with command.make_context(prog, [], resilient_parsing=True) as ctx:
        click.echo(command.get_help(ctx), err=True)
    required = [p.opts[0] for p in command.params if getattr(p, "required", False) and p.opts]
    click.echo(f"\n{prog}: error: missing {', '.join(required)}", err=True)
    return 2


def _invoke(command: click.Command, args: list[str], prog: str) -> int:
    if not args and not isinstance(command, click.Group) and any(p.required for p in command.params):
        return _help_on_stderr(command, prog)
    try:
        with _signals():
            return _run(command, args, prog)
    except Terminated as exc:  # SIGTERM: every finally has run (workers stopped, temporaries gone)
        _cleanup()
        click.echo("hca_label: terminated", err=True)
        return 128 + exc.signum


def _run(command: click.Command, args: list[str], prog: str) -> int:
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
    except click.Abort as exc:
        _cleanup()
        if isinstance(exc.__cause__ or exc.__context__, KeyboardInterrupt):  # click turns Ctrl-C into Abort
            click.echo("hca_label: interrupted", err=True)
            return 130
        click.echo("hca_label: aborted", err=True)
        return 1
    except click.ClickException as exc:
        exc.show()
        return 1
    except HCAError as exc:
        click.echo(f"hca_label: error: {' '.join(str(exc).split())}", err=True)  # always one line
        return 1
    except KeyboardInterrupt:
        _cleanup()
        click.echo("hca_label: interrupted", err=True)
        return 130
    except Exception as exc:  # a bug: still one line unless debugging
        from hca_disc_label.cli.common import is_debug

        if is_debug(args):
            traceback.print_exc()
        _cleanup()
        missing = _missing_extra(exc, prog)
        if missing:
            click.echo(f"hca_label: error: {missing}", err=True)
            return 1
        first = str(exc).splitlines()[0] if str(exc) else ""
        click.echo(f"hca_label: unexpected error: {type(exc).__name__}: {first} (rerun with -v 2 for details)", err=True)
        return 1
    return result if isinstance(result, int) else 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``hca_label`` with ``argv`` (default ``sys.argv[1:]``) and return the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in SUBCOMMANDS:
        missing = _check_extras(args[0], args[1:])
        if missing:
            click.echo(f"hca_label: error: {missing}", err=True)
            return 1
        module = importlib.import_module(SUBCOMMANDS[args[0]][0])
        return _invoke(module.command, args[1:], f"hca_label {args[0]}")
    from hca_disc_label.cli.label import command

    return _invoke(command, args, "hca_label")


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
