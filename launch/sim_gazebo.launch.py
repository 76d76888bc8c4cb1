"""
Sim-to-real in Gazebo: a UR arm with MoveIt Servo, moved by token_decoder on simulated time.

    ros2 launch robotok_ros sim_gazebo.launch.py           # ur5e: Gazebo, MoveIt RViz, Servo
    ros2 launch robotok_ros sim_gazebo.launch.py gazebo_gui:=false rviz:=false start_enabled:=true

Starts ur_simulation_gz's ur_sim_control.launch.py (Gazebo, the arm, ros2_control with
forward_position_controller active, the /clock bridge), ur_moveit_config's ur_moveit.launch.py
with launch_servo:=true (move_group, servo_node, RViz) and token_decoder, every node with
use_sim_time.  Needs, besides this package: ur_simulation_gz, ur_moveit_config and
ur_robot_driver (ur_moveit.launch.py runs its wait_for_robot_description), e.g. on Jazzy
``apt install ros-jazzy-ur-simulation-gz ros-jazzy-ur-moveit-config ros-jazzy-ur-robot-driver``.

Read in the sources (UniversalRobots/Universal_Robots_ROS2_GZ_Simulation, ros2 branch;
Universal_Robots_ROS2_Driver, jazzy branch 3.8.0; moveit/moveit2 jazzy, moveit_servo 2.12):
- ur_moveit_config/launch/ur_moveit.launch.py declares launch_servo (default false) and
  use_sim_time, and ur_type without a default.  Its Servo Node has no name or namespace, so
  the node is moveit_servo's own "servo_node" (moveit_servo/src/servo_node.cpp) and its
  ~/delta_twist_cmds is /servo_node/delta_twist_cmds: token_decoder's relative
  servo_node/delta_twist_cmds from the root namespace, no remapping.
- ur_moveit_config/config/ur_servo.yaml: command_in_type "speed_units" (what token_decoder
  sends; nothing to override), planning_frame base_link (the ur5e profile's frame_id),
  command_out_topic /forward_position_controller/commands with joint positions, hence that
  controller (ur_simulation_gz/config/ur_controllers.yaml, a JointGroupPositionController).
- ur_sim_control.launch.py bridges Gazebo's /clock since ur_simulation_gz 2.1.0 (#58): with
  2.0.0 no node on sim time gets a clock.  Its arguments used here: ur_type (default ur5e),
  initial_joint_controller, gazebo_gui, launch_rviz.
- Servo gets use_sim_time only since ur_moveit_config 3.8.0 (jazzy 55c9c72f, backport of
  #1651); on wall time it drops every sim-time stamped twist as older than its
  incoming_command_timeout (servo_node.cpp).  SetParameter below gives every node /clock.
- Jazzy's Servo starts unpaused and servos twists only once switch_command_type said TWIST:
  servo_activation jazzy calls pause_servo false, then that, on ~/enable (Humble: humble).
- IncludeLaunchDescription is not scoped (launch 3.4.3: its arguments stay set in this
  context) and ur_moveit.launch.py starts Servo, move_group and RViz from an OnProcessExit
  handler, which reads the context later: so no GroupAction, and this file's RViz switch
  is ``rviz``, as the first include sets launch_rviz false.

Before servoing: the arm spawns straight up (ur_gz.urdf.xacro initial_positions, elbow 0), a
singularity where Servo halts; send a bent pose first, e.g. ``ros2 topic pub --once
/forward_position_controller/commands std_msgs/msg/Float64MultiArray
"{data: [0.0, -1.57, 1.57, -1.57, -1.57, 0.0]}"``.  The ur5e profile's workspace box needs
the tool pose on robotok/ee_pose, which nothing here publishes.  The UR simulation has no
gripper: nothing listens on gripper_controller/commands.
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node, SetParameter
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare

SERVO_ACTIVATION = ['off', 'humble', 'jazzy', 'auto']


def include(package, launch_file, arguments):
    """Include ``package``'s launch/``launch_file`` with ``arguments`` (name -> value)."""
    path = PathJoinSubstitution([FindPackageShare(package), 'launch', launch_file])
    return IncludeLaunchDescription(PythonLaunchDescriptionSource(path),
                                    launch_arguments=arguments.items())


def generate_launch_description():
    """Declare the arguments, the UR simulation, MoveIt with Servo and token_decoder."""
    args = [
        DeclareLaunchArgument(
            'robot', default_value='ur5e',
            description='Robot profile for token_decoder: ur5e or a profile of your own for '
                        'the ur_type below'),
        DeclareLaunchArgument(
            'ur_type', default_value='ur5e', description='UR model to simulate (ur_type)'),
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
            'servo_activation', default_value='jazzy', choices=SERVO_ACTIVATION,
            description='How ~/enable starts Servo: jazzy (pause_servo false, '
                        'switch_command_type TWIST), humble (start_servo), auto or off'),
        DeclareLaunchArgument(
            'gazebo_gui', default_value='true', description='Start the Gazebo GUI'),
        DeclareLaunchArgument(
            'rviz', default_value='true', description="Start MoveIt's RViz"),
    ]
    arg = LaunchConfiguration
    simulation = include('ur_simulation_gz', 'ur_sim_control.launch.py', {
        'ur_type': arg('ur_type'),
        'initial_joint_controller': 'forward_position_controller',
        'gazebo_gui': arg('gazebo_gui'),
        'launch_rviz': 'false',  # its RViz shows the robot only; MoveIt's is started below
    })
    moveit = include('ur_moveit_config', 'ur_moveit.launch.py', {
        'ur_type': arg('ur_type'),
        'launch_servo': 'true',
        'use_sim_time': 'true',
        'launch_rviz': arg('rviz'),
    })
    config = PathJoinSubstitution([FindPackageShare('robotok_ros'), 'config', 'decoder.yaml'])
    decoder = Node(
        package='robotok_ros', executable='token_decoder', name='token_decoder',
        output='screen',
        parameters=[config, {
            'robot': ParameterValue(arg('robot'), value_type=str),
            'tokenizer': ParameterValue(arg('tokenizer'), value_type=str),
            'tokenizer_path': ParameterValue(arg('tokenizer_path'), value_type=str),
            'start_enabled': ParameterValue(arg('start_enabled'), value_type=bool),
            'servo_activation': ParameterValue(arg('servo_activation'), value_type=str),
            'use_sim_time': True,
        }])
    # Every Node from here on, in the included files too, gets use_sim_time (see above).
    sim_time = SetParameter(name='use_sim_time', value=True)
    return LaunchDescription(args + [sim_time, simulation, moveit, decoder])
