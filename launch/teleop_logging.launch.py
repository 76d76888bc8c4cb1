"""
Launch teleop_tokenizer and episode_recorder: an operator's demonstrations -> token bags.

    ros2 launch robotok_ros teleop_logging.launch.py robot:=franka_panda source:=spacenav
    ros2 service call /episode_recorder/start_episode std_srvs/srv/Trigger
    ros2 service call /episode_recorder/stop_episode std_srvs/srv/Trigger

source: spacenav (spacenav_node: spacenav/twist + spacenav/joy), joy (teleop_twist_joy:
cmd_vel + joy) or pose (a PoseStamped end-effector stream on pose_topic + joy).  Both
nodes get the same remappings, so the recorder stores the raw input the tokens came from.
robot is a shipped profile name, a name on ROBOTOK_PROFILE_PATH or a YAML file path
(resolved by the nodes); namespace puts both nodes and their topics under one arm's.
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution, PythonExpression
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare


def generate_launch_description():
    """Declare the arguments, teleop_tokenizer and episode_recorder."""
    robot = DeclareLaunchArgument(
        'robot', default_value='franka_panda',
        description='Robot profile: a shipped name, a name on ROBOTOK_PROFILE_PATH or a '
                    'YAML file path')
    namespace = DeclareLaunchArgument(
        'namespace', default_value='',
        description='Namespace of both nodes and their topics (one per arm)')
    source = DeclareLaunchArgument(
        'source', default_value='spacenav', description='Teleop device: spacenav, joy or pose')
    tokenizer = DeclareLaunchArgument(
        'tokenizer', default_value='uniform',
        description='Tokenizer kind: uniform, openvla, rt1, quantile, vq or fast')
    tokenizer_path = DeclareLaunchArgument(
        'tokenizer_path', default_value='',
        description='Folder of a saved tokenizer (required for quantile, vq, fast)')
    pose_topic = DeclareLaunchArgument(
        'pose_topic', default_value='/robotok/operator_pose',
        description='source pose: the geometry_msgs/PoseStamped stream of the operator')
    output_dir = DeclareLaunchArgument(
        'output_dir', default_value='robotok_episodes',
        description='Folder the episode bags are written to')
    task = DeclareLaunchArgument(
        'task', default_value='', description='Task text stored with every episode')
    use_sim_time = DeclareLaunchArgument(
        'use_sim_time', default_value='false', description='Use /clock (simulation)')
    device = LaunchConfiguration('source')
    teleop_source = PythonExpression(["'pose' if '", device, "' == 'pose' else 'twist'"])
    twist_topic = PythonExpression(["'spacenav/twist' if '", device, "' == 'spacenav' "
                                    "else 'cmd_vel'"])
    joy_topic = PythonExpression(["'spacenav/joy' if '", device, "' == 'spacenav' else 'joy'"])
    remappings = [('teleop/twist', twist_topic), ('joy', joy_topic),
                  ('teleop/pose', LaunchConfiguration('pose_topic'))]
    share = FindPackageShare('robotok_ros')
    config = PathJoinSubstitution([share, 'config', 'teleop.yaml'])
    common = {
        # value_type=str: an empty string must stay '' (not YAML null).
        'robot': ParameterValue(LaunchConfiguration('robot'), value_type=str),
        'tokenizer': ParameterValue(LaunchConfiguration('tokenizer'), value_type=str),
        'tokenizer_path': ParameterValue(LaunchConfiguration('tokenizer_path'), value_type=str),
        'use_sim_time': ParameterValue(LaunchConfiguration('use_sim_time'), value_type=bool),
    }
    teleop = Node(
        package='robotok_ros',
        executable='teleop_tokenizer',
        name='teleop_tokenizer',
        namespace=LaunchConfiguration('namespace'),
        output='screen',
        remappings=remappings,
        parameters=[config, common,
                    {'teleop_source': ParameterValue(teleop_source, value_type=str)}],
    )
    recorder = Node(
        package='robotok_ros',
        executable='episode_recorder',
        name='episode_recorder',
        namespace=LaunchConfiguration('namespace'),
        output='screen',
        remappings=remappings,
        parameters=[config, common,
                    {'output_dir': ParameterValue(LaunchConfiguration('output_dir'),
                                                  value_type=str),
                     'task': ParameterValue(LaunchConfiguration('task'), value_type=str)}],
    )
    return LaunchDescription([robot, namespace, source, tokenizer, tokenizer_path, pose_topic,
                              output_dir, task, use_sim_time, teleop, recorder])
