"""
`robotok profile`: list, show and validate robot profiles.

A profile (``config/robots/<name>.yaml``) says what each action dimension
means, its range and statistics, the gripper convention and the speed limits
(see robotok_ros.robot_profile).  ``validate`` is meant for CI and for editing
a lab's own profile: it prints one ``ok`` line per good file, or one error
line per bad file and exits with status 2.
"""

import argparse
import sys

from robotok_ros.errors import RobotokError
from robotok_ros.profile_loader import find_profile, list_profiles, load_profile


def _num(value):
    return '-' if value is None else f'{value:.6g}'


def format_profile(profile):
    """Return a human-readable multi-line description of ``profile`` (a RobotProfile)."""
    lines = [f'{profile.name}  ({profile.source})' if profile.source else profile.name]
    if profile.description:
        lines.append(f'  {profile.description}')
    lines.append(f'  frame_id: {profile.frame_id}   control rate: {profile.control_rate_hz:g} Hz'
                 f'   dimensions: {profile.dim}')
    header = ('#', 'name', 'unit', 'min', 'max', 'q01', 'q99', 'scale', 'per step')
    rows = []
    for i, d in enumerate(profile.dimensions):
        # What one step at the range ends means physically: the number a reviewer checks.
        span = '-' if d.name == profile.gripper_name else (
            f'{_num(d.low * d.scale)}..{_num(d.high * d.scale)} {d.unit}'.rstrip())
        rows.append((str(i), d.name, d.unit or '-', _num(d.low), _num(d.high), _num(d.q01),
                     _num(d.q99), _num(d.scale), span))
    widths = [max(len(r[c]) for r in [header] + rows) for c in range(len(header))]
    for row in [header] + rows:
        lines.append('  ' + '  '.join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
    if profile.columns is not None:
        lines.append('  read from file columns: ' + ', '.join(
            f'{n}={c}' for n, c in zip(profile.names, profile.columns)))
    kept = [d.name for d in profile.dimensions if d.keeps_limits]
    if kept:
        lines.append(f'  controller input limits (kept by `robotok fit`): {", ".join(kept)}')
    g = profile.gripper
    if g is None:
        lines.append('  gripper: none')
    else:
        lines.append(f'  gripper: dimension {g.dimension} (index {profile.gripper_index}), '
                     f'{g.mode}; action open={_num(g.open_value)} '
                     f'closed={_num(g.closed_value)} -> command open={_num(g.command_open)} '
                     f'closed={_num(g.command_closed)}')
    s = profile.safety
    lines.append(f'  safety: max linear speed {_num(s.max_linear_speed)} m/s, '
                 f'max angular speed {_num(s.max_angular_speed)} rad/s')
    if s.max_linear_accel is not None or s.max_angular_accel is not None:
        lines.append(f'  acceleration: max linear {_num(s.max_linear_accel)} m/s^2, '
                     f'max angular {_num(s.max_angular_accel)} rad/s^2')
    if s.workspace is not None:
        box = ', '.join(f'{axis} {_num(lo)}..{_num(hi)}' for axis, lo, hi
                        in zip('xyz', s.workspace.min, s.workspace.max))
        lines.append(f'  workspace ({profile.frame_id}, m): {box}')
    lines.append(f'  fingerprint: {profile.fingerprint()}')
    return '\n'.join(lines)


def _show(args):
    print(format_profile(load_profile(args.profile)))
    return 0


def _list(args):
    names = list_profiles()
    if not names:
        print('no robot profiles found (set ROBOTOK_PROFILE_PATH to add a folder)')
        return 0
    width = max(len(n) for n in names)
    for name in names:
        try:
            p = load_profile(name)
            detail = f'{p.dim} dims, {p.control_rate_hz:g} Hz  {p.description}'.rstrip()
        except RobotokError as exc:
            detail = f'INVALID: {exc}'
        print(f'{name.ljust(width)}  {detail}')
        if args.paths:
            print(f'{"".ljust(width)}  {find_profile(name)}')
    return 0


def _validate(args):
    failed = 0
    for target in args.paths:
        try:
            p = load_profile(target)
        except RobotokError as exc:
            failed += 1
            print(f'robotok profile validate: error: {exc}', file=sys.stderr)
            continue
        print(f'ok {target}: {p.name}, {p.dim} dims, {p.control_rate_hz:g} Hz')
    return 2 if failed else 0


def register(subparsers):
    """Add the ``profile`` command group to the robotok parser."""
    parser = subparsers.add_parser(
        'profile', help='list, show and validate robot profiles',
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest='profile_command', metavar='ACTION')
    sub.required = True

    show = sub.add_parser(
        'show', help='print one profile as a table',
        description='Print a profile: every dimension with unit, min/max, q01/q99, scale and '
                    'the physical distance one step covers; the gripper convention; the '
                    'control rate and speed limits.')
    show.add_argument('profile', metavar='NAME|PATH',
                      help='a profile name (see `robotok profile list`) or a path to a YAML file')
    show.set_defaults(func=_show)

    lst = sub.add_parser(
        'list', help='list the profiles found',
        description='List every profile found in ROBOTOK_PROFILE_PATH folders and the '
                    'package config/robots folder, with dimension count and control rate.')
    lst.add_argument('--paths', action='store_true', help='also print each file path')
    lst.set_defaults(func=_list)

    val = sub.add_parser(
        'validate', help='check profile files; exit 2 if any is invalid',
        description='Load each profile and check every key and number. Prints "ok PATH: ..." '
                    'for a valid file; for an invalid one prints a one-line error naming the '
                    'file, key and value, and the command exits with status 2.')
    val.add_argument('paths', nargs='+', metavar='PATH', help='profile YAML files (or names)')
    val.set_defaults(func=_validate)
