"""
The rclpy / rcl_interfaces API robotok uses, each entry checked by reading ROS 2 Humble's source.

Read at (the humble branch of each repository, which was also its latest tag):

- ros2/rclpy humble = 3.3.15, b488272b1ba88c703080bfd605417f013697ee40; paths
  below are under ``rclpy/rclpy/`` unless they start with ``src/`` (``rclpy/src/``)
- ros2/rcl_interfaces humble = 1.2.1, 5e01a28f9866a564491480e12d8659a134678741
- ros2/rosidl_python humble = 0.14.4, 2507d5dbc1aebe2254d9eac088f007dcaea2ff03
  (generated messages take keyword arguments only: ``_msg.py.em:285``)

``Api.nargs`` is the most positional arguments Humble's signature takes and
``Api.kwargs`` its keyword arguments (None: not a call, nothing to check).
"""

from collections import namedtuple

Api = namedtuple('Api', 'where nargs kwargs', defaults=(None, ''))

NODE_KWARGS = ('context cli_args namespace use_global_arguments enable_rosout '
               'start_parameter_services parameter_overrides allow_undeclared_parameters '
               'automatically_declare_parameters_from_overrides')

# Fully qualified names as the code reaches them: imports and attributes of imported names.
HUMBLE_RCLPY = {
    'rclpy.Context': Api('__init__.py:47 (from rclpy.context import Context)', 0),
    'rclpy.init': Api('__init__.py:65', 0, 'args context domain_id signal_handler_options'),
    'rclpy.ok': Api('utilities.py:49, re-exported at __init__.py:55', 0, 'context'),
    'rclpy.try_shutdown': Api('utilities.py:61, re-exported at __init__.py:57', 0, 'context'),
    'rclpy.create_node': Api('__init__.py:139', 1, NODE_KWARGS),
    'rclpy.spin': Api('__init__.py:211', 2, 'executor'),
    'rclpy.spin_once': Api('__init__.py:188', 1, 'executor timeout_sec'),
    # A submodule __init__.py does not import: it is there once rclpy.node is (node.py:62).
    'rclpy.logging.get_logger': Api('logging.py:26', 1),
    'rclpy.clock.Clock': Api('clock.py:120 (__new__, keyword-only)', 0, 'clock_type'),
    'rclpy.clock.ClockType': Api('clock.py:23 = _rclpy.ClockType'),
    'rclpy.clock.ClockType.STEADY_TIME': Api('src/rclpy/_rclpy_pybind11.cpp:65'),
    'rclpy.duration.Duration': Api('duration.py:23', 0, 'seconds nanoseconds'),
    'rclpy.time.Time': Api('time.py:25 (keyword-only)', 0, 'seconds nanoseconds clock_type'),
    'rclpy.executors.ExternalShutdownException': Api('executors.py:122'),
    'rclpy.executors.SingleThreadedExecutor': Api('executors.py:720', 0, 'context'),
    'rclpy.node.Node': Api('node.py:116', 1, NODE_KWARGS),
    'rclpy.parameter.Parameter': Api('parameter.py:127', 3, 'type_ value'),
    'rclpy.qos.QoSProfile': Api('qos.py:76, **kwargs must be in __slots__ (qos.py:64)', 0,
                                'history depth reliability durability lifespan deadline '
                                'liveliness liveliness_lease_duration '
                                'avoid_ros_namespace_conventions'),
    'rclpy.qos.DurabilityPolicy': Api('qos.py:378'),
    'rclpy.qos.DurabilityPolicy.TRANSIENT_LOCAL': Api('qos.py:386'),
    'rclpy.qos.HistoryPolicy': Api('qos.py:332'),
    'rclpy.qos.HistoryPolicy.KEEP_LAST': Api('qos.py:340'),
    'rclpy.qos.HistoryPolicy.KEEP_ALL': Api('qos.py:341'),
    'rclpy.qos.ReliabilityPolicy': Api('qos.py:355'),
    'rclpy.qos.ReliabilityPolicy.RELIABLE': Api('qos.py:363'),
    'rclpy.qos.ReliabilityPolicy.BEST_EFFORT': Api('qos.py:364'),
    'rclpy.qos.qos_policy_name_from_kind': Api('qos.py:45', 1),
    'rclpy.qos_event.PublisherEventCallbacks': Api(
        'qos_event.py:217', 0, 'deadline liveliness incompatible_qos use_default_callbacks'),
    'rclpy.qos_event.SubscriptionEventCallbacks': Api(
        'qos_event.py:129 (keyword-only)', 0,
        'deadline incompatible_qos liveliness message_lost use_default_callbacks'),
    'rclpy.signals.SignalHandlerOptions': Api('signals.py:21 = _rclpy.SignalHandlerOptions'),
    'rclpy.signals.SignalHandlerOptions.NO': Api('src/rclpy/signal_handler.cpp:637'),
    'rcl_interfaces.msg.ParameterDescriptor': Api(
        'rcl_interfaces/msg/ParameterDescriptor.msg', 0, 'name type description '
        'additional_constraints read_only dynamic_typing floating_point_range integer_range'),
    'rcl_interfaces.msg.SetParametersResult': Api(
        'rcl_interfaces/msg/SetParametersResult.msg', 0, 'successful reason'),
    'rcl_interfaces.msg.IntegerRange': Api('rcl_interfaces/msg/IntegerRange.msg', 0,
                                           'from_value to_value step'),
    'rcl_interfaces.msg.FloatingPointRange': Api('rcl_interfaces/msg/FloatingPointRange.msg', 0,
                                                 'from_value to_value step'),
}

# Newer than Humble: allowed only inside ``try:`` with an ``except ImportError`` fallback.
NEWER_WITH_FALLBACK = {
    'rclpy.event_handler.PublisherEventCallbacks':
        'Iron+ (no rclpy/event_handler.py at humble); decoder_node.quiet_events falls back '
        'to rclpy.qos_event.PublisherEventCallbacks',
    'rclpy.event_handler.SubscriptionEventCallbacks':
        'Iron+; decoder_io.token_events falls back to rclpy.qos_event.SubscriptionEventCallbacks',
}

# Methods and attributes of rclpy objects (nodes, publishers, timers, ...) the code uses.
HUMBLE_METHODS = {
    'declare_parameter': Api('node.py:339', 4, 'value descriptor ignore_override'),
    '_parameter_overrides': Api('node.py:167, private: {name: Parameter}, Humble..Kilted'),
    '_parameters': Api('node.py:155, private: {name: Parameter} of declared ones, '
                       'Humble..Kilted'),
    'has_parameter': Api('node.py:523', 1),
    'add_on_set_parameters_callback': Api('node.py:880', 1),
    'value': Api('parameter.py:151, Parameter.value property'),
    'get_logger': Api('node.py:335', 0),
    'get_clock': Api('node.py:331', 0),
    'now': Api('clock.py:144', 0),
    'nanoseconds': Api('time.py:44, Time.nanoseconds property'),
    'to_msg': Api('time.py:139', 0),
    'info': Api('impl/rcutils_logger.py:327', 1),
    'warn': Api('impl/rcutils_logger.py:335', 1),
    'error': Api('impl/rcutils_logger.py:343', 1),
    'fatal': Api('impl/rcutils_logger.py:347', 1),
    'create_publisher': Api('node.py:1242', 3,
                            'callback_group event_callbacks qos_overriding_options '
                            'publisher_class'),
    'create_subscription': Api('node.py:1316', 4,
                               'callback_group event_callbacks qos_overriding_options raw'),
    'create_service': Api('node.py:1436', 3, 'qos_profile callback_group'),
    'create_client': Api('node.py:1394', 2, 'qos_profile callback_group'),
    'create_timer': Api('node.py:1480', 4, 'callback_group clock'),
    'destroy_timer': Api('node.py:1616', 1),
    'destroy_node': Api('node.py:1658', 0),
    'resolve_topic_name': Api('node.py:1216', 1, 'only_expand'),
    'count_publishers': Api('node.py:1844', 1),
    'count_subscribers': Api('node.py:1859', 1),
    'publish': Api('publisher.py:60', 1),
    'get_subscription_count': Api('publisher.py:76', 0),
    'wait_for_all_acked': Api('publisher.py:105', 1, 'timeout'),
    'is_canceled': Api('timer.py:65', 0),
    'cancel': Api('timer.py:69', 0),
    # rcl_timer_reset also un-cancels (ros2/rcl humble 5.3.7, rcl/src/rcl/timer.c:429).
    'reset': Api('timer.py:73', 0),
    'add_node': Api('executors.py:246', 1),
    'spin_once': Api('executors.py:738 (SingleThreadedExecutor)', 1, 'timeout_sec'),
    'service_is_ready': Api('client.py:153', 0),
    'call_async': Api('client.py:102', 1),
    'done': Api('task.py:76', 0),
    'result': Api('task.py:85', 0),
    'description': Api('rcl_interfaces/msg/ParameterDescriptor.msg field'),
    'additional_constraints': Api('rcl_interfaces/msg/ParameterDescriptor.msg field'),
    'integer_range': Api('rcl_interfaces/msg/ParameterDescriptor.msg field'),
    'floating_point_range': Api('rcl_interfaces/msg/ParameterDescriptor.msg field'),
}
