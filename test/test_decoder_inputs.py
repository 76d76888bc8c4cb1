"""The decoder's inputs beside plain ids: generated sequences, RT-2 text, continuous chunks."""

import json

from hypothesis import given, settings, strategies as st
import numpy as np
import pytest
from robotok_ros.errors import ConfigError
from robotok_ros.profile_loader import load_profile
from robotok_ros.runtime.decoder import DecoderCore, Rejected
from robotok_ros.runtime.inputs import END, load_stats
from robotok_ros.runtime.streams import extract, find, MAX_SEQUENCE, StreamFormat
from robotok_ros.tokenizers import make_tokenizer

OFFSET = 31744  # OpenVLA's action ids: the last 256 of Llama-2's 32000
STEP = np.array([[0.01, -0.005, 0.0, 0.05, -0.02, 0.0, 1.0]])


@pytest.fixture
def profile(profile_path):
    return load_profile(profile_path)


def core(profile, kind='uniform', **settings):
    tok = make_tokenizer(kind, profile, **({'vocab_offset': OFFSET} if kind == 'uniform'
                                           else {}), **settings)
    return DecoderCore(profile, tok, start_enabled=True, max_queue_seconds=2.0), tok


def seq(*parts):
    return np.concatenate([np.ravel(p) for p in parts]).astype(np.int64)


# -- extraction, the pure function -------------------------------------------------------
@pytest.mark.parametrize('data, want', [
    ([1, 5, 10, 11, 12, 2], (2, 5)),        # prompt, 3 actions, EOS
    ([10, 11, 12, 2, 0, 0], (0, 3)),        # EOS then padding
    ([10, 11, 12], (0, 3)),                 # no EOS: the last ids
    ([7, 10, 11, 12], (1, 4)),
    ([10, 11, 12, 2, 20, 21, 22, 2], (0, 3)),  # the first EOS ends it
])
def test_openvla_takes_the_last_ids_before_the_first_eos(data, want):
    assert extract(np.array(data), 'openvla', 3, eos=(2,)) == want


@pytest.mark.parametrize('data', [[2, 10, 11], [10, 11, 2], [], [10, 2, 11, 12, 13]])
def test_openvla_without_enough_ids_before_eos_is_no_actions(data):
    with pytest.raises(Rejected) as exc:
        extract(np.array(data, dtype=np.int64), 'openvla', 3, eos=(2,))
    assert exc.value.reason == 'no_actions'


@pytest.mark.parametrize('data, prefix, sep, want', [
    ([9, 8, 100, 101, 50, 51, 52, 7, 1], (100, 101), (7,), (4, 7)),
    ([100, 101, 50, 51, 1, 7], (100, 101), (7,), (2, 4)),          # EOS before separator
    ([100, 101, 50, 51], (100, 101), (7,), (2, 4)),                # neither: to the end
    ([100, 50, 100, 101, 50, 7, 100, 101, 60], (100, 101), (7,), (4, 5)),  # first prefix
    ([50, 51, 7, 8], (), (7, 8), (0, 2)),                          # no prefix, 2-id sep
    ([50, 7, 51, 7, 8], (), (7, 8), (0, 3)),                       # a lone 7 is no sep
    ([100, 101, 50, 51, 1], (100, 101), (), (2, 4)),               # EOS only
])
def test_pi0_fast_takes_ids_between_prefix_and_separator_or_eos(data, prefix, sep, want):
    assert extract(np.array(data), 'pi0_fast', prefix=prefix, separator=sep,
                   eos=(1,)) == want


@pytest.mark.parametrize('data, reason', [
    ([50, 51, 7, 1], 'no_prefix'),
    ([100, 50, 101, 51], 'no_prefix'),  # not contiguous
    ([100, 101, 7, 50], 'no_actions'),
    ([100, 101, 1], 'no_actions'),
    ([9, 100, 101], 'no_actions'),
    ([], 'no_prefix'),
])
def test_pi0_fast_without_prefix_or_actions_is_rejected_by_reason(data, reason):
    with pytest.raises(Rejected) as exc:
        extract(np.array(data, dtype=np.int64), 'pi0_fast', prefix=(100, 101),
                separator=(7,), eos=(1,))
    assert exc.value.reason == reason


@settings(max_examples=200, derandomize=True, database=None, deadline=None)
@given(st.lists(st.integers(0, 6), max_size=30), st.lists(st.integers(0, 6), min_size=1,
                                                          max_size=3))
def test_find_matches_a_plain_search(data, sub):
    want = next((i for i in range(len(data) - len(sub) + 1)
                 if data[i:i + len(sub)] == sub), -1)
    assert find(np.array(data, dtype=np.int64), np.array(sub)) == want


@settings(max_examples=200, derandomize=True, database=None, deadline=None)
@given(st.lists(st.integers(0, 40), max_size=20), st.lists(st.integers(50, 60), min_size=1,
                                                           max_size=8),
       st.lists(st.integers(0, 60), max_size=10))
def test_pi0_fast_recovers_actions_from_any_text_around_them(before, actions, after):
    # Text ids 0..40 (no EOS 1 or separator 3 in them), prefix (4, 5), actions 50..60.
    before = [i for i in before if i not in (1, 3)]
    data = seq(before, [4, 5], actions, [3], after)
    start, stop = extract(data, 'pi0_fast', prefix=(4, 5), separator=(3,), eos=(1,))
    found = next(i for i in range(len(before) + 1) if data[i:i + 2].tolist() == [4, 5])
    assert (start, stop) == (found + 2, found + 2 + len(actions))
    assert data[start:stop].tolist() == actions


def test_stream_format_rejects_bad_layout_and_a_huge_sequence():
    fmt = StreamFormat('openvla', 3)
    with pytest.raises(Rejected, match='layout'):
        fmt.take([10, 11, 12, 2], (5,))
    with pytest.raises(Rejected, match='layout'):
        fmt.take([10, 11, 12, 2], (), 1)
    with pytest.raises(Rejected) as exc:
        fmt.take(np.zeros(MAX_SEQUENCE + 1, dtype=np.int32))
    assert exc.value.reason == 'length'
    assert fmt.take([10, 11, 12, 2], (4,)) == ([10, 11, 12], 0, 1)


@pytest.mark.parametrize('args, needle', [
    (('jpeg', 7), 'stream_format must be one of'),
    (('openvla', 0), 'needs a per-step tokenizer'),
    (('openvla', 7, (1,)), 'stream_prefix applies to stream_format pi0_fast only'),
    (('ids', 7, (), (), (2,)), 'stream_eos applies'),
    (('pi0_fast', 0, (-1,)), 'stream_prefix must list token ids'),
    (('openvla', 7, (), (), (2,), (0, 255)), 'id 2 is an action id'),
])
def test_stream_format_config_errors_name_the_parameter(args, needle):
    with pytest.raises(ConfigError, match=needle):
        StreamFormat(*args)


# -- through the core --------------------------------------------------------------------
def test_openvla_sequence_with_eos_decodes_like_its_ids(profile):
    dec, tok = core(profile)
    ids = tok.encode_chunk(STEP).ravel()
    with pytest.raises(Rejected, match='8 ids is not a positive multiple of 7'):
        dec.on_tokens(seq(ids, [2]).tolist(), 0.0)
    dec.set_stream('openvla')
    want = dec.command_for(tok.decode_chunk(ids)[0])
    cmd = dec.on_tokens(seq([1, 29871, 100], ids, [2, 32000]).tolist(), 0.1, (12,))
    np.testing.assert_allclose(cmd.linear, want.linear)
    assert dec.on_tokens(ids.tolist(), 0.2) is not None  # without EOS too
    values = dec.snapshot(1.0)
    assert values['stream_dropped_prefix'] == 3 and values['stream_dropped_trailing'] == 2
    with pytest.raises(Rejected) as exc:  # a text id where an action id must be
        dec.on_tokens(seq(ids[1:], [2]).tolist(), 0.3)
    assert exc.value.reason == 'no_actions'
    with pytest.raises(Rejected) as exc:
        dec.on_tokens(seq([5], ids[1:], [2]).tolist(), 0.3)
    assert exc.value.reason == 'out_of_range'
    assert dec.rejected['no_actions'] == 1 and dec.rejected['out_of_range'] == 1


def test_pi0_fast_sequence_decodes_through_a_chunk_tokenizer(profile):
    rng = np.random.default_rng(0)
    episodes = [np.clip(rng.normal(0, 0.005, (40, 7)), -0.02, 0.02) for _ in range(4)]
    tok = make_tokenizer('fast', profile, chunk_steps=4, vocab=300, vocab_offset=1000)
    tok.fit(episodes)
    dec = DecoderCore(profile, tok, start_enabled=True, max_queue_seconds=1.0)
    dec.set_stream('pi0_fast', prefix=(4, 5), separator=(3,), eos=(1,))
    lo, hi = tok.id_range
    ids = tok.encode_chunk(episodes[0][:4]).ravel()
    assert lo >= 0 and ids.min() >= lo
    text = [hi + 10, hi + 11]  # text ids outside the action range
    cmd = dec.on_tokens(seq(text, [4, 5], ids, [3, 1]).tolist(), 0.0)
    assert cmd is not None and len(dec.playout) == 3
    np.testing.assert_allclose(dec.counters['stream_dropped_prefix'], 4)
    assert dec.counters['stream_dropped_trailing'] == 2
    with pytest.raises(Rejected, match='no_prefix'):
        dec.on_tokens(seq(text, ids, [3]).tolist(), 0.1)
    assert dec.rejected['no_prefix'] == 1


# -- RT-2 text ---------------------------------------------------------------------------
def test_text_action_decodes_its_bins_like_ids(profile):
    dec, tok = core(profile)
    dec.add_text_input()
    bins = [128, 91, 241, 5, 101, 127, 217]
    want = dec.command_for(tok.decode_chunk(np.array(bins) + OFFSET)[0])
    for text in ('1 128 91 241 5 101 127 217', ' 1 128 91 241 5 101 127 217\n'):
        cmd = dec.on_text(text, 0.0)
        np.testing.assert_allclose(cmd.action, want.action)
    assert dec.counters['text_received'] == 2 and dec.counters['decoded'] == 2


@pytest.mark.parametrize('text, reason', [
    ('1 128 91 241 5 101 127', 'length'),
    ('1 128 91 241 5 101 127 217 3', 'length'),
    ('1 128 91 241 5 101 127 256', 'out_of_range'),
    ('2 128 91 241 5 101 127 217', 'text_format'),
    ('1  128 91 241 5 101 127 217', 'text_format'),
    ('1,128,91,241,5,101,127,217', 'text_format'),
    ('1 128 91 241 5 101 127 -2', 'text_format'),
    ('1 128 91 241 5 101 127 0x1', 'text_format'),
    ('1 128 91 241 5 101 127 017', 'text_format'),
    ('1 128 91 241 5 101 127 2.5', 'text_format'),
    ('1 128 91\t241 5 101 127 217', 'text_format'),
    ('1 128 91 241 5 101 127 \u0661', 'text_format'),  # an Arabic-Indic digit
    ('', 'text_format'),
    ('1 ' * 5000, 'text_format'),
])
def test_malformed_text_is_rejected_by_reason(profile, text, reason):
    dec, _ = core(profile)
    dec.add_text_input()
    with pytest.raises(Rejected) as exc:
        dec.on_text(text, 0.0)
    assert exc.value.reason == reason
    assert dec.rejected[reason] == 1 and dec.counters['text_rejected'] == 1
    assert not len(dec.playout) and dec.counters['decoded'] == 0


@pytest.mark.parametrize('terminate, flag', [(0, 0), (1, 1)])
def test_terminate_flag_ends_the_episode(profile, terminate, flag):
    dec, _ = core(profile)
    dec.add_text_input(terminate)
    dec.on_text(f'{1 - flag} 128 128 128 128 128 128 128', 0.0)
    assert dec.on_text(f'{flag} 128 91 241 5 101 127 217', 0.1) is END
    assert not dec.enabled and dec.counters['terminations'] == 1
    assert dec.on_text(f'{1 - flag} 128 128 128 128 128 128 128', 0.2) is None  # gated


def test_text_needs_a_binning_tokenizer(profile):
    tok = make_tokenizer('fast', profile, chunk_steps=4)
    dec = DecoderCore(profile, tok, max_queue_seconds=1.0)
    with pytest.raises(ConfigError, match='text_topic needs a binning tokenizer'):
        dec.add_text_input()
    with pytest.raises(ConfigError, match='text_terminate_value must be 0 or 1'):
        core(profile)[0].add_text_input(2)


# -- continuous chunks -------------------------------------------------------------------
def test_chunk_in_profile_units_plays_step_by_step(profile):
    dec, _ = core(profile)
    dec.add_chunk_input()
    chunk = np.repeat(STEP, 3, axis=0).astype(np.float32)
    cmd = dec.on_chunk(chunk.ravel(), 0.0, (3, 7))
    np.testing.assert_allclose(cmd.action, chunk[0], rtol=1e-6)
    assert len(dec.playout) == 2
    assert dec.on_chunk(np.full(7, 0.02, np.float32), 0.1) is not None  # bound, flat
    assert dec.counters['chunk_received'] == 2 and dec.watchdog.last_input == 0.1


@pytest.mark.parametrize('data, dims, reason', [
    (np.zeros(6), (), 'length'),
    (np.zeros(0), (), 'length'),
    (np.zeros(14), (2, 6), 'layout'),
    (np.zeros(14), (3, 7), 'layout'),
    (np.zeros(7 * 25), (), 'too_long'),  # 2 s at 10 Hz is 20 steps
    (np.r_[np.zeros(6), np.nan], (), 'non_finite'),
    (np.r_[np.zeros(6), np.inf], (), 'non_finite'),
    (np.r_[0.03, np.zeros(6)], (), 'out_of_range'),
    (np.r_[np.zeros(6), -0.01], (), 'out_of_range'),
])
def test_bad_chunk_is_rejected_by_reason(profile, data, dims, reason):
    dec, _ = core(profile)
    dec.add_chunk_input()
    with pytest.raises(Rejected) as exc:
        dec.on_chunk(data.astype(np.float32), 0.0, dims)
    assert exc.value.reason == reason
    assert dec.rejected[reason] == 1 and dec.counters['chunk_rejected'] == 1
    assert dec.watchdog.last_input is None


def test_a_signalling_nan_is_rejected_without_a_numpy_warning(profile):
    import warnings
    dec, _ = core(profile)
    dec.add_chunk_input()
    data = np.zeros(7, np.float32)
    data.view(np.uint32)[6] = 0x7FA00000  # a float32 signalling NaN, as a fuzzer sends
    with warnings.catch_warnings():
        warnings.simplefilter('error')  # numpy's 'invalid value' would be one per process
        with pytest.raises(Rejected, match='NaN or infinite'):
            dec.on_chunk(data, 0.0)


def test_chunk_offset_is_a_layout_reject(profile):
    dec, _ = core(profile)
    dec.add_chunk_input()
    with pytest.raises(Rejected, match='layout'):
        dec.on_chunk(np.zeros(7, np.float32), 0.0, (7,), 1)


@pytest.mark.parametrize('normalization, stats, x, want', [
    ('mean_std', {'mean': [0.01] * 7, 'std': [0.005] * 7}, 1.0, 0.01 + 0.005 + 1e-6),
    ('q01_q99', {'q01': [-0.01] * 7, 'q99': [0.01] * 7}, 0.5, 0.75 * (0.02 + 1e-6) - 0.01),
    ('q01_q99', {'q01': [-0.01] * 7, 'q99': [0.01] * 7}, -1.0, -0.01),
])
def test_normalised_chunk_is_unnormalised_as_openpi_does(profile, normalization, stats,
                                                         x, want):
    dec, _ = core(profile)
    dec.add_chunk_input(normalization, json.dumps(stats))
    cmd = dec.on_chunk(np.r_[np.full(6, x), 0.0].astype(np.float32), 0.0)
    np.testing.assert_allclose(cmd.action[:6], want, atol=2e-8)


@pytest.mark.parametrize('wrap', [
    lambda s: {'norm_stats': {'actions': s, 'state': {'mean': [0.0]}}},  # openpi
    lambda s: {'action': s, 'observation.state': {'mean': [0.0]}},       # LeRobot
    lambda s: {'bridge_orig': {'action': s, 'proprio': {}}},             # OpenVLA
    lambda s: s,
])
def test_stats_files_of_openpi_lerobot_and_openvla_load(tmp_path, wrap):
    stats = {'mean': list(range(7)), 'std': [1.0] * 7, 'q01': [-1.0] * 7, 'q99': [1.0] * 7,
             'mask': [True] * 6 + [False]}
    path = tmp_path / 'stats.json'
    path.write_text(json.dumps(wrap(stats)))
    a, b, mask = load_stats(str(path), 'mean_std', 7)
    assert a.tolist() == list(range(7)) and b.tolist() == [1.0] * 7
    assert mask.tolist() == [True] * 6 + [False]


@pytest.mark.parametrize('normalization, stats, needle', [
    ('mean_std', '', 'set both or neither'),
    ('none', '{"mean": [0]}', 'set both or neither'),
    ('zscore', '', 'chunk_normalization must be one of'),
    ('mean_std', '/nonexistent/stats.json', 'FileNotFoundError'),
    ('mean_std', '{"mean": [0, 0]', 'JSONDecodeError'),
    ('mean_std', '{"mean": [0, 0], "std": [1, 1]}', "needs 'mean': 7 finite numbers"),
    ('q01_q99', '{"mean": [0, 0, 0, 0, 0, 0, 0]}', "needs 'q01'"),
    ('mean_std', json.dumps({'mean': [0] * 7, 'std': [1] * 7, 'mask': [1] * 7}),
     'mask must be 7 booleans'),
    ('mean_std', json.dumps({'mean': [0] * 6 + ['x'], 'std': [1] * 7}), "needs 'mean'"),
])
def test_chunk_config_errors_name_the_parameter(profile, normalization, stats, needle):
    dec, _ = core(profile)
    with pytest.raises(ConfigError, match=needle):
        dec.add_chunk_input(normalization, stats)


def test_new_counters_are_in_the_snapshot(profile):
    values = core(profile)[0].snapshot(0.0)
    for key in ('text_received', 'text_rejected', 'chunk_received', 'chunk_rejected',
                'terminations', 'stream_dropped_prefix', 'stream_dropped_trailing',
                'rejected_no_prefix', 'rejected_no_actions', 'rejected_text_format'):
        assert values[key] == 0, key
