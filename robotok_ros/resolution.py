"""
How fine is fine enough: reconstruction error of uniform binning per dimension.

Seed exercise 1: for N in 64..1024 bins, encode and decode a dataset with the
RT-2 uniform tokenizer and report the error per dimension in physical units
(metres, radians: action units x the profile's ``scale``).
"""

import numpy as np
from robotok_ros.fitting import stack_episodes
from robotok_ros.tokenizers import make_tokenizer

DEFAULT_BINS = (64, 128, 256, 512, 1024)


def analyze_resolution(episodes, profile, bins=DEFAULT_BINS, kind='uniform'):
    """
    Measure binning error on ``episodes`` (list of ``(T, D)``) for each bin count.

    Returns a list of dicts, one per N: ``rmse`` and ``max_error`` ``(D,)`` in
    physical units, ``bin_width`` ``(D,)`` in physical units and ``clipped``
    ``(D,)``, the fraction of samples outside the profile's range.
    """
    data = stack_episodes(episodes, profile.dim)
    scale = profile.scales
    rows = []
    for n in bins:
        tok = make_tokenizer(kind, profile, n_bins=int(n))
        recon = tok.decode(tok.encode(data))
        err = np.abs(recon - data) * scale
        width = (profile.highs - profile.lows) / n * scale
        rows.append({'n_bins': int(n), 'rmse': np.sqrt((err ** 2).mean(axis=0)),
                     'max_error': err.max(axis=0), 'bin_width': width,
                     'clipped': tok.last_clip_counts / len(data)})
    return rows


def display_unit(profile, i):
    """Return the display unit of dimension i (mm for m, mrad for rad)."""
    d = profile.dimensions[i]
    return {'m': 'mm', 'rad': 'mrad'}.get(d.unit, d.unit or 'units')


def display_factor(profile, i):
    """Return the factor from physical units to ``display_unit``."""
    return 1000.0 if profile.dimensions[i].unit in ('m', 'rad') else 1.0


def format_table(rows, profile):
    """Render ``analyze_resolution`` output: RMSE per dimension (mm / mrad) for each N."""
    names = profile.names
    head = 'bins  ' + ''.join(f'{n:>11}' for n in names)
    units = '      ' + ''.join(
        f'{"(" + display_unit(profile, i) + ")":>11}' for i in range(len(names)))
    lines = ['reconstruction RMSE per dimension (physical units)', head, units]
    for row in rows:
        vals = ''.join(f'{row["rmse"][i] * display_factor(profile, i):>11.4f}'
                       for i in range(len(names)))
        lines.append(f'{row["n_bins"]:<6}{vals}')
    clipped = rows[0]['clipped'] if rows else np.zeros(len(names))
    lines.append('clip  ' + ''.join(f'{c:>10.2%} ' for c in clipped))
    return '\n'.join(lines)


def plot_resolution(rows, profile, path):
    """Write a log-log PNG of RMSE vs number of bins, one line per dimension."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 4.5))
    bins = [r['n_bins'] for r in rows]
    for i, name in enumerate(profile.names):
        ax.plot(bins, [r['rmse'][i] * display_factor(profile, i) for r in rows], marker='o',
                label=f'{name} ({display_unit(profile, i)})')
    ax.set_xscale('log', base=2)
    ax.set_yscale('log')
    ax.set_xlabel('bins per dimension')
    ax.set_ylabel('reconstruction RMSE')
    ax.set_title(f'Uniform binning resolution: {profile.name}')
    ax.grid(True, which='both', alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
