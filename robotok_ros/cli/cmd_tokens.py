"""`robotok encode | decode | fit | vocab | analyze-resolution`: the core tools."""

import argparse
import json
from pathlib import Path
import sys

import numpy as np
from robotok_ros.cli.common import (add_data_args, add_profile_args, add_tokenizer_args,
                                    episodes_from_args, parse_rows, profile_from_args,
                                    tokenizer_from_args)
from robotok_ros.errors import ConfigError
from robotok_ros.fitting import fit_ranges
from robotok_ros.profile_loader import save_profile
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


def _fit(args):
    base = profile_from_args(args)
    episodes = episodes_from_args(args, base)
    profile = fit_ranges(episodes, base, name=args.name or base.name)
    n = sum(len(e) for e in episodes)
    if args.out:
        save_profile(profile, args.out)
        print(f'wrote {args.out}: ranges and q01/q99 from {len(episodes)} episodes, {n} steps')
    else:
        print(profile.to_yaml(), end='')
    if args.save_tokenizer:
        tok = make_tokenizer(args.tokenizer, profile, n_bins=args.n_bins)
        tok.fit(episodes).save(args.save_tokenizer)
        print(f'wrote {args.save_tokenizer}: {tok.describe()}')
    return 0


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
                                   'into a profile YAML\n(units, gripper and safety come from '
                                   'the base profile).\n\nexample: robotok fit --robot '
                                   'robosuite_panda_osc --data lift.hdf5 --out my_panda.yaml')
    add_profile_args(p)
    add_data_args(p)
    p.add_argument('--out', help='profile YAML to write (default: print it)')
    p.add_argument('--name', help='name of the new profile')
    p.add_argument('--save-tokenizer', metavar='DIR',
                   help='also fit a tokenizer (see --tokenizer) and save it to DIR')
    p.add_argument('--tokenizer', default='quantile', choices=per_step_kinds(),
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
