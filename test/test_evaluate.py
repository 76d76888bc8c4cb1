"""`robotok evaluate` on tiny reach bags, with the sim rollouts stubbed (no ROS nodes start)."""

import importlib.util
import json

import pytest
from robotok_ros.cli.main import main
from robotok_ros.demo import evaluate as ev
from robotok_ros.profile_loader import load_profile
from policy_data import REACH3, write_reach_bags  # noqa: I100 - test helper

SMALL = {'d_model': 32, 'n_layers': 1, 'batch_size': 128}
SUCCESS = {'uniform64-parallel': 0.25, 'uniform128-ar': 0.75}


@pytest.fixture(scope='module')
def bags(tmp_path_factory):
    folder = tmp_path_factory.mktemp('reach')
    (folder / 'reach3.yaml').write_text(REACH3)
    write_reach_bags(folder / 'bags', load_profile(folder / 'reach3.yaml'), 10, steps=30)
    return folder


def stub_rollout(calls):
    """Return a rollout_fn recording its calls and answering a fixed summary per policy."""
    def rollout_fn(robot, policy_path, tokenizer_path, rollouts, out, seed, rtf, max_seconds):
        calls.append((policy_path.name, rollouts, seed))
        assert (tokenizer_path / 'tokenizer.yaml').is_file()
        if policy_path.name == 'fast-ar':
            raise RuntimeError('sim_arm exited\nsecond line')
        rate = SUCCESS.get(policy_path.name, 0.5)
        return {'success_rate': rate, 'tokens_per_s': 30.0 * (1 + rate),
                'tracking_mean_mm': 4.0, 'policy_ms_p50': 1.5,
                'rollouts': [{'success': True}] * rollouts}
    return rollout_fn


@pytest.mark.torch
def test_every_config_trains_on_the_same_split_and_the_best_succeeds_most(bags, tmp_path):
    calls, lines = [], []
    bad = ev.EvalConfig('uniform8-ar', 'uniform', 'ar', (('n_bins', 8),))
    configs = ['uniform64-parallel', bad, 'uniform128-ar']
    result, text = ev.evaluate([bags / 'bags'], bags / 'reach3.yaml', configs, tmp_path,
                               rollouts=3, seed=7, epochs=2, train_options=SMALL,
                               progress=lambda i, n, row: lines.append((i, n, row['label'])),
                               rollout_fn=stub_rollout(calls))
    assert lines == [(0, 3, 'uniform64-parallel'), (1, 3, 'uniform8-ar'),
                     (2, 3, 'uniform128-ar')]
    assert calls == [('uniform64-parallel', 3, 7), ('uniform128-ar', 3, 7)]  # same seeds
    assert result['best'] == 'uniform128-ar' and result['success_rate'] == 0.75
    figures = result['configs']
    assert figures['uniform8-ar']['error'].startswith('training: ')
    assert '\n' not in figures['uniform8-ar']['error'] and 'n_bins' in figures['uniform8-ar'][
        'error']
    for label in SUCCESS:
        row = figures[label]
        assert row['error'] is None and row['success_rate'] == SUCCESS[label]
        for key in ('val_loss', 'val_token_accuracy', 'tracking_mean_mm', 'tokens_per_s',
                    'policy_ms_p50', 'inference_ms_per_call_mean', 'train_seconds'):
            assert row[key] is not None, (label, key)
    saved = json.loads((tmp_path / 'results.json').read_text())
    assert saved['best'] == 'uniform128-ar' and set(saved['configs']) == set(figures)
    table = (tmp_path / 'table.md').read_text()
    rows = [line for line in table.splitlines() if line.startswith('| uniform')]
    assert [r.split(' | ')[0] for r in rows] == ['| uniform64-parallel', '| uniform8-ar',
                                                 '| uniform128-ar']
    assert 'FAILED training' in rows[1] and 'even bin count' in table
    assert text in table
    metrics = [json.loads((tmp_path / label / 'metrics.json').read_text()) for label in SUCCESS]
    assert metrics[0]['val_bags'] == metrics[1]['val_bags'] and metrics[0]['val_bags']
    assert metrics[0]['train_bags'] == metrics[1]['train_bags']
    assert metrics[0]['tokenizer']['settings']['n_bins'] == 64
    assert metrics[1]['tokenizer']['settings']['n_bins'] == 128
    assert metrics[0]['config']['head'] == 'parallel' and metrics[1]['config']['head'] == 'ar'
    assert metrics[0]['config']['d_model'] == 32  # train options pass through


@pytest.mark.torch
def test_the_cli_reports_a_failed_rollout_and_ends_with_json(bags, tmp_path, capsys,
                                                             monkeypatch):
    calls = []
    monkeypatch.setattr(ev, 'rollout', stub_rollout(calls))
    code = main(['evaluate', '--data', str(bags / 'bags'), '--robot', str(bags / 'reach3.yaml'),
                 '--configs', 'fast-ar', 'uniform64-parallel', '--rollouts', '2', '--epochs',
                 '2', '--history', '2', '--state', 'joint_states.*', '--out', str(tmp_path)])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert 'Traceback' not in out + err
    lines = out.strip().splitlines()
    assert lines[0].startswith('evaluate 1/2 fast-ar: FAILED rollout: RuntimeError: '
                               'sim_arm exited')
    assert 'second line' not in out
    assert lines[1].startswith('evaluate 2/2 uniform64-parallel: val loss ')
    last = json.loads(lines[-1])
    assert last['best'] == 'uniform64-parallel' and last['success_rate'] == 0.25
    assert set(last['configs']) == {'fast-ar', 'uniform64-parallel'}
    assert last['configs']['fast-ar']['error'].startswith('rollout: ')
    assert last['configs']['fast-ar']['val_loss'] is not None  # it trained before it failed
    m = json.loads((tmp_path / 'uniform64-parallel' / 'metrics.json').read_text())
    assert m['config']['history'] == 2
    assert m['state_names'] and all(n.startswith('joint_states.') for n in m['state_names'])


def test_an_unknown_config_label_is_one_line_naming_the_valid_ones(tmp_path, capsys):
    code = main(['evaluate', '--data', str(tmp_path), '--configs', 'uniform64-ar',
                 'uniform100-ar', '--out', str(tmp_path / 'out')])
    out, err = capsys.readouterr()
    assert code == 2 and out == ''
    assert err.count('\n') == 1 and 'Traceback' not in err
    assert "'uniform100-ar'" in err and 'uniform64-ar, uniform64-parallel' in err
    assert all(label in err for label in ev.CONFIGS)
    assert not (tmp_path / 'out').exists()


def test_the_plot_has_one_point_per_config(tmp_path):
    if importlib.util.find_spec('matplotlib') is None:
        note = ev.plot([], tmp_path / 'p.png')
        pytest.skip(f'matplotlib is not installed; evaluate says: {note}')
    rows = [{'label': 'a-ar', 'head': 'ar', 'error': None, 'tokens_per_s': 10.0,
             'success_rate': 0.5},
            {'label': 'b-parallel', 'head': 'parallel', 'error': None, 'tokens_per_s': 80.0,
             'success_rate': 1.0},
            {'label': 'c-ar', 'head': 'ar', 'error': 'training: x'}]
    note = ev.plot(rows, tmp_path / 'success_vs_tokens.png')
    assert note == f'plot {tmp_path / "success_vs_tokens.png"}'
    assert (tmp_path / 'success_vs_tokens.png').read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'


def test_default_configs_are_the_issues_twelve():
    assert list(ev.CONFIGS) == [f'{t}-{h}' for t in ('uniform64', 'uniform128', 'uniform256',
                                                     'uniform512', 'fast', 'vq')
                                for h in ('ar', 'parallel')]
    assert ev.configs_named(None) == list(ev.CONFIGS.values())
    with pytest.raises(ev.ConfigError, match="unknown configuration 'x'"):
        ev.configs_named(['x'])
