"""
Fuzz token_decoder with generated messages on every input and check every command it publishes.

One token_decoder process per configuration of ``fuzz_configs.py``: every
registered tokenizer kind on plain ids (uniform, rt1, quantile, openvla, FAST,
DCT-table, VQ where torch is installed, the hub FAST folder as fast_hf where
the shared fixture is), whole generated sequences (stream_format openvla and
pi0_fast, with prefix, separator and EOS), RT-2 text on text_topic and
continuous chunks on chunk_topic (in the profile's units and q01_q99
normalised); enabled, twist output, for the widowx_250 profile (no workspace
box, so no pose is needed).  ``--messages`` (default 10^6, split evenly over the
configurations) come from ``fuzz_messages.py`` / ``fuzz_inputs.py``: valid
inputs, random lengths, int32 and float32 extremes, ids just outside the
range, NaN / Inf, malformed and random unicode strings, random and
overflowing layouts, empty and huge (up to 2 M ids, floats or characters)
messages, in bursts.

Every twist is checked against the profile's speed limits, every gripper
command against its command range; pose-target and dry-run topics must stay
silent.  The node's health is watched: alive (a dead node counts as a crash and
is restarted), RSS growth after warm-up (/proc/<pid>/status), lines on its
stderr.  The node runs in a namespace of its own on a domain where no other node
was seen.  The number of messages in flight is kept under the node's queue
depth by the ``received`` counter of its diagnostics, so what is sent is what it
sees (``processed`` says if not); a terminate flag (text) disables motion, and
the driver calls ``~/enable`` again.  The last line is one JSON object:
``messages``, ``crashes``, ``unsafe``, ``rejected``, ``rss_growth_kb``,
``log_lines`` and ``configs`` (the same per configuration).
"""

import argparse
import json
import os
from pathlib import Path
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fuzz_configs import CONFIGS, generator, prepare, unfuzzed_kinds  # noqa: E402,I100
from fuzz_inputs import stream as messages  # noqa: E402 - beside this script
from fuzz_messages import Checker  # noqa: E402
from fuzz_node import Decoder, drain, Driver, IN_FLIGHT, NS, pick_domain, QUEUE, rss_kb, \
    send, wait_connected  # noqa: E402


def run_config(name, params, tok, profile, count, args, folder):
    """Fuzz one configuration; return its figures."""
    rng = np.random.default_rng([args.seed, list(CONFIGS).index(name)])
    gen = generator(name, tok, profile, rng)
    checker = Checker(profile)
    driver = Driver(checker, args.queue_depth, gen.topic)
    params = dict(params, start_enabled=True, output_mode='twist',
                  token_qos_depth=args.queue_depth)
    flight = min(IN_FLIGHT, args.queue_depth * 3 // 4)
    dec = Decoder(params, folder / f'{name}.log', driver.restarted)
    t0 = time.monotonic()
    try:
        if not wait_connected(driver, dec):
            return {'error': 'token_decoder did not connect', 'log': dec.lines()[-5:]}
        warm = min(2000, count)
        stream = messages(gen, rng, count + warm + 1, huge_every=args.huge_every)
        send(driver, dec, stream, rng, warm, flight)
        driver.publish(gen.build('huge', rng))  # the biggest buffers exist before rss0
        drain(driver, dec)
        rss0 = rss_kb(dec.proc.pid)
        half = (count - warm - 1) // 2
        send(driver, dec, stream, rng, half, flight)
        rss_mid = rss_kb(dec.proc.pid)
        send(driver, dec, stream, rng, count - warm - 1 - half, flight)
        drain(driver, dec)
        rss1 = rss_kb(dec.proc.pid)
        foreign = sorted(f'{ns.rstrip("/")}/{n}' for n, ns
                         in driver.node.get_node_names_and_namespaces()
                         if ns != NS and n != 'robotok_fuzz')
        status = dec.stop()
        driver.spin(0.5)  # the stop's zero commands are checked too
        values = {k: driver.total(k) for k in driver.diag if driver.diag[k].lstrip('-').isdigit()}
        sent, reenabled = driver.sent, driver.reenabled
    finally:
        driver.close()
    lines = dec.lines()
    reasons = {k[len('rejected_'):]: v for k, v in values.items()
               if k.startswith('rejected_') and v}
    return {'messages': sent, 'processed': int(values.get('received', 0)),
            'rejected': int(values.get('rejected', 0)), 'rejected_by_reason': reasons,
            'decoded': int(values.get('decoded', 0)), 'clamps': int(values.get('clamps', 0)),
            'input': gen.topic, 'counters': {k: v for k, v in values.items() if v and (
                k.startswith(('text_', 'chunk_', 'stream_')) or k in EXTRA)},
            're_enabled': reenabled,
            'twists': checker.seen['twist'], 'gripper_commands': checker.seen['gripper'],
            'unsafe': checker.unsafe, 'unsafe_examples': checker.examples,
            'crashes': dec.crashes, 'exit_codes_of_deaths': dec.deaths,
            'exit_status': status, 'tracebacks': sum('Traceback' in ln for ln in lines),
            'rss_kb_after_warmup': rss0, 'rss_kb_end': rss1,
            'rss_growth_kb': (rss1 - rss0) if rss0 and rss1 else None,
            'rss_growth_second_half_kb': (rss1 - rss_mid) if rss_mid and rss1 else None,
            'foreign_nodes': foreign,
            'log_lines': len(lines), 'seconds': round(time.monotonic() - t0, 1)}


EXTRA = ('terminations', 'ignored_disabled', 'messages_lost', 'qos_incompatible')


def main():
    """Fuzz every configuration asked for; print one line each, then the JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--messages', type=int, default=10 ** 6,
                        help='messages in all (at least), split evenly over the configurations')
    parser.add_argument('--configs', nargs='+', default=list(CONFIGS), choices=CONFIGS,
                        metavar='NAME', help=f'configurations (default all: '
                        f'{", ".join(CONFIGS)})')
    parser.add_argument('--robot', default='widowx_250',
                        help='robot profile (one without a workspace box: no pose needed)')
    parser.add_argument('--huge-every', type=int, default=50000,
                        help='every N-th message is huge (1 M - 2 M ids, floats or characters); '
                        '0: none')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--queue-depth', type=int, default=QUEUE,
                        help='token_qos_depth of the node (3/4 of it, at most 1500, in flight)')
    args = parser.parse_args()
    os.environ.setdefault('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')
    if 'ROS_DOMAIN_ID' not in os.environ:
        os.environ['ROS_DOMAIN_ID'] = str(pick_domain())
    from robotok_ros.profile_loader import load_profile
    profile = load_profile(args.robot)
    folder = Path(tempfile.mkdtemp(prefix='robotok_fuzz_'))
    params, toks, skipped = prepare(profile, folder, args.configs, args.seed)
    for name, why in skipped.items():
        print(f'{name}: skipped: {why}', flush=True)
    per_config = max(1, -(-args.messages // max(1, len(toks))))  # rounded up: >= --messages
    configs = {}
    for name in toks:
        configs[name] = fig = run_config(name, params[name], toks[name], profile, per_config,
                                         args, folder)
        print(f'{name:15s} ' + ' '.join(f'{k}={fig.get(k)}' for k in (
            'messages', 'processed', 'rejected', 'decoded', 'twists', 'unsafe', 'crashes',
            'rss_growth_kb', 'rss_growth_second_half_kb', 'log_lines', 'seconds')), flush=True)
    figs = list(configs.values())
    total = {'messages': sum(k.get('messages', 0) for k in figs),
             'processed': sum(k.get('processed', 0) for k in figs),
             'crashes': sum(k.get('crashes', 0) for k in figs),
             'unsafe': sum(k.get('unsafe', 0) for k in figs),
             'rejected': sum(k.get('rejected', 0) for k in figs),
             'rss_growth_kb': max((k.get('rss_growth_kb') or 0 for k in figs),
                                  default=0),
             'log_lines': sum(k.get('log_lines', 0) for k in figs),
             'robot': args.robot, 'seed': args.seed,
             'domain': int(os.environ['ROS_DOMAIN_ID']), 'skipped': skipped,
             'unfuzzed_kinds': unfuzzed_kinds(), 'logs': str(folder), 'configs': configs}
    print(json.dumps(total))
    return 0 if total['crashes'] == 0 and total['unsafe'] == 0 else 1


if __name__ == '__main__':
    sys.exit(main())
