"""
Run one launch file through the real LaunchService, as ``ros2 launch`` does.

    python launch_runner.py [--noninteractive] FILE [name:=value ...]

ros2cli is not installable here; its ``ros2 launch`` only wraps a
LaunchService around an IncludeLaunchDescription of the file with the
``name:=value`` arguments (ros2launch/api/api.py, launch_a_launch_file), which
is what this does.  The launch/launch_ros sources come from PYTHONPATH (the
test puts one of ../shared/ros/<distro>/src there).  The exit status is
LaunchService.run()'s.
"""

import sys


def main(argv):
    """Launch the file named in ``argv`` with its arguments; return the exit status."""
    from launch import LaunchDescription, LaunchService
    from launch.actions import IncludeLaunchDescription
    from launch.launch_description_sources import AnyLaunchDescriptionSource

    noninteractive = '--noninteractive' in argv
    argv = [a for a in argv if a != '--noninteractive']
    path, launch_args = argv[0], [tuple(a.split(':=', 1)) for a in argv[1:]]
    service = LaunchService(argv=argv[1:], noninteractive=noninteractive)
    service.include_launch_description(LaunchDescription([
        IncludeLaunchDescription(AnyLaunchDescriptionSource(path),
                                 launch_arguments=launch_args)]))
    return service.run()


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
