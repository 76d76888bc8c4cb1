"""
A small transformer policy: robot state -> action tokens of any tokenizer kind.

``config`` holds the settings, ``data`` reads state and actions from bags,
``targets`` turns them into token targets, ``files`` saves and loads a policy
folder, ``infer`` runs it with numpy only (what the robot side needs), ``model``
and ``train`` need torch and are imported only to train.
"""

from robotok_ros.policy.config import PolicyConfig, PolicyFileError, TrainSettings
from robotok_ros.policy.infer import load_policy, NumpyPolicy

__all__ = ['load_policy', 'NumpyPolicy', 'PolicyConfig', 'PolicyFileError', 'TrainSettings']
