"""DCT + BPE (FAST-style) tokenizer: whole chunks by construction, bounded error, safe state."""

import functools
import json
from pathlib import Path
import subprocess
import sys
import warnings

from hypothesis import given, settings, strategies as st
from hypothesis.extra.numpy import arrays
import numpy as np
import pytest
from robotok_ros.errors import ConfigError, DataError, InvalidTokenError, TokenizerStateError
from robotok_ros.fitting import fit_ranges
from robotok_ros.profile_loader import profile_from_dict
from robotok_ros.tokenizers import load_tokenizer, make_tokenizer
from robotok_ros.tokenizers.chunking import sliding_chunks
from robotok_ros.tokenizers.fast import ChunkLengthError, FASTTokenizer, LENGTH_WARN_PERIOD, \
    LengthFixWarning
from safetensors.numpy import load_file, save_file
from scipy.fft import dct
import yaml

from conftest import data_dir, SEVEN_DOF_PROFILE  # noqa: I100 - test-local helper module
import episodes
from tokenizer_folders import reseal

PROFILE = profile_from_dict(yaml.safe_load(SEVEN_DOF_PROFILE), 'test7.yaml')
H = 10


smooth_episodes = functools.partial(episodes.smooth_episodes, PROFILE)


@pytest.fixture(scope='module')
def fitted():
    return make_tokenizer('fast', PROFILE, chunk_steps=H, scale=10, vocab=512).fit(
        smooth_episodes(40))


def unseen_chunks(n, seed=1):
    """Return n chunks unlike the fitted data: white noise beyond the range, steps, extremes."""
    rng = np.random.default_rng(seed)
    lo, hi = PROFILE.lows, PROFILE.highs
    span = hi - lo
    chunks = rng.uniform(lo - 0.5 * span, hi + 0.5 * span, (n, H, PROFILE.dim))
    quarter = n // 4
    chunks[:quarter] = rng.uniform(lo, hi, (quarter, 1, PROFILE.dim))  # constant at any level
    chunks[quarter:2 * quarter, H // 2:] = hi  # steps to the top
    chunks[2 * quarter:2 * quarter + 2] = np.stack([lo, hi])[:, None]  # the extremes
    return chunks


def test_random_unseen_chunks_all_decode_whole_with_bounded_error(fitted):
    chunks = unseen_chunks(10_000)
    fit_symbols = set(np.unique(fitted.coefficients(sliding_chunks(smooth_episodes(40), H))[0]))
    new_symbols = set(np.unique(fitted.coefficients(chunks)[0])) - fit_symbols
    assert new_symbols, 'the test chunks must hold coefficients never seen while fitting'
    ids = fitted.encode(chunks)
    assert len(ids) == len(chunks) and all(i.dtype == np.int64 for i in ids)
    decoded = fitted.decode(ids)
    assert decoded.shape == chunks.shape and np.isfinite(decoded).all()
    assert fitted.length_fixes == 0 and fitted.last_coeff_clip_counts.sum() == 0
    assert fitted.last_clip_counts.sum() > 0  # the values beyond the range were counted
    err = decoded - np.clip(chunks, PROFILE.lows, PROFILE.highs)
    rms_bound, peak_bound = fitted.error_bound()
    assert (np.sqrt((err ** 2).mean(axis=1)) <= rms_bound * (1 + 1e-9)).all()
    assert (np.abs(err) <= peak_bound * (1 + 1e-9)).all()
    for i in range(0, len(chunks), 997):  # the one-message path agrees with the batch
        assert np.array_equal(fitted.decode_chunk(fitted.encode_chunk(chunks[i])), decoded[i])


@settings(max_examples=40, deadline=None)
@given(horizon=st.integers(1, 24), scale=st.floats(0.5, 40), data=st.data())
def test_any_finite_chunk_decodes_whole_within_the_bound(fitted, horizon, scale, data):
    values = st.floats(-1e6, 1e6, allow_subnormal=False)
    fresh = FASTTokenizer(PROFILE, chunk_steps=horizon, scale=scale, vocab=4000)
    for tok in (fresh, fitted):
        chunks = data.draw(arrays(np.float64, (3, tok.chunk_steps, PROFILE.dim), elements=values))
        decoded = tok.decode(tok.encode(chunks))
        assert decoded.shape == chunks.shape and tok.last_coeff_clip_counts.sum() == 0
        err = decoded - np.clip(chunks, PROFILE.lows, PROFILE.highs)
        rms, peak = tok.error_bound()
        assert (np.sqrt((err ** 2).mean(axis=1)) <= rms * (1 + 1e-9) + 1e-12).all()
        assert (np.abs(err) <= peak * (1 + 1e-9) + 1e-12).all()


def test_error_bound_follows_scale_and_range():
    tok = FASTTokenizer(PROFILE, chunk_steps=16, scale=4.0, vocab=300)
    rms, peak = tok.error_bound()
    half = (PROFILE.highs - PROFILE.lows) / 2
    assert np.allclose(rms, half * 0.5 / 4.0) and np.allclose(peak, rms * 4.0)
    assert tok.coeff_clip == int(np.ceil(4.0 * np.sqrt(16)))


def test_fitted_data_round_trips_compressed(fitted):
    chunks = sliding_chunks(smooth_episodes(10, seed=5), H, stride=H)
    ids = fitted.encode(chunks)
    assert np.mean([len(i) for i in ids]) < 0.5 * H * PROFILE.dim
    err = fitted.decode(ids) - chunks
    assert (np.sqrt((err ** 2).mean(axis=1)) <= fitted.error_bound()[0] * (1 + 1e-9)).all()


def test_unfitted_ids_are_coefficients_low_frequencies_first():
    tok = FASTTokenizer(PROFILE, chunk_steps=H, scale=10, vocab=100)
    chunk = sliding_chunks(smooth_episodes(1), H)[3]
    norm = 2 * (chunk - PROFILE.lows) / (PROFILE.highs - PROFILE.lows) - 1
    want = np.rint(dct(norm, axis=0, norm='ortho') * 10).astype(np.int64).reshape(-1)
    assert np.array_equal(tok.encode_chunk(chunk) - tok.coeff_clip, want)
    const = np.tile(PROFILE.highs, (H, 1))
    coeffs = tok.encode_chunk(const) - tok.coeff_clip
    assert (coeffs[:PROFILE.dim] != 0).all() and (coeffs[PROFILE.dim:] == 0).all()


def test_partial_and_overlong_sequences_are_rejected_not_repaired(fitted):
    chunk = sliding_chunks(smooth_episodes(1, seed=9), H)[0]
    ids = fitted.encode_chunk(chunk)
    fixes = fitted.length_fixes
    for bad, count in ((ids[:-1], 'holds [0-9]+ DCT'), (np.concatenate([ids, ids[:3]]), '')):
        with pytest.raises(ChunkLengthError, match=f'{count}.*not {H} x 7 = {H * 7}'):
            fitted.decode_chunk(bad)
    with pytest.raises(ChunkLengthError, match='sequence 1 holds') as info:
        fitted.decode([ids, ids[:1], ids])
    assert info.value.reason == 'length' and isinstance(info.value, InvalidTokenError)
    assert fitted.length_fixes == fixes  # nothing padded or cut
    with pytest.raises(InvalidTokenError, match='empty'):
        fitted.decode_chunk(np.array([], dtype=np.int64))


def test_relaxed_pads_or_cuts_with_a_counted_warning(fitted, tmp_path):
    tok = load_tokenizer(fitted.save(tmp_path))  # a fresh counter
    chunk = sliding_chunks(smooth_episodes(1, seed=9), H)[0]
    ids = tok.encode_chunk(chunk)
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        whole = tok.decode_chunk(ids, relaxed=True)
    with pytest.warns(LengthFixWarning, match='cut; 1 sequence'):
        longer = tok.decode_chunk(np.concatenate([ids, ids[:3]]), relaxed=True)
    assert tok.length_fixes == 1 and np.array_equal(longer, whole)
    tok._last_warn = None  # as if LENGTH_WARN_PERIOD had passed
    with pytest.warns(LengthFixWarning, match='padded'):
        shorter = tok.decode([int(i) for i in ids[:-1]], relaxed=True)
    assert tok.length_fixes == 2 and shorter.shape == (H, PROFILE.dim)
    # Padding keeps the low frequencies: the result is near the chunk, not all zeros.
    assert np.abs(shorter - chunk).max() < 0.5 * np.abs(chunk).max()
    batch = tok.decode([ids, ids[:1], ids], relaxed=True)  # within the period: counted, quiet
    assert tok.length_fixes == 3 and np.array_equal(batch[0], whole)
    assert np.array_equal(batch[2], whole)


def test_relaxed_warnings_stay_bounded_under_any_message_rate(fitted, tmp_path):
    # Before: one warnings.warn per message with its own text; +0.29 KB per message and
    # 307,000 log lines in 160 s.  Now: at most one warning per LENGTH_WARN_PERIOD.
    tok = load_tokenizer(fitted.save(tmp_path))
    short = tok.encode_chunk(sliding_chunks(smooth_episodes(1, seed=9), H)[0])[:-1]
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter('default')
        for _ in range(3000):
            tok.decode_chunk(short, relaxed=True)
    assert tok.length_fixes == 3000 and len(seen) == 1
    assert LENGTH_WARN_PERIOD >= 1.0


def test_ids_out_of_range_are_rejected_by_value_and_position(fitted):
    tok = FASTTokenizer(PROFILE, chunk_steps=H, scale=10, vocab=512, vocab_offset=32000)
    tok.load_state(fitted.state_arrays())
    lo, hi = tok.id_range
    assert (lo, hi) == (32000, 32000 + fitted.vocab_size - 1)
    ids = tok.encode_chunk(np.zeros((H, PROFILE.dim)))
    assert ids.min() >= lo and ids.max() <= hi
    for bad in (lo - 1, hi + 1, -5):
        seq = ids.copy()
        seq[1] = bad
        with pytest.raises(InvalidTokenError, match=rf'token id {bad} at position \(0, 1\)'):
            tok.decode_chunk(seq)
    with pytest.raises(InvalidTokenError, match='integer'):
        tok.decode_chunk(ids + 0.5)
    with pytest.raises(InvalidTokenError, match='shape'):
        tok.encode(np.zeros((H + 1, PROFILE.dim)))
    with pytest.raises(InvalidTokenError, match='not finite'):
        tok.encode(np.full((H, PROFILE.dim), np.nan))


def test_save_load_gives_identical_tokens(fitted, tmp_path):
    fitted.save(tmp_path)
    back = load_tokenizer(tmp_path)
    chunks = unseen_chunks(300, seed=3)
    assert isinstance(back, FASTTokenizer) and back.settings() == fitted.settings()
    assert back.vocab_size == fitted.vocab_size and back.id_range == fitted.id_range
    for a, b in zip(back.encode(chunks), fitted.encode(chunks)):
        assert np.array_equal(a, b)
    ids = fitted.encode(chunks)
    assert np.array_equal(back.decode(ids), fitted.decode(ids))


def _rewrite_state(path, arrays):
    save_file({k: np.ascontiguousarray(v) for k, v in arrays.items()}, str(path))


def test_tampered_state_is_an_error_naming_the_file(fitted, tmp_path):
    fitted.save(tmp_path)
    state = tmp_path / 'state.safetensors'
    arrays = load_file(str(state))
    raw = arrays['bpe_json'].copy()
    raw[raw.size // 2] ^= 1  # one flipped bit inside the JSON
    _rewrite_state(state, dict(arrays, bpe_json=raw))
    with pytest.raises(TokenizerStateError, match=f'{state}.*SHA-256'):
        load_tokenizer(tmp_path)
    state.write_bytes(b'\x00' * 40)
    with pytest.raises(TokenizerStateError, match=str(state)):
        load_tokenizer(tmp_path)


def test_state_with_a_valid_checksum_is_still_checked(fitted, tmp_path):
    import hashlib
    import json
    fitted.save(tmp_path)
    state = tmp_path / 'state.safetensors'
    doc = json.loads(fitted.bpe_json())
    doc['model']['vocab']['abc'] = len(doc['model']['vocab'])  # a token off the alphabet
    raw = json.dumps(doc).encode()
    _rewrite_state(state, {'bpe_json': np.frombuffer(raw, np.uint8),
                           'bpe_sha256': np.frombuffer(hashlib.sha256(raw).digest(), np.uint8)})
    reseal(tmp_path)  # tokenizer.yaml's state_sha256 rewritten too
    with pytest.raises(TokenizerStateError, match=f'{state}.*coefficient symbols'):
        load_tokenizer(tmp_path)


def test_coefficient_clipping_is_counted_and_still_decodes_whole():
    tok = FASTTokenizer(PROFILE, chunk_steps=H, scale=10, vocab=64, coeff_clip=4)
    chunks = unseen_chunks(200)
    decoded = tok.decode(tok.encode(chunks))
    assert decoded.shape == chunks.shape
    assert tok.last_coeff_clip_counts.sum() > 0
    assert np.array_equal(tok.coeff_clip_counts, tok.last_coeff_clip_counts)


def test_bad_settings_and_data_name_the_value():
    with pytest.raises(ConfigError, match=r'vocab 10 is smaller .* must be >= 65'):
        FASTTokenizer(PROFILE, chunk_steps=H, scale=10, vocab=10)
    with pytest.raises(ConfigError, match='chunk_steps'):
        FASTTokenizer(PROFILE, chunk_steps=0)
    with pytest.raises(ConfigError, match='scale'):
        FASTTokenizer(PROFILE, scale=float('nan'))
    with pytest.raises(ConfigError, match='q01/q99 for dimension dx'):
        FASTTokenizer(PROFILE, normalization='quantile')
    with pytest.raises(ConfigError, match="unknown setting 'horizn'"):
        make_tokenizer('fast', PROFILE, horizn=3)
    with pytest.raises(DataError, match='episode 0'):
        FASTTokenizer(PROFILE, vocab=200).fit([np.zeros((20, 3))])


def test_quantile_normalization_covers_values_beyond_q99():
    eps = smooth_episodes(20)
    profile = fit_ranges(eps, PROFILE)
    tok = FASTTokenizer(profile, chunk_steps=H, scale=5, vocab=300, normalization='quantile')
    assert tok.coeff_clip >= np.ceil(5 * np.sqrt(H))
    chunks = np.random.default_rng(4).uniform(profile.lows, profile.highs, (2000, H, 7))
    decoded = tok.fit(eps).decode(tok.encode(chunks))
    assert tok.last_coeff_clip_counts.sum() == 0
    err = np.sqrt(((decoded - chunks) ** 2).mean(axis=1))
    assert (err <= tok.error_bound()[0] * (1 + 1e-9)).all()


def test_norm_clip_limits_the_alphabet_and_clips_to_its_box():
    stats = fit_ranges(smooth_episodes(20), PROFILE).dimensions
    # min/max ten times the usual range, as rare glitches make them in real datasets.
    profile = PROFILE.with_ranges(PROFILE.lows * 10, PROFILE.highs * 10,
                                  [d.q01 for d in stats], [d.q99 for d in stats])
    wide = FASTTokenizer(profile, chunk_steps=H, scale=10, vocab=2000, normalization='quantile')
    tok = FASTTokenizer(profile, chunk_steps=H, scale=10, vocab=300, normalization='quantile',
                        norm_clip=2)
    assert tok.coeff_clip == int(np.ceil(10 * np.sqrt(H) * 2)) < wide.coeff_clip
    chunks = np.random.default_rng(6).uniform(profile.lows, profile.highs, (500, H, 7))
    decoded = tok.decode(tok.encode(chunks))
    assert tok.last_coeff_clip_counts.sum() == 0 and tok.last_clip_counts.sum() > 0
    q01, q99 = (np.array([getattr(d, q) for d in profile.dimensions]) for q in ('q01', 'q99'))
    centre, half = (q01 + q99) / 2, (q99 - q01) / 2
    box = np.clip(chunks, centre - 2 * half, centre + 2 * half)
    err = np.sqrt(((decoded - box) ** 2).mean(axis=1))
    assert (err <= tok.error_bound()[0] * (1 + 1e-9)).all()


def test_short_episodes_give_one_held_chunk():
    ep = np.arange(12, dtype=float).reshape(4, 3)
    chunks = sliding_chunks([ep, np.zeros((12, 3))], 6, stride=3)
    assert chunks.shape == (1 + 3, 6, 3)
    assert np.array_equal(chunks[0, 4:], [ep[-1], ep[-1]])


def test_import_and_decode_need_neither_torch_nor_hf_tokenizers(fitted, tmp_path):
    fitted.save(tmp_path)
    ids = fitted.encode_chunk(np.zeros((H, PROFILE.dim)))
    code = ('import sys; from robotok_ros.tokenizers import load_tokenizer; '
            f'tok = load_tokenizer({str(tmp_path)!r}); '
            f'print(tok.decode_chunk({ids.tolist()!r}).shape, '
            "'torch' in sys.modules, 'tokenizers' in sys.modules)")
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                         timeout=60, check=True).stdout.split()
    assert out == [f'({H},', f'{PROFILE.dim})', 'False', 'False']


def _train_bpe(tmp_path, *args):
    from robotok_ros.cli.main import main
    code = main(['train-bpe', *args, '--out', str(tmp_path / 'bpe'), '--quiet'])
    return code, json.loads((tmp_path / 'bpe' / 'metrics.json').read_text()) if code == 0 else None


def test_train_bpe_cli_splits_by_episode_and_saves_metrics(tmp_path, capsys):
    code, metrics = _train_bpe(tmp_path, '--synthetic', '10', '--robot', 'franka_panda',
                               '--chunk-steps', '8', '--vocab', '300', '--val-fraction', '0.3')
    assert code == 0
    assert (metrics['train_episodes'], metrics['val_episodes']) == (7, 3)
    for part in ('train', 'validation'):
        m = metrics[part]
        assert m['decode_failures'] == 0 and m['length_fixes'] == 0
        assert m['compression_ratio'] == pytest.approx(8 * 7 / m['tokens_per_chunk_mean'])
        assert set(m['rmse']) == {'dx', 'dy', 'dz', 'droll', 'dpitch', 'dyaw', 'gripper'}
    assert 'validation: ' in capsys.readouterr().out
    tok = load_tokenizer(tmp_path / 'bpe')
    assert tok.chunk_steps == 8 and tok.vocab_size == metrics['vocab_size']


def test_train_bpe_cli_user_errors_are_one_line(tmp_path, capsys):
    code, _ = _train_bpe(tmp_path, '--synthetic', '1', '--robot', 'franka_panda')
    assert code == 2 and 'at least 2 episodes' in capsys.readouterr().err
    code, _ = _train_bpe(tmp_path, '--synthetic', '4', '--robot', 'franka_panda', '--vocab', '5')
    assert code == 2 and 'vocab 5 is smaller than the base alphabet' in capsys.readouterr().err


def test_real_robosuite_fit_three_tasks_measure_the_fourth(tmp_path):
    folder = Path(data_dir()) / 'robosuite'
    if not (folder / 'nut-assembly_panda.hdf5').is_file():
        pytest.skip(f'shared demonstrations not found at {folder} (set ROBOTOK_DATA_DIR)')
    fit = [str(folder / f'{t}_panda.hdf5') for t in ('lift', 'door', 'stack')]
    code, metrics = _train_bpe(tmp_path, '--data', *fit, '--val-data',
                               str(folder / 'nut-assembly_panda.hdf5'), '--robot',
                               'robosuite_panda_osc', '--chunk-steps', '20')
    assert code == 0
    val = metrics['validation']
    assert val['decode_failures'] == 0 and val['length_fixes'] == 0
    assert val['coefficient_clips'] == dict.fromkeys(val['rmse'], 0)
    assert val['compression_ratio'] > 2
    bound = metrics['error_bound_rms']
    assert all(val['rmse'][k] <= bound[k] for k in bound)
