"""
launch/teleop_logging.launch.py through the real LaunchService, as ``ros2 launch`` runs it.

For each teleop source (spacenav, joy, pose), and in a namespace: both nodes
come up with exactly the parameters the launch file means, listen on the
device's topics, an operator's motion becomes tokens and an episode bag, and
Ctrl-C (once, or twice in quick succession while recording) exits 0 and leaves
a bag that reads without repair.
"""

import json
from pathlib import Path

from geometry_msgs.msg import PoseStamped, Twist
from launch_support import get_parameters, LaunchProcess, missing_reason, other_releases, \
    releases
import pytest
from robotok_ros.data.bags import read_bag
from sensor_msgs.msg import Joy
from std_msgs.msg import Float64MultiArray, Int32MultiArray, String
from std_srvs.srv import Trigger
from workspace import install_space
import yaml

ROOT = Path(__file__).resolve().parent.parent
FILE_PARAMS = {k.split('/')[-1]: v['ros__parameters'] for k, v in yaml.safe_load(
    (ROOT / 'config' / 'teleop.yaml').read_text()).items()}
pytestmark = [pytest.mark.timeout(240),
              pytest.mark.skipif(bool(missing_reason()), reason=missing_reason() or 'ok')]
# Each device's topics, as the launch file remaps them (relative: inside the namespace).
DEVICE_TOPICS = {'spacenav': ('spacenav/twist', 'spacenav/joy'), 'joy': ('cmd_vel', 'joy'),
                 'pose': ('/robotok/operator_pose', 'joy')}


@pytest.fixture(scope='module')
def prefix():
    """Return the package as colcon installs it."""
    return install_space()


def topic(ns, name):
    return name if name.startswith('/') else f'{ns}/{name}'


class LaunchedTeleop:
    """teleop_logging.launch.py with ``args``, plus the test's end of its topics."""

    def __init__(self, ros, prefix, release, args):
        self.ros, self.args = ros, args
        self.ns = '/' + args['namespace'] if args.get('namespace') else ''
        self.source = args.get('source', 'spacenav')
        self.launch = LaunchProcess(prefix, release, 'teleop_logging.launch.py', args)
        ros.procs.append(self.launch)
        self.status = ros.collect(f'{self.ns}/episode_recorder/status', String)
        self.actions = ros.collect(f'{self.ns}/robotok/teleop_action', Float64MultiArray)
        self.tokens = ros.collect(f'{self.ns}/robotok/teleop_tokens', Int32MultiArray)
        self.input, self.joy = (topic(self.ns, t) for t in DEVICE_TOPICS[self.source])
        # Both nodes listen to the device: the recorder stores the raw input too.
        ros.wait_for_subscribers(self.input, count=2, timeout=30)
        ros.wait_for_subscribers(self.joy, count=2)

    def trigger(self, service):
        return self.ros.call(Trigger, f'{self.ns}/episode_recorder/{service}', Trigger.Request())

    def operate(self, moving_steps=5):
        """Move the device until ``moving_steps`` non-zero teleop actions came out."""
        first, n = len(self.actions), 0   # teleop emits idle steps from its start: skip those
        while sum(m.data[0] != 0 for m in self.actions[first:]) < moving_steps:
            if self.source == 'pose':
                msg = PoseStamped()
                msg.header.frame_id = 'panda_link0'
                msg.pose.position.x = 0.3 + 0.001 * n
                msg.pose.orientation.w = 1.0
            else:
                msg = Twist()
                msg.linear.x = 0.5                 # x 0.2 scale = 0.1 m/s
            self.ros.publish(self.input, msg)
            self.ros.publish(self.joy, Joy(buttons=[0, 0]))
            self.ros.spin_for(0.01)
            n += 1
            assert n < 3000, self.launch.describe()

    def recorded(self):
        """Wait until the recorder reports every teleop action seen so far as written."""
        seen, name = len(self.actions), f'{self.ns}/robotok/teleop_action'
        assert self.ros.wait_for(lambda: self.status and json.loads(
            self.status[-1].data)['counts'].get(name, 0) >= seen), self.launch.describe()

    def closed(self, episodes):
        return self.ros.wait_for(lambda: self.status and json.loads(
            self.status[-1].data)['episodes_closed'] == episodes)


def check_parameters(tel, tmp_path):
    ros, ns = tel.ros, tel.ns
    teleop = FILE_PARAMS['teleop_tokenizer']
    values = get_parameters(ros, f'{ns}/teleop_tokenizer',
                            list(teleop) + ['teleop_source', 'robot', 'tokenizer'])
    for key, want in teleop.items():
        assert values[key] == want, key
    assert values['teleop_source'] == ('pose' if tel.source == 'pose' else 'twist')
    assert values['robot'] == 'franka_panda' and values['tokenizer'] == 'uniform'
    recorder = FILE_PARAMS['episode_recorder']
    values = get_parameters(ros, f'{ns}/episode_recorder',
                            list(recorder) + ['output_dir', 'task', 'robot'])
    for key, want in recorder.items():
        assert values[key] == want, key
    assert values['output_dir'] == str(tmp_path) and values['task'] == 'wipe'


@pytest.mark.parametrize('release', releases())
@pytest.mark.parametrize('args', [{'source': 'spacenav'}, {'source': 'joy', 'namespace': 'arm1'},
                                  {'source': 'pose'}],
                         ids=lambda a: '-'.join(f'{k}={v}' for k, v in a.items()))
def test_each_source_records_an_episode(ros, prefix, release, args, tmp_path):
    tel = LaunchedTeleop(ros, prefix, release,
                         dict(args, output_dir=str(tmp_path), task='wipe'))
    check_parameters(tel, tmp_path)
    start = tel.trigger('start_episode')
    assert start.success, start.message
    tel.operate()
    assert tel.tokens
    stop = tel.trigger('stop_episode')
    assert stop.success and tel.closed(1), tel.launch.describe()
    ep = read_bag(stop.message)
    assert ep.task == 'wipe' and ep.metadata['robot_profile']['name'] == 'franka_panda'
    assert (ep.actions[:, 0] != 0).sum() >= 5 and len(ep.token_messages)
    tel.launch.interrupt()
    assert tel.launch.wait(30) == 0, tel.launch.describe()
    assert 'Traceback' not in tel.launch.output, tel.launch.output


@pytest.mark.parametrize('release', releases())
@pytest.mark.parametrize('interrupts', [1, 2])
def test_ctrl_c_while_recording_leaves_a_readable_bag(ros, prefix, release, interrupts,
                                                      tmp_path):
    tel = LaunchedTeleop(ros, prefix, release, {'output_dir': str(tmp_path), 'task': 'wipe'})
    bag = tel.trigger('start_episode').message
    tel.operate()
    tel.recorded()  # what is still in flight at Ctrl-C is not the point here
    tel.launch.interrupt(times=interrupts)
    assert tel.launch.wait(30) == 0, tel.launch.describe()
    assert 'Traceback' not in tel.launch.output, tel.launch.output
    ep = read_bag(bag)  # no `robotok repair-bag`: the shutdown closed it
    assert (ep.actions[:, 0] != 0).sum() >= 5 and ep.task == 'wipe'


@pytest.mark.parametrize('release', other_releases())
def test_loads_and_records_on_the_other_launch_release(ros, prefix, release, tmp_path):
    tel = LaunchedTeleop(ros, prefix, release, {'output_dir': str(tmp_path), 'task': 'wipe'})
    check_parameters(tel, tmp_path)
    bag = tel.trigger('start_episode').message
    tel.operate()
    tel.recorded()
    tel.launch.interrupt()
    assert tel.launch.wait(30) == 0, tel.launch.describe()
    assert (read_bag(bag).actions[:, 0] != 0).sum() >= 5
