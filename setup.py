"""ament_python setup: console scripts, launch/ and config/ installed to share/robotok_ros."""

from glob import glob
import os

from setuptools import find_packages, setup

PACKAGE = 'robotok_ros'


def tree(folder):
    """data_files entries that keep folder's sub-structure under share/robotok_ros."""
    entries = {}
    for path in glob(os.path.join(folder, '**', '*'), recursive=True):
        if os.path.isfile(path):
            target = os.path.join('share', PACKAGE, os.path.dirname(path))
            entries.setdefault(target, []).append(path)
    return sorted(entries.items())


setup(
    name=PACKAGE,
    version='0.1.0',
    packages=find_packages(exclude=['test', 'bench']),
    data_files=[
        ('share/ament_index/resource_index/packages', ['resource/' + PACKAGE]),
        ('share/' + PACKAGE, ['package.xml']),
    ] + tree('launch') + tree('config'),
    install_requires=['setuptools'],
    zip_safe=True,
    maintainer='robotok maintainers',
    maintainer_email='maintainers@robotok.dev',
    description='VLA action tokens <-> ROS 2 robot commands',
    license='Apache-2.0',
    entry_points={
        'console_scripts': [
            'robotok = robotok_ros.cli.main:main',
            'token_decoder = robotok_ros.nodes.decoder_node:main',
            'teleop_tokenizer = robotok_ros.nodes.teleop_node:main',
            'episode_recorder = robotok_ros.nodes.recorder_node:main',
            'sim_arm = robotok_ros.nodes.sim_arm_node:main',
            'scripted_operator = robotok_ros.nodes.operator_node:main',
            'token_policy = robotok_ros.nodes.policy_node:main',
            'policy_replay = robotok_ros.demo.replay_nodes:policy_replay_main',
            'command_listener = robotok_ros.demo.replay_nodes:command_listener_main',
        ],
    },
)
