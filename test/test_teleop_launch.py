"""
launch/teleop_logging.launch.py: what it names exists, and the nodes run with what it passes.

Read with the ``ast`` evaluator of test_decoder_launch (launch_ros is not on
PyPI), extended with PythonExpression; the real launch API is used where it is
installed.
"""

import importlib.util
import json
from pathlib import Path

from geometry_msgs.msg import Twist
import numpy as np
import pytest
from rcl_interfaces.srv import GetParameters
from robotok_ros.data.bags import read_bag
from robotok_ros.profile_loader import load_profile
from rosbags.rosbag2 import Reader
from rosutil import executable, RosHarness
from sensor_msgs.msg import Joy
from std_msgs.msg import Float64MultiArray, String
from std_srvs.srv import Trigger
from test_decoder_launch import LaunchReader, REAL_API
import yaml

ROOT = Path(__file__).resolve().parent.parent
LAUNCH = ROOT / 'launch' / 'teleop_logging.launch.py'
API = dict(REAL_API, PythonExpression='launch.substitutions')
NODES = ('teleop_tokenizer', 'episode_recorder')


class TeleopLaunchReader(LaunchReader):
    """LaunchReader that also evaluates PythonExpression (no builtins available)."""

    def call_PythonExpression(self, parts):
        return eval(''.join(parts), {'__builtins__': {}})  # noqa: S307 - test-side, own file


def launch(overrides=None):
    """Return {executable: Node kwargs} of the launch file with ``overrides`` as arguments."""
    return {n['executable']: n for n in TeleopLaunchReader(LAUNCH, overrides).nodes}


def test_imports_match_the_real_launch_api():
    reader = TeleopLaunchReader(LAUNCH)
    assert reader.imports == {k: v for k, v in API.items() if k in reader.imports}


def test_every_named_executable_file_and_profile_exists():
    reader = TeleopLaunchReader(LAUNCH)
    assert set(reader.args) == {'robot', 'source', 'tokenizer', 'tokenizer_path', 'pose_topic',
                                'output_dir', 'task', 'use_sim_time'}
    nodes = launch()
    assert set(nodes) == set(NODES)
    setup = (ROOT / 'setup.py').read_text()
    for name, node in nodes.items():
        assert node['package'] == 'robotok_ros' and node['name'] == name
        assert f"'{name} = " in setup and Path(executable(name)).exists()
        files = [p for p in node['parameters'] if isinstance(p, str)]
        assert files and all(Path(f).is_file() for f in files), files
        params = {k: v for p in node['parameters'] if isinstance(p, dict) for k, v in p.items()}
        assert load_profile(params['profile_path']).name == 'franka_panda'
    other = launch({'robot': 'widowx_250'})['episode_recorder']['parameters'][1]
    assert load_profile(other['profile_path']).name == 'widowx_250'


@pytest.mark.parametrize('source, twist, joy, mode', [
    ('spacenav', 'spacenav/twist', 'spacenav/joy', 'twist'),
    ('joy', 'cmd_vel', 'joy', 'twist'),
    ('pose', 'cmd_vel', 'joy', 'pose')])
def test_source_picks_topics_and_mode(source, twist, joy, mode):
    nodes = launch({'source': source})
    for node in nodes.values():     # both nodes see the same inputs
        remaps = dict(node['remappings'])
        assert remaps['teleop/twist'] == twist and remaps['joy'] == joy
        assert remaps['teleop/pose'] == '/robotok/operator_pose'
    assert nodes['teleop_tokenizer']['parameters'][2]['teleop_source'] == mode


def test_parameter_file_keys_are_node_parameters():
    config = yaml.safe_load((ROOT / 'config' / 'teleop.yaml').read_text())
    assert set(config) == set(NODES)
    common = (ROOT / 'robotok_ros' / 'nodes' / 'common.py').read_text()
    for name, module in (('teleop_tokenizer', 'teleop_node'),
                         ('episode_recorder', 'recorder_node')):
        source = (ROOT / 'robotok_ros' / 'nodes' / f'{module}.py').read_text() + common
        for key in config[name]['ros__parameters']:
            assert f"'{key}'" in source, f'config/teleop.yaml sets undeclared {name}.{key}'


def _start(ros, node, overrides):
    files = [p for p in node['parameters'] if isinstance(p, str)]
    params = {k: v for p in node['parameters'] if isinstance(p, dict) for k, v in p.items()}
    params.update(overrides)
    return ros.start_node(node['executable'], params=params, params_files=files,
                          remaps=dict(node['remappings']),
                          node_args=['-r', f'__node:={node["name"]}'])


@pytest.mark.timeout(90)
def test_nodes_run_with_exactly_the_launch_parameters(tmp_path):
    nodes = launch({'source': 'spacenav', 'output_dir': str(tmp_path), 'task': 'wipe'})
    file_values = yaml.safe_load((ROOT / 'config' / 'teleop.yaml').read_text())
    with RosHarness() as ros:
        teleop = _start(ros, nodes['teleop_tokenizer'], {})
        _start(ros, nodes['episode_recorder'], {'flush_period': 0.1})
        status = ros.collect('/episode_recorder/status', String)
        actions = ros.collect('/robotok/teleop_action', Float64MultiArray)
        names = list(file_values['teleop_tokenizer']['ros__parameters']) + ['teleop_source']
        got = ros.call(GetParameters, '/teleop_tokenizer/get_parameters',
                       GetParameters.Request(names=names))
        fields = {1: 'bool_value', 2: 'integer_value', 3: 'double_value', 4: 'string_value',
                  8: 'double_array_value'}
        values = {n: getattr(v, fields[v.type]) for n, v in zip(names, got.values)}
        for key, want in file_values['teleop_tokenizer']['ros__parameters'].items():
            got_value = list(values[key]) if isinstance(want, list) else values[key]
            assert got_value == want, key
        assert values['teleop_source'] == 'twist'
        ros.wait_for_subscribers('/spacenav/twist', count=2)
        ros.wait_for_subscribers('/spacenav/joy', count=2)
        assert ros.call(Trigger, '/episode_recorder/start_episode', Trigger.Request()).success
        move = Twist()
        move.linear.x = 0.5                 # x 0.2 scale = 0.1 m/s
        n, first = 0, len(actions)      # teleop emits idle steps from its start: skip those
        while sum(m.data[0] != 0 for m in actions[first:]) < 5:
            ros.publish('/spacenav/twist', move)
            ros.publish('/spacenav/joy', Joy(buttons=[0, 0]))
            ros.spin_for(0.01)
            n += 1
            assert n < 2000, teleop.describe()
        reply = ros.call(Trigger, '/episode_recorder/stop_episode', Trigger.Request())
        assert ros.wait_for(lambda: json.loads(status[-1].data)['episodes_closed'] == 1)
    profile = load_profile('franka_panda')
    ep = read_bag(reply.message)
    assert ep.task == 'wipe' and ep.metadata['robot_profile']['name'] == 'franka_panda'
    # 0.1 m/s / 15 Hz / 0.075 m per action unit, while the stream lasted (then idle: 0).
    moving = ep.actions[ep.actions[:, 0] != 0, 0]
    assert len(moving) and np.allclose(moving, 0.1 / profile.control_rate_hz / 0.075)
    with Reader(reply.message) as reader:
        counts = {c.topic: c.msgcount for c in reader.connections}
    assert counts['/spacenav/twist'] > 0 and counts['/spacenav/joy'] > 0


def test_real_launch_description_builds():
    if importlib.util.find_spec('launch_ros') is None:
        pytest.skip('launch_ros is not installable from PyPI; install ROS 2 to run this part')
    from launch import LaunchDescription
    spec = importlib.util.spec_from_file_location('teleop_launch', LAUNCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert isinstance(module.generate_launch_description(), LaunchDescription)
