"""Uniform, RT-1, quantile and OpenVLA tokenizers: round trips, properties, exact formulas."""

from hypothesis import given, settings, strategies as st
from hypothesis.extra.numpy import arrays
import numpy as np
import pytest
from robotok_ros.errors import ConfigError, InvalidTokenError, TokenizerStateError
from robotok_ros.profile_loader import load_profile, profile_from_dict
from robotok_ros.tokenizers import load_tokenizer, make_tokenizer
import yaml

from conftest import SEVEN_DOF_PROFILE  # noqa: I100 - test-local helper module
from tokenizer_folders import reseal

PROFILE = profile_from_dict(yaml.safe_load(SEVEN_DOF_PROFILE), 'test7.yaml')


@pytest.fixture
def profile(profile_path):
    return load_profile(profile_path)


def in_range(profile, n, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(profile.lows, profile.highs, (n, profile.dim))


@settings(max_examples=60, deadline=None)
@given(n_bins=st.integers(16, 4096), offset=st.integers(0, 40000),
       layout=st.sampled_from(['shared', 'per_dimension']), seed=st.integers(0, 2**31))
def test_uniform_round_trip_error_at_most_half_a_bin(n_bins, offset, layout, seed):
    tok = make_tokenizer('uniform', PROFILE, n_bins=n_bins, vocab_offset=offset, layout=layout)
    acts = in_range(tok.profile, 500, seed)
    acts[0] = tok.profile.lows
    acts[1] = tok.profile.highs
    ids = tok.encode(acts)
    err = np.abs(tok.decode(ids) - acts)
    assert (err <= tok.bin_width / 2 * (1 + 1e-9)).all()
    lo, hi = tok.id_range
    assert ids.min() >= lo and ids.max() <= hi
    assert tok.last_clip_counts.sum() == 0


@settings(max_examples=40, deadline=None)
@given(n_bins=st.integers(16, 1024), layout=st.sampled_from(['shared', 'per_dimension']))
def test_every_valid_id_decodes_and_reencodes_to_itself(n_bins, layout):
    for kind in ('uniform', 'rt1'):
        tok = make_tokenizer(kind, PROFILE, n_bins=n_bins, vocab_offset=7, layout=layout)
        ranges = tok.dimension_id_ranges()
        ids = np.stack([np.arange(lo, hi + 1) for lo, hi in ranges], axis=-1)
        assert (tok.encode(tok.decode(ids)) == ids).all()


@settings(max_examples=40, deadline=None)
@given(values=arrays(np.float64, (200,), elements=st.floats(-0.05, 0.05)))
def test_bins_are_monotone_in_the_action(values):
    tok = make_tokenizer('uniform', PROFILE, n_bins=64)
    acts = np.zeros((values.size, 7))
    acts[:, 0] = np.sort(values)
    ids = tok.encode(acts)[:, 0]
    assert (np.diff(ids) >= 0).all()


def test_uniform_formula_matches_rt2_description(profile):
    tok = make_tokenizer('uniform', profile, n_bins=256, vocab_offset=32000)
    acts = in_range(profile, 1000, 3)
    x = np.clip((acts - profile.lows) / (profile.highs - profile.lows), 0, 1 - 1e-9)
    expected = np.floor(x * 256).astype(np.int64) + 32000
    assert (tok.encode(acts) == expected).all()
    centres = profile.lows + (expected - 32000 + 0.5) / 256 * (profile.highs - profile.lows)
    np.testing.assert_allclose(tok.decode(expected), centres, rtol=1e-13, atol=1e-16)


def test_out_of_range_actions_clip_and_are_counted(profile):
    tok = make_tokenizer('uniform', profile, n_bins=32)
    acts = np.zeros((4, 7))
    acts[0, 0] = 1.0      # far above dx max
    acts[1, 0] = -1.0     # far below dx min
    acts[2, 6] = 5.0      # gripper above 1
    acts[3] = profile.highs   # exactly at max: not a clip
    ids = tok.encode(acts)
    assert ids[0, 0] == 31 and ids[1, 0] == 0 and ids[2, 6] == 31
    assert tok.last_clip_counts.tolist() == [2, 0, 0, 0, 0, 0, 1]
    tok.encode(acts[:1])
    assert tok.clip_counts.tolist() == [3, 0, 0, 0, 0, 0, 1]


def test_leading_shapes_are_vectorised(profile):
    tok = make_tokenizer('uniform', profile)
    acts = in_range(profile, 24).reshape(2, 3, 4, 7)
    ids = tok.encode(acts)
    assert ids.shape == (2, 3, 4, 7)
    assert (ids.reshape(-1, 7) == tok.encode(acts.reshape(-1, 7))).all()
    assert tok.decode(ids).shape == (2, 3, 4, 7)
    assert tok.encode(acts[0, 0, 0]).shape == (7,)


def test_rt1_decodes_to_lower_edge_like_robotics_transformer(profile):
    tok = make_tokenizer('rt1', profile, n_bins=256)
    acts = in_range(profile, 1000, 5)
    norm = (np.clip(acts, profile.lows, profile.highs) - profile.lows) / (
        profile.highs - profile.lows)
    expected = (norm * 255).astype(np.int64)
    assert (tok.encode(acts) == expected).all()
    np.testing.assert_allclose(tok.decode(expected),
                               expected / 255 * (profile.highs - profile.lows) + profile.lows,
                               atol=1e-15)
    np.testing.assert_allclose(tok.decode(tok.encode(profile.highs)), profile.highs)


@pytest.mark.parametrize('tokens, message', [
    ([[0, 0, 0, 0, 0, 0, 256]], 'token id 256 at position (0, 6) is outside the action range '
                                '[0, 255] of dimension 6'),
    ([[0, -1, 0, 0, 0, 0, 0]], 'token id -1 at position (0, 1)'),
    ([[0, 0, 0]], 'tokens must have last dimension 7, got shape (1, 3)'),
    ([[0.5] * 7], 'token at position (0, 0) is not an integer: 0.5'),
    (['a'] * 7, 'tokens must be integers'),
])
def test_bad_tokens_name_position_and_value(profile, tokens, message):
    tok = make_tokenizer('uniform', profile)
    with pytest.raises(InvalidTokenError) as err:
        tok.decode(tokens)
    assert message in str(err.value)


@pytest.mark.parametrize('value, text', [(np.nan, 'nan'), (np.inf, 'inf'), (-np.inf, '-inf')])
@pytest.mark.parametrize('kind', ['uniform', 'rt1', 'quantile'])
def test_non_finite_actions_are_rejected_with_position(profile, kind, value, text):
    tok = make_tokenizer(kind, profile)
    acts = np.zeros((3, 7))
    acts[2, 4] = value
    with pytest.raises(InvalidTokenError, match=rf'position \(2, 4\) is not finite: {text}'):
        tok.encode(acts)


def test_wrong_last_dimension_is_rejected(profile):
    tok = make_tokenizer('uniform', profile)
    with pytest.raises(InvalidTokenError, match=r'last dimension 7, got shape \(2, 6\)'):
        tok.encode(np.zeros((2, 6)))


@pytest.mark.parametrize('settings_, message', [
    ({'n_bins': 8}, 'n_bins must be an integer in [16, 4096], got 8'),
    ({'n_bins': 5000}, 'got 5000'),
    ({'n_bins': 2.5}, 'got 2.5'),
    ({'vocab_offset': -1}, 'vocab_offset must be an integer in [0, 2147483647], got -1'),
    ({'vocab_offset': 2 ** 31}, 'got 2147483648'),  # ids are int32 in a ROS message
    ({'layout': 'diagonal'}, "layout must be one of shared, per_dimension, got 'diagonal'"),
    ({'bins': 3}, "uniform settings: unknown setting 'bins' (one of n_bins, vocab_offset, "
                  'layout)'),
])
def test_bad_settings_are_config_errors(profile, settings_, message):
    with pytest.raises(ConfigError) as err:
        make_tokenizer('uniform', profile, **settings_)
    assert message in str(err.value)


def test_unknown_kind_lists_the_kinds(profile):
    with pytest.raises(ConfigError, match="tokenizer must be one of uniform, .*got 'bogus'"):
        make_tokenizer('bogus', profile)


def test_decode_chunk_needs_a_multiple_of_d(profile):
    tok = make_tokenizer('uniform', profile)
    assert tok.decode_chunk(np.zeros(21, dtype=np.int64)).shape == (3, 7)
    with pytest.raises(InvalidTokenError, match='multiple of 7 token ids .* got 10'):
        tok.decode_chunk(np.zeros(10, dtype=np.int64))


def test_quantile_bins_hold_equal_shares(profile):
    rng = np.random.default_rng(1)
    data = np.clip(rng.normal(0, 0.005, (20000, 7)), profile.lows, profile.highs)
    tok = make_tokenizer('quantile', profile, n_bins=32).fit([data[:10000], data[10000:]])
    assert (np.diff(tok.edges, axis=1) >= 0).all()
    # Dimensions 0-5 are continuous; the clipped gripper column is half zeros (tied edges).
    counts = np.stack([np.bincount(tok.encode(data)[:, d], minlength=32) for d in range(6)])
    assert counts.min() >= 0.9 * len(data) / 32 and counts.max() <= 1.1 * len(data) / 32
    ids = tok.encode(data)
    err = np.abs(tok.decode(ids) - data)
    widths = np.diff(tok.edges, axis=1)[np.arange(7), ids]
    assert (err <= widths / 2 + 1e-12).all()


def test_quantile_save_load_and_tampering(profile, tmp_path):
    data = in_range(profile, 2000)
    tok = make_tokenizer('quantile', profile, n_bins=16).fit([data])
    tok.save(tmp_path / 'q')
    again = load_tokenizer(tmp_path / 'q')
    assert (again.encode(data) == tok.encode(data)).all()
    from safetensors.numpy import save_file
    save_file({'edges': np.zeros((7, 5))}, str(tmp_path / 'q' / 'state.safetensors'))
    with pytest.raises(TokenizerStateError, match='tampered or corrupted'):
        load_tokenizer(tmp_path / 'q')
    reseal(tmp_path / 'q')  # the checksum rewritten too: the shape check still stops it
    with pytest.raises(TokenizerStateError, match=r'edges must have shape \(7, 17\)'):
        load_tokenizer(tmp_path / 'q')
    (tmp_path / 'q' / 'state.safetensors').write_bytes(b'not safetensors')
    reseal(tmp_path / 'q')
    with pytest.raises(TokenizerStateError, match='not a readable safetensors file'):
        load_tokenizer(tmp_path / 'q')
    with pytest.raises(TokenizerStateError, match='no tokenizer.yaml'):
        load_tokenizer(tmp_path / 'missing')


def test_uniform_save_load_keeps_settings_and_fitted_ranges(profile, tmp_path):
    data = in_range(profile, 500) * 0.5
    tok = make_tokenizer('uniform', profile, n_bins=100, vocab_offset=5,
                         layout='per_dimension').fit([data])
    np.testing.assert_allclose(tok.profile.highs, data.max(axis=0))
    tok.save(tmp_path / 'u')
    again = load_tokenizer(tmp_path / 'u')
    assert again.settings() == tok.settings() and again.vocab_size == 700
    assert (again.encode(data) == tok.encode(data)).all()


# --- OpenVLA, against its published formula computed by hand --------------------------------

def openvla_reference(actions, q01, q99, mask, n_bins=256, vocab=32000):
    """Compute OpenVLA's own code path, transcribed: normalise, clip, digitize, vocab - bin."""
    norm = np.where(mask, np.clip(2 * (actions - q01) / (q99 - q01 + 1e-8) - 1, -1, 1), actions)
    norm = np.clip(norm, -1, 1)
    bins = np.linspace(-1, 1, n_bins)
    ids = vocab - np.digitize(norm, bins)
    centers = (bins[:-1] + bins[1:]) / 2
    disc = np.clip(vocab - ids - 1, 0, centers.shape[0] - 1)
    dec = centers[disc]
    return ids, np.where(mask, 0.5 * (dec + 1) * (q99 - q01) + q01, dec)


def test_openvla_matches_reference_formula(profile):
    rng = np.random.default_rng(7)
    data = rng.normal(0, 0.01, (5000, 7))
    data[:, 6] = rng.integers(0, 2, 5000)
    tok = make_tokenizer('openvla', profile).fit([data])
    q01, q99 = tok.q01, tok.q99
    mask = np.array([True] * 6 + [False])
    ids_ref, act_ref = openvla_reference(data, q01, q99, mask)
    ids = tok.encode(data)
    assert (ids == ids_ref).all()
    assert ids.min() >= 31744 and ids.max() <= 31999 and tok.id_range == (31744, 31999)
    np.testing.assert_allclose(tok.decode(ids), act_ref, rtol=0, atol=1e-15)


def test_openvla_hand_computed_values_and_the_255_interval_quirk(profile):
    stats = profile.with_ranges(profile.lows, profile.highs, q01=[-1.0] * 7, q99=[1.0] * 7)
    tok = make_tokenizer('openvla', stats)
    # x = 0 normalises to 2 * 1 / (2 + 1e-8) - 1 ~ -5e-9: digitize -> 128, id 31872; x = 1
    # to 1 - 1e-8 (the 1e-8 keeps it off the right edge): digitize -> 255, id 31745.
    # gripper (masked) 1.0 -> digitize 256 (the right edge) -> id 31744; 0.0 -> 128.
    ids = tok.encode([[0.0, 1.0, -1.0, 0.0, 0.0, 0.0, 1.0]])
    assert ids.tolist() == [[31872, 31745, 31999, 31872, 31872, 31872, 31744]]
    dec = tok.decode(ids)[0]
    step = 2 / 255
    # id 31744 (d = 256) decodes like d = 255: the top centre, 1 - step / 2.
    assert dec[6] == pytest.approx(1 - step / 2)
    assert dec[1] == pytest.approx(1 - step / 2, abs=1e-7)
    assert dec[0] == pytest.approx(0.0, abs=1e-7)  # centre of interval 128, un-normalised
    assert tok.vocab_size == 256
    with pytest.raises(InvalidTokenError, match='token id 31743 at position'):
        tok.decode([[31743] * 7])


def test_openvla_without_statistics_says_how_to_get_them(profile):
    tok = make_tokenizer('openvla', profile)
    with pytest.raises(ConfigError, match='needs q01/q99 for dimension dx'):
        tok.encode(np.zeros((1, 7)))


def test_quantile_keeps_binary_gripper_states(profile):
    rng = np.random.default_rng(2)
    data = rng.uniform(profile.lows, profile.highs, (1000, 7))
    data[:, 6] = np.where(rng.random(1000) < 0.4, 0.0, 1.0)
    tok = make_tokenizer('quantile', profile, n_bins=32).fit([data])
    back = tok.decode(tok.encode(data))
    assert (back[:, 6] == data[:, 6]).all()


def test_rt1_does_not_count_the_range_ends_as_clips(profile):
    tok = make_tokenizer('rt1', profile)
    tok.encode(np.stack([profile.lows, profile.highs]))
    assert tok.last_clip_counts.sum() == 0
