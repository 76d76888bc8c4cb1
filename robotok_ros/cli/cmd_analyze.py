"""
`robotok analyze`: compare tokenizers on one dataset (rate vs distortion).

Each --tokenizers configuration is fitted on the training episodes and
measured on held-out episodes (split BY EPISODE with the seed, as train-vq and
train-bpe split, so a tokenizer they saved can be measured with --load on the
same held-out set): tokens per second of motion, RMSE and max error per
dimension in physical units (mm, mrad), decode failures, clips, vocabulary
and VQ codebook use.  Prints two tables; --plot writes a log-log PNG of
tokens/s vs the mean RMSE of the position dimensions, --json every metric.

Spec syntax: kind[:N][:key=value...], comma-separated or several words.
  uniform:256  rt1:512  quantile:256  openvla:256     (N = bins per dimension)
  fast:H=10:scale=10[:vocab=1024][:normalization=quantile][:ranges=data]
  vq:K=8:C=256:R=2[:epochs=10][:code_dim=16][:reset=0.3][:ranges=profile]
ranges=data|profile: normalise with the training data's min/max or the
profile's (defaults: what each tokenizer's own fit does; fast: profile).
vq trains 10 epochs here unless epochs= says otherwise.

Warnings (stderr, one line each, with the numbers and the spec change that
fixes them): ranges far wider than the data, held-out values clipped at the
ranges, low held-out codebook use or an undertrained codebook, and steps left
unmeasured after each episode's last whole chunk.
"""

import argparse
import json
from pathlib import Path
import sys

import numpy as np
from robotok_ros.analysis import compare, DEFAULT_SPECS, parse_specs, position_dims
from robotok_ros.cli.cmd_train_vq import add_threads_arg, set_threads
from robotok_ros.cli.common import (add_profile_args, add_split_data_args, profile_from_args,
                                    train_val_from_args)
from robotok_ros.resolution import display_factor, display_unit

EXAMPLES = """\
examples:
  robotok analyze --synthetic 24 --plot rd.png --json rd.json
  robotok analyze --robot robosuite_panda_osc --data lift.hdf5 door.hdf5 stack.hdf5 \\
      --val-data nut-assembly.hdf5 --tokenizers uniform:256,fast:H=10:scale=10 \\
      --plot rd.png
  robotok analyze --robot robosuite_panda_osc --data demos/ --load /tmp/vq /tmp/bpe \\
      --tokenizers uniform:256 --json rd.json
"""
# About how many decades of tokens/s a point's label spans on the plot.
LABEL_DECADES = 0.35


def register(subparsers):
    """Add the ``analyze`` subcommand."""
    p = subparsers.add_parser(
        'analyze', help='compare tokenizers: tokens/s of motion vs reconstruction error',
        description=__doc__.split('\n\n', 1)[1], epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    add_profile_args(p)
    add_split_data_args(p)
    p.add_argument('--tokenizers', nargs='+', metavar='SPEC', default=None,
                   help='configurations to fit and compare (default: '
                        f'{" ".join(DEFAULT_SPECS)}; none when only --load is given)')
    p.add_argument('--load', nargs='+', metavar='DIR', default=[],
                   help='saved tokenizers (robotok fit --save-tokenizer, train-vq, train-bpe) '
                        'to measure as they are')
    p.add_argument('--plot', metavar='PNG', help='write the rate-distortion plot here')
    p.add_argument('--json', metavar='PATH', help='write every metric here')
    add_threads_arg(p)
    p.add_argument('--quiet', action='store_true',
                   help='no progress output (bars are drawn only when stderr is a terminal); '
                        'warnings are still printed')
    p.set_defaults(func=run)


def _percent(values):
    return '/'.join(f'{v:.0%}' for v in values)


def format_tables(results, profile):
    """Return the summary table and the RMSE-per-dimension table as one string."""
    pos = position_dims(profile)
    pos_unit = display_unit(profile, pos[0])
    width = max(12, *(len(r['label']) for r in results)) + 2
    lines = [f'{"tokenizer":<{width}}{"tokens/s":>9}{"tok/chunk":>10}{"pos RMSE":>10}'
             f'{"pos max":>9}{"fail":>6}{"clips":>7}{"ids used":>9}  codebook used, perplexity',
             f'{"":<{width}}{"":>19}{"(" + pos_unit + ")":>10}{"(" + pos_unit + ")":>9}']
    for r in results:
        maxes = np.array(list(r['max_abs_error_physical'].values()))
        code = ''
        if 'codebook_used' in r:
            code = (f'{_percent(r["codebook_used"])}, '
                    + '/'.join(f'{p:.1f}' for p in r['codebook_perplexity']))
        lines.append(
            f'{r["label"]:<{width}}{r["tokens_per_second"]:>9.1f}'
            f'{r["tokens_per_chunk_mean"]:>10.2f}'
            f'{r["position_rmse_physical_mean"] * display_factor(profile, pos[0]):>10.3f}'
            f'{maxes[pos].max() * display_factor(profile, pos[0]):>9.2f}{r["decode_failures"]:>6}'
            f'{sum(r["action_clips"].values()):>7}{r["vocab_used"]:>9.0%}  {code}'.rstrip())
    names = profile.names
    lines += ['', 'held-out RMSE per dimension (physical units)',
              f'{"tokenizer":<{width}}' + ''.join(f'{n:>10}' for n in names),
              f'{"":<{width}}' + ''.join(f'{"(" + display_unit(profile, i) + ")":>10}'
                                         for i in range(len(names)))]
    for r in results:
        rmse = np.array(list(r['rmse_physical'].values()))
        lines.append(f'{r["label"]:<{width}}' + ''.join(
            f'{rmse[i] * display_factor(profile, i):>10.4f}' for i in range(len(names))))
    return '\n'.join(lines)


def _spread(values, gap):
    """Return ``values`` moved apart to at least ``gap`` from each other, order kept."""
    order = np.argsort(values)
    out = np.array(values, dtype=float)
    for prev, cur in zip(order[:-1], order[1:]):
        out[cur] = max(out[cur], out[prev] + gap)
    return out


def _label_groups(log_x, log_y, dx, dy):
    """Return index arrays of points linked by chains of neighbours closer than (dx, dy)."""
    group = np.arange(len(log_x))
    for i in range(len(log_x)):
        for j in range(i):
            if abs(log_x[i] - log_x[j]) < dx and abs(log_y[i] - log_y[j]) < dy:
                group[group == group[i]] = group[j]
    return [np.flatnonzero(group == g) for g in np.unique(group)]


def plot_rate_distortion(results, profile, path):
    """Write a log-log PNG: tokens/s of motion vs mean position RMSE, one labelled point each."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    import matplotlib.ticker
    pos = position_dims(profile)
    factor = display_factor(profile, pos[0])
    xs = np.array([r['tokens_per_second'] for r in results])
    # A perfect reconstruction has no place on a log axis: show it at a floor.
    ys = np.array([max(r['position_rmse_physical_mean'] * factor, 1e-6) for r in results])
    fig, ax = plt.subplots(figsize=(7.5, 5))
    colours = {}
    for r, x, y in zip(results, xs, ys):
        new = r['kind'] not in colours
        colour = colours.setdefault(r['kind'], f'C{len(colours)}')
        ax.scatter([x], [y], color=colour, zorder=3, label=r['kind'] if new else None)
    ax.set_xscale('log')
    ax.set_yscale('log')
    # Room on the right for the labels of the highest-rate points.
    ax.set_xlim(xs.min() / 1.5, xs.max() * 3.0)
    lo, hi = np.log10(ax.get_ylim())
    # Points closer in rate than a label is wide (per-step tokenizers share one rate) get
    # their labels in one column, spread apart, with leader lines.
    label_x, label_y, gap = xs * 1.12, np.log10(ys), 0.045 * (hi - lo)
    for group in _label_groups(np.log10(xs), label_y, LABEL_DECADES, 2 * gap):
        label_x[group] = xs[group].max() * 1.12
        label_y[group] = _spread(label_y[group], gap)
    for r, x, y, lx, ly in zip(results, xs, ys, label_x, 10 ** label_y):
        moved = abs(np.log10(ly / y)) > 1e-9 or lx != x * 1.12
        ax.annotate(r['label'], (x, y), xytext=(lx, ly), fontsize=7, va='center',
                    arrowprops={'arrowstyle': '-', 'lw': 0.5, 'color': '0.5'} if moved
                    else None)
    ax.set_ylim(10 ** lo, max(10 ** hi, 10 ** label_y.max() * 1.15))
    plain = matplotlib.ticker.FormatStrFormatter('%g')
    ax.xaxis.set_major_formatter(plain)
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.yaxis.set_major_formatter(plain)
    if hi - lo < 3:  # few decades: label the 2, 3 and 5 ticks too
        ax.yaxis.set_minor_formatter(matplotlib.ticker.FuncFormatter(
            lambda v, _: f'{v:g}' if round(v / 10 ** np.floor(np.log10(v))) in (2, 3, 5)
            else ''))
    ax.tick_params(axis='y', which='minor', labelsize=7)
    ax.set_xlabel('tokens per second of motion')
    ax.set_ylabel(f'held-out RMSE, mean of {", ".join(profile.names[i] for i in pos)} '
                  f'({display_unit(profile, pos[0])})')
    ax.set_title(f'Rate vs distortion: {profile.name}')
    ax.grid(True, which='both', alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def run(args):
    """Parse specs, load data, fit, measure, print, plot; return 0."""
    profile = profile_from_args(args)
    items = args.tokenizers if args.tokenizers is not None else (
        [] if args.load else list(DEFAULT_SPECS))
    specs = parse_specs(items) if items else []
    from robotok_ros.tokenizers import load_tokenizer
    loaded = []
    for folder in args.load:
        tok = load_tokenizer(folder)
        loaded.append((f'{Path(folder).name or folder} ({tok.kind}, loaded)', tok))
    set_threads(args.threads, any(spec.capabilities.fit_needs_torch for spec in specs))
    train, val = train_val_from_args(args, profile)
    say = None if args.quiet else print
    if say:
        say(f'analyze: {profile.name}, {len(train)} training episodes '
            f'({sum(len(e) for e in train)} steps), {len(val)} held out '
            f'({sum(len(e) for e in val)} steps), {profile.control_rate_hz:g} Hz')
    progress = not args.quiet and sys.stderr.isatty()
    results = compare(specs, train, val, profile, loaded, progress=progress, log=say)
    print(format_tables(results, profile))
    for r in results:
        for line in r['warnings']:
            print(f'robotok analyze: warning: {line}', file=sys.stderr)
    if args.plot:
        Path(args.plot).parent.mkdir(parents=True, exist_ok=True)
        plot_rate_distortion(results, profile, args.plot)
        print(f'wrote {args.plot}')
    if args.json:
        report = {'profile': profile.name, 'control_rate_hz': profile.control_rate_hz,
                  'train_episodes': len(train), 'val_episodes': len(val),
                  'train_steps': int(sum(len(e) for e in train)),
                  'val_steps': int(sum(len(e) for e in val)),
                  'position_dims': [profile.names[i] for i in position_dims(profile)],
                  'threads': args.threads,
                  'tokenizers': results}
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(report, indent=2) + '\n')
        print(f'wrote {args.json}')
    return 0
