"""
Issue G point 5: task success of a policy per action tokenizer and head, in sim_arm.

For uniform bins (64/128/256/512), FAST and VQ, each with an autoregressive and
a parallel head, ``robotok_ros.demo.evaluate`` trains a policy with
train-policy on the same episodes and the same split by episode, then rolls it
out through token_decoder in sim_arm on the same seeded cube spots (sim_arm,
token_decoder and token_policy each in their own process).  Reported per
configuration: validation loss, token accuracy, success rate, mean tracking
error, tokens per second, inference latency and training time; a Markdown table
and ``success_vs_tokens.png`` in ``--out``.  The demonstrations are ``--data``
bags, or ``--collect N`` scripted ones recorded first (``robotok collect``).
The last line is one JSON object: ``best``, its ``success_rate`` and every
configuration's figures.
"""

import argparse
import os
from pathlib import Path
import sys
import tempfile
import time


def parse_args():
    """Command line: the demonstrations, the configurations, the rollouts."""
    from robotok_ros.demo.evaluate import CONFIGS
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument('--data', nargs='+', metavar='DIR', help='episode bags with robot state')
    group.add_argument('--collect', type=int, metavar='N',
                       help='record N scripted demonstrations first (seeds 0..N-1)')
    p.add_argument('--robot', default='franka_panda', help='profile of the simulated arm')
    p.add_argument('--out', default=None, metavar='DIR', help='results folder (default: temp)')
    p.add_argument('--configs', nargs='+', metavar='LABEL',
                   help=f'configurations (default all): {", ".join(CONFIGS)}')
    p.add_argument('--rollouts', type=int, default=20, help='rollouts per configuration')
    p.add_argument('--seed', type=int, default=1000, help='first rollout seed')
    p.add_argument('--rtf', type=float, default=2.0, help='simulated seconds per wall second')
    p.add_argument('--max-seconds', type=float, default=20.0, help='simulated s per rollout')
    p.add_argument('--epochs', type=int, default=30, help='training epochs per policy')
    p.add_argument('--history', type=int, default=None, help='states the policy sees')
    p.add_argument('--threads', type=int, default=1, help='torch CPU threads for training')
    return p.parse_args()


def main():
    """Collect (optionally), evaluate every configuration, print the table and the JSON."""
    os.environ.setdefault('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')
    os.environ.setdefault('ROS_DOMAIN_ID', '105')
    os.environ.setdefault('OPENBLAS_NUM_THREADS', '1')
    args = parse_args()
    from robotok_ros.cli.cmd_evaluate import evaluate_and_report
    from robotok_ros.demo.evaluate import configs_named
    from robotok_ros.errors import RobotokError
    try:
        configs = configs_named(args.configs)
    except RobotokError as exc:
        print(f'policy_success: error: {exc}', file=sys.stderr)
        return 2
    out = Path(args.out or tempfile.mkdtemp(prefix='robotok_policy_success_'))
    start = time.perf_counter()
    data = args.data
    if args.collect:
        from robotok_ros.demo.collect import collect
        summary = collect(args.robot, args.collect, out / 'demos', rtf=args.rtf,
                          max_seconds=args.max_seconds)
        ok = sum(r['done'] for r in summary['episodes'])
        print(f'collected {ok} of {args.collect} demonstrations into {out}/demos/bags '
              f'({time.perf_counter() - start:.0f} s)', flush=True)
        data = [out / 'demos' / 'bags']

    def progress(i, n, row):
        what = f'FAILED {row["error"]}' if row['error'] else (
            f'val loss {row["val_loss"]:.4f}, token acc {row["val_token_accuracy"]:.1%}, '
            f'success {row["success_rate"]:.0%}, {row["tokens_per_s"]:.1f} tokens/s')
        print(f'{i + 1}/{n} {row["label"]}: {what} ({time.perf_counter() - start:.0f} s)',
              flush=True)

    options = {'threads': args.threads}
    if args.history:
        options['history'] = args.history
    return evaluate_and_report(data, args.robot, configs, out, args, options, progress)


if __name__ == '__main__':
    sys.exit(main())
