"""`robotok train-policy` end to end on recorded bags, and every error it reports."""

import json

import numpy as np
import pytest
from robotok_ros.cli.main import main
from robotok_ros.data.bags import read_bag
from robotok_ros.policy import load_policy
from robotok_ros.profile_loader import load_profile
from policy_data import make_state_bag, REACH3, write_reach_bags  # noqa: I100 - test helper

SMALL = ['--d-model', '32', '--n-layers', '1', '--lr', '0.01', '--batch-size', '128']


@pytest.fixture(scope='module')
def bags(tmp_path_factory):
    folder = tmp_path_factory.mktemp('reach')
    (folder / 'reach3.yaml').write_text(REACH3)
    write_reach_bags(folder / 'bags', load_profile(folder / 'reach3.yaml'), 10, steps=30)
    return folder / 'bags'


def run(args, capsys):
    code = main(['train-policy'] + [str(a) for a in args])
    out, err = capsys.readouterr()
    assert 'Traceback' not in err
    return code, out, err


@pytest.mark.torch
def test_train_policy_writes_a_policy_the_robot_side_loads(tmp_path, bags, capsys):
    out_dir = tmp_path / 'pol'
    code, out, err = run(['--data', bags, '--n-bins', 16, '--head', 'ar', '--epochs', 20,
                          '--threads', 1, '--out', out_dir] + SMALL + ['--batch-size', 16],
                         capsys)
    assert code == 0, err
    assert 'train-policy: 8 training / 2 validation episodes, state of 6 values' in out
    assert 'validation token accuracy' in out and 'numpy inference' in out
    assert 'train-policy' in err and '20/20' in err  # the progress bar, on stderr
    assert sorted(p.name for p in out_dir.iterdir()) == [
        'metrics.json', 'policy.safetensors', 'policy.yaml', 'tokenizer']
    m = json.loads((out_dir / 'metrics.json').read_text())
    for key in ('train_loss', 'val_loss', 'val_token_accuracy', 'val_exact_accuracy',
                'inference_ms_per_call_mean', 'inference_ms_per_step_mean'):
        assert np.isfinite(m[key]), key
    assert len(m['history']) == 20 and m['threads'] == 1 and m['profile'] == 'reach3'
    assert m['tokenizer']['kind'] == 'uniform' and m['tokenizer']['settings']['n_bins'] == 16
    assert not set(m['train_bags']) & set(m['val_bags'])  # split by episode
    assert m['val_token_accuracy'] > 0.2  # chance is 1/16; test_policy_train checks learning
    policy = load_policy(out_dir)
    ep = read_bag(bags / 'episode_000000')
    state, names, _ = ep.observation_state()
    ids = policy.step(policy.select(state[0], names))
    assert ids.shape == (3,)
    assert policy.load_tokenizer().decode(ids[None]).shape == (1, 3)


@pytest.mark.torch
def test_a_tokenizer_that_learns_is_fitted_on_the_training_episodes(tmp_path, bags, capsys):
    out_dir = tmp_path / 'fast'
    code, out, err = run(['--data', bags, '--tokenizer', 'fast', '--tokenizer-setting',
                          'chunk_steps=4', 'vocab=64', 'scale=4', '--head', 'parallel',
                          '--epochs', 5, '--quiet', '--out', out_dir] + SMALL, capsys)
    assert code == 0, err
    assert '(fitted on the training episodes)' in out and 'whole-chunk exact' in out
    assert err == ''  # --quiet: no bar
    policy = load_policy(out_dir)
    tok = policy.load_tokenizer()
    assert tok.kind == 'fast' and tok.chunk_steps == 4 and policy.chunk_steps == 4
    m = json.loads((out_dir / 'metrics.json').read_text())
    assert m['val_decode_failures'] == 0 and m['messages_every_steps'] == 4
    state = read_bag(bags / 'episode_000003').observation_state()[0]
    assert tok.decode_chunk(policy.predict(state[5])).shape == (4, 3)
    # The fitted tokenizer is reused as it is.
    again = tmp_path / 'again'
    code, out, err = run(['--data', bags, '--tokenizer-path', out_dir / 'tokenizer',
                          '--epochs', 1, '--quiet', '--out', again] + SMALL, capsys)
    assert code == 0, err
    assert '(fitted' not in out


def test_bags_without_robot_state_are_refused(tmp_path, capsys):
    (tmp_path / 'reach3.yaml').write_text(REACH3)
    profile = load_profile(tmp_path / 'reach3.yaml')
    for i in range(2):
        make_state_bag(tmp_path / 'bags' / f'episode_{i:06d}', profile, 5, index=i, topics=())
    code, _, err = run(['--data', tmp_path / 'bags', '--out', tmp_path / 'p'], capsys)
    assert code == 2
    assert 'episode_000000: no robot state recorded (its metadata lists no ' \
           'observation_topics)' in err


@pytest.mark.parametrize('args, text', [
    (['--d-model', 4], 'd_model must be an integer in [8, 1024], got 4'),
    (['--d-model', 30], 'n_heads 4 must divide d_model 30'),
    (['--threads', 0], 'threads must be an integer in [1, 256], got 0'),
    (['--val-fraction', 0.95], 'val_fraction must be a finite number in [0.01, 0.9], got 0.95'),
    (['--tokenizer', 'vq', '--tokenizer-setting', 'n_bins=16'],
     '--tokenizer-setting n_bins=16 does not apply to the vq tokenizer (its settings: '
     'chunk_steps, codebook_size'),
    (['--tokenizer', 'fast', '--n-bins', 32], '--n-bins=32 does not apply to the fast '
                                              'tokenizer'),
    (['--tokenizer-setting', 'chunk_steps'], "--tokenizer-setting 'chunk_steps': write "
                                             'NAME=VALUE'),
    (['--tokenizer', 'fast', '--tokenizer-setting', 'chunk_steps=0'],
     "tokenizer 'fast' with {'chunk_steps': 0}: chunk_steps must be an integer in [1, 1000]"),
    (['--tokenizer-path', 'nowhere', '--tokenizer-setting', 'vocab=3'],
     '--tokenizer-setting applies to a tokenizer fitted here, not to --tokenizer-path='
     "'nowhere'"),
    (['--tokenizer-path', 'nowhere'], "--tokenizer-path='nowhere'"),
    (['--robot', 'franka_panda'], 'action dimensions, profile franka_panda has 7'),
])
def test_errors_are_one_line(tmp_path, bags, capsys, args, text):
    code, _, err = run(['--data', bags, '--out', tmp_path / 'p'] + args, capsys)
    assert code == 2
    assert text in err and err.count('\n') == 1, err


def test_a_split_needs_two_episodes(tmp_path, bags, capsys):
    code, _, err = run(['--data', bags / 'episode_000001', '--out', tmp_path / 'p'], capsys)
    assert code == 2
    assert 'a split by episode needs at least 2 episodes, got 1; give --val-data' in err


def test_validation_bags_must_hold_the_same_state(tmp_path, bags, capsys):
    (tmp_path / 'reach3.yaml').write_text(REACH3)
    make_state_bag(tmp_path / 'other', load_profile(tmp_path / 'reach3.yaml'), 5)
    code, _, err = run(['--data', bags, '--val-data', tmp_path / 'other', '--out',
                        tmp_path / 'p'], capsys)
    assert code == 2
    assert 'other: robot state differs from that of the first bag' in err


def test_state_columns_are_matched_by_name_across_bags(tmp_path):
    from robotok_ros.policy.data import read_state_episodes
    (tmp_path / 'reach3.yaml').write_text(REACH3)
    profile = load_profile(tmp_path / 'reach3.yaml')
    make_state_bag(tmp_path / 'bags' / 'a', profile, 6, topics=('/joint_states',))
    make_state_bag(tmp_path / 'bags' / 'b', profile, 6, topics=('/joint_states',),
                   joint_order=('finger', 'j1', 'j2'))
    episodes, names = read_state_episodes([tmp_path / 'bags'])
    assert names == ['joint_states.j1', 'joint_states.j2', 'joint_states.finger']
    np.testing.assert_allclose(episodes[1].states, episodes[0].states)
    assert episodes[0].actions.shape == (6, 3)


@pytest.mark.torch
def test_state_patterns_choose_what_the_policy_sees_and_ranges_come_from_the_data(
        tmp_path, bags, capsys):
    code, out, err = run(['--data', bags, '--n-bins', 16, '--epochs', 1, '--state', 'joint_*',
                          '--out', tmp_path / 'p', '--quiet'] + SMALL, capsys)
    assert code == 0, err
    policy = load_policy(tmp_path / 'p')
    assert policy.state_names and all(n.startswith('joint_') for n in policy.state_names)
    # --ranges data (the default): the ranges (and q01/q99) are the training actions'.
    assert all(d.q01 is not None for d in policy.load_tokenizer().profile.dimensions)
    tok = policy.load_tokenizer()
    moves = (tok.profile.lows < 0) & (tok.profile.highs > 0)
    assert moves.any()   # and on every dimension that moves both ways, 0 decodes to 0
    assert not tok.decode(tok.encode(np.zeros((1, tok.dim))))[0, moves].any()
    assert 'fitted on the training episodes' in out
    code, out, err = run(['--data', bags, '--n-bins', 16, '--epochs', 1, '--ranges', 'profile',
                          '--out', tmp_path / 'q', '--quiet'] + SMALL, capsys)
    assert code == 0, err
    dims = load_policy(tmp_path / 'q').load_tokenizer().profile.dimensions
    assert all(d.q01 is None for d in dims)
    code, out, err = run(['--data', bags, '--state', 'nothing*', '--out', tmp_path / 'r'],
                         capsys)
    assert code == 2 and err.count('\n') == 1
    assert '--state nothing*: matches none of the recorded state values (joint_' in err
