"""`robotok encode | decode | fit | vocab | analyze-resolution`: the core tools."""

import argparse
import json
from pathlib import Path
import sys

import numpy as np
from robotok_ros.checks import fit_warnings
from robotok_ros.cli.common import (add_data_args, add_profile_args, add_tokenizer_args,
                                    episodes_from_args, missing_robot_error, parse_rows,
                                    profile_from_args, tokenizer_from_args)
from robotok_ros.errors import ConfigError
from robotok_ros.fitting import fit_profile, fit_ranges, new_profile
from robotok_ros.resolution import analyze_resolution, DEFAULT_BINS, format_table, plot_resolution
from robotok_ros.tokenizers import make_tokenizer
from robotok_ros.tokenizers.registry import kinds, tokenizer_class
from robotok_ros.vocab import format_report, offset_for, vocab_report

RAW = argparse.RawDescriptionHelpFormatter


def _print_rows(arr, fmt):
    for row in np.atleast_2d(arr):
        print(','.join(fmt(v) for v in row))


def _encode(args):
    tok = tokenizer_from_args(args)
    acts = parse_rows(args.actions if args.actions != '-' else sys.stdin.read(), float,
                      'actions')
    ids = tok.encode(acts) if tok.capabilities.per_step else tok.encode_chunk(acts)
    _print_rows(ids, str)
    if tok.last_clip_counts.any():
        clipped = {n: int(c) for n, c in zip(tok.profile.names, tok.last_clip_counts) if c}
        print(f'note: clipped to the profile range: {clipped}', file=sys.stderr)
    return 0


def _decode(args):
    tok = tokenizer_from_args(args)
    ids = parse_rows(args.tokens if args.tokens != '-' else sys.stdin.read(), int, 'tokens')
    acts = tok.decode(ids) if tok.capabilities.per_step else tok.decode_chunk(ids.reshape(-1))
    _print_rows(acts, lambda v: f'{v:.6g}')
    return 0


def _warn(text):
    print(text if text.startswith(('warning:', 'note:')) else f'warning: {text}',
          file=sys.stderr)


def _fit(args):
    if args.profile or args.robot:
        profile, columns = _fit_on_base(args)
    elif not args.data:
        raise ConfigError('fit needs --data PATH... to make a new profile from, or --robot '
                          f'NAME / --profile PATH for --synthetic; {missing_robot_error(args)}')
    else:
        profile, columns = _fit_new(args)
    episodes = args.episodes
    for line in fit_warnings(profile, episodes, bool(args.keep_ranges)):
        _warn(line)   # kept limits that dwarf the data: uniform bins would waste resolution
    n = sum(len(e) for e in episodes)
    source = ' '.join(args.data) if args.data else f'{len(episodes)} synthetic episodes'
    text = (f'# Fitted by `robotok fit` from {source}: {len(episodes)} episodes, {n} steps.\n'
            + profile.to_yaml())
    if args.out:
        Path(args.out).write_text(text)
        print(f'wrote {args.out}: profile {profile.name}, {profile.dim} dimensions '
              f'({", ".join(profile.names)}), {profile.control_rate_hz:g} Hz, from '
              f'{len(episodes)} episodes, {n} steps; use it with --profile {args.out}, or as '
              f'--robot {profile.name} with its folder on ROBOTOK_PROFILE_PATH')
    else:
        print(text, end='')
    if args.save_tokenizer:
        kind = args.tokenizer or 'quantile'
        tok = make_tokenizer(kind, profile, n_bins=args.n_bins)
        tok.fit(episodes).save(args.save_tokenizer)
        chosen = '--tokenizer ' + kind if args.tokenizer else (
            'the default; --tokenizer uniform for RT-2 bins on the ranges')
        print(f'wrote {args.save_tokenizer}: a {kind} tokenizer ({chosen}): {tok.describe()}')
    return 0


def _fit_on_base(args):
    """Fit the named profile's ranges; data with other columns may fit a subset of it."""
    from robotok_ros.data.readers import read_actions
    base = profile_from_args(args)
    name = args.name or base.name
    columns = None
    if args.data and args.columns is not None:
        actions = read_actions(args.data, key=args.key, dim=base.dim, columns=args.columns)
        names = actions.names
        if (actions.episodes[0].shape[1] != base.dim or tuple(names or ()) != base.names) \
                and names and all(n in base.names for n in names):
            base = base.subset(list(names))   # e.g. the six OSC deltas without the gripper
            name = args.name or f'{base.name}_{base.dim}d'   # not the full profile's name
        columns = _column_keys(args.columns, actions)
    # The second read checks the width against the (possibly smaller) profile, by file.
    episodes = episodes_from_args(args, base)
    profile, warnings = fit_profile(episodes, base, name=name,
                                    keep_ranges=args.keep_ranges, columns=columns)
    for text in warnings:
        _warn(text)
    args.episodes = episodes
    return profile, columns


def _column_keys(spec, actions):
    """Return the ``column`` key of each fitted dimension: the file column it is read from."""
    from robotok_ros.data.columns import parse_columns
    refs = []
    for col in parse_columns(spec):
        if isinstance(col.ref, tuple):
            start, stop = col.ref
            stop = actions.episodes[0].shape[1] + start if stop is None else stop
            refs.extend(range(start, stop))
        else:
            refs.append(col.ref)
    return refs if len(refs) == actions.episodes[0].shape[1] else None


def _fit_new(args):
    """Make a complete profile for a robot robotok has no profile of, from its data alone."""
    from robotok_ros.data.readers import read_actions
    actions = read_actions(args.data, key=args.key, columns=args.columns)
    dim = actions.episodes[0].shape[1]
    names = [n if n else f'dim{i}' for i, n in enumerate(actions.names or [None] * dim)]
    rate = args.rate_hz
    if rate is None:
        if actions.rate_hz is None:
            raise ConfigError(f'{" ".join(args.data)}: the data hold no timestamps to measure '
                              'the control rate from; give --rate-hz HZ (the rate the '
                              'actions were recorded at)')
        rate = actions.rate_hz
    elif actions.rate_hz is not None and abs(actions.rate_hz - rate) > 0.01 * rate:
        _warn(f'--rate-hz {rate:g} differs from the {actions.rate_hz:g} Hz the timestamps '
              'give; using --rate-hz')
    name = args.name or (Path(args.out).stem if args.out else Path(args.data[0]).stem)
    columns = _column_keys(args.columns, actions) if args.columns is not None else None
    profile, notes = new_profile(actions.episodes, names, rate, name, units=args.units,
                                 frame_id=args.frame_id,
                                 max_linear_speed=args.max_linear_speed,
                                 max_angular_speed=args.max_angular_speed, columns=columns,
                                 scales=actions.scales, limits=actions.limits)
    for text in notes:
        _warn(text)
    args.episodes = actions.episodes
    return profile, columns


def _vocab(args):
    args.vocab_offset = None
    tok = tokenizer_from_args(args)
    placeable = 'vocab_offset' in tok.settings_class.names()
    if args.tokenizer_path is None and placeable:
        args.vocab_offset = offset_for(args.mode, args.text_vocab, tok.vocab_size)
        tok = tokenizer_from_args(args)
    elif not placeable and args.mode != 'overwrite':
        raise ConfigError(f'the {tok.kind} tokenizer overwrites the last ids of the text '
                          'vocabulary: use --mode overwrite')
    report = vocab_report(tok, args.text_vocab, args.mode)
    print(format_report(report))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
        print(f'wrote {args.json}')
    return 0


def _analyze_resolution(args):
    profile = profile_from_args(args)
    episodes = episodes_from_args(args, profile)
    if args.fit_ranges:
        profile = fit_ranges(episodes, profile)
    try:
        bins = [int(b) for b in args.bins.split(',')]
    except ValueError:
        raise ConfigError(f'--bins must be comma-separated integers, got {args.bins!r}') from None
    rows = analyze_resolution(episodes, profile, bins)
    print(f'{profile.name}: {len(episodes)} episodes, {sum(len(e) for e in episodes)} steps')
    print(format_table(rows, profile))
    if args.plot:
        plot_resolution(rows, profile, args.plot)
        print(f'wrote {args.plot}')
    return 0


def per_step_kinds():
    """Return the kinds `fit --save-tokenizer` can fit: the per-step ones."""
    return [k for k in kinds() if tokenizer_class(k).capabilities.per_step]


def register(sub):
    """Add the core subcommands."""
    p = sub.add_parser('encode', formatter_class=RAW, help='actions -> token ids',
                       description='Encode actions to token ids, one row per step.\n\n'
                                   'example: robotok encode --robot widowx_250 '
                                   '"0.01,0,0,0,0,0,1;0,0.02,0,0,0,0,0"')
    add_profile_args(p)
    add_tokenizer_args(p)
    p.add_argument('actions', help="rows of D numbers, rows split by ';' ('-' reads stdin); "
                                   'put -- before a row that starts with a minus sign')
    p.set_defaults(func=_encode)

    p = sub.add_parser('decode', formatter_class=RAW, help='token ids -> actions',
                       description='Decode token ids (D per step) back to actions.\n\n'
                                   'example: robotok decode --robot widowx_250 '
                                   '"128,128,128,128,128,128,255"')
    add_profile_args(p)
    add_tokenizer_args(p)
    p.add_argument('tokens', help="rows of ids, rows split by ';' ('-' reads stdin)")
    p.set_defaults(func=_decode)

    p = sub.add_parser('fit', formatter_class=RAW, help='ranges/quantiles from data -> profile',
                       description='Fit per-dimension min/max and q01/q99 from demonstrations '
                                   'into a profile YAML.\nWith --robot/--profile: units, '
                                   'gripper and safety come from that profile, and a '
                                   "controller's\ninput limits (scale != 1, or "
                                   'controller_limits: true) are kept. Without: a complete\n'
                                   'new profile from the data alone (names, units, ranges, '
                                   'rate from timestamps,\nspeed limits from the data).\n\n'
                                   'examples:\n  robotok fit --robot robosuite_panda_osc '
                                   '--data lift.hdf5 door.hdf5 --out my_panda.yaml\n'
                                   '  robotok fit --data arm6.npz --columns '
                                   "'dx=0,dy=1,dz=2,droll=3,dpitch=4,dyaw=5' --rate-hz 20 "
                                   '--out arm6.yaml')
    add_profile_args(p)
    add_data_args(p)
    p.add_argument('--out', help='profile YAML to write (default: print it)')
    p.add_argument('--name', help="name of the new profile (default: the base profile's, "
                                  'else the --out or first --data file name)')
    p.add_argument('--keep-ranges', action='store_true',
                   help='keep every declared min/max of the base profile (fit only q01/q99)')
    new = p.add_argument_group('a new profile (no --robot/--profile)')
    new.add_argument('--rate-hz', type=float, default=None, metavar='HZ',
                     help='control rate; default: measured from the timestamps (LeRobot, '
                          'rosbag2, a timestamp column), required where there are none')
    new.add_argument('--units', default=None, metavar='UNITS',
                     help="one unit for all, one per dimension 'm,m,m,rad,rad,rad,', or "
                          'NAME=UNIT pairs (default: m for dx/dy/dz, rad for '
                          'droll/dpitch/dyaw, else none)')
    new.add_argument('--frame-id', default='base', help='frame of the actions (default base)')
    new.add_argument('--max-linear-speed', type=float, default=None, metavar='M/S',
                     help="default: the data's peak over dx/dy/dz; required without them")
    new.add_argument('--max-angular-speed', type=float, default=None, metavar='RAD/S',
                     help="default: the data's peak over droll/dpitch/dyaw; required without")
    p.add_argument('--save-tokenizer', metavar='DIR',
                   help='also fit a tokenizer (see --tokenizer) and save it to DIR')
    p.add_argument('--tokenizer', default=None, choices=per_step_kinds(),
                   help='per-step kind to fit with --save-tokenizer (default quantile)')
    p.add_argument('--n-bins', type=int, default=256)
    p.set_defaults(func=_fit)

    p = sub.add_parser('vocab', formatter_class=RAW, help='vocabulary layout report + JSON map',
                       description='Where action ids sit in a language model vocabulary.\n'
                                   'append: after the text ids (RT-2 style new rows); '
                                   'overwrite: the last text ids (OpenVLA).')
    add_profile_args(p)
    add_tokenizer_args(p)
    p.add_argument('--text-vocab', type=int, default=32000, help='text vocabulary size')
    p.add_argument('--mode', default='append', choices=('append', 'overwrite'))
    p.add_argument('--json', metavar='PATH', help='write the map a policy trainer can load')
    p.set_defaults(func=_vocab)

    p = sub.add_parser('analyze-resolution', formatter_class=RAW,
                       help='binning error per dimension for 64..1024 bins',
                       description='Reconstruction error of uniform bins per dimension, in '
                                   'physical units,\non a dataset (default: generated '
                                   'demonstrations); optional PNG plot.')
    add_profile_args(p)
    add_data_args(p)
    p.add_argument('--bins', default=','.join(str(b) for b in DEFAULT_BINS))
    p.add_argument('--fit-ranges', action='store_true',
                   help="use the data's min/max instead of the profile's ranges")
    p.add_argument('--plot', metavar='PNG', help='write a rate-vs-error plot')
    p.set_defaults(func=_analyze_resolution)
