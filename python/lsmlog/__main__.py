"""The command line: ``lsmlog COMMAND ...`` or ``python -m lsmlog COMMAND ...``
(docs/cli.md).

Each command is a subparser with its own handler (``run(args) -> exit
code``); add one by writing a module with ``add_parser(subparsers)`` and
listing it in ``COMMANDS``. ``demo`` is in ``_demo.py``; the inspection
commands (info, verify, dump, tail, compact) are in ``_cli/``.

Expected failures end with a one-line message on stderr and an exit status,
never a traceback: 0 success, 1 damage found, 2 usage error, 3 any other
error (see ``_cli/__init__.py``).
"""

from __future__ import annotations

import argparse
import os
import sys
from types import ModuleType
from typing import List, Optional

from . import __version__, _demo
from ._cli import (
    EXIT_DAMAGE,
    EXIT_ERROR,
    EXIT_OK,
    EXIT_USAGE,
    CommandError,
    compact,
    dump,
    info,
    repair_hint,
    tail,
    verify,
)
from ._lsmlog import CorruptionError, Error, LockedError

COMMANDS: List[ModuleType] = [info, verify, dump, tail, compact, _demo]

EPILOG = """\
exit status: 0 success; 1 damage found (verify failed, or a checksum error
while reading); 2 usage error (a bad option, or a command that does not apply
to this kind of store); 3 any other error (no such directory, not a Log or a
DB, locked by another writer, I/O error). 'COMMAND --help' for each command;
docs/cli.md for all of it."""


def _prog() -> str:
    name = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    return "python -m lsmlog" if name in ("", "__main__.py", "-c") else name


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=_prog(),
        description="lsmlog: an embedded segmented record log (Log) and LSM key-value store (DB). "
        "Inspect, verify, dump and follow their directories; read-only opens never conflict with a writer.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"lsmlog {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(sub)
    return p


def _message(e: BaseException) -> str:
    if isinstance(e, OSError) and e.strerror:
        return f"{e.filename}: {e.strerror}" if e.filename else e.strerror
    return str(e) or type(e).__name__


def main(argv: Optional[List[str]] = None) -> int:
    p = parser()
    args = p.parse_args(argv)
    if args.command is None:
        p.print_help(sys.stderr)
        return EXIT_USAGE
    who = f"{p.prog} {args.command}"
    try:
        code: int = args.run(args)
        return code
    except CommandError as e:
        print(f"{who}: {e}", file=sys.stderr)
        return e.code
    except CorruptionError as e:
        message = _message(e)
        print(f"{who}: DAMAGED: {message}", file=sys.stderr)
        hint = repair_hint(getattr(args, "dir", None), message)
        if hint:
            print(f"{who}: {hint} (docs/cli.md)", file=sys.stderr)
        return EXIT_DAMAGE
    except LockedError as e:
        print(f"{who}: {_message(e)} (read-only commands never conflict with a writer; "
              f"this one needs the writer's lock)", file=sys.stderr)
        return EXIT_ERROR
    except (Error, OSError) as e:
        if isinstance(e, BrokenPipeError):  # the reader went away (| head): not an error
            _quiet_stdout()
            return EXIT_OK
        print(f"{who}: {_message(e)}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print(f"{who}: interrupted", file=sys.stderr)
        return 130


def _quiet_stdout() -> None:
    """After a broken pipe: stdout goes to /dev/null, so that the interpreter's
    flush at exit does not complain."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except OSError:
        pass


if __name__ == "__main__":
    sys.exit(main())
