"""
launch/sim_mujoco.launch.py through the real LaunchService: a replayed policy moves the MuJoCo arm.

policy_replay -> token_decoder -> sim_arm, all on sim_arm's /clock, launched as a
user would and enabled over the decoder's service; the test measures where the end
effector went and Ctrl-C ends it all with exit status 0.
"""

import json

from geometry_msgs.msg import PoseStamped, TwistStamped
from launch_support import LaunchProcess, missing_reason, releases
import numpy as np
import pytest
from robotok_ros.demo.replay_nodes import write_replay_file
from robotok_ros.profile_loader import load_profile
from robotok_ros.tokenizers import make_tokenizer
from rosutil import RosHarness
from simutil import stamp_of
from std_msgs.msg import String
from std_srvs.srv import SetBool
from workspace import install_space

pytest.importorskip('mujoco', reason='mujoco is not installed: the simulated arm needs it')
pytestmark = [pytest.mark.timeout(240),
              pytest.mark.skipif(bool(missing_reason()), reason=missing_reason() or 'ok')]


@pytest.mark.parametrize('release', releases())
def test_replayed_tokens_move_the_simulated_arm(release, tmp_path):
    profile = load_profile('franka_panda')
    tok = make_tokenizer('uniform', profile)
    steps = np.zeros((30, profile.dim))
    steps[:, 1] = 0.003 / profile.dimensions[1].scale  # 3 mm per step along y
    ids = tok.encode(steps)
    write_replay_file(tmp_path / 'tokens.json', ids, steps, profile.control_rate_hz)
    scales = np.array([d.scale for d in profile.dimensions[:3]])
    expected = tok.decode(ids)[:, :3].sum(axis=0) * scales
    with RosHarness() as ros:
        pose = ros.collect('/robotok/ee_pose', PoseStamped)
        twists = ros.collect('/servo_node/delta_twist_cmds', TwistStamped)
        task = ros.collect('/sim_arm/task_state', String)
        launch = LaunchProcess(install_space(), release, 'sim_mujoco.launch.py', {
            'replay': str(tmp_path / 'tokens.json'), 'real_time_factor': '0.5'})
        ros.procs.append(launch)
        # Enabled as an operator would, once this test hears the arm and the decoder: the
        # replay starts on that, so no step can play before the start pose is taken.
        assert ros.wait_for(lambda: pose, 60), launch.describe()
        ros.wait_for_publishers('/servo_node/delta_twist_cmds', 1, 60)
        p = pose[-1].pose.position
        start = np.array([p.x, p.y, p.z])
        assert ros.call(SetBool, '/token_decoder/enable', SetBool.Request(data=True)).success

        def sim_time():
            return json.loads(task[-1].data)['sim_time'] if task else 0.0

        def moving():
            return [m for m in twists if m.twist.linear.y != 0]

        def at_rest():
            # Keep-alive repeats each step's twist, so 30 steps send more than 30 moving
            # twists: done once a second of sim time has passed since the last of them.
            last = moving()[-1:]
            return bool(last) and sim_time() >= stamp_of(last[0]) + 1.0
        assert ros.wait_for(lambda: len(moving()) >= 30, 120), launch.describe()
        assert ros.wait_for(at_rest, 60), launch.describe()
        p = pose[-1].pose.position
        moved = np.array([p.x, p.y, p.z]) - start
        assert moved[1] == pytest.approx(expected[1], rel=0.05), (moved, expected)
        np.testing.assert_allclose(moved, expected, atol=0.05 * abs(expected[1]))
        launch.interrupt()
        assert launch.wait(30) == 0, launch.describe()
        assert 'Traceback' not in launch.output, launch.output
