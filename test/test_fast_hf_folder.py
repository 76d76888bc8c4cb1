"""
The fast_hf kind without the shared fixture: a FAST folder trained here, statistics, saving.

A small hub-format folder is trained with ``fast_hf_train`` (the FAST fit:
DCT, scale, byte-level BPE) on smooth chunks; it must load, round-trip,
normalise with openpi and LeRobot statistics files, save to a robotok folder
and refuse bad settings and files naming what is wrong.
"""

import json

from hypothesis import given, settings, strategies as st
import numpy as np
import pytest
from robotok_ros.errors import ConfigError, InvalidTokenError, TokenizerStateError
from robotok_ros.profile_loader import load_profile
from robotok_ros.tokenizers import load_tokenizer
from robotok_ros.tokenizers.fast_hf import FastHFTokenizer
from robotok_ros.tokenizers.fast_hf_train import train_hf_folder

H = 10


def smooth_chunks(n, dim, seed=0):
    """Return ``(n, H, dim)`` sums of low-frequency sinusoids in [-1, 1]."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 1, H)[None, :, None]
    waves = np.sin(2 * np.pi * (t * rng.uniform(0, 1.5, (n, 1, dim))
                                + rng.uniform(0, 1, (n, 1, dim))))
    return np.clip(waves * rng.uniform(0.2, 1, (n, 1, dim)), -1, 1)


@pytest.fixture(scope='module')
def folder(tmp_path_factory):
    out = tmp_path_factory.mktemp('hf') / 'fast'
    return train_hf_folder(out, smooth_chunks(300, 7), scale=10, vocab_size=400)


@pytest.fixture(scope='module')
def profile(tmp_path_factory):
    path = tmp_path_factory.mktemp('p') / 'unit7.yaml'
    dims = '\n'.join(f'  - {{name: a{i}, min: -5, max: 5}}' for i in range(7))
    path.write_text(f'name: unit7\nframe_id: base\ncontrol_rate_hz: 10\ndimensions:\n{dims}\n'
                    'safety: {max_linear_speed: 0.25, max_angular_speed: 1.0}\n')
    return load_profile(path)


def test_trained_folder_loads_and_round_trips(folder, profile):
    config = json.loads((folder / 'processor_config.json').read_text())
    assert config['time_horizon'] == H and config['action_dim'] == 7
    assert config['processor_class'] == 'UniversalActionProcessor'
    tok = FastHFTokenizer.from_folder(folder, profile)
    chunks = smooth_chunks(40, 7, seed=5)
    ids = tok.encode(chunks)
    assert np.mean([len(i) for i in ids]) < H * 7 / 2  # BPE compresses
    assert np.abs(tok.decode(ids) - chunks).max() <= 0.5 / 10 * np.sqrt(H)


def test_encode_uses_the_bpe_as_tokenizers_does(folder, profile):
    from tokenizers import Tokenizer
    tok = FastHFTokenizer.from_folder(folder, profile)
    bpe = Tokenizer.from_file(str(folder / 'tokenizer.json'))
    chunk = smooth_chunks(1, 7, seed=3)[0]
    ids = tok.encode_chunk(chunk)
    assert bpe.decode(ids.tolist()) == ''.join(chr(c) for c in tok.codec.codes(ids))


@settings(max_examples=60, deadline=None)
@given(ids=st.lists(st.integers(0, 399), min_size=1, max_size=40))
def test_table_decode_agrees_with_tokenizers_or_rejects(folder, profile, ids):
    from tokenizers import Tokenizer
    tok = FastHFTokenizer.from_folder(folder, profile, relaxed=True)
    text = Tokenizer.from_file(str(folder / 'tokenizer.json')).decode(ids)
    codes = tok.codec.codes(np.array(ids))
    if '\ufffd' in text:  # invalid UTF-8: tokenizers replaces, this kind refuses
        assert codes is None
        with pytest.raises(InvalidTokenError) as err:
            tok.decode_chunk(np.array(ids))
        assert err.value.reason == 'invalid'
    else:
        assert codes.tolist() == [ord(c) for c in text]


def test_save_and_load_keep_the_bpe_and_the_settings(folder, profile, tmp_path):
    tok = FastHFTokenizer.from_folder(folder, profile, id_map='qwen')
    tok.save(tmp_path / 'saved')
    back = load_tokenizer(tmp_path / 'saved')
    assert back.kind == 'fast_hf' and back.id_range == tok.id_range
    chunk = smooth_chunks(1, 7, seed=8)[0]
    assert back.encode_chunk(chunk).tolist() == tok.encode_chunk(chunk).tolist()
    assert back.tokenizer_json() == (folder / 'tokenizer.json').read_text()


def test_tampered_state_is_refused_naming_the_file(folder, profile, tmp_path):
    from safetensors.numpy import load_file, save_file
    FastHFTokenizer.from_folder(folder, profile).save(tmp_path / 's')
    state = tmp_path / 's' / 'state.safetensors'
    arrays = load_file(str(state))
    arrays['tokenizer_json'][5] ^= 1
    save_file(arrays, str(state))
    with pytest.raises(TokenizerStateError, match='state.safetensors'):
        load_tokenizer(tmp_path / 's')


def write_stats(path, kind, dim=7):
    lo, hi = -np.arange(1, dim + 1) * 0.1, np.arange(1, dim + 1) * 0.2
    if kind == 'openpi':
        block = {'mean': (0.5 * (lo + hi)).tolist(), 'std': (0.1 * hi).tolist(),
                 'q01': lo.tolist(), 'q99': hi.tolist()}
        data = {'norm_stats': {'actions': block, 'state': block}}
    else:
        data = {'action': {'mean': (0.5 * (lo + hi)).tolist(), 'std': (0.1 * hi).tolist(),
                           'min': lo.tolist(), 'max': hi.tolist(), 'count': [100]}}
    path.write_text(json.dumps(data))
    return path, lo, hi


@pytest.mark.parametrize('kind, mode', [('openpi', None), ('openpi', 'mean_std'),
                                        ('lerobot', None), ('lerobot', 'min_max')])
def test_normalisation_stats_files_unnormalise_into_profile_units(folder, profile, tmp_path,
                                                                  kind, mode):
    stats, lo, hi = write_stats(tmp_path / 'stats.json', kind)
    plain = FastHFTokenizer.from_folder(folder, profile)
    tok = FastHFTokenizer.from_folder(folder, profile, norm_stats=str(stats), norm_mode=mode)
    assert tok.norm_format == kind
    assert tok.norm_mode == (mode or ('quantile' if kind == 'openpi' else 'mean_std'))
    ids = plain.encode_chunk(smooth_chunks(1, 7, seed=2)[0])
    n = plain.decode_chunk(ids)
    if tok.norm_mode == 'mean_std':
        want = n * (0.1 * hi + 1e-6) + 0.5 * (lo + hi)
    else:  # openpi quantile and LeRobot min_max: (n + 1) / 2 * (hi - lo + eps) + lo
        want = (n + 1) / 2 * (hi - lo + 1e-6) + lo
    np.testing.assert_allclose(tok.decode_chunk(ids), want, rtol=0, atol=1e-12)
    assert tok.encode_chunk(tok.decode_chunk(ids)).tolist() == ids.tolist()


def test_a_saved_folder_carries_its_normalisation_not_a_stats_path(folder, profile, tmp_path):
    stats, _, _ = write_stats(tmp_path / 'norm_stats.json', 'openpi')
    mask = [1] * 6 + [0]
    tok = FastHFTokenizer.from_folder(folder, profile, norm_stats=str(stats), norm_mask=mask)
    tok.save(tmp_path / 'saved')
    stats.unlink()  # the robot PC has the saved folder only
    back = load_tokenizer(tmp_path / 'saved')
    plain = FastHFTokenizer.from_folder(folder, profile)
    ids = plain.encode_chunk(smooth_chunks(1, 7)[0])
    np.testing.assert_array_equal(back.decode_chunk(ids), tok.decode_chunk(ids))
    raw = plain.decode_chunk(ids)  # un-normalised where the mask says so, and only there
    assert not np.allclose(back.decode_chunk(ids)[:, :6], raw[:, :6])
    np.testing.assert_array_equal(back.decode_chunk(ids)[:, 6], raw[:, 6])
    assert back.norm_mode == 'quantile'
    # The arrays are inside the checksummed state: an edit there is refused.
    from safetensors.numpy import load_file, save_file
    state = tmp_path / 'saved' / 'state.safetensors'
    arrays = load_file(str(state))
    arrays['norm_width'] = arrays['norm_width'] * 2
    save_file(arrays, str(state))
    with pytest.raises(TokenizerStateError, match='state.safetensors'):
        load_tokenizer(tmp_path / 'saved')


def test_norm_mask_leaves_unmasked_dimensions_alone(folder, profile, tmp_path):
    stats, lo, hi = write_stats(tmp_path / 'norm_stats.json', 'openpi')
    mask = [1, 1, 1, 1, 1, 1, 0]
    tok = FastHFTokenizer.from_folder(folder, profile, norm_stats=str(stats), norm_mask=mask)
    plain = FastHFTokenizer.from_folder(folder, profile)
    ids = plain.encode_chunk(smooth_chunks(1, 7, seed=4)[0])
    out, raw = tok.decode_chunk(ids), plain.decode_chunk(ids)
    np.testing.assert_array_equal(out[:, 6], raw[:, 6])
    assert not np.allclose(out[:, :6], raw[:, :6])
    with pytest.raises(ConfigError, match='norm_mask must have 7 entries'):
        FastHFTokenizer.from_folder(folder, profile, norm_stats=str(stats), norm_mask=[1, 0])


def test_bad_stats_and_settings_name_the_file_and_value(folder, profile, tmp_path):
    bad = tmp_path / 'stats.json'
    bad.write_text(json.dumps({'action': {'mean': [0.0] * 7}}))
    with pytest.raises(ConfigError, match=r'stats.json: normalisation mean_std needs key std'):
        FastHFTokenizer.from_folder(folder, profile, norm_stats=str(bad))
    bad.write_text(json.dumps({'observation': {}}))
    with pytest.raises(ConfigError, match='neither an openpi norm_stats.json'):
        FastHFTokenizer.from_folder(folder, profile, norm_stats=str(bad))
    with pytest.raises(ConfigError, match='norm_mode quantile needs norm_stats'):
        FastHFTokenizer.from_folder(folder, profile, norm_mode='quantile')
    with pytest.raises(ConfigError, match='id_map must be one of'):
        FastHFTokenizer.from_folder(folder, profile, id_map='gemma')
    six = load_profile('widowx_250').dim
    if six != 7:
        with pytest.raises(ConfigError, match=f'action_dim 7 but profile widowx_250 has {six}'):
            FastHFTokenizer.from_folder(folder, 'widowx_250')


def test_a_folder_that_is_not_fast_is_refused(folder, profile, tmp_path):
    spec = json.loads((folder / 'tokenizer.json').read_text())
    spec['decoder'] = {'type': 'WordPiece', 'prefix': '##', 'cleanup': True}
    other = tmp_path / 'other'
    other.mkdir()
    (other / 'tokenizer.json').write_text(json.dumps(spec))
    (other / 'processor_config.json').write_text((folder / 'processor_config.json').read_text())
    with pytest.raises(ConfigError, match="a FAST tokenizer is a 'BPE' model with a 'ByteLevel'"):
        FastHFTokenizer.from_folder(other, profile)
    (other / 'processor_config.json').write_text('{"scale": 10}')
    with pytest.raises(ConfigError, match='processor_config.json: missing key min_token'):
        FastHFTokenizer.from_folder(other, profile)


def test_decoded_actions_are_clipped_to_the_profile_and_counted(folder):
    tok = FastHFTokenizer.from_folder(folder, 'franka_panda')
    chunk = smooth_chunks(20, 7, seed=6)
    chunk[:, :, 6] = -chunk[:, :, 6] ** 2  # the gripper's range is [0, 1]
    ids = FastHFTokenizer.from_folder(folder, 'franka_panda', clip_actions=False).encode(chunk)
    out = tok.decode(ids)
    assert (out >= tok.profile.lows).all() and tok.decode_clip_counts[6] > 0
