"""`robotok fit` on any robot's data: new profiles, declared limits, --name, no silent robot."""

from pathlib import Path

from conftest import data_dir
import numpy as np
import pytest
from robotok_ros.cli.main import main
from robotok_ros.profile_loader import list_profiles, load_profile

OSC6 = 'dx=0,dy=1,dz=2,droll=3,dpitch=4,dyaw=5'
KNOWN = ', '.join(list_profiles())


def run(capsys, *argv):
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def _npz(path, actions, **extra):
    np.savez(path, actions=actions, **extra)
    return path


@pytest.fixture
def six(tmp_path):
    """Three 6-D episodes without a gripper: position deltas of 5 mm, rotations of 0.02 rad."""
    rng = np.random.default_rng(0)
    acts = rng.uniform(-0.005, 0.005, (3, 40, 6))
    acts[:, :, 3:] = rng.uniform(-0.02, 0.02, (3, 40, 3))
    return _npz(tmp_path / 'arm6.npz', acts), acts


def test_six_dims_without_gripper_make_a_complete_profile(capsys, tmp_path, six):
    path, acts = six
    out = tmp_path / 'arm6.yaml'
    rc, stdout, err = run(capsys, 'fit', '--data', path, '--columns', OSC6, '--rate-hz', 20,
                          '--out', out)
    assert rc == 0
    profile = load_profile(out)
    assert profile.name == 'arm6' and profile.dim == 6 and profile.gripper is None
    assert profile.names == ('dx', 'dy', 'dz', 'droll', 'dpitch', 'dyaw')
    assert [d.unit for d in profile.dimensions] == ['m'] * 3 + ['rad'] * 3
    assert profile.control_rate_hz == 20 and profile.has_quantiles
    np.testing.assert_allclose(profile.lows, acts.reshape(-1, 6).min(0))
    assert profile.columns == [0, 1, 2, 3, 4, 5]
    peak = np.linalg.norm(acts[:, :, :3].reshape(-1, 3), axis=1).max() * 20
    assert peak <= profile.safety.max_linear_speed < peak * 1.1
    assert (f'note: max_linear_speed {profile.safety.max_linear_speed:g} m/s is the '
            "demonstrations' peak (|dx,dy,dz| x scale x rate, rounded up); lower it for a real "
            'robot') in err
    assert stdout.startswith(f'wrote {out}: profile arm6, 6 dimensions (dx, dy, dz, droll, '
                             'dpitch, dyaw), 20 Hz, from 3 episodes, 120 steps; use it with '
                             f'--profile {out}, or as --robot arm6 with its folder on '
                             'ROBOTOK_PROFILE_PATH')
    assert main(['profile', 'validate', str(out)]) == 0
    assert capsys.readouterr().out.startswith(f'ok {out}: arm6, 6 dims, 20 Hz')
    # The fitted profile reads its data again without --columns: its column keys do it.
    rc, stdout, _ = run(capsys, 'analyze-resolution', '--profile', out, '--data', path,
                        '--bins', '64')
    assert rc == 0 and stdout.startswith('arm6: 3 episodes, 120 steps')


def test_no_timestamps_needs_rate_hz(capsys, six):
    path, _ = six
    rc, _, err = run(capsys, 'fit', '--data', path)
    assert rc == 2 and err == (f'robotok fit: error: {path}: the data hold no timestamps to '
                               'measure the control rate from; give --rate-hz HZ (the rate the '
                               'actions were recorded at)\n')


def test_eight_dims_with_a_torso_and_the_rate_from_timestamps(capsys, tmp_path):
    acts = np.random.default_rng(1).uniform(-0.01, 0.01, (50, 8))
    path = _npz(tmp_path / 'torso.npz', acts, episode_index=np.repeat([0, 1], 25),
                timestamp=np.tile(np.arange(25) / 15.0, 2))
    rc, out, err = run(capsys, 'fit', '--data', path, '--columns',
                       OSC6 + ',gripper=6,torso=7', '--units', 'torso=m')
    assert rc == 0
    profile = load_profile_text(tmp_path, out)
    assert profile.names[-2:] == ('gripper', 'torso') and profile.control_rate_hz == 15
    assert [d.unit for d in profile.dimensions][-2:] == ['', 'm']
    assert ("note: dimension 'gripper' is fitted as a plain dimension: add a gripper: block "
            '(dimension, open_value, closed_value) to declare it one') in err
    rc, _, err = run(capsys, 'fit', '--data', path, '--rate-hz', 15, '--units', 'm,m')
    assert rc == 2 and ("--units 'm,m': give one unit, 8 units (one per dimension: dim0, dim1, "
                        'dim2, dim3, dim4, dim5, dim6, dim7) or NAME=UNIT pairs, got 2') in err


def load_profile_text(tmp_path, text):
    """Load a profile printed by `robotok fit` (no --out)."""
    path = tmp_path / 'printed.yaml'
    path.write_text(text)
    return load_profile(path)


def test_joint_velocities_need_speed_limits_given(capsys, tmp_path):
    acts = np.random.default_rng(2).uniform(-0.5, 0.5, (2, 30, 7))
    path = _npz(tmp_path / 'joints.npz', acts)
    names = ','.join(f'j{i + 1}={i}' for i in range(7))
    base = ['fit', '--data', path, '--columns', names, '--units', 'rad/s', '--rate-hz', 10]
    rc, _, err = run(capsys, *base)
    assert rc == 2 and err == ('robotok fit: error: --max-linear-speed M/S is required: a '
                               'profile holds speed limits and the data have no moving dx/dy/dz '
                               'dimensions in m to measure one from\n')
    rc, out, err = run(capsys, *base, '--max-linear-speed', 0.5, '--max-angular-speed', 2)
    assert rc == 0 and err == ''
    profile = load_profile_text(tmp_path, out)
    assert profile.names == tuple(f'j{i}' for i in range(1, 8))
    assert {d.unit for d in profile.dimensions} == {'rad/s'}
    assert (profile.safety.max_linear_speed, profile.safety.max_angular_speed) == (0.5, 2.0)


def test_given_speed_below_the_data_warns(capsys, six):
    path, _ = six
    rc, _, err = run(capsys, 'fit', '--data', path, '--columns', OSC6, '--rate-hz', 20,
                     '--max-linear-speed', 0.01)
    assert rc == 0
    assert 'warning: the demonstrations reach ' in err
    assert 'm/s, above --max-linear-speed 0.01: the decoder will slow those steps down' in err


def test_several_data_paths_are_joined(capsys, tmp_path, six):
    path, acts = six
    other = _npz(tmp_path / 'more.npz', acts[:2] * 0.5)
    rc, out, _ = run(capsys, 'fit', '--data', path, other, '--columns', OSC6, '--rate-hz', 20,
                     '--out', tmp_path / 'p.yaml')
    assert rc == 0 and 'from 5 episodes, 200 steps' in out


def test_missing_robot_is_an_error_listing_the_choices(capsys, six):
    path, _ = six
    rc, _, err = run(capsys, 'encode', '0,0,0,0,0,0,1')
    assert rc == 2 and err == (f'robotok encode: error: give --robot NAME (one of: {KNOWN}) or '
                               '--profile PATH\n')
    rc, _, err = run(capsys, 'analyze-resolution', '--data', path)
    assert rc == 2 and err == (f'robotok analyze-resolution: error: give --robot NAME (one of: '
                               f'{KNOWN}) or --profile PATH; for a robot without a profile make '
                               f'one from the data: robotok fit --data {path} --out '
                               'my_robot.yaml, then --profile my_robot.yaml\n')
    rc, _, err = run(capsys, 'fit', '--synthetic', 4)
    assert rc == 2 and err == ('robotok fit: error: fit needs --data PATH... to make a new '
                               'profile from, or --robot NAME / --profile PATH for --synthetic; '
                               f'give --robot NAME (one of: {KNOWN}) or --profile PATH\n')
    rc, out, _ = run(capsys, 'analyze-resolution', '--synthetic', 3, '--bins', 64)
    assert rc == 0 and out.startswith('note: no --robot given: the synthetic demonstrations '
                                      'are made for franka_panda (give --robot NAME for '
                                      'another)\nfranka_panda: 3 episodes')


def test_width_mismatch_says_how_to_go_on(capsys, six):
    path, _ = six
    rc, _, err = run(capsys, 'fit', '--robot', 'robosuite_panda_osc', '--data', path)
    assert rc == 2 and err == (
        f'robotok fit: error: {path}: episode 0 has 6 action dimensions, profile '
        'robosuite_panda_osc has 7 (dx, dy, dz, droll, dpitch, dyaw, gripper); name them after '
        'dimensions of robosuite_panda_osc to fit that part of it (robotok fit --robot '
        f'robosuite_panda_osc --columns {OSC6}), or fit a new profile: robotok fit --data '
        f'{path} --out my_robot.yaml (without --robot)\n')
    rc, _, err = run(capsys, 'fit', '--robot', 'widowx_250', '--data', path, '--columns', '0:5')
    assert rc == 2 and 'episode 0 has 5 action dimensions, profile widowx_250 has 7' in err


def test_declared_controller_limits_are_kept_and_excess_warned(capsys, tmp_path):
    acts = np.clip(np.random.default_rng(3).normal(0, 0.5, (2, 60, 7)), -1.2, 1.2)
    acts[:, :, 6] = np.where(acts[:, :, 6] > 0, 1.0, -1.0)
    path = _npz(tmp_path / 'osc.npz', acts)
    out = tmp_path / 'osc.yaml'
    rc, _, err = run(capsys, 'fit', '--robot', 'robosuite_panda_osc', '--data', path, '--out',
                     out)
    assert rc == 0
    profile = load_profile(out)
    np.testing.assert_array_equal(profile.lows[:6], -1.0)
    np.testing.assert_array_equal(profile.highs[:6], 1.0)
    assert all(-1 <= d.q01 < d.q99 <= 1 for d in profile.dimensions)
    flat = acts.reshape(-1, 7)
    n = int((np.abs(flat[:, 0]) > 1).sum())
    assert (f'warning: dx: {n} of 120 steps lie outside the declared limits -1..1 of '
            f'robosuite_panda_osc (the data reach {flat[:, 0].min():.4g}..'
            f'{flat[:, 0].max():.4g}); kept the limits (the controller clips there)') in err
    assert 'gripper:' not in err


def test_keep_ranges_and_controller_limits_key(capsys, tmp_path, profile_path):
    acts = np.random.default_rng(4).uniform(-0.01, 0.01, (40, 7))
    path = _npz(tmp_path / 'd.npz', acts)
    rc, out, err = run(capsys, 'fit', '--profile', profile_path, '--data', path)
    assert rc == 0 and err == ''
    np.testing.assert_allclose(load_profile_text(tmp_path, out).lows, acts.min(0))
    rc, out, _ = run(capsys, 'fit', '--profile', profile_path, '--data', path, '--keep-ranges')
    assert load_profile_text(tmp_path, out).lows[0] == -0.02
    marked = tmp_path / 'marked.yaml'
    marked.write_text(profile_path.read_text().replace(
        'min: -0.02, max: 0.02}', 'min: -0.005, max: 0.005, controller_limits: true}', 1))
    rc, out, err = run(capsys, 'fit', '--profile', marked, '--data', path)
    assert rc == 0 and load_profile_text(tmp_path, out).highs[0] == 0.005
    assert err.startswith('warning: dx: ') and '(the controller clips there)' in err


def test_a_part_of_a_profile_from_named_columns(capsys, tmp_path, six):
    path, acts = six
    out = tmp_path / 'osc6.yaml'
    rc, _, err = run(capsys, 'fit', '--robot', 'robosuite_panda_osc', '--data', path,
                     '--columns', OSC6, '--out', out)
    assert rc == 0 and err == ('warning: profile robosuite_panda_osc_6d: ranges much wider than '
                               'the data (dx 202x, dy 203x, dz 201x, droll 50x, dpitch 50x, dyaw '
                               '51x), so most of the resolution is spent on values that never '
                               'occur; give tokenizers ranges=data\n')
    profile = load_profile(out)
    assert profile.name == 'robosuite_panda_osc_6d' and profile.gripper is None
    assert profile.names == ('dx', 'dy', 'dz', 'droll', 'dpitch', 'dyaw')
    assert list(profile.scales) == [0.05] * 3 + [0.5] * 3 and list(profile.highs) == [1.0] * 6


def test_name_is_found_on_the_profile_path_by_its_name_field(capsys, tmp_path, six, monkeypatch):
    path, _ = six
    folder = tmp_path / 'robots'
    folder.mkdir()
    rc, _, _ = run(capsys, 'fit', '--data', path, '--columns', OSC6, '--rate-hz', 20,
                   '--name', 'lab_arm', '--out', folder / 'fitted_today.yaml')
    assert rc == 0
    monkeypatch.setenv('ROBOTOK_PROFILE_PATH', str(folder))
    assert load_profile('lab_arm').source == str(folder / 'fitted_today.yaml')
    assert 'lab_arm' in list_profiles() and 'fitted_today' not in list_profiles()
    rc, out, _ = run(capsys, 'encode', '--robot', 'lab_arm', '0,0,0,0,0,0')
    assert rc == 0 and len(out.split(',')) == 6
    (folder / 'copy.yaml').write_text((folder / 'fitted_today.yaml').read_text())
    rc, _, err = run(capsys, 'encode', '--robot', 'lab_arm', '0,0,0,0,0,0')
    assert rc == 2 and err == (f"robotok encode: error: robot profile 'lab_arm' is declared by 2 "
                               f'files in {folder}: copy.yaml, fitted_today.yaml; rename one\n')


def test_save_tokenizer_says_which_kind(capsys, tmp_path):
    rc, out, _ = run(capsys, 'fit', '--robot', 'franka_panda', '--synthetic', 4, '--out',
                     tmp_path / 'p.yaml', '--save-tokenizer', tmp_path / 'tok')
    assert rc == 0
    assert (f'wrote {tmp_path / "tok"}: a quantile tokenizer (the default; --tokenizer uniform '
            'for RT-2 bins on the ranges): quantile tokenizer for franka_panda') in out
    rc, out, _ = run(capsys, 'fit', '--robot', 'franka_panda', '--synthetic', 4, '--out',
                     tmp_path / 'p.yaml', '--save-tokenizer', tmp_path / 'u', '--tokenizer',
                     'uniform')
    assert f'wrote {tmp_path / "u"}: a uniform tokenizer (--tokenizer uniform): ' in out


def test_real_robosuite_demos_keep_the_osc_limits(capsys, tmp_path):
    folder = Path(data_dir()) / 'robosuite'
    files = [folder / f'{t}_panda.hdf5' for t in ('lift', 'door')]
    if not all(f.is_file() for f in files):
        pytest.skip(f'shared demonstrations not found at {folder} (set ROBOTOK_DATA_DIR)')
    rc, out, err = run(capsys, 'fit', '--robot', 'robosuite_panda_osc', '--data', *files)
    # Inside -1..1 everywhere: no step beyond the limits, only the resolution warning.
    assert rc == 0 and err == ('warning: profile robosuite_panda_osc: ranges much wider than the '
                               'data (droll 8x, dpitch 9x), so most of the resolution is spent '
                               'on values that never occur; give tokenizers ranges=data\n')
    profile = load_profile_text(tmp_path, out)
    assert list(profile.lows) == [-1.0] * 7 and list(profile.highs) == [1.0] * 7
    assert 'from ' in out.splitlines()[0] and '2 episodes, 673 steps' in out.splitlines()[0]
    # Without --robot: the files declare their OSC_POSE controller (names, limits, scales).
    rc, out, err = run(capsys, 'fit', '--data', *files, '--columns', '0:6', '--rate-hz', 20,
                       '--out', tmp_path / 'new6.yaml')
    assert rc == 0
    new6 = load_profile(tmp_path / 'new6.yaml')
    assert new6.names == ('dx', 'dy', 'dz', 'droll', 'dpitch', 'dyaw')
    assert list(new6.scales) == [0.05] * 3 + [0.5] * 3 and list(new6.highs) == [1.0] * 6
    assert all(d.controller_limits for d in new6.dimensions)
    assert new6.safety.max_linear_speed < 1.0 and 'steps lie outside' not in err
    assert 'warning: profile new6: ranges much wider than the data (droll 8x, dpitch 9x)' in err


def test_unscaled_normalized_actions_need_the_speed_given(capsys, tmp_path):
    acts = np.zeros((2, 30, 6))
    acts[:, ::2, 0] = 1.0                      # full-scale steps read as metres: 20 m/s
    path = _npz(tmp_path / 'norm.npz', acts)
    argv = ['fit', '--data', path, '--columns', OSC6, '--rate-hz', 20]
    rc, _, err = run(capsys, *argv)
    assert rc == 2 and err == ('robotok fit: error: --max-linear-speed M/S is required: the '
                               'demonstrations reach 20 m/s, above the 10 m/s any profile '
                               "allows (if the actions are a controller's normalized input, fit "
                               'with --robot NAME of a profile that gives their scale)\n')
    rc, _, err = run(capsys, *argv, '--max-linear-speed', 1, '--max-angular-speed', 5)
    assert rc == 0 and ('warning: the demonstrations reach 20 m/s, above --max-linear-speed 1: '
                        'the decoder will slow those steps down') in err


def test_bags_give_names_and_rate(capsys, tmp_path, profile_path):
    from test_bags_cli import make_bag
    profile = load_profile(profile_path)
    rng = np.random.default_rng(5)
    for i, n in enumerate((12, 9)):
        make_bag(tmp_path / 'bags' / f'episode_{i:06d}', profile,
                 rng.uniform(profile.lows, profile.highs, (n, 7)), 'push', i)
    rc, out, err = run(capsys, 'fit', '--data', tmp_path / 'bags', '--name', 'from_bags')
    assert rc == 0
    fitted = load_profile_text(tmp_path, out)
    assert fitted.names == profile.names and fitted.control_rate_hz == 10  # stamps 0.1 s apart
    assert fitted.name == 'from_bags' and ': 2 episodes, 21 steps.' in out.splitlines()[0]
