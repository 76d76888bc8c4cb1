"""
The wire format robotok's nodes and its bag readers agree on: topic names, types, step labels.

The nodes publish and record these; ``data/`` reads them back from bags.  Topic
names are written here absolute; the nodes use them relative (so a node in a
namespace uses its arm's topics) and bags store them resolved
(``/<namespace>/robotok/...``), which ``data.bags.in_namespace`` finds.
"""

TOKENS_TOPIC = '/robotok/teleop_tokens'
ACTION_TOPIC = '/robotok/teleop_action'
METADATA_TOPIC = '/robotok/episode_metadata'
TOKENS_TYPE = 'std_msgs/msg/Int32MultiArray'
ACTION_TYPE = 'std_msgs/msg/Float64MultiArray'
STRING_TYPE = 'std_msgs/msg/String'
# The robot state episode_recorder records beside the actions by default (what a policy
# sees): joint states (gripper fingers included) and the end-effector pose.  In simulation
# sim_arm's task state (the cube) is added; data/observations.py reads them back.
OBSERVATION_TOPICS = ('/joint_states=sensor_msgs/msg/JointState',
                      '/robotok/ee_pose=geometry_msgs/msg/PoseStamped')
SIM_TASK_STATE = '/sim_arm/task_state=std_msgs/msg/String'


def relative(topic):
    """Return ``topic`` without its leading slash: resolved inside the node's namespace."""
    return topic.lstrip('/')


def step_label(step, stamp_ns):
    """Return the layout label that carries a message's step index and stamp."""
    return f'step={int(step)};stamp={int(stamp_ns)}'


def parse_step_label(label):
    """Return ``(step, stamp_ns)`` from ``step_label`` text, or None when it is not one."""
    try:
        fields = dict(part.split('=', 1) for part in label.split(';'))
        return int(fields['step']), int(fields['stamp'])
    except (KeyError, ValueError):
        return None
