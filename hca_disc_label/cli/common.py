"""Shared CLI pieces: SCT-style help (MANDATORY / OPTIONAL / MISC groups), verbosity."""

from __future__ import annotations

import logging

import click

VERBOSITY = click.Choice(["0", "1", "2"])


class SCTCommand(click.Command):
    """A click command whose help lists options under SCT's MANDATORY / OPTIONAL / MISC.

    An option joins a group through ``groups={"MANDATORY": [...], "MISC": [...]}`` (parameter
    names); every other option is OPTIONAL.
    """

    def __init__(self, *args, groups: dict[str, list[str]] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.groups = groups or {}

    def _group_of(self, param: click.Parameter) -> str:
        for group, names in self.groups.items():
            if param.name in names:
                return group
        is_misc = param.name in ("help", "verbose", "version") or "-h" in getattr(param, "opts", [])
        return "MISC" if is_misc else "OPTIONAL"

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        sections: dict[str, list[tuple[str, str]]] = {"MANDATORY": [], "OPTIONAL": [], "MISC": []}
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record:
                sections.setdefault(self._group_of(param), []).append(record)
        for title, rows in sections.items():
            if rows:
                with formatter.section(f"{title} ARGUMENTS"):
                    formatter.write_dl(rows)


def verbose_option(func):
    """``-v 0|1|2``: warnings only, info (default), debug."""
    return click.option(
        "-v", "verbose", type=VERBOSITY, default="1", show_default=True,
        help="Verbosity: 0 = warnings and errors only, 1 = progress, 2 = debug.",
    )(func)


def version_option(func):
    """``-version`` / ``--version``: print ``hca_label VERSION`` and exit 0."""
    from hca_disc_label._version import __version__

    return click.version_option(__version__, "-version", "--version", prog_name="hca_label",
                                message="%(prog)s %(version)s", help="Print the version and exit.")(func)


def is_debug(args: list[str]) -> bool:
    """Whether a command line asks for ``-v 2`` (``-v 2`` or ``-v2``)."""
    return any(a == "-v2" or (a == "-v" and args[i + 1: i + 2] == ["2"]) for i, a in enumerate(args))


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at emit time (in-process callers may swap it)."""

    def __init__(self) -> None:
        super().__init__()

    @property
    def stream(self):  # type: ignore[override]
        import sys

        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:  # StreamHandler.__init__ assigns it
        pass


def setup_logging(verbose: str | int) -> None:
    """Send library logging to stderr at the level chosen by ``-v``."""
    level = {0: logging.WARNING, 1: logging.INFO, 2: logging.DEBUG}[int(verbose)]
    root = logging.getLogger("hca_disc_label")
    root.setLevel(level)
    if not any(getattr(h, "_hca", False) for h in root.handlers):
        handler = _StderrHandler()
        handler._hca = True  # type: ignore[attr-defined]
        handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
        root.addHandler(handler)
    for h in root.handlers:
        if getattr(h, "_hca", False):
            h.setLevel(level)


def argv_of(ctx: click.Context) -> list[str]:
    """The command line that started this command (as given to ``main``)."""
    obj = ctx.find_root().obj
    if isinstance(obj, dict) and "argv" in obj:
        return list(obj["argv"])
    import sys

    return ["hca_label", *sys.argv[1:]]
