"""`robotok analyze`: tokenizer comparison core on synthetic data, the CLI, and real demos."""

import json
from pathlib import Path

from conftest import data_dir, HAVE_TORCH
import numpy as np
import pytest
from robotok_ros.analysis import chunk_metrics, compare, parse_spec, parse_specs
from robotok_ros.cli.main import main
from robotok_ros.data.synthetic import generate_episodes
from robotok_ros.errors import ConfigError
from robotok_ros.profile_loader import load_profile
from robotok_ros.tokenizers.binning import UniformTokenizer

PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'
TINY_VQ = 'vq:K=4:C=16:R=2:epochs=2:stride=2'
# One comparison of every kind; VQ trains with torch, so it joins only where torch is installed.
COMPARED = ['uniform:256,rt1:256,quantile:256,openvla', 'fast:H=10:scale=10'] + (
    [TINY_VQ] if HAVE_TORCH else [])


@pytest.fixture(scope='module')
def franka():
    return load_profile('franka_panda')


@pytest.fixture(scope='module')
def split(franka):
    episodes = generate_episodes(franka, n_episodes=10, seed=3)
    return episodes[:8], episodes[8:]


@pytest.fixture(scope='module')
def results(franka, split):
    specs = parse_specs(COMPARED)
    return {r['label']: r for r in compare(specs, *split, franka)}


def test_uniform_spends_exactly_d_tokens_per_step(results, franka):
    r = results['uniform:256']
    assert r['tokens_per_second'] == franka.dim * franka.control_rate_hz
    assert r['tokens_per_chunk_max'] == franka.dim and r['chunk_steps'] == 1


def test_uniform_rmse_halves_with_twice_the_bins(franka, split):
    # Measured on the fitting data: no value clips, so only the bin width sets the error.
    train = split[0]
    coarse, fine = compare(parse_specs(['uniform:256,uniform:512']), train, train, franka)
    assert sum(coarse['action_clips'].values()) == 0 == sum(fine['action_clips'].values())
    ratio = np.array(list(fine['rmse'].values())) / np.array(list(coarse['rmse'].values()))
    assert np.all((ratio > 0.4) & (ratio < 0.6)), ratio
    assert fine['position_rmse_physical_mean'] < 0.6 * coarse['position_rmse_physical_mean']


def test_fast_spends_fewer_tokens_per_second_than_uniform(results):
    fast, uniform = results['fast:H=10:scale=10'], results['uniform:256']
    assert fast['tokens_per_second'] < uniform['tokens_per_second']
    assert fast['chunk_steps'] == 10 and fast['compression_ratio'] > 1


def test_no_tokenizer_fails_to_decode_and_errors_are_physical(results, franka):
    assert len(results) == len(parse_specs(COMPARED))
    for label, r in results.items():
        assert r['decode_failures'] == 0, label
        assert r['chunks'] > 0 and 0 < r['vocab_used'] <= 1, label
        scaled = np.array(list(r['rmse'].values())) * franka.scales
        assert np.allclose(list(r['rmse_physical'].values()), scaled), label
        assert all(np.isfinite(v) for v in r['max_abs_error_physical'].values()), label


@pytest.mark.torch
def test_vq_codebook_use_is_a_fraction_with_a_perplexity(results):
    r = results[TINY_VQ]
    assert len(r['codebook_used']) == 2 and len(r['codebook_perplexity']) == 2
    assert all(0 < u <= 1 for u in r['codebook_used'])
    assert all(1 <= p <= 16 for p in r['codebook_perplexity'])
    assert r['tokens_per_chunk_mean'] == 2 and r['tokens_per_second'] == pytest.approx(2 * 15 / 4)
    assert 'codebook_used' not in results['uniform:256']


class _ShortDecoder(UniformTokenizer):
    """Every third decode drops a step: what a broken tokenizer does on the robot."""

    calls = 0

    def decode_chunk(self, ids):
        self.calls += 1
        if self.calls % 3 == 0:
            raise ValueError('broken')
        return super().decode_chunk(ids)

    def decode(self, tokens):
        out = super().decode(tokens)
        return out[:-1] if out.ndim == 3 else out


def test_decode_failures_are_counted_not_hidden(franka, split):
    tok = _ShortDecoder(franka).fit(split[0])
    m = chunk_metrics(tok, split[1])
    # The batch decode has the wrong shape, so each step goes through decode_chunk.
    assert m['decode_failures'] == m['chunks'] // 3
    assert np.isfinite(list(m['rmse'].values())).all()


def test_spec_aliases_and_errors_name_the_item(franka):
    spec = parse_spec('vq:K=4:C=8:R=3:lr=0.01:ranges=profile')
    assert spec.settings == {'epochs': 10, 'chunk_steps': 4, 'codebook_size': 8, 'levels': 3,
                             'learning_rate': 0.01}
    assert spec.ranges == 'profile' and parse_spec('uniform:64').settings == {'n_bins': 64}
    for bad, says in (('nope:3', 'unknown kind'), ('fast:H=10:foo=1', "unknown setting 'foo'"),
                      ('uniform:big', 'not key=value'), ('openvla:ranges=both', 'ranges'),
                      ('fast:H=', 'has no value')):
        with pytest.raises(ConfigError, match='item') as info:
            parse_specs([f'uniform:256,{bad}'])
        assert repr(bad) in str(info.value) and says in str(info.value)
    with pytest.raises(ConfigError, match=r"item 'fast:H=0'.*chunk_steps"):
        parse_spec('fast:H=0').build(franka)


@pytest.mark.torch
def test_cli_writes_table_png_and_json(tmp_path, capsys):
    saved = UniformTokenizer('franka_panda', n_bins=64).save(tmp_path / 'u64')
    png, js = tmp_path / 'out' / 'rd.png', tmp_path / 'rd.json'
    code = main(['analyze', '--synthetic', '5', '--tokenizers', 'uniform:128', 'fast:H=5',
                 TINY_VQ, '--load', str(saved), '--plot', str(png), '--json', str(js),
                 '--quiet'])
    out = capsys.readouterr().out
    assert code == 0
    assert png.read_bytes()[:8] == PNG_SIGNATURE
    report = json.loads(js.read_text())
    assert {'profile', 'control_rate_hz', 'train_episodes', 'val_episodes', 'position_dims',
            'tokenizers'} <= set(report)
    assert (report['train_episodes'], report['val_episodes']) == (4, 1)
    labels = [r['label'] for r in report['tokenizers']]
    assert labels == ['uniform:128', 'fast:H=5', TINY_VQ, 'u64 (uniform, loaded)']
    for r in report['tokenizers']:
        assert {'tokens_per_second', 'rmse_physical', 'max_abs_error_physical',
                'decode_failures', 'action_clips', 'position_rmse_physical_mean'} <= set(r)
    assert report['tokenizers'][-1]['source'] == 'load'
    assert 'codebook_used' in report['tokenizers'][2]
    assert all(label in out for label in labels) and '(mm)' in out and '(mrad)' in out


def test_cli_load_alone_measures_only_the_saved_tokenizer(tmp_path, capsys):
    saved = UniformTokenizer('franka_panda', n_bins=64).save(tmp_path / 'u64')
    js = tmp_path / 'rd.json'
    assert main(['analyze', '--synthetic', '3', '--load', str(saved), '--json', str(js),
                 '--quiet']) == 0
    (only,) = json.loads(js.read_text())['tokenizers']
    assert only['settings']['n_bins'] == 64 and only['fit_seconds'] == 0.0


def test_cli_bad_spec_is_one_line_naming_it(capsys):
    code = main(['analyze', '--robot', 'franka_panda', '--synthetic', '4', '--tokenizers',
                 'uniform:256,fast:H=10:x=2'])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count('\n') == 1 and "'fast:H=10:x=2'" in err and 'Traceback' not in err


@pytest.mark.torch
def test_real_robosuite_fit_three_tasks_measure_nut_assembly():
    folder = Path(data_dir()) / 'robosuite'
    if not (folder / 'nut-assembly_panda.hdf5').is_file():
        pytest.skip(f'shared demonstrations not found at {folder} (set ROBOTOK_DATA_DIR)')
    from robotok_ros.data.readers import read_episodes
    profile = load_profile('robosuite_panda_osc')
    train = [ep for t in ('lift', 'door', 'stack')
             for ep in read_episodes(str(folder / f'{t}_panda.hdf5'))]
    val = read_episodes(str(folder / 'nut-assembly_panda.hdf5'))
    specs = parse_specs(['uniform:256:ranges=profile', 'fast:H=10:scale=10',
                         'vq:K=8:C=16:epochs=2:stride=2'])
    uniform, fast, vq = compare(specs, train, val, profile)
    assert uniform['tokens_per_second'] == 7 * 20
    assert fast['tokens_per_second'] < uniform['tokens_per_second']
    assert vq['tokens_per_second'] == pytest.approx(20 / 8)
    for r in (uniform, fast, vq):
        assert r['decode_failures'] == 0 and np.isfinite(r['position_rmse_physical_mean'])
    # The profile's -1..1 holds every recorded value: no clips, and no error beyond half a bin
    # (2 / 256 units x 0.05 m).
    half_bin = 0.5 * 2 / 256 * 0.05
    assert sum(uniform['action_clips'].values()) == 0
    for name in ('dx', 'dy', 'dz'):
        assert 0 < uniform['rmse_physical'][f'{name} [m]'] <= half_bin
        assert uniform['max_abs_error_physical'][f'{name} [m]'] <= half_bin * (1 + 1e-9)
