"""
The fast_hf kind against the original FAST processor's own outputs (shared fixture).

``../shared/fixtures/fast`` (or ``ROBOTOK_FIXTURES_DIR``/fast) holds a hub FAST
tokenizer folder and what physical-intelligence's ``UniversalActionProcessor``
made of 220 chunks, of bad id sequences and of alias ids (see its README).
Encode and decode must equal it exactly; where the original returns zeros or
silently drops ids, this kind must reject with a reason the decoder counts.
"""

import json
import os
from pathlib import Path
import warnings

from hypothesis import given, settings, strategies as st
import numpy as np
import pytest
from robotok_ros.errors import ConfigError, InvalidTokenError
from robotok_ros.profile_loader import profile_from_dict
from robotok_ros.runtime.decoder import DecoderCore
from robotok_ros.runtime.token_check import Rejected
from robotok_ros.tokenizers.fast_hf import FastHFTokenizer, LengthFixWarning
from scipy.fft import dct, idct


def fixtures_dir():
    """Return the shared fixtures folder (ROBOTOK_FIXTURES_DIR, default ../shared/fixtures)."""
    here = os.path.dirname(os.path.abspath(__file__))
    return Path(os.environ.get('ROBOTOK_FIXTURES_DIR',
                               os.path.join(here, '..', '..', 'shared', 'fixtures')))


FAST_DIR = fixtures_dir() / 'fast'
FOLDER, VECTORS = FAST_DIR / 'act_fast', FAST_DIR / 'vectors_act_fast.json'
pytestmark = pytest.mark.skipif(not VECTORS.is_file(),
                                reason=f'FAST fixture vectors not found at {VECTORS} (set '
                                       'ROBOTOK_FIXTURES_DIR)')
H = 50


def wide_profile(rate=10.0):
    """Return a 7-D profile whose ranges hold every decoded value (no clipping)."""
    dims = [{'name': f'a{i}', 'min': -100.0, 'max': 100.0} for i in range(7)]
    return profile_from_dict({'name': 'fast7', 'frame_id': 'base', 'control_rate_hz': rate,
                              'dimensions': dims,
                              'safety': {'max_linear_speed': 0.25, 'max_angular_speed': 1.0}})


@pytest.fixture(scope='module')
def vectors():
    return json.loads(VECTORS.read_text())


def make(**settings):
    return FastHFTokenizer.from_folder(FOLDER, wide_profile(), time_horizon=H, **settings)


@pytest.fixture(scope='module')
def tok():
    return make()


def test_encode_equals_the_original_for_every_chunk(tok, vectors):
    chunks = np.array(vectors['chunks'])
    for chunk, want in zip(chunks, vectors['fast_ids']):
        assert tok.encode_chunk(chunk).tolist() == want
    assert [ids.tolist() for ids in tok.encode(chunks)] == vectors['fast_ids']
    assert not tok.coeff_clip_counts.any() and not tok.clip_counts.any()


def test_decode_equals_the_original_bit_for_bit(tok, vectors):
    for ids, want in zip(vectors['fast_ids'], vectors['decoded']):
        np.testing.assert_array_equal(tok.decode_chunk(np.array(ids)), np.array(want))
    batch = tok.decode(vectors['fast_ids'][:5])
    np.testing.assert_array_equal(batch, np.array(vectors['decoded'][:5]))


@pytest.mark.parametrize('id_map, key', [('paligemma', 'paligemma_ids'), ('qwen', 'qwen_ids')])
def test_paligemma_and_qwen_id_maps(vectors, id_map, key):
    mapped = make(id_map=id_map)
    chunks = np.array(vectors['chunks'][:40])
    assert [ids.tolist() for ids in mapped.encode(chunks)] == vectors[key][:40]
    for ids, want in zip(vectors[key][:40], vectors['decoded'][:40]):
        np.testing.assert_array_equal(mapped.decode_chunk(np.array(ids)), np.array(want))
    same = make(id_map='offset', id_offset=mapped.id_offset, id_sign=mapped.id_sign)
    assert same.encode_chunk(chunks[0]).tolist() == vectors[key][0]
    # A raw FAST id is not a PaliGemma id: outside the range, rejected before decoding.
    if id_map == 'paligemma':
        assert mapped.id_range == (257023 - 1023, 257023)
        with pytest.raises(InvalidTokenError, match='outside the action ids') as err:
            mapped.decode_chunk(np.array(vectors['fast_ids'][0]))
        assert err.value.reason == 'out_of_range'


def test_id_map_settings_are_checked():
    with pytest.raises(ConfigError, match='id_sign must be 1 or -1, got 0'):
        make(id_map='offset', id_offset=5, id_sign=0)
    with pytest.raises(ConfigError, match='apply only to id_map offset'):
        make(id_map='qwen', id_offset=5)


def test_alias_ids_decode_as_the_original(tok, vectors):
    for case in vectors['alias_cases']:
        assert not case['full_length_error']
        got = tok.decode_chunk(np.full(H * 7, case['id']))
        np.testing.assert_array_equal(got, np.array(case['full_length_decoded']))
    for seq in vectors['noncanonical_alias_sequences']:
        np.testing.assert_array_equal(tok.decode_chunk(np.array(seq['ids'])),
                                      np.array(seq['decoded']))
        np.testing.assert_array_equal(tok.decode_chunk(np.array(seq['ids'])),
                                      np.array(vectors['decoded'][seq['chunk_index']]))


def test_every_bad_sequence_is_rejected_with_a_reason(tok, vectors):
    reasons = {}
    for case in vectors['bad_sequences']:
        with pytest.raises(InvalidTokenError) as err:
            tok.decode_chunk(np.array(case['ids'], dtype=np.int64))
        exc = err.value
        reasons[exc.cause] = reasons.get(exc.cause, 0) + 1
        if case['error']:  # the original printed an error and returned all zeros
            assert not np.any(case['decoded'])
        else:  # the original silently dropped an id >= vocab
            assert exc.reason == 'out_of_range' and max(case['ids']) >= 1024
        if case.get('label', '').startswith('valid chunk-0 ids with a negative'):
            assert exc.reason == 'out_of_range' and 'id -1 at position' in str(exc)
        if case['length_ok'] is False and case['n_coefficients'] is not None \
                and exc.cause == 'coefficients':
            assert exc.reason == 'length'
            assert f'{case["n_coefficients"]} DCT coefficients' in str(exc)
    assert reasons == {'coefficients': 34, 'utf8': 19, 'id_range': 3}


def test_decoder_core_counts_the_rejects_by_reason(vectors):
    tok = make()
    core = DecoderCore(wide_profile(), tok, start_enabled=True, max_queue_seconds=5.0)
    cmd = core.on_tokens(vectors['fast_ids'][0], 0.0)
    np.testing.assert_array_equal(cmd.action, np.array(vectors['decoded'][0])[0])
    for case in vectors['bad_sequences']:
        with pytest.raises(Rejected):
            core.on_tokens(case['ids'], 0.1)
    counted = {k: v for k, v in core.rejected.items() if v}
    assert counted == {'length': 34, 'invalid': 19, 'out_of_range': 3}


def test_relaxed_pads_or_cuts_as_lerobot_counted_and_warned_once(vectors):
    tok = make(relaxed=True)
    fixed = 0
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter('always')
        for case in vectors['bad_sequences']:
            try:
                out = tok.decode_chunk(np.array(case['ids'], dtype=np.int64))
            except InvalidTokenError as exc:
                assert exc.cause in ('utf8', 'id_range', 'coefficients')
                continue
            fixed += 1
            np.testing.assert_array_equal(out, np.array(case['vlanext_pad_truncate_decode']))
    assert fixed == tok.length_fixes == 33
    assert [w.category for w in seen] == [LengthFixWarning]
    with pytest.raises(InvalidTokenError, match='no ids'):  # never a silent all-zeros chunk
        tok.decode_chunk(np.array([], dtype=np.int64))


def test_relaxed_warnings_stay_bounded(vectors):
    tok = make(relaxed=True)
    short = np.array(vectors['fast_ids'][0][:-1])
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter('default')
        for _ in range(2000):
            tok.decode_chunk(short)
    assert tok.length_fixes == 2000 and len(seen) == 1


def test_out_of_range_encode_clamps_as_the_original_or_refuses(tok, vectors):
    for case in vectors['extra_encode_out_of_range']:
        chunk = np.array(case['chunk'])
        if np.abs(np.array(case['decoded']) - chunk).max() < 1.0:  # the original round-trips
            assert tok.encode_chunk(chunk).tolist() == case['fast_ids']
        else:  # the original's ids decode to something else entirely: refused here
            with pytest.raises(InvalidTokenError, match='has no token in the BPE'):
                tok.encode_chunk(chunk)
    before = tok.coeff_clip_counts.copy()
    tok.encode_chunk(-1.5 * np.ones((H, 7)))  # below min_token: clamped and counted
    assert (tok.coeff_clip_counts > before).all()


def test_time_horizon_null_must_be_given_and_dim_must_match_the_profile():
    with pytest.raises(ConfigError, match='time_horizon is null'):
        FastHFTokenizer.from_folder(FOLDER, wide_profile())
    with pytest.raises(InvalidTokenError, match='must have last dimension 7'):
        make().encode(np.zeros((H, 6)))


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2 ** 32 - 1), amp=st.floats(0.05, 1.0))
def test_any_encodable_chunk_decodes_to_the_originals_rounding(tok, seed, amp):
    # The original's round trip is idct(around(dct(x) * scale) / scale): nothing else.
    chunk = np.random.default_rng(seed).uniform(-amp, amp, (H, 7))
    try:
        ids = tok.encode_chunk(chunk)
    except InvalidTokenError as exc:  # a coefficient this BPE never saw: refused, not dropped
        assert 'has no token in the BPE' in str(exc)
        return
    want = idct(np.around(dct(chunk, axis=0, norm='ortho') * 10) / 10, axis=0, norm='ortho')
    np.testing.assert_array_equal(tok.decode_chunk(ids), want)
