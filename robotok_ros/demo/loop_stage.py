"""
Demo stage 5: the whole loop, small: collect -> train-policy -> token_policy -> the arm.

A few scripted demonstrations are recorded through the real nodes (`robotok collect`),
a token policy is trained on them (`robotok train-policy`, uniform bins, parallel head)
and rolled out on new cube spots through token_policy -> token_decoder -> sim_arm
(`robotok evaluate`'s rollout), each node its own process.  It is the README's loop at
a size that runs in minutes on two cores: with this few demonstrations the policy is not
expected to lift the cube every time; the README gives the full-size recipe and figures.
"""

import os
from pathlib import Path
import random
import tempfile

from robotok_ros.demo.collect import collect
from robotok_ros.demo.evaluate import EvalConfig, train_config
from robotok_ros.demo.rollout import rollout

ROBOT = 'franka_panda'
EPISODES = 16            # demonstrations: ~1 min at twice real time
EPOCHS = 25
ROLLOUTS = 3
RTF = 2.0
PUSH = 0.03              # m/s DART push while collecting (corrections in the data)
# The README's recipe: the TCP pose and the cube (and cube - TCP), data-range bins.
TRAIN_OPTIONS = {'state': ['ee_pose.*', 'task_state.*'], 'dropout': 0.3,
                 'weight_decay': 0.1}
CONFIG = EvalConfig('uniform255-parallel', 'uniform', 'parallel', (('n_bins', 255),))


def _missing():
    for module, why in (('mujoco', 'the physics'), ('torch', 'train-policy')):
        try:
            __import__(module)
        except ImportError:
            return f'{module} is not installed ({why})'
    return None


def run(args):
    """Collect, train and roll out a small token policy; print what each step measured."""
    missing = _missing()
    if missing:
        print(f'== 5. loop stage skipped: {missing}')
        return 0
    seed = getattr(args, 'seed', 0)
    os.environ.setdefault('ROS_DOMAIN_ID', str(random.SystemRandom().randint(103, 200)))
    folder = Path(tempfile.mkdtemp(prefix='robotok_loop_demo_'))
    print(f'== 5. loop stage: {EPISODES} scripted demonstrations -> train-policy '
          f'({CONFIG.label}) -> token_policy -> token_decoder -> sim_arm ({ROBOT})')
    demos = collect(ROBOT, EPISODES, folder / 'demos', seed=seed, rtf=RTF, push=PUSH)
    lifted = sum(r['done'] for r in demos['episodes'])
    print(f'   collect: {lifted}/{EPISODES} demonstrations lifted the cube -> '
          f'{folder / "demos" / "bags"}')
    if not lifted:
        print('   no demonstration to train on; see ' + str(folder / 'demos' / 'nodes.log'))
        return 1
    policy = folder / 'policy'
    metrics = train_config(CONFIG, [folder / 'demos' / 'bags'], ROBOT, policy, EPOCHS,
                           TRAIN_OPTIONS)
    print(f'   train-policy: {EPOCHS} epochs, validation loss {metrics["val_loss"]:.3f}, '
          f'token accuracy {metrics["val_token_accuracy"]:.1%} -> {policy}')
    summary = rollout(ROBOT, policy, policy / 'tokenizer', ROLLOUTS, folder / 'rollout',
                      seed=1000 + seed, rtf=RTF)
    runs = summary.get('rollouts', [])
    done = sum(r['success'] for r in runs)
    p50 = summary.get('policy_ms_p50')
    print(f'   rollout: the policy lifted and held the cube in {done}/{len(runs)} new scenes; '
          f'tracking {summary["tracking_mean_mm"]:.2f} mm mean, '
          f'{summary["tokens_per_s"]:.1f} tokens/s, policy '
          + (f'{p50:.2f} ms p50' if p50 is not None else 'latency not reported'))
    print(f'   (a small run: {EPISODES} demonstrations and {len(runs)} rollouts rate no policy; '
          'the README gives the full-size loop and its figures)')
    return 0 if len(runs) == ROLLOUTS else 1
