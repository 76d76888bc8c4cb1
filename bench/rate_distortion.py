"""
Rate-distortion of DCT + BPE with a fitted step table (dct_table) against FAST's one scale.

Both tokenizers (``fast``: Pertsch et al., 2025, arXiv:2501.09747; ``dct_table``:
a JPEG-style quantisation table, Wallace 1991, fitted by Lagrangian bit
allocation) are fitted and measured with ``robotok_ros.analysis.compare`` on
the shared demonstrations' held-out splits: Bridge (widowx_250, 5 Hz) fit on
episodes 0-19, measured on 20-24, ranges from the fit episodes; robosuite
(robosuite_panda_osc, 20 Hz) fit on lift, door and stack, measured on
nut-assembly, ranges the profile's +-1 controller input (the fit tasks' own
ranges clip nut-assembly, and that clipping error would swamp both curves).
Both use the same ranges, chunk length and BPE vocabulary.  FAST's scale and
the table's target error are swept; distortion is the largest per-dimension
RMSE in half-ranges of the normalisation (the units both quantise in), and
the ratio is dct_table's tokens/s over FAST's at FAST's distortion,
interpolated log-log on dct_table's curve (geometric mean over FAST's points
inside it).  Writes a PNG of both curves (``--png``, default a temp dir); the
last line is one JSON object with the ratios.
"""

import argparse
import json
import os
import tempfile

import numpy as np
from robotok_ros.analysis import compare, parse_specs
from robotok_ros.data.readers import read_episodes
from robotok_ros.fitting import fit_ranges
from robotok_ros.profile_loader import load_profile

SCALES = (4, 6, 8, 12, 16, 24, 32)
TARGETS = (0.07, 0.05, 0.035, 0.025, 0.018, 0.012, 0.009, 0.007, 0.005)
# name: (profile, chunk steps, ranges)
SPLITS = {'bridge': ('widowx_250', 5, 'data'), 'robosuite': ('robosuite_panda_osc', 20, 'profile')}


def load_split(name, data):
    """Return ``(profile, fit episodes, held-out episodes)`` of split ``name`` under ``data``."""
    profile = load_profile(SPLITS[name][0])
    if name == 'bridge':
        eps = read_episodes(os.path.join(data, 'bridge', 'bridge_dataset-train.tfrecord'))
        return profile, eps[:20], eps[20:]
    folder = os.path.join(data, 'robosuite')
    fit = [ep for task in ('lift', 'door', 'stack')
           for ep in read_episodes(os.path.join(folder, f'{task}_panda.hdf5'))]
    return profile, fit, read_episodes(os.path.join(folder, 'nut-assembly_panda.hdf5'))


def sweep(name, data, scales=SCALES, targets=TARGETS):
    """Return ``{'fast': rows, 'dct_table': rows}`` for one split; a row is a dict per point."""
    profile, fit, held = load_split(name, data)
    _, steps, ranges = SPLITS[name]
    box = fit_ranges(fit, profile) if ranges == 'data' else profile
    half = (box.highs - box.lows) / 2
    specs = {'fast': [f'fast:H={steps}:scale={s}:ranges={ranges}' for s in scales],
             'dct_table': [f'dct_table:H={steps}:T={t}:ranges={ranges}' for t in targets]}
    out = {}
    for kind, items in specs.items():
        rows = []
        for r in compare(parse_specs(items), fit, held, profile):
            rmse = np.array(list(r['rmse'].values()))
            rows.append({'label': r['label'], 'tokens_per_second': r['tokens_per_second'],
                         'rmse': rmse.tolist(), 'rmse_norm_max': float((rmse / half).max()),
                         'position_rmse': r['position_rmse_physical_mean'],
                         'decode_failures': r['decode_failures']})
        out[kind] = rows
    return out


def matched_ratio(rows):
    """Return dct_table's tokens/s over FAST's at equal max normalised RMSE, and the points."""
    table = sorted(rows['dct_table'], key=lambda r: r['rmse_norm_max'])
    x = np.log([r['rmse_norm_max'] for r in table])
    y = np.log([r['tokens_per_second'] for r in table])
    points = []
    for r in rows['fast']:
        e = np.log(r['rmse_norm_max'])
        if x[0] <= e <= x[-1]:
            points.append(float(np.exp(np.interp(e, x, y))) / r['tokens_per_second'])
    return (float(np.exp(np.mean(np.log(points)))) if points else float('nan')), points


def plot(results, path):
    """Write both curves of every split to ``path`` (PNG)."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(results), figsize=(5.5 * len(results), 4.2))
    for ax, (name, rows) in zip(np.atleast_1d(axes), results.items()):
        for kind, style in (('fast', 'o-'), ('dct_table', 's-')):
            pts = sorted(rows[kind], key=lambda r: r['rmse_norm_max'])
            ax.plot([r['rmse_norm_max'] for r in pts], [r['tokens_per_second'] for r in pts],
                    style, label=kind)
        ax.set(xscale='log', yscale='log', title=f'{name} (held out)', ylabel='tokens / s',
               xlabel='max per-dimension RMSE [half-ranges]')
        ax.xaxis.set_minor_formatter(plt.NullFormatter())  # log minor labels overlap
        ax.yaxis.set_minor_formatter(plt.NullFormatter())
        ax.grid(True, which='both', alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main():
    """Sweep both splits, print the table, write the PNG, print the JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    here = os.path.dirname(os.path.abspath(__file__))
    parser.add_argument('--data', default=os.environ.get(
        'ROBOTOK_DATA_DIR', os.path.join(here, '..', '..', 'shared', 'data')),
        help='shared demonstrations folder')
    parser.add_argument('--png', default=os.path.join(tempfile.mkdtemp(prefix='robotok-rd-'),
                                                      'rate_distortion.png'),
                        help='where to write the rate-distortion plot')
    args = parser.parse_args()
    results, summary = {}, {}
    print(f'{"split":10s} {"tokenizer":34s} {"tokens/s":>9s} {"max rmse/half":>13s} '
          f'{"pos rmse [m]":>12s} {"fail":>4s}')
    for name in SPLITS:
        results[name] = rows = sweep(name, args.data)
        for kind in ('fast', 'dct_table'):
            for r in rows[kind]:
                print(f'{name:10s} {r["label"]:34s} {r["tokens_per_second"]:9.2f} '
                      f'{r["rmse_norm_max"]:13.4f} {r["position_rmse"]:12.2e} '
                      f'{r["decode_failures"]:4d}')
        ratio, points = matched_ratio(rows)
        print(f'{name}: dct_table / fast tokens/s at matched max RMSE: '
              f'{", ".join(f"{p:.3f}" for p in points)} (geometric mean {ratio:.3f})')
        summary[f'{name}_ratio'] = round(ratio, 3)
        summary[f'{name}_ratios'] = [round(p, 3) for p in points]
        summary[f'{name}_decode_failures'] = sum(r['decode_failures'] for k in rows
                                                 for r in rows[k])
    plot(results, args.png)
    print(f'rate-distortion plot: {args.png}')
    summary['png'] = args.png
    print(json.dumps(summary))


if __name__ == '__main__':
    main()
