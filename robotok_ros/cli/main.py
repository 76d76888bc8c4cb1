"""
Entry point of the `robotok` console script.

Errors a user can fix (RobotokError, missing files) print one line naming the
file, key or value, and exit with status 2 -- never a traceback.
"""

import argparse
import importlib
import pkgutil
import sys

import robotok_ros.cli as cli_pkg
from robotok_ros.errors import RobotokError

DESCRIPTION = """\
robotok: action tokenizers for VLA policies and the robots they drive.

Start with `robotok profile show franka_panda` to see what a robot profile
holds, `robotok encode`/`decode` to move between actions and token ids, and
`robotok demo` for the whole loop on generated demonstrations.
"""


def build_parser():
    """Build the argparse parser with every ``cmd_*`` module's subcommands."""
    parser = argparse.ArgumentParser(
        prog='robotok', description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest='command', metavar='COMMAND')
    sub.required = True
    for info in sorted(pkgutil.iter_modules(cli_pkg.__path__), key=lambda m: m.name):
        if info.name.startswith('cmd_'):
            importlib.import_module(f'{cli_pkg.__name__}.{info.name}').register(sub)
    return parser


def main(argv=None):
    """Run one subcommand; return its exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except RobotokError as exc:
        print(f'robotok {args.command}: error: {exc}', file=sys.stderr)
        return 2
    except FileNotFoundError as exc:
        print(f'robotok {args.command}: error: no such file: {exc.filename}', file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `robotok ... | head`: the reader left; say nothing more.
        sys.stderr.close()
        return 0


if __name__ == '__main__':
    sys.exit(main())
