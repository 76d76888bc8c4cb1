"""
Robot profile and tokenizer folder pairing: limits come from the robot, pairing by fingerprint.

Unit tests call ``profile_and_tokenizer`` with node parameter values; node tests
start a real token_decoder process (test/rosutil.py) with a tampered folder.
"""

from pathlib import Path

from geometry_msgs.msg import TwistStamped
import numpy as np
import pytest
from robotok_ros.errors import ConfigError
from robotok_ros.nodes.parameters import profile_and_tokenizer
from robotok_ros.profile_loader import load_profile
from robotok_ros.tokenizers import make_tokenizer
from std_msgs.msg import Int32MultiArray
import yaml

from tokenizer_folders import edit_config  # noqa: I100 - test-local helper module

pytestmark = pytest.mark.timeout(120)
TOKENS = '/robotok/action_tokens'
TWIST = '/servo_node/delta_twist_cmds'


def _values(**given):
    values = {'robot': '', 'profile_path': '', 'tokenizer': 'uniform', 'tokenizer_path': '',
              'given': {}}
    values.update(given)
    return values


@pytest.fixture
def panda_quantile(tmp_path):
    """Save a quantile tokenizer fitted on Franka-shaped data; return its folder."""
    profile = load_profile('franka_panda')
    rng = np.random.default_rng(0)
    data = rng.uniform(-0.5, 0.5, (400, 7)).clip(profile.lows, profile.highs)
    return make_tokenizer('quantile', profile, n_bins=16).fit([data]).save(tmp_path / 'tok')


def _widen_limits_and_ranges(config):
    # What an attacker (or a careless edit) can do to a folder without touching its identity.
    config['profile']['safety']['max_linear_speed'] = 9.0
    config['profile']['safety']['max_angular_speed'] = 19.0
    for dim in config['profile']['dimensions'][:6]:
        dim.update(min=-400.0, max=400.0, q01=-300.0, q99=300.0)


def test_a_tokenizer_folder_alone_is_refused():
    with pytest.raises(ConfigError) as info:
        profile_and_tokenizer(_values(tokenizer='quantile', tokenizer_path='/some/folder'))
    assert str(info.value) == (
        "parameter tokenizer_path='/some/folder' needs a robot profile: set parameter robot or "
        'profile_path, because the safety limits come from the robot profile, never from a '
        'tokenizer folder')


def test_a_paired_folder_decodes_but_the_limits_are_the_robots(panda_quantile):
    edit_config(panda_quantile, _widen_limits_and_ranges)
    profile, tok = profile_and_tokenizer(_values(robot='franka_panda', tokenizer='quantile',
                                                 tokenizer_path=str(panda_quantile)))
    assert profile == load_profile('franka_panda') and profile.safety.max_linear_speed == 0.5
    assert tok.profile.safety.max_linear_speed == 9.0  # only the tokenizer's own copy
    assert tok.profile.fingerprint() == profile.fingerprint()


SCALES = ('scales [0.075, 0.075, 0.075, 0.15, 0.15, 0.15, 1.0] vs [1.0, 1.0, 1.0, 1.0, 1.0, '
          '1.0, 1.0]')


@pytest.mark.parametrize('robot, differs', [
    ('ur5e', [SCALES, 'rate 15.0 vs 10.0', "frame 'panda_link0' vs 'base_link'"]),
    ('widowx_250', [SCALES, 'rate 15.0 vs 5.0', "frame 'panda_link0' vs 'wx250s/base_link'",
                    "gripper {'dimension': 'gripper', 'mode': 'continuous', 'open_value': 0.0, "
                    "'closed_value': 1.0} vs {'dimension': 'gripper', 'mode': 'binary', "
                    "'open_value': 1.0, 'closed_value': 0.0}"]),
])
def test_a_folder_of_another_robot_names_both_fingerprints_and_what_differs(tmp_path, robot,
                                                                            differs):
    other = load_profile(robot)
    folder = make_tokenizer('uniform', other).save(tmp_path / robot)
    with pytest.raises(ConfigError) as info:
        profile_and_tokenizer(_values(robot='franka_panda', tokenizer_path=str(folder)))
    panda = load_profile('franka_panda')
    assert str(info.value) == (
        f'parameter tokenizer_path={str(folder)!r} does not pair with robot profile '
        f"'franka_panda': fingerprints {panda.fingerprint()} (robot) vs {other.fingerprint()} "
        f'(tokenizer) differ in {"; ".join(differs)} (robot vs tokenizer)')


def test_dimension_names_and_units_are_named(tmp_path):
    panda = load_profile('franka_panda')
    data = panda.to_dict()
    data['dimensions'][3].update(unit='deg')
    data['dimensions'][6].update(name='grip')
    data['gripper']['dimension'] = 'grip'
    path = tmp_path / 'renamed.yaml'
    path.write_text(yaml.safe_dump(data))
    folder = make_tokenizer('uniform', path).save(tmp_path / 'tok')
    with pytest.raises(ConfigError) as info:
        profile_and_tokenizer(_values(robot='franka_panda', tokenizer_path=str(folder)))
    msg = str(info.value)
    assert "names ['dx', 'dy', 'dz', 'droll', 'dpitch', 'dyaw', 'gripper'] vs ['dx', 'dy', " \
           "'dz', 'droll', 'dpitch', 'dyaw', 'grip']" in msg
    assert "units ['m', 'm', 'm', 'rad', 'rad', 'rad', ''] vs ['m', 'm', 'm', 'deg'" in msg
    assert "gripper {'dimension': 'gripper'" in msg and "{'dimension': 'grip'," in msg


# -- the node -----------------------------------------------------------------------------------
def _fatal(proc):
    assert proc.wait(30) == 2, proc.describe()
    err = proc.stderr
    fatal = [line for line in err.splitlines() if 'FATAL' in line]
    assert len(fatal) == 1 and 'Traceback' not in err, proc.describe()
    return fatal[0]


@pytest.mark.parametrize('tamper, needle', [
    (lambda folder: (folder / 'state.safetensors').write_bytes(
        (folder / 'state.safetensors').read_bytes()[:-1] + b'\x7f'),
     'the file is tampered or corrupted'),
    (lambda folder: edit_config(folder, lambda c: c['profile'].update(control_rate_hz=30)),
     'the profile block has fingerprint'),
    (lambda folder: edit_config(folder, lambda c: c['profile']['safety'].update(
        max_linear_speed=1e300)), 'safety.max_linear_speed must be > 0 and <= 10 m/s, got '
     '1e+300'),
    (lambda folder: (folder / 'tokenizer.yaml').write_text(
        'kind: !!python/object/apply:os.system [touch /tmp/robotok_pwned]\n'),
     'could not determine a constructor for the tag'),
])
def test_decoder_with_a_tampered_folder_exits_2_with_one_fatal_line(ros, panda_quantile,
                                                                    tamper, needle):
    tamper(Path(panda_quantile))
    proc = ros.start_node('token_decoder', params={
        'robot': 'franka_panda', 'tokenizer': 'quantile', 'tokenizer_path': str(panda_quantile)})
    line = _fatal(proc)
    assert needle in line and str(panda_quantile) in line, line


def test_decoder_with_a_folder_and_no_robot_exits_2(ros, panda_quantile):
    proc = ros.start_node('token_decoder', params={
        'tokenizer': 'quantile', 'tokenizer_path': str(panda_quantile)})
    assert 'needs a robot profile: set parameter robot or profile_path' in _fatal(proc)


def test_decoder_with_another_robots_folder_exits_2(ros, tmp_path):
    folder = make_tokenizer('uniform', 'ur5e').save(tmp_path / 'ur5e')
    proc = ros.start_node('token_decoder', params={'robot': 'franka_panda',
                                                   'tokenizer_path': str(folder)})
    line = _fatal(proc)
    ur5e, panda = load_profile('ur5e'), load_profile('franka_panda')
    assert f'fingerprints {panda.fingerprint()} (robot) vs {ur5e.fingerprint()}' in line


def test_widened_folder_limits_do_not_reach_the_arm(ros, tmp_path):
    """The attack that commanded 168-337 m/s: limits widened inside the folder."""
    # widowx_250: no workspace box, so the decoder needs no pose to command twists.
    profile = load_profile('widowx_250')
    folder = make_tokenizer('uniform', profile).save(tmp_path / 'tok')
    edit_config(folder, _widen_limits_and_ranges)
    proc = ros.start_node('token_decoder', params={
        'robot': 'widowx_250', 'tokenizer_path': str(folder), 'start_enabled': True})
    twists = ros.collect(TWIST, TwistStamped)
    ros.wait_for_subscribers(TOKENS)
    # The highest bin of every arm dimension: 400 m per step at 5 Hz in the widened folder.
    top = [255, 255, 255, 255, 255, 255, 0]

    def commanded():
        ros.publish(TOKENS, Int32MultiArray(data=top))
        return ros.wait_for(lambda: len(twists) >= 3, 0.3)
    assert ros.wait_for(commanded, 20), proc.describe()
    limit = profile.safety
    for msg in twists:
        lin, ang = msg.twist.linear, msg.twist.angular
        assert np.linalg.norm([lin.x, lin.y, lin.z]) <= limit.max_linear_speed * (1 + 1e-9)
        assert np.linalg.norm([ang.x, ang.y, ang.z]) <= limit.max_angular_speed * (1 + 1e-9)
    # It moved, clamped to the robot's limits (0.25 m/s, 1.5 rad/s), not the folder's 9 m/s.
    assert max(np.linalg.norm([m.twist.linear.x, m.twist.linear.y, m.twist.linear.z])
               for m in twists) == pytest.approx(limit.max_linear_speed)
