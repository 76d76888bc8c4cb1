"""DCT + BPE with a fitted step table: whole chunks by construction, bounded error, safe state."""

import functools
from pathlib import Path
import re
import sys

from hypothesis import given, settings, strategies as st
from hypothesis.extra.numpy import arrays
import numpy as np
import pytest
from robotok_ros.analysis import compare, parse_spec
from robotok_ros.errors import ConfigError, TokenizerStateError
from robotok_ros.profile_loader import profile_from_dict
from robotok_ros.tokenizers import load_tokenizer, make_tokenizer
from robotok_ros.tokenizers.chunking import sliding_chunks
from robotok_ros.tokenizers.dct_table import DCTTableTokenizer
from safetensors.numpy import load_file, save_file
import yaml

from conftest import data_dir, SEVEN_DOF_PROFILE  # noqa: I100 - test-local helper module
import episodes
from tokenizer_folders import reseal

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / 'bench'))
PROFILE = profile_from_dict(yaml.safe_load(SEVEN_DOF_PROFILE), 'test7.yaml')
H = 10


smooth_episodes = functools.partial(episodes.smooth_episodes, PROFILE, noise=0.01)


@pytest.fixture(scope='module')
def fitted():
    """Return a dct_table tokenizer fitted on smooth episodes."""
    return make_tokenizer('dct_table', PROFILE, chunk_steps=H, target_rmse=0.02,
                          vocab=600).fit(smooth_episodes(12))


def _within_bound(tok, chunks):
    out = tok.decode(tok.encode(chunks))
    assert out.shape == chunks.shape and np.isfinite(out).all()
    err = out - np.clip(chunks, PROFILE.lows, PROFILE.highs)
    rms, peak = tok.error_bound()
    assert np.all(np.sqrt((err ** 2).mean(axis=1)) <= rms * (1 + 1e-9))
    assert np.all(np.abs(err) <= peak * (1 + 1e-9))
    return out


def test_round_trip_meets_the_target_and_the_table_is_coarser_at_high_frequencies(fitted):
    held = sliding_chunks(smooth_episodes(4, seed=7), H, H)
    out = _within_bound(fitted, held)
    half = (PROFILE.highs - PROFILE.lows) / 2
    rmse = np.sqrt(((out - held) ** 2).mean(axis=(0, 1))) / half
    assert np.all(rmse <= 1.5 * 0.02), rmse  # fitted for 0.02 on other episodes
    assert np.all(fitted.fitted_mse <= 0.02 ** 2 * (1 + 1e-9))
    low, high = fitted.steps[:2, :6].mean(), fitted.steps[-3:, :6].mean()
    assert high > 1.5 * low  # smooth motion: high frequencies quantised coarsely
    one = fitted.encode(held[0])
    assert one.ndim == 1 and np.array_equal(fitted.decode(one), out[0])


def test_ten_thousand_random_chunks_decode_whole(fitted):
    rng = np.random.default_rng(1)
    span = PROFILE.highs - PROFILE.lows
    chunks = rng.uniform(PROFILE.lows - 0.2 * span, PROFILE.highs + 0.2 * span, (10000, H, 7))
    out = _within_bound(fitted, chunks)
    assert np.all((out >= PROFILE.lows) & (out <= PROFILE.highs))
    assert fitted.last_coeff_clip_counts.sum() == 0 and fitted.length_fixes == 0
    # Any sequence of base symbols making H x D coefficients decodes too, even extreme ones.
    m = fitted.coeff_clip
    extreme = rng.choice([0, 2 * m], size=(50, H * 7))  # ids of -M and +M
    assert np.isfinite(fitted.decode(extreme)).all()


@settings(max_examples=60, deadline=None)
@given(chunk=arrays(np.float64, (H, 7), elements=st.floats(-1.0, 2.0, allow_nan=False)))
def test_any_chunk_decodes_to_one_whole_chunk_within_the_bound(chunk):
    tok = _hypothesis_tok()
    _within_bound(tok, chunk[None])
    assert tok.decode_chunk(tok.encode_chunk(chunk)).shape == (H, 7)


_TOK = []


def _hypothesis_tok():
    if not _TOK:
        _TOK.append(make_tokenizer('dct_table', PROFILE, chunk_steps=H, target_rmse=0.05,
                                   vocab=600, rounding=0.3).fit(smooth_episodes(6, seed=3)))
    return _TOK[0]


def test_save_load_is_bit_exact(fitted, tmp_path):
    fitted.save(tmp_path / 'tab')
    back = load_tokenizer(tmp_path / 'tab')
    assert isinstance(back, DCTTableTokenizer) and back.settings() == fitted.settings()
    assert np.array_equal(back.steps, fitted.steps) and back.coeff_clip == fitted.coeff_clip
    chunks = sliding_chunks(smooth_episodes(3, seed=9), H, H)
    ids, back_ids = fitted.encode(chunks), back.encode(chunks)
    assert all(np.array_equal(a, b) for a, b in zip(ids, back_ids))
    assert np.array_equal(fitted.decode(ids), back.decode(ids))
    saved = yaml.safe_load((tmp_path / 'tab' / 'tokenizer.yaml').read_text())
    assert 'steps' not in saved['settings']  # the table is state, not config


@pytest.mark.parametrize('arrays_edit, message', [
    (lambda a: a.pop('steps'), 'needs a float64 array steps of shape (10, 7), got none'),
    (lambda a: a.update(steps=a['steps'][:5]), 'needs a float64 array steps of shape (10, 7), '
                                               'got float64 (5, 7)'),
    (lambda a: a.update(steps=a['steps'].astype(np.float32)),
     'needs a float64 array steps of shape (10, 7), got float32 (10, 7)'),
    (lambda a: a['steps'].__setitem__((0, 0), np.nan), 'steps must be finite and > 0'),
    (lambda a: a['steps'].__setitem__((0, 0), 0.0), 'steps must be finite and > 0'),
    (lambda a: a['steps'].__setitem__((0, 0), 1e-6), 'steps need coefficients up to'),
])
def test_a_bad_step_table_is_refused_naming_it(fitted, tmp_path, arrays_edit, message):
    folder = fitted.save(tmp_path / 'tab')
    state = load_file(folder / 'state.safetensors')
    arrays_edit(state)
    save_file(state, folder / 'state.safetensors')
    reseal(folder)
    with pytest.raises(TokenizerStateError, match='state.safetensors: ' + re.escape(message)):
        load_tokenizer(folder)


@pytest.mark.parametrize('settings_given, message', [
    ({'chunk_steps': 0}, 'chunk_steps must be an integer in [1, 1000], got 0'),
    ({'target_rmse': 0.0}, 'target_rmse must be a finite number in [0.0001, 1.0], got 0.0'),
    ({'target_rmse': 'fine'}, "target_rmse must be a finite number in [0.0001, 1.0], got 'fine'"),
    ({'rounding': 0.7}, 'rounding must be a finite number in [0.0, 0.5], got 0.7'),
    ({'max_step': 0.5}, 'max_step must be a finite number >= 1.0 or null, got 0.5'),
    ({'max_coeff': 0}, 'max_coeff must be an integer in [1, 3199], got 0'),
    ({'vocab': 2}, 'vocab must be an integer in [3, 1048576], got 2'),
    ({'vocab': 300}, 'vocab 300 is smaller than the base alphabet of max_coeff 255: vocab must '
                     'be >= 511 (or lower max_coeff)'),
    ({'vocab_offset': -1}, 'vocab_offset must be an integer in [0, 1099511627776], got -1'),
    ({'normalization': 'std'}, "normalization must be one of range, quantile, got 'std'"),
    ({'norm_clip': 0.5}, 'norm_clip must be a finite number >= 1.0 or null, got 0.5'),
    ({'stride': 0}, 'stride must be an integer in [1, 1000000], got 0'),
    ({'scale': 10}, "dct_table settings: unknown setting 'scale' (one of chunk_steps, "),
])
def test_every_settings_error_names_the_key_and_value(settings_given, message):
    with pytest.raises(ConfigError) as info:
        make_tokenizer('dct_table', PROFILE, **settings_given)
    assert message in str(info.value)


def test_analyze_takes_the_kind_as_a_spec():
    spec = parse_spec('dct_table:H=10:T=0.03:rounding=0.4')
    assert spec.settings == {'chunk_steps': 10, 'target_rmse': 0.03, 'rounding': 0.4}
    assert spec.ranges == 'data'
    result, = compare([spec], smooth_episodes(6), smooth_episodes(2, seed=5), PROFILE)
    assert result['kind'] == 'dct_table' and result['decode_failures'] == 0
    assert sum(result['coefficient_clips'].values()) == 0


def test_shared_data_rate_against_fast_at_matched_rmse():
    data = Path(data_dir())
    if not (data / 'bridge' / 'bridge_dataset-train.tfrecord').is_file() or not (
            data / 'robosuite' / 'nut-assembly_panda.hdf5').is_file():
        pytest.skip(f'shared demonstrations not found at {data} (set ROBOTOK_DATA_DIR)')
    from rate_distortion import matched_ratio, sweep
    measured = {}
    for name in ('bridge', 'robosuite'):
        rows = sweep(name, str(data), scales=(6, 12, 24), targets=(0.05, 0.025, 0.012, 0.007))
        assert all(r['decode_failures'] == 0 for k in rows for r in rows[k])
        measured[name] = matched_ratio(rows)[0]
    # Measured 0.99 (Bridge 20/5) and 1.09 (robosuite 3/1) on these points: the 0.6 target is
    # not reached; on robosuite a table fitted on three tasks is worse than one scale on the
    # fourth (the held-out task moves in frequencies and dimensions the fit tasks hardly use).
    assert 0.9 <= measured['bridge'] <= 1.06, measured
    assert 1.0 <= measured['robosuite'] <= 1.25, measured
