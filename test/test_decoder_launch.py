"""
launch/decoder.launch.py: what it names exists, and the node runs with exactly what it passes.

launch/launch_ros are not pip-installable, so the launch file is read with
``ast`` by a small evaluator that knows the handful of launch classes it uses
(with the package share folder = this source tree, whose config/ and launch/
setup.py installs unchanged).  Only running it through real launch_ros is
skipped where launch_ros is missing.
"""

import ast
import importlib.util
import os
from pathlib import Path

from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import TwistStamped
import pytest
from rcl_interfaces.srv import DescribeParameters, GetParameters, SetParameters
from rclpy.parameter import Parameter
from robotok_ros.profile_loader import load_profile
from rosutil import executable, RosHarness
from std_msgs.msg import Int32MultiArray
from std_srvs.srv import SetBool
import yaml

ROOT = Path(__file__).resolve().parent.parent
LAUNCH = ROOT / 'launch' / 'decoder.launch.py'
# Where each name the launch file imports lives in the real launch / launch_ros API.
REAL_API = {'LaunchDescription': 'launch', 'DeclareLaunchArgument': 'launch.actions',
            'LaunchConfiguration': 'launch.substitutions',
            'PathJoinSubstitution': 'launch.substitutions', 'Node': 'launch_ros.actions',
            'ParameterValue': 'launch_ros.parameter_descriptions',
            'FindPackageShare': 'launch_ros.substitutions'}


class LaunchReader:
    """Evaluate generate_launch_description() with launch arguments at their defaults."""

    def __init__(self, path, overrides=None):
        tree = ast.parse(Path(path).read_text())
        self.imports = {a.name: n.module for n in tree.body if isinstance(n, ast.ImportFrom)
                        for a in n.names}
        func = next(n for n in tree.body if isinstance(n, ast.FunctionDef)
                    and n.name == 'generate_launch_description')
        self.args, self.nodes, self.env = {}, [], {}
        self.overrides = overrides or {}
        for stmt in func.body:
            if isinstance(stmt, ast.Assign):
                self.env[stmt.targets[0].id] = self.value_of(stmt.value)
            elif isinstance(stmt, ast.Return):
                self.entities = self.value_of(stmt.value)

    def value_of(self, node):
        """Evaluate one expression of the launch file."""
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, (ast.List, ast.Tuple)):
            return [self.value_of(e) for e in node.elts]
        if isinstance(node, ast.Dict):
            return {self.value_of(k): self.value_of(v) for k, v in zip(node.keys, node.values)}
        if isinstance(node, ast.Name):
            return node.id if node.id in ('bool', 'str') else self.env[node.id]
        if isinstance(node, ast.Call):
            name = node.func.id
            args = [self.value_of(a) for a in node.args]
            kwargs = {k.arg: self.value_of(k.value) for k in node.keywords}
            return getattr(self, 'call_' + name)(*args, **kwargs)
        raise AssertionError(f'launch file construct not understood: {ast.dump(node)}')

    def call_DeclareLaunchArgument(self, name, default_value, description):
        assert description, f'launch argument {name} has no description'
        self.args[name] = self.overrides.get(name, default_value)
        return ('argument', name)

    def call_LaunchConfiguration(self, name):
        assert name in self.args, f'LaunchConfiguration({name!r}) used before it is declared'
        return self.args[name]

    def call_FindPackageShare(self, package):
        assert package == 'robotok_ros'
        return str(ROOT)

    def call_PathJoinSubstitution(self, parts):
        return os.path.join(*(''.join(p) if isinstance(p, list) else p for p in parts))

    def call_ParameterValue(self, value, value_type):
        return {'bool': lambda v: yaml.safe_load(v) is True, 'str': str}[value_type](value)

    def call_Node(self, **kwargs):
        self.nodes.append(kwargs)
        return ('node', kwargs['executable'])

    def call_LaunchDescription(self, entities):
        return entities

    def __getattr__(self, name):
        if name.startswith('call_'):
            raise AssertionError(f'unknown launch call {name[5:]}')
        raise AttributeError(name)


def test_imports_match_the_real_launch_api():
    reader = LaunchReader(LAUNCH)
    assert reader.imports == {k: v for k, v in REAL_API.items() if k in reader.imports}
    assert set(reader.imports) <= set(REAL_API)


def test_every_named_executable_file_and_profile_exists():
    reader = LaunchReader(LAUNCH)
    assert set(reader.args) == {'robot', 'tokenizer', 'tokenizer_path', 'start_enabled',
                                'use_sim_time'}
    assert reader.args['start_enabled'] == 'false'  # a person enables a real arm
    setup = (ROOT / 'setup.py').read_text()
    for node in reader.nodes:
        assert node['package'] == 'robotok_ros'
        assert f"'{node['executable']} = " in setup
        assert Path(executable(node['executable'])).exists()
        files = [p for p in node['parameters'] if isinstance(p, str)]
        assert files and all(Path(f).is_file() for f in files), files
        params = [p for p in node['parameters'] if isinstance(p, dict)][0]
        assert Path(params['profile_path']).is_file()
        assert load_profile(params['profile_path']).name == 'franka_panda'
        for name in ('ur5e', 'widowx_250'):  # other robot:= values resolve the same way
            other = LaunchReader(LAUNCH, {'robot': name}).nodes[0]['parameters'][1]
            assert load_profile(other['profile_path']).name == name


def test_parameter_file_keys_are_node_parameters():
    config = yaml.safe_load((ROOT / 'config' / 'decoder.yaml').read_text())
    assert list(config) == ['token_decoder']
    source = (ROOT / 'robotok_ros' / 'nodes' / 'decoder_node.py').read_text() + (
        ROOT / 'robotok_ros' / 'nodes' / 'common.py').read_text()
    for key in config['token_decoder']['ros__parameters']:
        assert f"'{key}'" in source, f'config/decoder.yaml sets undeclared parameter {key}'


@pytest.mark.timeout(90)
def test_node_runs_with_exactly_the_launch_parameters():
    node = LaunchReader(LAUNCH).nodes[0]
    files = [p for p in node['parameters'] if isinstance(p, str)]
    params = {k: v for p in node['parameters'] if isinstance(p, dict) for k, v in p.items()}
    file_values = yaml.safe_load(Path(files[0]).read_text())['token_decoder']['ros__parameters']
    with RosHarness() as ros:
        proc = ros.start_node(node['executable'], params=params, params_files=files,
                              node_args=['-r', f'__node:={node["name"]}'])
        diag = ros.collect('/diagnostics', DiagnosticArray)
        twist = ros.collect('/servo_node/delta_twist_cmds', TwistStamped)
        ros.wait_for_subscribers('/robotok/action_tokens')
        names = list(file_values) + ['start_enabled', 'tokenizer', 'profile_path']
        got = ros.call(GetParameters, '/token_decoder/get_parameters',
                       GetParameters.Request(names=names))
        fields = {1: 'bool_value', 2: 'integer_value', 3: 'double_value', 4: 'string_value'}
        values = {n: getattr(v, fields[v.type]) for n, v in zip(names, got.values)}
        for key, want in file_values.items():
            assert values[key] == want and type(values[key]) is type(want), key
        assert values['start_enabled'] is False and values['tokenizer'] == 'uniform'
        desc = ros.call(DescribeParameters, '/token_decoder/describe_parameters',
                        DescribeParameters.Request(names=['n_bins', 'command_timeout']))
        n_bins, timeout = desc.descriptors
        assert n_bins.read_only and timeout.read_only and n_bins.description
        bins_range = n_bins.integer_range[0]
        assert (bins_range.from_value, bins_range.to_value) == (16, 4096)
        assert timeout.floating_point_range[0].from_value > 0
        change = ros.call(SetParameters, '/token_decoder/set_parameters', SetParameters.Request(
            parameters=[Parameter('n_bins', value=64).to_parameter_msg()]))
        assert not change.results[0].successful  # read-only: no live change of the bins
        assert ros.wait_for(lambda: any(
            a.status[0].hardware_id == 'franka_panda' for a in diag), 10)
        # start_enabled false: tokens do nothing until a person enables.
        ros.publish('/robotok/action_tokens', Int32MultiArray(data=[128] * 7))
        assert ros.wait_for(lambda: any(
            kv.key == 'ignored_disabled' and kv.value == '1'
            for a in diag for kv in a.status[0].values), 10)
        assert not twist
        ros.call(SetBool, '/token_decoder/enable', SetBool.Request(data=True))
        ros.publish('/robotok/action_tokens', Int32MultiArray(data=[128] * 7))
        assert ros.wait_for(lambda: twist, 10), proc.describe()
        assert twist[0].header.frame_id == 'panda_link0'


def test_real_launch_description_builds():
    if importlib.util.find_spec('launch_ros') is None:
        pytest.skip('launch_ros is not installable from PyPI; install ROS 2 to run this part')
    from launch import LaunchDescription
    spec = importlib.util.spec_from_file_location('decoder_launch', LAUNCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert isinstance(module.generate_launch_description(), LaunchDescription)
