"""robotok_ros: discrete action tokens <-> robot commands, with a ROS-free core."""

__version__ = '0.1.0'
