"""ROS-free node logic: what each node does between a message and the next, without rclpy."""
