"""
`robotok train-vq`: train the VQ-VAE chunk tokenizer on demonstrations.

Episodes are split into training and validation sets BY EPISODE (chunks of one
demonstration never sit on both sides).  The model trains on every K-step
window of the training episodes (--stride), then both sets are measured on
back-to-back chunks as a policy would play them (the measure `robotok analyze`
uses): tokens per second of motion, RMSE per dimension in action and physical
units, decode failures (each chunk through decode_chunk, the node path),
fraction of codes used and perplexity per level (held-out next to training,
and every training window beside), clips.  Warnings (stderr) name the flag
that fixes them: ranges far wider than the data or clipping held-out values,
low held-out codebook use, an undertrained codebook.
The tokenizer (tokenizer.yaml + state.safetensors) and metrics.json go to
--out.
"""

import argparse
import json
from pathlib import Path
import sys
import time

from robotok_ros.cli.common import (add_profile_args, add_settings_args, add_split_data_args,
                                    given_settings, profile_from_args, train_val_from_args)
from robotok_ros.errors import ConfigError
from robotok_ros.tokenizers.vq import VQMapSettings

EXAMPLES = """\
examples:
  robotok train-vq --synthetic 200 --robot robosuite_panda_osc --chunk-steps 8 --out /tmp/vq
  robotok train-vq --data lift.hdf5 door.hdf5 stack.hdf5 --val-data nut-assembly.hdf5 \\
      --robot robosuite_panda_osc --chunk-steps 8 --codebook-size 64 --levels 2 --out /tmp/vq
  robotok train-vq --data bridge/ --robot widowx_250 --chunk-steps 5 --codebook-size 16 \\
      --val-fraction 0.2 --epochs 100 --out /tmp/vq
"""


def register(subparsers):
    """Add the ``train-vq`` subcommand."""
    p = subparsers.add_parser(
        'train-vq', help='train the VQ-VAE chunk tokenizer (K steps -> R codes)',
        description=__doc__.split('\n\n', 1)[1], epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    add_profile_args(p)
    add_split_data_args(p, seed_help='seed of the split, of --synthetic and of training')
    # seed: --seed above seeds the split and the training alike.
    add_settings_args(p, VQMapSettings, skip=('seed',))
    add_threads_arg(p)
    p.add_argument('--out', required=True, metavar='DIR', help='folder for the tokenizer')
    p.add_argument('--quiet', action='store_true', help='no progress bar')
    p.set_defaults(func=run)


def add_threads_arg(parser):
    """Add ``--threads N``: torch CPU threads for VQ training (train-vq, analyze)."""
    parser.add_argument('--threads', type=int, default=1, metavar='N',
                        help='torch CPU threads for VQ training (default 1: small MLPs gain '
                             'little from more, and a run is reproducible for a given seed and '
                             'thread count)')


def set_threads(threads, torch_used=True):
    """Check ``--threads`` (a ConfigError names it); set torch's CPU threads if it is used."""
    if threads < 1:
        raise ConfigError(f'--threads must be >= 1, got {threads}')
    if torch_used:  # importing torch takes seconds: only where a VQ trains
        import torch
        torch.set_num_threads(threads)


def measure(tok, episodes, progress=False):
    """
    Return ``analysis.chunk_metrics`` (as analyze and train-bpe measure) plus every-window use.

    RMSE, decode failures and codebook use come from back-to-back chunks, as
    a policy plays them; ``codebook_used_all_windows`` counts every K-step
    window (what training sees), which samples a codebook more densely and
    flatters it: it is reported beside, never instead of, the chunk figures.
    """
    from robotok_ros.analysis import chunk_metrics
    m = chunk_metrics(tok, episodes, progress)
    every = chunk_metrics(tok, episodes, stride=1)
    m['codebook_used_all_windows'] = every['codebook_used']
    m['codebook_perplexity_all_windows'] = every['codebook_perplexity']
    return m


def _percents(values):
    return '/'.join(f'{v:.0%}' for v in values)


def format_metrics(label, m):
    """Return a few readable lines for one metrics dict."""
    rmse = '  '.join(f'{k} {v:.3g}' for k, v in m['rmse_physical'].items())
    perp = '/'.join(f'{p:.1f}' for p in m['codebook_perplexity'])
    tail = m['tail_steps_not_measured']
    return '\n'.join([
        f'{label}: {m["chunks"]} chunks of {m["chunk_steps"]} steps -> '
        f'{m["tokens_per_chunk_mean"]:g} token(s) each ({m["tokens_per_second"]:.2f} tokens/s '
        f'of motion); {tail} of {m["steps"]} steps after the last whole chunk not measured',
        f'  codes used per level {_percents(m["codebook_used"])}, perplexity {perp} '
        f'(back-to-back chunks); {_percents(m["codebook_used_all_windows"])} on every window',
        f'  RMSE (physical) {rmse}',
        f'  decode failures {m["decode_failures"]}  action clips '
        f'{sum(m["action_clips"].values())}'])


def warnings(tok, base, train, val, metrics):
    """Return the warning lines of a trained VQ tokenizer, naming train-vq's flags."""
    from robotok_ros import checks
    lines = []
    span, box = checks.tokenizer_ranges(tok)
    clip = 'train on episodes that cover the held-out range'
    if tok.fit_ranges and checks.holds((base.lows, base.highs), val, base.dim):
        clip = (f"use --no-fit-ranges (profile {base.name}'s ranges hold every held-out value), "
                f'or {clip}')
    wide = ("use --fit-ranges (the training data's min/max)" if not tok.fit_ranges
            else 'give a profile with narrower ranges')
    found = checks.range_findings(span, box, train, val, tok.profile)
    lines += checks.range_warnings(found, tok.profile, None, wide, clip)
    v = metrics['validation']
    windows = checks.window_count(train, tok.chunk_steps, tok.stride)
    found = checks.codebook_findings(v['codebook_used'], v['chunks'], tok.codebook_size,
                                     tok.history, windows)
    lines += checks.codebook_warnings(
        found, None, 'a smaller --codebook-size would fit this data, or give more '
        'training data', f'raise --epochs (now {tok.epochs})')
    tail = checks.tail_warning(None, v['tail_steps_not_measured'], v['steps'],
                               tok.chunk_steps)
    return lines + ([tail] if tail else [])


def run(args):
    """Load data, split by episode, train, measure, save; return 0."""
    from robotok_ros.tokenizers.vq import VQTokenizer
    from tqdm import tqdm
    profile = profile_from_args(args)
    train, val = train_val_from_args(args, profile)
    settings = given_settings(args, [n for n in VQMapSettings.names() if n != 'seed'])
    tok = VQTokenizer(profile, **settings, seed=args.seed)
    print(f'train-vq: {len(train)} training / {len(val)} validation episodes; chunks of '
          f'{tok.chunk_steps} steps -> {tok.levels} x {tok.codebook_size} codes')
    # On a terminal only (disable=None): a log or a pipe gets no bar.
    bar = tqdm(total=tok.epochs, desc='train-vq', unit='epoch',
               disable=True if args.quiet else None)

    def progress(epoch, record):
        bar.update(1)
        bar.set_postfix(loss=f'{record["loss"]:.4f}', used=f'{min(record["used"]):.0%}',
                        perplexity=f'{min(record["perplexity"]):.1f}')

    set_threads(args.threads)
    start = time.perf_counter()
    try:
        tok.fit(train, progress=progress)
    finally:
        bar.close()
    seconds = time.perf_counter() - start
    metrics = {'tokenizer': tok.settings(), 'vocab_size': tok.vocab_size,
               'id_range': list(tok.id_range), 'profile': profile.name,
               'train_episodes': len(train), 'val_episodes': len(val),
               'train_seconds': seconds, 'threads': args.threads, 'history': tok.history,
               'train': measure(tok, train), 'validation': measure(tok, val)}
    out = Path(args.out)
    tok.save(out)
    (out / 'metrics.json').write_text(json.dumps(metrics, indent=2) + '\n')
    print(tok.describe())
    print(f'trained {tok.epochs} epochs in {seconds:.1f} s, final loss '
          f'{tok.history[-1]["loss"]:.5f}')
    print(format_metrics('train', metrics['train']))
    print(format_metrics('validation', metrics['validation']))
    t, v = metrics['train'], metrics['validation']
    print(f'codebook use per level, back-to-back chunks as analyze measures: held-out '
          f'{_percents(v["codebook_used"])}, training {_percents(t["codebook_used"])} (every '
          f'training window {_percents(t["codebook_used_all_windows"])})')
    for line in warnings(tok, profile, train, val, metrics):
        print(f'robotok train-vq: warning: {line}', file=sys.stderr)
    print(f'saved {out}/ (tokenizer.yaml, state.safetensors, metrics.json)')
    return 0
