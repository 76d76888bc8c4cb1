"""VQ-VAE chunk tokenizer: training, codebook use, ids, save/load and tampered files."""

import os
from pathlib import Path
import subprocess
import sys

from conftest import HAVE_TORCH
import numpy as np
import pytest
from robotok_ros.errors import ConfigError, InvalidTokenError, TokenizerStateError
from robotok_ros.tokenizers import load_tokenizer, make_tokenizer
from robotok_ros.tokenizers.base import STATE_FILE
from robotok_ros.tokenizers.chunking import chunk_episodes, usage
from robotok_ros.tokenizers.vq import VQTokenizer
from tokenizer_folders import reseal

K = 4
TINY = {'chunk_steps': K, 'codebook_size': 16, 'code_dim': 4, 'hidden': [32, 16],
        'epochs': 12, 'batch_size': 32, 'learning_rate': 3e-3}
LOWS = np.array([-0.02, -0.02, -0.02, -0.1, -0.1, -0.1, 0.0])
HIGHS = -LOWS + np.array([0, 0, 0, 0, 0, 0, 1.0])


@pytest.fixture(scope='module', autouse=True)
def one_thread():
    """Keep torch on one thread: the machine is shared, and results depend on thread count."""
    if not HAVE_TORCH:
        yield  # the tests that train skip (``torch`` mark); the rest need no torch
        return
    import torch
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def smooth_episodes(n, steps=40, seed=0):
    """Return ``n`` smooth 7-D episodes ``(steps, 7)`` inside the test profile's ranges."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0.0, 1.0, steps)[:, None]
    episodes = []
    for _ in range(n):
        freq = rng.uniform(0.3, 1.2, (1, 6))
        phase = rng.uniform(0, 2 * np.pi, (1, 6))
        amp = rng.uniform(0.3, 0.9, (1, 6)) * HIGHS[:6]
        grip = (t[:, 0] > rng.uniform(0.2, 0.8)).astype(float)[:, None]
        episodes.append(np.hstack([amp * np.sin(2 * np.pi * freq * t + phase), grip]))
    return episodes


@pytest.fixture(scope='module')
def episodes():
    return smooth_episodes(30, seed=1)


@pytest.fixture(scope='module')
def profile7(tmp_path_factory):
    from conftest import SEVEN_DOF_PROFILE
    path = tmp_path_factory.mktemp('profile') / 'test7.yaml'
    path.write_text(SEVEN_DOF_PROFILE)
    return path


@pytest.fixture(scope='module')
def fitted(profile7, episodes):
    return VQTokenizer(profile7, levels=2, vocab_offset=1000, **TINY).fit(episodes)


@pytest.mark.torch
def test_importing_vq_does_not_import_torch(tmp_path, fitted):
    fitted.save(tmp_path / 'tok')
    code = ('import sys\n'
            'import robotok_ros.tokenizers.vq\n'
            'from robotok_ros.tokenizers import load_tokenizer\n'
            f'tok = load_tokenizer({str(tmp_path / "tok")!r})\n'
            'tok.decode_chunk(tok.encode_chunk(tok.decode_chunk([1000, 1016])))\n'
            'print(sorted(m for m in sys.modules if m.split(".")[0] in ("torch", '
            '"vector_quantize_pytorch")))\n')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                         timeout=60, env=dict(os.environ))
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == '[]'


@pytest.mark.torch
def test_training_lowers_the_loss(fitted):
    first, last = fitted.history[0], fitted.history[-1]
    assert len(fitted.history) == TINY['epochs']
    assert last['loss'] < 0.5 * first['loss']
    assert last['recon'] < 0.5 * first['recon']


@pytest.mark.torch
def test_dead_code_reset_raises_utilisation(profile7, episodes):
    kw = dict(TINY, codebook_size=64)
    plain = VQTokenizer(profile7, dead_code_threshold=0.0, **kw).fit(episodes)
    reset = VQTokenizer(profile7, dead_code_threshold=0.3, **kw).fit(episodes)
    used_plain = plain.evaluate(episodes)['used'][0]
    used_reset = reset.evaluate(episodes)['used'][0]
    assert used_reset >= 0.9
    assert used_reset > used_plain + 0.2


@pytest.mark.torch
def test_second_level_refines_reconstruction(profile7, episodes):
    one = VQTokenizer(profile7, levels=1, **TINY).fit(episodes).evaluate(episodes)
    two = VQTokenizer(profile7, levels=2, **TINY).fit(episodes).evaluate(episodes)
    assert np.mean(list(two['rmse'].values())) < np.mean(list(one['rmse'].values()))
    assert two['tokens_per_chunk'] == 2 and len(two['used']) == 2


@pytest.mark.torch
def test_same_seed_same_model_other_seed_other_model(profile7, episodes, fitted):
    again = VQTokenizer(profile7, levels=2, vocab_offset=1000, **TINY).fit(episodes)
    for name, arr in fitted.state_arrays().items():
        np.testing.assert_array_equal(arr, again.state_arrays()[name], err_msg=name)
    other = VQTokenizer(profile7, levels=2, vocab_offset=1000, seed=1, **TINY).fit(episodes)
    assert not np.array_equal(other.state_arrays()['codebooks'],
                              fitted.state_arrays()['codebooks'])


@pytest.mark.torch
def test_layout_and_shapes(fitted, episodes):
    assert fitted.vocab_size == 32 and fitted.id_range == (1000, 1031)
    assert fitted.chunk_steps == K and fitted.tokens_per_step is None
    chunks = chunk_episodes(episodes, K, 7)
    assert chunks.shape == (30 * 10, K, 7)
    ids = fitted.encode(chunks)
    assert ids.shape == (300, 2) and ids.dtype == np.int64
    assert ids[:, 0].min() >= 1000 and ids[:, 0].max() <= 1015
    assert ids[:, 1].min() >= 1016 and ids[:, 1].max() <= 1031
    assert fitted.decode(ids).shape == (300, K, 7)
    batch = chunks[:6].reshape(2, 3, K, 7)
    np.testing.assert_array_equal(fitted.encode(batch), ids[:6].reshape(2, 3, 2))
    assert fitted.decode(ids[:6].reshape(2, 3, 2)).shape == (2, 3, K, 7)
    one = fitted.encode_chunk(chunks[5])
    np.testing.assert_array_equal(one, ids[5])
    np.testing.assert_allclose(fitted.decode_chunk(one), fitted.decode(ids[5]))
    decoded = fitted.decode(ids)
    assert (decoded >= fitted.profile.lows).all() and (decoded <= fitted.profile.highs).all()


@pytest.mark.torch
@pytest.mark.parametrize('ids, match', [
    ([1000], 'exactly 2'), ([1000, 1016, 1017], 'exactly 2'),
    ([1016, 1016], r'position \(0,\).*level 0'), ([1000, 1015], r'\[1016, 1031\].*level 1'),
    ([999, 1016], '999'), ([1000, 1032], '1032'), ([1000.5, 1016], 'not an integer')])
def test_bad_ids_are_rejected(fitted, ids, match):
    with pytest.raises(InvalidTokenError, match=match):
        fitted.decode_chunk(np.array(ids))


@pytest.mark.torch
def test_bad_chunks_are_rejected(fitted):
    with pytest.raises(InvalidTokenError, match=r'\(4, 7\)'):
        fitted.encode_chunk(np.zeros((K + 1, 7)))
    with pytest.raises(InvalidTokenError, match='last dimension 7'):
        fitted.encode(np.zeros((K, 6)))
    bad = np.zeros((K, 7))
    bad[2, 3] = np.nan
    with pytest.raises(InvalidTokenError, match='not finite'):
        fitted.encode_chunk(bad)


@pytest.mark.torch
def test_out_of_range_actions_clip_and_are_counted(fitted):
    chunk = np.zeros((K, 7))
    chunk[1, 0] = 5.0
    chunk[3, 6] = -2.0
    before = fitted.clip_counts.copy()
    fitted.encode_chunk(chunk)
    np.testing.assert_array_equal(fitted.last_clip_counts, [1, 0, 0, 0, 0, 0, 1])
    np.testing.assert_array_equal(fitted.clip_counts - before, [1, 0, 0, 0, 0, 0, 1])


def test_unfitted_tokenizer_refuses_to_encode(profile7):
    tok = make_tokenizer('vq', profile7, chunk_steps=K)
    with pytest.raises(TokenizerStateError, match='fit it'):
        tok.encode_chunk(np.zeros((K, 7)))


@pytest.mark.parametrize('bad, match', [
    ({'codebook_size': 1}, 'codebook_size'), ({'levels': 0}, 'levels'),
    ({'hidden': []}, 'hidden'), ({'codebook_update': 'adam'}, 'codebook_update'),
    ({'decay': 1.5}, 'decay'), ({'learning_rate': float('nan')}, 'learning_rate'),
    ({'kmeans_init': 'false'}, 'kmeans_init'), ({'codebooks': 3}, "unknown setting 'codebooks'")])
def test_bad_settings_are_config_errors(profile7, bad, match):
    with pytest.raises(ConfigError, match=match):
        make_tokenizer('vq', profile7, **bad)


@pytest.mark.torch
def test_save_load_gives_identical_codes_and_decodes(tmp_path, fitted, episodes):
    fitted.save(tmp_path / 'tok')
    loaded = load_tokenizer(tmp_path / 'tok')
    assert isinstance(loaded, VQTokenizer)
    assert loaded.settings() == fitted.settings()
    np.testing.assert_array_equal(loaded.profile.lows, fitted.profile.lows)
    chunks = chunk_episodes(episodes, K, 7)
    ids = fitted.encode(chunks)
    np.testing.assert_array_equal(loaded.encode(chunks), ids)
    np.testing.assert_array_equal(loaded.decode(ids), fitted.decode(ids))


def _rewrite(path, change):
    from safetensors.numpy import load_file, save_file
    arrays = load_file(str(path))
    change(arrays)
    save_file(arrays, str(path))


@pytest.mark.torch
@pytest.mark.parametrize('tamper, match', [
    (lambda p: p.write_bytes(p.read_bytes()[:len(p.read_bytes()) // 2]), 'not a readable'),
    (lambda p: p.write_text('encoder: [1, 2, 3]\n'), 'not a readable'),
    (lambda p: p.unlink(), 'is missing'),
    (lambda p: _rewrite(p, lambda a: a.pop('decoder.1.bias')), "'decoder.1.bias' is missing"),
    (lambda p: _rewrite(p, lambda a: a.update(codebooks=np.zeros((2, 16, 5), np.float32))),
     r"'codebooks' must have shape \(2, 16, 4\)"),
    (lambda p: _rewrite(p, lambda a: a.update(extra=np.zeros(3, np.float32))), "'extra'"),
    (lambda p: _rewrite(p, lambda a: a['encoder.0.weight'].__setitem__((0, 0), np.inf)),
     "'encoder.0.weight' must hold finite")])
def test_tampered_state_is_a_clear_error(tmp_path, fitted, tamper, match):
    folder = fitted.save(tmp_path / 'tok')
    state = Path(folder) / STATE_FILE
    tamper(state)
    if state.is_file():
        with pytest.raises(TokenizerStateError, match='SHA-256 .* does not match the '
                                                      'state_sha256 .* tampered or corrupted'):
            load_tokenizer(folder)
        reseal(folder)  # a tamperer who also rewrites the checksum meets the checks behind it
    with pytest.raises(TokenizerStateError, match=match) as info:
        load_tokenizer(folder)
    assert str(folder) in str(info.value) and '\n' not in str(info.value)


def _blowup_arrays(tok, value):
    return {name: np.full(shape, value, np.float32)
            for name, shape in tok.expected_shapes().items()}


def test_huge_weights_are_refused_and_an_overflowing_decode_is_an_invalid_token(profile7):
    tok = VQTokenizer(profile7, chunk_steps=K, codebook_size=4, code_dim=4, hidden=[16] * 6)
    with pytest.raises(TokenizerStateError, match=r"<w>: tensor 'encoder.0.weight' holds "
                                                  r'\|value\| 100000, more than the 10000'):
        tok.load_state(_blowup_arrays(tok, 1e5), source='<w>')
    # Every value allowed, yet seven layers of 16 x 1e4 overflow float32: refused, not NaN.
    tok.load_state(_blowup_arrays(tok, 1e4))
    with pytest.raises(InvalidTokenError, match='vq: the ids of chunk 0 decode to a non-finite '
                                                r'action \(the model overflows float32\)'):
        tok.decode_chunk(np.array([2]))


@pytest.mark.torch
def test_settings_that_change_shapes_are_caught_on_load(tmp_path, fitted):
    import yaml
    folder = fitted.save(tmp_path / 'tok')
    cfg = yaml.safe_load((folder / 'tokenizer.yaml').read_text())
    cfg['settings']['code_dim'] = 8
    (folder / 'tokenizer.yaml').write_text(yaml.safe_dump(cfg))
    with pytest.raises(TokenizerStateError, match='encoder.2.weight'):
        load_tokenizer(folder)


def test_usage_counts_fraction_and_perplexity():
    used, perp = usage([[5, 5, 0, 0], [1, 1, 1, 1]])
    np.testing.assert_allclose(used, [0.5, 1.0])
    np.testing.assert_allclose(perp, [2.0, 4.0])


def test_chunking_drops_short_tails_and_rejects_too_short_data():
    eps = [np.zeros((10, 7)), np.zeros((3, 7))]
    assert chunk_episodes(eps, 4, 7).shape == (2, 4, 7)
    assert chunk_episodes(eps, 4, 7, stride=1).shape == (7, 4, 7)
    from robotok_ros.errors import DataError
    with pytest.raises(DataError, match='4 steps'):
        chunk_episodes([np.zeros((3, 7))], 4, 7)


@pytest.mark.torch
def test_cli_train_vq_splits_by_episode_and_saves_metrics(tmp_path, profile7, capsys):
    import json
    from robotok_ros.cli.main import main
    data = tmp_path / 'demo.npz'
    np.savez(data, actions=np.stack(smooth_episodes(10, seed=3)))
    out = tmp_path / 'vq'
    status = main(['train-vq', '--data', str(data), '--profile', str(profile7), '--chunk-steps',
                   str(K), '--codebook-size', '8', '--code-dim', '4', '--hidden', '16',
                   '--epochs', '3', '--batch-size', '16', '--val-fraction', '0.3', '--quiet',
                   '--out', str(out)])
    assert status == 0
    printed = capsys.readouterr().out
    assert '7 training / 3 validation episodes' in printed
    metrics = json.loads((out / 'metrics.json').read_text())
    assert metrics['train_episodes'] == 7 and metrics['val_episodes'] == 3
    assert metrics['validation']['chunks'] == 3 * 10
    assert set(metrics['validation']['rmse_physical']) == {
        'dx [m]', 'dy [m]', 'dz [m]', 'droll [rad]', 'dpitch [rad]', 'dyaw [rad]',
        'gripper [-]'}
    assert len(metrics['history']) == 3 and 0 < metrics['train']['codebook_used'][0] <= 1
    assert 0 < metrics['train']['codebook_used_all_windows'][0] <= 1
    assert metrics['validation']['decode_failures'] == 0
    assert metrics['validation']['tokens_per_chunk_mean'] == 1
    tok = load_tokenizer(out)
    assert tok.settings()['codebook_size'] == 8 and tok.settings()['hidden'] == [16]


def test_cli_train_vq_user_errors_are_one_line(tmp_path, profile7, capsys):
    from robotok_ros.cli.main import main
    status = main(['train-vq', '--synthetic', '1', '--profile', str(profile7), '--out',
                   str(tmp_path / 'x')])
    assert status == 2
    assert 'at least 2 episodes' in capsys.readouterr().err
    status = main(['train-vq', '--data', str(tmp_path / 'none.npz'), '--profile',
                   str(profile7), '--out', str(tmp_path / 'x')])
    assert status == 2
    assert 'none.npz' in capsys.readouterr().err


@pytest.mark.torch
def test_values_at_the_fitted_range_ends_are_not_clips(fitted, episodes):
    chunk = np.zeros((K, 7))
    chunk[0], chunk[1] = fitted.profile.lows, fitted.profile.highs
    fitted.encode_chunk(chunk)
    assert fitted.last_clip_counts.sum() == 0
    fitted.evaluate(episodes)
    assert fitted.last_clip_counts.sum() == 0


@pytest.mark.torch
def test_codebook_loss_mode_trains_the_codebook_by_gradient(profile7, episodes, fitted):
    seen = []
    tok = VQTokenizer(profile7, codebook_update='loss', **TINY).fit(
        episodes, progress=lambda epoch, record: seen.append(epoch))
    assert seen == list(range(TINY['epochs']))
    assert tok.history[-1]['recon'] < 0.5 * tok.history[0]['recon']
    assert all(r['codebook'] > 0 for r in tok.history)
    assert all(r['codebook'] == 0 for r in fitted.history)


@pytest.mark.torch
def test_evaluate_every_window_samples_more_chunks(fitted, episodes):
    back_to_back = fitted.evaluate(episodes)
    every = fitted.evaluate(episodes, stride=1)
    assert back_to_back['chunks'] == 30 * 10 and every['chunks'] == 30 * 37
    assert every['used'][0] >= back_to_back['used'][0]


@pytest.mark.torch
def test_real_bridge_data_fit_on_20_measure_on_5():
    from conftest import data_dir
    from robotok_ros.cli.common import split_episodes
    from robotok_ros.data.readers import read_episodes
    path = Path(data_dir()) / 'bridge' / 'bridge_dataset-train.tfrecord'
    if not path.is_file():
        pytest.skip(f'shared demonstrations not found at {path} (set ROBOTOK_DATA_DIR)')
    train, val = split_episodes(read_episodes(path), 0.2, 0)
    assert (len(train), len(val)) == (20, 5)
    tok = VQTokenizer('widowx_250', chunk_steps=5, codebook_size=16, code_dim=8,
                      hidden=[64, 32], epochs=60, batch_size=32, learning_rate=3e-3)
    tok.fit(train)
    assert tok.evaluate(train, stride=1)['used'][0] >= 0.9
    fitted_chunks = chunk_episodes(train, 5, 7)
    spread = fitted_chunks.reshape(-1, 7).std(axis=0)
    rmse = np.array(list(tok.evaluate(train)['rmse'].values()))
    # One token per 5 steps (16 codes) must beat the per-dimension mean on what it was fitted
    # on (measured: 0.67-0.87 of the spread for xyz, 0.24 for the gripper) ...
    assert (rmse[[0, 1, 2, 6]] < spread[[0, 1, 2, 6]]).all(), (rmse, spread)
    # ... and turn every held-out chunk into a finite chunk within the fitted ranges.
    chunks = chunk_episodes(val, 5, 7)
    decoded = tok.decode(tok.encode(chunks))
    assert decoded.shape == chunks.shape == (10, 5, 7) and np.isfinite(decoded).all()
    assert (decoded >= tok.profile.lows).all() and (decoded <= tok.profile.highs).all()


@pytest.mark.torch
def test_any_valid_ids_decode_to_a_safe_chunk(fitted):
    rng = np.random.default_rng(7)
    ids = rng.integers(0, 16, (10000, 2)) + np.array([1000, 1016])
    decoded = fitted.decode(ids)
    assert decoded.shape == (10000, K, 7) and np.isfinite(decoded).all()
    assert (decoded >= fitted.profile.lows).all() and (decoded <= fitted.profile.highs).all()
