"""
The ROS stage of `robotok demo`: policy_replay -> token_decoder -> command_listener.

A profile is fitted on generated demonstrations; the last one is tokenized
and replayed by a scripted "policy" at the control rate; token_decoder turns
the tokens into Servo twists and gripper commands; the listener prints them
and their error against the original continuous actions.  Every node runs in
its own process, on a ROS domain of its own unless ROS_DOMAIN_ID is set.
"""

import os
from pathlib import Path
import random
import shutil
import subprocess
import sys
import tempfile

from robotok_ros.demo.processes import executable, ros_args, start_node, stop_nodes
from robotok_ros.demo.replay_nodes import write_replay_file
from robotok_ros.fitting import fit_ranges
from robotok_ros.profile_loader import load_profile, save_profile
from robotok_ros.tokenizers import make_tokenizer

MAX_STEPS = 45  # 3 s at 15 Hz: long enough to see it move, short enough for `make demo`


def prepare(robot, episodes, seed, folder):
    """Fit, tokenize and write the files the nodes read; return (profile path, tokens, steps)."""
    from robotok_ros.data.synthetic import generate_episodes
    base = load_profile(robot)
    demos = generate_episodes(base, n_episodes=max(episodes, 1), seed=seed)
    # Fitted on every demonstration, the replayed one too: a policy's tokens are in range by
    # construction, so the error shown is the tokenizer's resolution, not range clipping.
    profile = fit_ranges(demos, base, name=f'{base.name}_fitted')
    profile_path = Path(folder) / 'profile.yaml'
    save_profile(profile, profile_path)
    tok = make_tokenizer('uniform', profile, n_bins=256)
    replay = demos[-1][:MAX_STEPS]
    tokens = Path(folder) / 'tokens.json'
    write_replay_file(tokens, tok.encode(replay), replay, profile.control_rate_hz)
    return profile_path, tokens, len(replay)


def run(args, chunk_size=1, timeout=60.0):
    """Run the pipeline once; print the listener's report; return its exit status."""
    folder = tempfile.mkdtemp(prefix='robotok_demo_')
    try:
        profile_path, tokens, steps = prepare(args.robot, args.episodes, args.seed, folder)
        env = dict(os.environ)
        env.setdefault('ROS_DOMAIN_ID', str(random.SystemRandom().randint(1, 100)))
        env.setdefault('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')
        print(f'== 2. ROS pipeline: policy_replay -> token_decoder -> command_listener '
              f'({steps} steps of a generated demonstration, {args.robot}, uniform 256 bins)',
              flush=True)
        common = {'profile_path': profile_path, 'tokenizer': 'uniform', 'n_bins': 256}
        log = open(Path(folder) / 'nodes.log', 'w')
        nodes = [
            start_node('token_decoder', {**common, 'start_enabled': True}, log, env),
            start_node('policy_replay', {'tokens_file': tokens, 'chunk_size': chunk_size,
                                         'wait_for_listeners': 1}, log, env)]
        listener = subprocess.Popen(
            [executable('command_listener'), *ros_args(
                {**common, 'tokens_file': tokens, 'timeout': timeout})],
            env=env, stdout=None, stderr=log, stdin=subprocess.DEVNULL)
        try:
            status = listener.wait(timeout + 30)
        except subprocess.TimeoutExpired:
            listener.kill()
            status = 1
        finally:
            stop_nodes(nodes)
            log.close()
        if status:
            print(f'decoder demo failed (listener exit {status}); node logs:\n' +
                  (Path(folder) / 'nodes.log').read_text()[-3000:], file=sys.stderr)
        return status
    finally:
        shutil.rmtree(folder, ignore_errors=True)
