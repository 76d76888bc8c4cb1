"""
`robotok evaluate`: train one policy per tokenizer and head, roll each out in sim, compare them.

Which action tokenizer makes the better policy is only answered on the robot:
validation loss and token accuracy say how well a model predicts its own
tokens, not whether the arm lifts the cube.  So every configuration (a
tokenizer kind with its settings and a head, 'ar' or 'parallel') is trained
with `robotok train-policy` on the SAME episodes and the SAME split by episode
(the train seed fixes it), into ``out/<label>/``, and rolled out through
token_decoder in sim_arm on the SAME seeded cube spots.  Per configuration:
validation loss, token accuracy, success rate, mean tracking error, tokens per
second, inference latency (token_policy's p50 in the loop and the numpy
policy's mean per call offline) and training time.  A configuration that
fails to train or roll out is reported with its one-line error; the others
still run.  Written: ``out/results.json``, ``out/table.md`` and
``out/success_vs_tokens.png`` (when matplotlib is installed).
"""

import argparse
from contextlib import redirect_stdout
from dataclasses import dataclass
import json
from pathlib import Path
import time

from robotok_ros.demo.rollout import rollout
from robotok_ros.errors import ConfigError


@dataclass(frozen=True)
class EvalConfig:
    """One configuration: its label, tokenizer kind and settings, and policy head."""

    label: str
    tokenizer: str
    head: str
    settings: tuple = ()

    def train_argv(self):
        """Return the train-policy arguments that choose this tokenizer and head."""
        argv = ['--tokenizer', self.tokenizer, '--head', self.head]
        for name, value in self.settings:
            if name == 'n_bins':
                argv += ['--n-bins', str(value)]
            else:
                argv += ['--tokenizer-setting', f'{name}={json.dumps(value)}']
        return argv


def _default_configs():
    tokenizers = [(f'uniform{n}', 'uniform', (('n_bins', n),)) for n in (64, 128, 256, 512)]
    tokenizers += [('fast', 'fast', ()), ('vq', 'vq', ())]
    return {f'{name}-{head}': EvalConfig(f'{name}-{head}', kind, head, settings)
            for name, kind, settings in tokenizers for head in ('ar', 'parallel')}


CONFIGS = _default_configs()
NOTE = ('Note: a uniform tokenizer with an even bin count (64/128/256/512, as the issue asks) '
        'has no bin centred on exactly zero, so "hold still" decodes to half a bin of drift.')
COLUMNS = [('config', 'label', '{}'), ('val loss', 'val_loss', '{:.4f}'),
           ('token acc', 'val_token_accuracy', '{:.1%}'), ('success', 'success_rate', '{:.0%}'),
           ('tracking mm', 'tracking_mean_mm', '{:.2f}'), ('tokens/s', 'tokens_per_s', '{:.1f}'),
           ('policy ms p50', 'policy_ms_p50', '{:.2f}'),
           ('infer ms/call', 'inference_ms_per_call_mean', '{:.2f}'),
           ('train s', 'train_seconds', '{:.1f}')]


def configs_named(labels):
    """Return the EvalConfigs of ``labels`` (None: all); an unknown label is a ConfigError."""
    if not labels:
        return list(CONFIGS.values())
    bad = [label for label in labels if label not in CONFIGS]
    if bad:
        raise ConfigError(f'unknown configuration {bad[0]!r}; valid: {", ".join(CONFIGS)}')
    return [CONFIGS[label] for label in dict.fromkeys(labels)]


def _flag(name, value):
    flag = f'--{name.replace("_", "-")}'
    return [flag, *map(str, value)] if isinstance(value, (list, tuple)) else [flag, str(value)]


def train_config(config, data, robot, folder, epochs, train_options):
    """Train ``config``'s policy with train-policy into ``folder``; return its metrics."""
    from robotok_ros.cli import cmd_train_policy
    parser = argparse.ArgumentParser(prog='robotok')
    cmd_train_policy.register(parser.add_subparsers())
    argv = ['train-policy', '--data', *map(str, data), '--robot', str(robot),
            '--out', str(folder), '--quiet', *config.train_argv(), *_flag('epochs', epochs)]
    for name, value in (train_options or {}).items():
        argv += _flag(name, value)
    args = parser.parse_args(argv)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / 'train.log', 'w') as log, redirect_stdout(log):
        args.func(args)
    return json.loads((folder / 'metrics.json').read_text())


def _one_line(exc):
    text = str(exc).strip().splitlines()
    return f'{type(exc).__name__}: {text[0] if text else ""}'.rstrip(': ')


def evaluate_one(config, data, robot, out, rollouts, seed, rtf, max_seconds, epochs,
                 train_options, rollout_fn):
    """Train and roll out one configuration; return its figures (with ``error`` on failure)."""
    row = {'label': config.label, 'tokenizer': config.tokenizer, 'head': config.head,
           'settings': dict(config.settings), 'error': None}
    folder = Path(out) / config.label
    stage = 'training'
    try:
        start = time.perf_counter()
        metrics = train_config(config, data, robot, folder, epochs, train_options)
        row.update({k: metrics.get(k) for k in (
            'val_loss', 'val_token_accuracy', 'val_exact_accuracy', 'val_decode_failures',
            'inference_ms_per_call_mean', 'train_seconds')})
        row['wall_train_seconds'] = round(time.perf_counter() - start, 2)
        stage, start = 'rollout', time.perf_counter()
        summary = rollout_fn(robot, folder, folder / 'tokenizer', rollouts, folder / 'rollout',
                             seed=seed, rtf=rtf, max_seconds=max_seconds)
        row.update({k: summary.get(k) for k in (
            'success_rate', 'tracking_mean_mm', 'tokens_per_s', 'policy_ms_p50')})
        row['rollouts'] = len(summary.get('rollouts', ()))
        row['rollout_seconds'] = round(time.perf_counter() - start, 2)
    except Exception as exc:  # one configuration's failure must not stop the others
        row['error'] = f'{stage}: {_one_line(exc)}'
    return row


def best_of(rows):
    """Return the row with the highest success rate (then token accuracy), or None."""
    ok = [r for r in rows if r['error'] is None and r.get('success_rate') is not None]
    return max(ok, key=lambda r: (r['success_rate'], r.get('val_token_accuracy') or 0.0),
               default=None)


def table(rows):
    """Return the Markdown table of ``rows``: one line per configuration, failures noted."""
    lines = ['| ' + ' | '.join(c[0] for c in COLUMNS) + ' |',
             '|' + '|'.join('---' for _ in COLUMNS) + '|']
    for r in rows:
        cells = []
        for _, key, fmt in COLUMNS:
            value = r.get(key)
            cells.append('-' if value is None else fmt.format(value))
        if r['error']:
            cells[-1] += f' (FAILED {r["error"]})'
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines) + '\n'


def plot(rows, path):
    """Write success rate vs tokens/s, one labelled point per configuration; return a note."""
    try:
        import matplotlib
    except ImportError:
        return f'no {path.name}: matplotlib is not installed (pip install matplotlib)'
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    points = [r for r in rows if r['error'] is None and r.get('tokens_per_s') is not None]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for i, r in enumerate(points):
        marker = 'o' if r['head'] == 'ar' else 's'
        ax.scatter(r['tokens_per_s'], r['success_rate'], marker=marker, s=40)
        # Staggered labels: configurations of one kind sit close together.
        ax.annotate(r['label'], (r['tokens_per_s'], r['success_rate']), fontsize=8,
                    xytext=(4, 4 + 9 * (i % 3)), textcoords='offset points')
    rates = [r['tokens_per_s'] for r in points if r['tokens_per_s'] > 0]
    if rates and max(rates) > 10 * min(rates):  # chunk kinds send ~10x fewer tokens
        ax.set_xscale('log')
    ax.margins(x=0.15)
    ax.set_xlabel('tokens per second (in the loop)')
    ax.set_ylabel('task success rate')
    ax.set_ylim(-0.05, 1.05)
    ax.set_title('success vs tokens/s (o: ar head, s: parallel head)')
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return f'plot {path}'


def evaluate(data, robot, configs, out, rollouts=20, seed=1000, rtf=2.0, max_seconds=20.0,
             epochs=30, train_options=None, progress=None, rollout_fn=None):
    """Train and roll out every configuration; write results.json, table.md, the PNG."""
    rollout_fn = rollout_fn or rollout
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    configs = [CONFIGS[c] if isinstance(c, str) else c for c in configs]
    rows = []
    for i, config in enumerate(configs):
        rows.append(evaluate_one(config, data, robot, out, rollouts, seed, rtf, max_seconds,
                                 epochs, train_options, rollout_fn))
        if progress:
            progress(i, len(configs), rows[-1])
    best = best_of(rows)
    text = table(rows)
    (out / 'table.md').write_text(text + '\n' + NOTE + '\n')
    plot_note = plot(rows, out / 'success_vs_tokens.png')
    result = {'best': best['label'] if best else None,
              'success_rate': best['success_rate'] if best else None,
              'configs': {r['label']: {k: v for k, v in r.items() if k != 'label'}
                          for r in rows},
              'data': [str(d) for d in data], 'robot': str(robot), 'rollouts': rollouts,
              'seed': seed, 'epochs': epochs, 'train_options': dict(train_options or {}),
              'plot': plot_note}
    (out / 'results.json').write_text(json.dumps(result, indent=2) + '\n')
    return result, text
