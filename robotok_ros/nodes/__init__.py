"""rclpy nodes: thin shells over the ROS-free core (``*_core.py`` beside them)."""
