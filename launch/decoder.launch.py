"""
Launch token_decoder for one robot: policy tokens -> MoveIt Servo twists + gripper commands.

    ros2 launch robotok_ros decoder.launch.py robot:=franka_panda
    ros2 service call /token_decoder/enable std_srvs/srv/SetBool "{data: true}"

start_enabled defaults to false: on a real arm a person enables motion.
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare


def generate_launch_description():
    """Declare the arguments and the token_decoder node."""
    robot = DeclareLaunchArgument(
        'robot', default_value='franka_panda',
        description='Robot profile name: config/robots/<robot>.yaml')
    tokenizer = DeclareLaunchArgument(
        'tokenizer', default_value='uniform',
        description='Tokenizer kind: uniform, openvla, rt1, quantile, vq or fast')
    tokenizer_path = DeclareLaunchArgument(
        'tokenizer_path', default_value='',
        description='Folder of a saved tokenizer (required for quantile, vq, fast)')
    start_enabled = DeclareLaunchArgument(
        'start_enabled', default_value='false',
        description='Move as soon as tokens arrive; false waits for ~/enable')
    use_sim_time = DeclareLaunchArgument(
        'use_sim_time', default_value='false', description='Use /clock (simulation)')
    share = FindPackageShare('robotok_ros')
    config = PathJoinSubstitution([share, 'config', 'decoder.yaml'])
    profile = PathJoinSubstitution(
        [share, 'config', 'robots', [LaunchConfiguration('robot'), '.yaml']])
    decoder = Node(
        package='robotok_ros',
        executable='token_decoder',
        name='token_decoder',
        output='screen',
        parameters=[
            config,
            {
                # value_type=str: an empty string must stay '' (not YAML null).
                'profile_path': ParameterValue(profile, value_type=str),
                'tokenizer': ParameterValue(LaunchConfiguration('tokenizer'), value_type=str),
                'tokenizer_path': ParameterValue(LaunchConfiguration('tokenizer_path'),
                                                 value_type=str),
                'start_enabled': ParameterValue(LaunchConfiguration('start_enabled'),
                                                value_type=bool),
                'use_sim_time': ParameterValue(LaunchConfiguration('use_sim_time'),
                                               value_type=bool),
            },
        ],
    )
    return LaunchDescription([robot, tokenizer, tokenizer_path, start_enabled, use_sim_time,
                              decoder])
