"""
A pick demonstration's tokens, through token_decoder, lift the cube in the MuJoCo arm (in physics).

The scripted operator picks in an in-process SimArm; its per-step commands are
tokenized and replayed by policy_replay -> token_decoder -> sim_arm (each in its own
process, on sim_arm's clock, same seed). The task state must say lifted, and the
end effector must follow the path the decoder's twists command.
"""

from pathlib import Path

import numpy as np
import pytest
from robotok_ros.demo.sim_stage import record_scripted_pick, replay_in_sim, tracking
from robotok_ros.profile_loader import load_profile

pytest.importorskip('mujoco', reason='mujoco is not installed: the simulated arm needs it')
pytestmark = pytest.mark.timeout(240)


def test_tokens_of_a_scripted_pick_lift_the_cube(tmp_path):
    profile = load_profile('franka_panda')
    actions, lifted = record_scripted_pick(profile, seed=1)
    assert lifted  # the scripted operator itself, in-process
    with open(Path(tmp_path) / 'nodes.log', 'w') as log:
        task, twists, poses = replay_in_sim(profile, actions, 1, Path(tmp_path), log,
                                            real_time_factor=0.5)
    assert task['grasped'] and task['lifted'], (task, (tmp_path / 'nodes.log').read_text())
    assert task['cube'][2] > 0.07  # lifted >= 5 cm from the table-top start
    err, achieved, commanded = tracking(twists, poses)
    # Measured 4 mm mean, 8 mm max over a 0.5 m path (the arm's velocity servo lags the
    # twists at each change); a regression in the decoder or the sim shows far above this.
    assert err.mean() < 0.008 and err.max() < 0.015, (err.mean(), err.max())
    assert np.linalg.norm(achieved[-1] - commanded[-1]) < 0.015
