"""The ``cytogate`` command line.

Each sub-command lives in its own module ``cytogate.cli.<name>`` that defines
``register(subparsers)``; the module adds its parser and sets ``handler`` to a
function ``(args) -> int``.  This module only assembles them and prints
errors; :func:`cytogate.errors.exit_code_of` maps them to exit codes: 0
success, 1 internal error (a bug), 2 bad input or usage, 3 a batch finished but
some inputs failed, 4 the environment failed (full disk, read-only or locked
output folder), 130 interrupted.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import logging
import sys
from collections.abc import Sequence

from .._version import __version__
from ..errors import (
    EXIT_BAD_INPUT,
    EXIT_ENVIRONMENT,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_PARTIAL,
    CytogateError,
    exit_code_of,
)

__all__ = ["EXIT_BAD_INPUT", "EXIT_ENVIRONMENT", "EXIT_INTERNAL", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_PARTIAL",
           "build_parser", "main"]

# In the order `--help` lists them.
COMMANDS = ("info", "run", "validate", "convert", "synth", "change", "mmrm", "report", "export", "edit", "demo")

_DESCRIPTION = """\
cytogate: exact, fast, declarative flow-cytometry gating.

Read FCS files, compensate, transform and gate them with a YAML or Gating-ML 2.0
strategy, write cell-count tables, and compare change from baseline between
treatment arms.  Run `cytogate COMMAND --help` for each command's options."""

_EPILOG = """\
exit codes: 0 success; 1 internal error (please report it, with --debug output);
2 bad input or usage (one line on stderr saying what and where; nothing written);
3 a batch finished but some inputs failed (see failures.csv);
4 the environment failed, not the input (disk full, output folder read-only or in
use by another run): fix that and run again; 130 interrupted"""


class _Formatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Keeps hand-written line breaks and shows defaults."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cytogate", description=_DESCRIPTION, epilog=_EPILOG, formatter_class=_Formatter
    )
    parser.add_argument("--version", action="version", version=f"cytogate {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"{__name__}.{name}":
                continue  # command not built yet
            raise
        module.register(subparsers, _Formatter)
    return parser


def _configure_logging(args: argparse.Namespace) -> None:
    level = logging.DEBUG if args.debug else logging.WARNING if args.quiet else logging.INFO
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    if not args.debug:
        for noisy in ("numba", "matplotlib", "distributed", "asyncio", "fsspec", "PIL"):
            logging.getLogger(noisy).setLevel(logging.WARNING)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``cytogate`` console script; returns the exit code.

    ``argv`` None means the process's own arguments: this is the console script,
    and the process ends right after.
    """
    code = _dispatch(argv)
    if argv is None:
        # The interpreter's last collection walks every object numba, pandas and
        # scipy created (about 0.3 s); frozen objects are skipped and the OS frees them.
        gc.freeze()
    return code


def _dispatch(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.console = argv is None  # this process is the console script's own (handlers may tune it)
    if not hasattr(args, "handler"):
        parser.print_help(sys.stderr)
        return EXIT_BAD_INPUT
    _configure_logging(args)
    try:
        return int(args.handler(args) or EXIT_OK)
    except KeyboardInterrupt:
        print("cytogate: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:
        if args.debug:
            raise
        code = exit_code_of(exc)
        print(_one_line(exc, code), file=sys.stderr)
        return code


def _one_line(exc: BaseException, code: int) -> str:
    """What the user reads: the error's own message, or for a bug, that it is one."""
    if isinstance(exc, CytogateError):
        return f"cytogate: error: {exc}"
    if isinstance(exc, OSError) and code != EXIT_INTERNAL:
        where = f"{exc.filename}: " if exc.filename else ""
        return f"cytogate: error: {where}{exc.strerror or exc}"
    return f"cytogate: internal error: {type(exc).__name__}: {exc} (rerun with --debug for the traceback)"

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
