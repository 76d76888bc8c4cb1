"""
Sim-to-real, first half: token_decoder driving the MuJoCo arm (sim_arm), all on simulated time.

    ros2 launch robotok_ros sim_mujoco.launch.py robot:=franka_panda
    ros2 service call /token_decoder/enable std_srvs/srv/SetBool "{data: true}"
    # optionally replay a recorded demonstration's tokens as a policy would:
    ros2 launch robotok_ros sim_mujoco.launch.py replay:=/path/tokens.json start_enabled:=true

sim_arm is the clock (/clock); token_decoder and policy_replay run with
use_sim_time.  sim_arm answers Servo's start_servo/pause_servo like MoveIt Servo;
start_servo:=true starts it at once (what a Servo activation call would do).
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution, PythonExpression
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare


def generate_launch_description():
    """Declare the arguments, sim_arm, token_decoder and the optional replay."""
    args = [
        DeclareLaunchArgument(
            'robot', default_value='franka_panda',
            description='Robot profile of the simulated arm: franka_panda, ur5e or '
                        'robosuite_panda_osc (or a profile of your own for one of those arms)'),
        DeclareLaunchArgument(
            'tokenizer', default_value='uniform',
            description='Tokenizer kind: uniform, openvla, rt1, quantile, vq or fast'),
        DeclareLaunchArgument(
            'tokenizer_path', default_value='',
            description='Folder of a saved tokenizer (required for quantile, vq, fast)'),
        DeclareLaunchArgument(
            'start_enabled', default_value='false',
            description='Decode as soon as tokens arrive; false waits for ~/enable'),
        DeclareLaunchArgument(
            'start_servo', default_value='true',
            description='Start the simulated Servo at once (else call servo_node/start_servo)'),
        DeclareLaunchArgument(
            'real_time_factor', default_value='1.0',
            description='Simulated seconds per wall second (0: as fast as possible)'),
        DeclareLaunchArgument(
            'seed', default_value='0', description='Seed of the cube position'),
        DeclareLaunchArgument(
            'replay', default_value='',
            description='Token file (robotok demo / write_replay_file) to replay as a policy'),
    ]
    arg = LaunchConfiguration
    sim = Node(
        package='robotok_ros', executable='sim_arm', name='sim_arm', output='screen',
        parameters=[{
            'robot': ParameterValue(arg('robot'), value_type=str),
            'seed': ParameterValue(arg('seed'), value_type=int),
            'real_time_factor': ParameterValue(arg('real_time_factor'), value_type=float),
            'auto_start': ParameterValue(arg('start_servo'), value_type=bool),
        }])
    config = PathJoinSubstitution([FindPackageShare('robotok_ros'), 'config', 'decoder.yaml'])
    decoder = Node(
        package='robotok_ros', executable='token_decoder', name='token_decoder',
        output='screen',
        parameters=[config, {
            'robot': ParameterValue(arg('robot'), value_type=str),
            'tokenizer': ParameterValue(arg('tokenizer'), value_type=str),
            'tokenizer_path': ParameterValue(arg('tokenizer_path'), value_type=str),
            'start_enabled': ParameterValue(arg('start_enabled'), value_type=bool),
            'use_sim_time': True,
        }])
    replay = Node(
        package='robotok_ros', executable='policy_replay', name='policy_replay',
        output='screen', condition=IfCondition(PythonExpression(["'", arg('replay'), "' != ''"])),
        parameters=[{'tokens_file': ParameterValue(arg('replay'), value_type=str),
                     'use_sim_time': True}])
    return LaunchDescription(args + [sim, decoder, replay])
