"""
VQ id maps of published policies: MiniVLA (``tokenizer_len - 1 - code``) and VQ-VLA.

VQ-VLA's map is ``tokenizer_len - 1 - (code + C g)`` for residual group g
(C = 256 there).  The weights here are random arrays of the right shapes
(no torch, no training): the maps are a relabelling of the same codes, so
every map must encode to its formula and decode to the same chunk.
"""

import numpy as np
import pytest
from robotok_ros.errors import ConfigError, InvalidTokenError
from robotok_ros.tokenizers import load_tokenizer
from robotok_ros.tokenizers.vq import VQTokenizer

K, C, R, L = 4, 256, 2, 151665


def with_weights(profile, **settings):
    tok = VQTokenizer(profile, chunk_steps=K, codebook_size=C, levels=R, code_dim=4,
                      hidden=[16], **settings)
    rng = np.random.default_rng(0)
    tok.load_state({name: rng.normal(0, 0.5, shape).astype(np.float32)
                    for name, shape in tok.expected_shapes().items()})
    return tok


@pytest.fixture
def chunks(profile_path):
    from robotok_ros.profile_loader import load_profile
    p = load_profile(profile_path)
    rng = np.random.default_rng(1)
    return p.lows + (p.highs - p.lows) * rng.uniform(0, 1, (30, K, p.dim))


def test_minivla_and_vq_vla_ids_follow_their_formulas(profile_path, chunks):
    plain = with_weights(profile_path)
    codes = plain.encode(chunks) - np.arange(R) * C
    assert (codes >= 0).all() and (codes < C).all()
    mini = with_weights(profile_path, id_map='minivla', tokenizer_len=L)
    vqvla = with_weights(profile_path, id_map='vq_vla', tokenizer_len=L)
    np.testing.assert_array_equal(mini.encode(chunks), L - 1 - codes)
    np.testing.assert_array_equal(vqvla.encode(chunks), L - 1 - (codes + C * np.arange(R)))
    for tok in (mini, vqvla):
        np.testing.assert_array_equal(tok.decode(tok.encode(chunks)),
                                      plain.decode(plain.encode(chunks)))
    assert mini.id_range == (L - C, L - 1) and mini.vocab_size == C
    assert vqvla.id_range == (L - R * C, L - 1) and vqvla.vocab_size == R * C


def test_ids_outside_a_level_are_rejected_not_clipped(profile_path):
    mini = with_weights(profile_path, id_map='minivla', tokenizer_len=L)
    with pytest.raises(InvalidTokenError, match=rf'token id {L} at position \(1,\) is outside '
                                                rf'the range \[{L - C}, {L - 1}\] of vq level 1'):
        mini.decode_chunk(np.array([L - 1, L]))
    vqvla = with_weights(profile_path, id_map='vq_vla', tokenizer_len=L)
    level1 = L - 1 - C  # the first code of group 1 is not a group-0 id
    with pytest.raises(InvalidTokenError, match='of vq level 0'):
        vqvla.decode_chunk(np.array([level1, level1]))
    assert vqvla.decode_chunk(np.array([L - 1, level1])).shape == (K, 7)


def test_id_map_settings_are_checked(profile_path):
    with pytest.raises(ConfigError, match='id_map minivla needs tokenizer_len'):
        VQTokenizer(profile_path, id_map='minivla')
    with pytest.raises(ConfigError, match='applies to id_map minivla or vq_vla, not robotok'):
        VQTokenizer(profile_path, tokenizer_len=L)
    with pytest.raises(ConfigError, match='vocab_offset 0'):
        VQTokenizer(profile_path, id_map='vq_vla', tokenizer_len=L, vocab_offset=3)
    with pytest.raises(ConfigError, match='tokenizer_len 300 is too small for 2 level'):
        VQTokenizer(profile_path, id_map='vq_vla', tokenizer_len=300, levels=2)
    with pytest.raises(ConfigError, match='id_map must be one of'):
        VQTokenizer(profile_path, id_map='rt2')


def test_the_map_is_saved_and_loaded(profile_path, chunks, tmp_path):
    tok = with_weights(profile_path, id_map='vq_vla', tokenizer_len=L)
    back = load_tokenizer(tok.save(tmp_path / 'vq'))
    assert back.settings()['id_map'] == 'vq_vla' and back.id_range == tok.id_range
    np.testing.assert_array_equal(back.encode(chunks), tok.encode(chunks))
