"""Warnings on defaults that go wrong silently: ranges, held-out clips, codebook use, tails."""

import json
from pathlib import Path

from conftest import data_dir
import numpy as np
import pytest
from robotok_ros import analysis, checks
from robotok_ros.analysis import compare, parse_specs
from robotok_ros.cli.main import main
from robotok_ros.data.synthetic import generate_episodes
from robotok_ros.errors import ConfigError
from robotok_ros.profile_loader import load_profile

BRIDGE = Path(data_dir()) / 'bridge'
ROBOSUITE = Path(data_dir()) / 'robosuite'


def _bridge():
    if not (BRIDGE / 'bridge_dataset-train.tfrecord').is_file():
        pytest.skip(f'shared demonstrations not found at {BRIDGE} (set ROBOTOK_DATA_DIR)')
    return str(BRIDGE)


def _warnings(err, command='analyze'):
    """Return the warning lines of ``err`` (robotok's own: vector_quantize logs via loguru)."""
    head = f'robotok {command}: warning: '
    return [line[len(head):] for line in err.splitlines() if line.startswith(head)]


@pytest.fixture(scope='module')
def profile():
    return load_profile('widowx_250')


def test_wide_ranges_give_the_ratio_per_dimension(profile):
    rng = np.random.default_rng(0)
    train = [rng.uniform(-0.01, 0.01, (50, 7)) for _ in range(3)]
    for ep in train:
        ep[:, 6] = rng.integers(0, 2, 50)  # the gripper spans its whole range
    found = checks.range_findings((profile.lows, profile.highs), (profile.lows, profile.highs),
                                  train, [], profile)
    assert set(found['wide']) == {'dx', 'dy', 'dz', 'droll', 'dpitch', 'dyaw'}
    span = profile.highs - profile.lows
    data = np.concatenate(train)
    assert found['wide']['dx'] == pytest.approx(span[0] / np.ptp(data[:, 0]))
    assert found['clip'] == {}
    (line,) = checks.range_warnings(found, profile, 'uniform:256', 'FIX W', 'FIX C')
    assert line.startswith('uniform:256: ranges much wider than the data (dx ')
    assert f'dx {found["wide"]["dx"]:.0f}x' in line and line.endswith('; FIX W')


def test_held_out_clips_give_share_and_worst_in_display_units(profile):
    train = [np.zeros((20, 7)), np.full((20, 7), 0.01)]
    val = np.zeros((10, 7))
    val[:2, 1] = [0.05, 0.02]  # 2 of 10 dy values beyond the fitted 0..0.01, worst by 40 mm
    box = (np.zeros(7), np.full(7, 0.01))
    found = checks.range_findings(box, box, train, [val], profile)
    assert list(found['clip']) == ['dy']
    assert found['clip']['dy']['fraction'] == pytest.approx(0.2)
    assert found['clip']['dy']['worst_physical'] == pytest.approx(0.04)
    (line,) = checks.range_warnings(found, profile, 'x', 'W', 'add :ranges=profile')
    assert line == ('x: held-out values clip at the ranges: dy 20.0% (worst 40 mm beyond); '
                    'add :ranges=profile')


def test_clipping_no_more_than_training_does_is_not_a_finding(profile):
    # OpenVLA's q01..q99 clips 2% of the training data by design; held-out data alike is fine.
    rng = np.random.default_rng(1)
    train, val = rng.normal(size=(2000, 7)), rng.normal(size=(500, 7))
    box = (np.quantile(train, 0.01, axis=0), np.quantile(train, 0.99, axis=0))
    wide_box = (box[0] - 10, box[1] + 10)
    assert checks.range_findings(wide_box, box, [train], [val], profile)['clip'] == {}


def test_codebook_low_use_and_undertrained_are_judged_against_what_is_attainable():
    history = [{'used': [0.5, 0.5]}, {'used': [0.0625, 0.1875]}]
    found = checks.codebook_findings([1 / 64, 4 / 64], 5, 64, history, train_windows=60)
    assert found['low_use'] == {'used': [1 / 64, 4 / 64], 'chunks': 5, 'attainable': 5 / 64}
    assert found['undertrained']['attainable'] == pytest.approx(60 / 64)
    low, under = checks.codebook_warnings(found, 'vq', 'LOWER C', 'MORE EPOCHS')
    assert low == ('vq: held-out chunks use 2%/6% of the codes per level (5 chunks could use '
                   '8%); LOWER C')
    assert under == ('vq: codebook undertrained: after 2 epochs training used 6%/19% of the '
                     'codes per level (60 windows could use 94%); MORE EPOCHS')
    # 5 chunks can use at most 5 of 64 codes: 4 of them is not low.
    assert checks.codebook_findings([4 / 64, 5 / 64], 5, 64) == {}


def test_tail_after_the_last_whole_chunk_is_counted():
    episodes = [np.zeros((10, 7))] * 5 + [np.zeros((3, 7))]
    assert checks.tail_steps(episodes, 8) == (10, 53)  # the 3-step episode is padded, not cut
    assert checks.tail_warning('vq', 10, 53, 8) == (
        'vq: 10 of 53 held-out steps (19%) are not measured: they follow the last whole 8-step '
        'chunk of an episode')
    assert checks.tail_warning('fast', 4, 1036, 8) is None  # under 1%: reported, not warned


def test_quantile_normalisation_without_profile_quantiles_names_ranges_data(capsys):
    # franka_panda has no q01/q99 for its gripper: the profile's cannot serve, the data's can.
    code = main(['analyze', '--robot', 'franka_panda', '--synthetic', '6', '--tokenizers',
                 'fast:H=5:normalization=quantile', '--quiet'])
    err = capsys.readouterr().err
    assert code == 2 and err.count('\n') == 1
    assert err == ("robotok analyze: error: --tokenizers item 'fast:H=5:normalization=quantile'"
                   ': normalization=quantile needs q01/q99, and profile franka_panda has none '
                   'for gripper; add :ranges=data to take them from the training episodes\n')
    assert main(['analyze', '--robot', 'franka_panda', '--synthetic', '6', '--tokenizers',
                 'fast:H=5:normalization=quantile:ranges=data', '--quiet']) == 0


def test_every_spec_is_built_before_any_is_fitted(monkeypatch):
    robosuite = load_profile('robosuite_panda_osc')  # no q01/q99 at all
    episodes = generate_episodes(robosuite, n_episodes=4, seed=0)
    fitted = []
    monkeypatch.setattr(analysis, '_fit', lambda tok, spec, *a: fitted.append(spec.label))
    with pytest.raises(ConfigError, match="item 'openvla:ranges=profile': needs q01/q99, and "
                                          'profile robosuite_panda_osc has none for dx; add '
                                          ':ranges=data'):
        compare(parse_specs(['fast:H=5', 'openvla:ranges=profile']), episodes[:3],
                episodes[3:], robosuite)
    assert fitted == []


def test_analyze_progress_bar_goes_to_stderr_only_when_asked(capsys):
    franka = load_profile('franka_panda')
    episodes = generate_episodes(franka, n_episodes=3, seed=0)
    compare(parse_specs(['uniform:64']), episodes[:2], episodes[2:], franka, progress=True)
    out, err = capsys.readouterr()
    assert 'analyze: 100%' in err and '1/1' in err and out == ''
    # The CLI: stderr is not a terminal here, so no bar, only the (absent) warnings.
    assert main(['analyze', '--robot', 'franka_panda', '--synthetic', '3', '--tokenizers',
                 'uniform:64:ranges=data']) == 0
    assert '100%' not in capsys.readouterr().err


def test_analyze_threads_flag_is_checked(capsys):
    assert main(['analyze', '--robot', 'franka_panda', '--synthetic', '3', '--threads', '0',
                 '--tokenizers', 'uniform:64']) == 2
    assert capsys.readouterr().err == 'robotok analyze: error: --threads must be >= 1, got 0\n'


def test_real_bridge_defaults_warn_with_numbers_and_the_fix(tmp_path, capsys):
    js = tmp_path / 'rd.json'
    specs = 'uniform:256,uniform:256:ranges=profile,fast:H=10:scale=10,fast:H=10:ranges=data'
    assert main(['analyze', '--robot', 'widowx_250', '--data', _bridge(), '--tokenizers', specs,
                 '--json', str(js), '--quiet']) == 0
    err = capsys.readouterr().err
    assert 'Traceback' not in err
    lines = _warnings(err)
    wide = ('ranges much wider than the data (dx 22x, dy 10x, dz 8x, droll 22x, dpitch 20x, '
            'dyaw 39x), so most of the resolution is spent on values that never occur; add '
            ":ranges=data to the spec (the training data's min/max)")
    clip = ('held-out values clip at the ranges: dy 8.0% (worst 10.1 mm beyond), dz 2.0% '
            "(worst 0.449 mm beyond); add :ranges=profile to the spec (profile widowx_250's "
            'ranges hold every held-out value), or train on episodes that cover the held-out '
            'range')
    assert lines == [f'uniform:256: {clip}', f'uniform:256:ranges=profile: {wide}',
                     f'fast:H=10:scale=10: {wide}', f'fast:H=10:ranges=data: {clip}']
    results = {r['label']: r for r in json.loads(js.read_text())['tokenizers']}
    # What the warning is about: FAST on the profile's +-0.4 m errs 4x more than on the data's.
    default, data = results['fast:H=10:scale=10'], results['fast:H=10:ranges=data']
    assert default['position_rmse_physical_mean'] > 3 * data['position_rmse_physical_mean']
    assert default['warnings'] == [f'fast:H=10:scale=10: {wide}']
    assert default['tail_steps_not_measured'] == 0 and default['steps'] == 50


@pytest.mark.torch
def test_real_bridge_default_vq_warns_on_codebook_use_and_tail(capsys):
    assert main(['analyze', '--robot', 'widowx_250', '--data', _bridge(), '--tokenizers',
                 'vq:K=8:C=64:R=2', '--quiet']) == 0
    lines = _warnings(capsys.readouterr().err)
    assert any(line.startswith('vq:K=8:C=64:R=2: held-out chunks use ') and
               '(5 chunks could use 8%); fewer codes (C=)' in line for line in lines), lines
    assert any('codebook undertrained: after 10 epochs training used' in line and
               '(60 windows could use 94%); train longer (:epochs=N in the spec; analyze '
               'trains 10 unless told)' in line for line in lines), lines
    assert ('vq:K=8:C=64:R=2: 10 of 50 held-out steps (20%) are not measured: they follow the '
            'last whole 8-step chunk of an episode') in lines


@pytest.mark.torch
def test_real_train_vq_reports_held_out_use_next_to_training(tmp_path, capsys):
    assert main(['train-vq', '--robot', 'widowx_250', '--data', _bridge(), '--no-fit-ranges',
                 '--chunk-steps', '8', '--codebook-size', '64', '--levels', '2', '--epochs', '10',
                 '--out', str(tmp_path / 'vq'), '--quiet']) == 0
    captured = capsys.readouterr()
    metrics = json.loads((tmp_path / 'vq' / 'metrics.json').read_text())
    v, t = metrics['validation'], metrics['train']
    pct = '/'.join(f'{u:.0%}' for u in v['codebook_used'])
    assert (f'codebook use per level, back-to-back chunks as analyze measures: held-out {pct}, '
            f'training {"/".join(f"{u:.0%}" for u in t["codebook_used"])} (every training '
            'window') in captured.out
    assert v['tail_steps_not_measured'] == 10 and v['chunks'] == 5
    lines = _warnings(captured.err, 'train-vq')
    assert lines[0].startswith('ranges much wider than the data (dx 22x')
    assert lines[0].endswith("; use --fit-ranges (the training data's min/max)")
    assert any(line.endswith('; a smaller --codebook-size would fit this data, or give more '
                             'training data') for line in lines), lines
    assert any(line.endswith('; raise --epochs (now 10)') for line in lines), lines


def test_real_train_bpe_names_fit_ranges(tmp_path, capsys):
    assert main(['train-bpe', '--robot', 'widowx_250', '--data', _bridge(), '--chunk-steps', '5',
                 '--out', str(tmp_path / 'a'), '--quiet']) == 0
    (line,) = _warnings(capsys.readouterr().err, 'train-bpe')
    assert line.startswith('ranges much wider than the data (dx 22x')
    assert line.endswith("; add --fit-ranges (the training data's min/max)")
    assert main(['train-bpe', '--robot', 'widowx_250', '--data', _bridge(), '--chunk-steps', '5',
                 '--fit-ranges', '--out', str(tmp_path / 'b'), '--quiet']) == 0
    (line,) = _warnings(capsys.readouterr().err, 'train-bpe')
    assert line.startswith('held-out values clip at the ranges: dy 8.0% (worst 10.1 mm beyond)')
    assert line.endswith("; drop --fit-ranges (profile widowx_250's ranges hold every held-out "
                         'value), or train on episodes that cover the held-out range')


def test_real_robosuite_fitted_ranges_clip_the_held_out_task(capsys):
    if not (ROBOSUITE / 'nut-assembly_panda.hdf5').is_file():
        pytest.skip(f'shared demonstrations not found at {ROBOSUITE} (set ROBOTOK_DATA_DIR)')
    train = [str(ROBOSUITE / f'{t}_panda.hdf5') for t in ('lift', 'door', 'stack')]
    assert main(['analyze', '--robot', 'robosuite_panda_osc', '--data', *train, '--val-data',
                 str(ROBOSUITE / 'nut-assembly_panda.hdf5'), '--tokenizers', 'quantile:256',
                 '--quiet']) == 0
    (line,) = _warnings(capsys.readouterr().err)
    assert line.startswith('quantile:256: held-out values clip at the ranges: dx 3.3% (worst '
                           '15 mm beyond)')
    assert line.endswith("its edges are the training data's extremes: train on episodes that "
                         'cover the held-out range, or compare uniform:N:ranges=profile')


def test_fit_warns_only_when_kept_ranges_dwarf_the_data(profile):
    from robotok_ros.fitting import fit_ranges
    episodes = [np.linspace(-0.01, 0.01, 20)[:, None] * np.ones(7) for _ in range(2)]
    for ep in episodes:
        ep[:, 6] = [0, 1] * 10
    (line,) = checks.fit_warnings(profile, episodes, kept_ranges=True)
    assert line.startswith('profile widowx_250: ranges much wider than the data (dx ')
    assert line.endswith('; drop --keep-ranges to fit min/max to the data, or give tokenizers '
                         'ranges=data')
    assert checks.fit_warnings(fit_ranges(episodes, profile), episodes, False) == []


@pytest.mark.torch
def test_analyze_threads_set_torch_threads_for_vq(capsys):
    import torch
    before = torch.get_num_threads()
    try:
        assert main(['analyze', '--robot', 'franka_panda', '--synthetic', '3', '--threads', '2',
                     '--tokenizers', 'vq:K=4:C=8:R=1:epochs=1']) == 0
        assert torch.get_num_threads() == 2
        # Without a terminal for a bar, a line says that training starts.
        assert 'vq:K=4:C=8:R=1:epochs=1: training 1 epoch(s) on ' in capsys.readouterr().out
    finally:
        torch.set_num_threads(before)
