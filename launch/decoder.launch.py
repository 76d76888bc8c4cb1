"""
Launch token_decoder for one robot: policy tokens -> MoveIt Servo twists + gripper commands.

    ros2 launch robotok_ros decoder.launch.py robot:=franka_panda
    ros2 service call /token_decoder/enable std_srvs/srv/SetBool "{data: true}"
    ros2 launch robotok_ros decoder.launch.py robot:=franka_panda dry_run:=true

robot is a shipped profile name, a name found on ROBOTOK_PROFILE_PATH or a YAML
file path; the node resolves it, so this file builds no paths from arguments
(a nested list in PathJoinSubstitution loads only on launch releases with
ros2/launch#838, not on Jazzy).  namespace puts the node and every topic it
uses (but /diagnostics) under one arm's namespace: two arms, two launches.
start_enabled defaults to false: on a real arm a person enables motion (and a
profile with a workspace box needs the measured pose on robotok/ee_pose first).
dry_run:=true sends would-be commands to robotok/dry_run/* instead of the
command topics; `ros2 param set /token_decoder dry_run false` goes live.

What a policy emits (config/decoder.yaml has the details):

    ... tokenizer:=openvla stream_format:=openvla       # OpenVLA's ids + EOS
    ... stream_format:=pi0_fast stream_prefix:='...' stream_separator:='...'
    ... text_topic:=robotok/action_text                 # RT-2 text actions
    ... chunk_topic:=robotok/action_chunk               # continuous T x D chunks
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare


def generate_launch_description():
    """Declare the arguments and the token_decoder node."""
    args = [
        DeclareLaunchArgument(
            'robot', default_value='franka_panda',
            description='Robot profile: a shipped name, a name on ROBOTOK_PROFILE_PATH or a '
                        'YAML file path'),
        DeclareLaunchArgument(
            'namespace', default_value='',
            description='Namespace of the node and its topics (one per arm)'),
        DeclareLaunchArgument(
            'tokenizer', default_value='uniform',
            description='Tokenizer kind: uniform, openvla, rt1, quantile, vq or fast'),
        DeclareLaunchArgument(
            'tokenizer_path', default_value='',
            description='Folder of a saved tokenizer (required for quantile, vq, fast)'),
        DeclareLaunchArgument(
            'start_enabled', default_value='false',
            description='Move as soon as tokens arrive; false waits for ~/enable'),
        DeclareLaunchArgument(
            'dry_run', default_value='false',
            description='Publish would-be commands on robotok/dry_run/* only'),
        DeclareLaunchArgument(
            'use_sim_time', default_value='false', description='Use /clock (simulation)'),
        DeclareLaunchArgument(
            'stream_format', default_value='ids',
            description='What a token message is: ids, openvla (a generated sequence: the '
                        'last ids before EOS) or pi0_fast (between prefix and separator)'),
        DeclareLaunchArgument(
            'stream_prefix', default_value='',
            description='pi0_fast: the token ids before the action ids, e.g. "4022 235292"'),
        DeclareLaunchArgument(
            'stream_separator', default_value='',
            description='pi0_fast: the token ids after the action ids (of "|")'),
        DeclareLaunchArgument(
            'text_topic', default_value='',
            description='RT-2 text actions (std_msgs/String) topic; empty: off'),
        DeclareLaunchArgument(
            'chunk_topic', default_value='',
            description='Continuous chunks (std_msgs/Float32MultiArray) topic; empty: off'),
    ]
    config = PathJoinSubstitution([FindPackageShare('robotok_ros'), 'config', 'decoder.yaml'])
    decoder = Node(
        package='robotok_ros',
        executable='token_decoder',
        name='token_decoder',
        namespace=LaunchConfiguration('namespace'),
        output='screen',
        parameters=[
            config,
            {
                # value_type=str: an empty string must stay '' (not YAML null).
                'robot': ParameterValue(LaunchConfiguration('robot'), value_type=str),
                'tokenizer': ParameterValue(LaunchConfiguration('tokenizer'), value_type=str),
                'tokenizer_path': ParameterValue(LaunchConfiguration('tokenizer_path'),
                                                 value_type=str),
                'start_enabled': ParameterValue(LaunchConfiguration('start_enabled'),
                                                value_type=bool),
                'dry_run': ParameterValue(LaunchConfiguration('dry_run'), value_type=bool),
                'use_sim_time': ParameterValue(LaunchConfiguration('use_sim_time'),
                                               value_type=bool),
                **{name: ParameterValue(LaunchConfiguration(name), value_type=str)
                   for name in ('stream_format', 'stream_prefix', 'stream_separator',
                                'text_topic', 'chunk_topic')},
            },
        ],
    )
    return LaunchDescription(args + [decoder])
