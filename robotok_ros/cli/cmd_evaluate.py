"""
`robotok evaluate`: which tokenizer and head make the policy that lifts the cube.

Wraps ``demo.evaluate``: one policy per configuration trained on the same
episodes and split, each rolled out on the same seeded cube spots in sim_arm;
prints a line per configuration, the table, and as the last line one JSON
object with the best configuration's ``success_rate`` and every one's figures.
"""

import argparse
import json

from robotok_ros.errors import ConfigError
from robotok_ros.policy.config import TrainSettings

EXAMPLES = """\
examples:
  robotok evaluate --data /tmp/demos/bags --robot franka_panda --out /tmp/eval
  robotok evaluate --data bags/ --configs uniform256-ar fast-parallel --rollouts 5 \\
      --epochs 10 --out /tmp/eval_quick
"""


def _figures(row):
    if row['error']:
        return f'FAILED {row["error"]}'
    acc = row.get('val_token_accuracy')
    return (f'val loss {row["val_loss"]:.4f}, token acc {acc:.1%}, success '
            f'{row["success_rate"]:.0%}, {row["tokens_per_s"]:.1f} tokens/s, tracking '
            f'{row["tracking_mean_mm"]:.2f} mm')


def run(args):
    """Check the arguments, evaluate every configuration, print the table and JSON."""
    from robotok_ros.demo.evaluate import configs_named
    configs = configs_named(args.configs)
    for name in ('rollouts', 'epochs'):
        if getattr(args, name) < 1:
            raise ConfigError(f'--{name} must be at least 1, got {getattr(args, name)}')
    names = ('history', 'dropout', 'weight_decay', 'threads', 'state')
    options = {name: getattr(args, name) for name in names if getattr(args, name) is not None}
    options['seed'] = args.train_seed

    def progress(i, n, row):
        print(f'evaluate {i + 1}/{n} {row["label"]}: {_figures(row)}', flush=True)

    return evaluate_and_report(args.data, args.robot, configs, args.out, args, options,
                               progress)


def evaluate_and_report(data, robot, configs, out, args, options, progress):
    """
    Run ``evaluate`` with ``args``' rollout settings and print what it found.

    Prints the table, where the files went and, last, the JSON line; returns the
    exit code (1 when no configuration ran).
    """
    from robotok_ros.demo.evaluate import evaluate
    result, text = evaluate(data, robot, configs, out, rollouts=args.rollouts,
                            seed=args.seed, rtf=args.rtf, max_seconds=args.max_seconds,
                            epochs=args.epochs, train_options=options, progress=progress)
    print(text, end='')
    print(f'{result["plot"]}; table {out}/table.md, results {out}/results.json')
    print(json.dumps({'best': result['best'], 'success_rate': result['success_rate'],
                      'configs': result['configs']}))
    return 0 if result['best'] is not None else 1


def register(sub):
    """Add `robotok evaluate`."""
    from robotok_ros.demo.evaluate import CONFIGS
    p = sub.add_parser('evaluate', help='train and roll out a policy per tokenizer and head',
                       description=__doc__.split('\n\n', 1)[1], epilog=EXAMPLES,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--data', nargs='+', required=True, metavar='DIR',
                   help='episode bags recorded with robot state (robotok collect)')
    p.add_argument('--robot', default='franka_panda', help='profile of the simulated arm')
    p.add_argument('--out', required=True, metavar='DIR',
                   help='folder for one policy per configuration, results.json, table.md, '
                        'success_vs_tokens.png')
    p.add_argument('--configs', nargs='+', metavar='LABEL',
                   help=f'configurations (default all): {", ".join(CONFIGS)}')
    p.add_argument('--rollouts', type=int, default=20, help='rollouts per configuration '
                   '(default 20; the same seeded cube spots for each)')
    p.add_argument('--seed', type=int, default=1000, help='first rollout seed (default 1000)')
    p.add_argument('--rtf', type=float, default=2.0,
                   help='simulated seconds per wall second (default 2)')
    p.add_argument('--max-seconds', type=float, default=20.0,
                   help='simulated seconds a rollout may take (default 20)')
    defaults = {name: default for name, _, default, _ in TrainSettings.field_specs()}
    p.add_argument('--epochs', type=int, default=defaults['epochs'],
                   help=f'training epochs per policy (default {defaults["epochs"]})')
    p.add_argument('--train-seed', type=int, default=defaults['seed'],
                   help='seed of the split by episode and of training (default '
                        f'{defaults["seed"]}; the same for every configuration)')
    p.add_argument('--history', type=int, help='states the policy sees (train-policy default)')
    p.add_argument('--dropout', type=float, help='dropout while training')
    p.add_argument('--weight-decay', type=float, help='AdamW weight decay')
    p.add_argument('--threads', type=int, help='torch CPU threads for training')
    p.add_argument('--state', nargs='+', metavar='PATTERN',
                   help="state values the policies see, by name pattern (train-policy's --state)")
    p.set_defaults(func=run)
