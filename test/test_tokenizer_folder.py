"""Saved tokenizer folders: checksums, fingerprints, malformed tokenizer.yaml, int32 ids."""

import hashlib
from pathlib import Path
import subprocess
import sys

import numpy as np
import pytest
from robotok_ros.errors import ConfigError, TokenizerStateError
from robotok_ros.profile_loader import profile_from_dict
from robotok_ros.tokenizers import load_tokenizer, make_tokenizer
from robotok_ros.tokenizers.base import INT32_MAX
import yaml

from conftest import SEVEN_DOF_PROFILE  # noqa: I100 - test-local helper module
from tokenizer_folders import edit_config, reseal

PROFILE = profile_from_dict(yaml.safe_load(SEVEN_DOF_PROFILE), 'test7.yaml')


def _data(n=500, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(PROFILE.lows, PROFILE.highs, (n, PROFILE.dim))


@pytest.fixture
def quantile_dir(tmp_path):
    """Save a fitted quantile tokenizer (it has a state file); return its folder."""
    return make_tokenizer('quantile', PROFILE, n_bins=16).fit([_data()]).save(tmp_path / 'q')


@pytest.fixture
def uniform_dir(tmp_path):
    """Save a uniform tokenizer (no state file); return its folder."""
    return make_tokenizer('uniform', PROFILE).save(tmp_path / 'u')


def _load_error(folder):
    with pytest.raises(TokenizerStateError) as info:
        load_tokenizer(folder)
    msg = str(info.value)
    assert '\n' not in msg and 'Traceback' not in msg, msg
    assert str(Path(folder)) in msg, msg
    return msg


def test_save_records_the_state_checksum_and_profile_fingerprint(quantile_dir, uniform_dir):
    cfg = yaml.safe_load((quantile_dir / 'tokenizer.yaml').read_text())
    state = (quantile_dir / 'state.safetensors').read_bytes()
    assert cfg['state_sha256'] == hashlib.sha256(state).hexdigest()
    assert cfg['profile_fingerprint'] == PROFILE.fingerprint()
    assert list(cfg) == ['format_version', 'kind', 'profile_fingerprint', 'state_sha256',
                         'settings', 'profile']
    cfg = yaml.safe_load((uniform_dir / 'tokenizer.yaml').read_text())
    assert 'state_sha256' not in cfg and cfg['profile_fingerprint'] == PROFILE.fingerprint()
    back = load_tokenizer(quantile_dir)
    data = _data(50, seed=1)
    assert np.array_equal(back.encode(data), make_tokenizer('quantile', PROFILE, n_bins=16).fit(
        [_data()]).encode(data))


def test_a_changed_state_file_is_refused_as_tampered(quantile_dir):
    state = quantile_dir / 'state.safetensors'
    data = bytearray(state.read_bytes())
    data[-3] ^= 0x01  # one bit of one edge
    state.write_bytes(bytes(data))
    msg = _load_error(quantile_dir)
    assert f'{state}: SHA-256 {hashlib.sha256(bytes(data)).hexdigest()} does not match' in msg
    assert 'tampered or corrupted' in msg
    state.unlink()
    assert _load_error(quantile_dir).endswith('state.safetensors is missing')


def test_a_missing_or_misplaced_checksum_is_refused(quantile_dir, uniform_dir):
    edit_config(quantile_dir, lambda c: c.pop('state_sha256'))
    assert 'missing key state_sha256 (the checksum of state.safetensors)' in _load_error(
        quantile_dir)
    edit_config(uniform_dir, lambda c: c.update(state_sha256='0' * 64))
    assert ('state_sha256 given, but a uniform tokenizer has no state.safetensors'
            in _load_error(uniform_dir))


def test_an_edited_profile_block_is_refused_by_its_fingerprint(uniform_dir):
    edit_config(uniform_dir, lambda c: c['profile']['dimensions'][3].update(unit='deg'))
    changed = PROFILE.to_dict()
    changed['dimensions'][3]['unit'] = 'deg'
    msg = _load_error(uniform_dir)
    assert (f'the profile block has fingerprint {profile_from_dict(changed).fingerprint()}, '
            f'not the {PROFILE.fingerprint()} recorded when it was saved') in msg
    assert 'edited, tampered or corrupted' in msg


def test_ranges_and_limits_in_the_profile_block_do_not_change_the_fingerprint(uniform_dir):
    def widen(config):
        config['profile']['dimensions'][0]['max'] = 0.04
        config['profile']['safety']['max_linear_speed'] = 9.0
    edit_config(uniform_dir, widen)
    tok = load_tokenizer(uniform_dir)
    assert tok.profile.highs[0] == 0.04 and tok.profile.safety.max_linear_speed == 9.0


BAD_CONFIG = [  # (edit of the saved mapping, text the one-line error must hold)
    (lambda c: c.update(kind=['vq']), 'kind must be a string naming a tokenizer kind, got '
     "['vq']"),
    (lambda c: c.update(kind='zz'), 'kind: tokenizer must be one of uniform, rt1, quantile, '
     "openvla, vq, fast, dct_table, fast_hf, got 'zz'"),
    (lambda c: c.update(settings=5), 'settings must be a mapping, got 5'),
    (lambda c: c.update(settings=['n_bins', 16]), 'settings must be a mapping, got '
     "['n_bins', 16]"),
    (lambda c: c.update(settings={1: 2}), 'settings: key 1 must be a setting name'),
    (lambda c: c.update(settings={'n_bins': 'many'}), 'n_bins'),
    (lambda c: c.update(profile='franka_panda'), 'profile must be a mapping, got '
     "'franka_panda'"),
    (lambda c: c['profile'].update(colour='red'), 'profile: unknown key colour'),
    (lambda c: c['profile']['safety'].update(max_linear_speed=1e300),
     'safety.max_linear_speed must be > 0 and <= 10 m/s, got 1e+300'),
    (lambda c: c.update(colour='red'), "unknown key 'colour' (allowed: format_version, kind, "
     'profile_fingerprint, state_sha256, settings, profile)'),
    (lambda c: c.update({3: 'x'}), 'unknown key 3'),
    (lambda c: c.update(format_version='1'), "format_version must be the integer 1, got '1'"),
    (lambda c: c.update(format_version=True), 'format_version must be the integer 1, got True'),
    (lambda c: c.update(format_version=1.0), 'format_version must be the integer 1, got 1.0'),
    (lambda c: c.update(format_version=2), 'format_version must be the integer 1, got 2'),
    (lambda c: c.pop('format_version'), 'format_version must be the integer 1, got None'),
    (lambda c: c.pop('profile_fingerprint'), 'missing key profile_fingerprint (saved before '
     'checksums were recorded? save it again with this version)'),
    (lambda c: c.pop('settings'), 'missing key settings'),
    (lambda c: c.update(profile_fingerprint=12345), 'profile_fingerprint must be a string of '
     '16 lowercase hex digits, got 12345'),
    (lambda c: c.update(profile_fingerprint='F' * 16), 'profile_fingerprint must be a string '
     "of 16 lowercase hex digits, got 'FFFFFFFFFFFFFFFF'"),
    (lambda c: c.update(state_sha256=['a']), 'state_sha256 must be a string of 64 lowercase '
     "hex digits, got ['a']"),
    (lambda c: c['settings'].update(vocab_offset=INT32_MAX), 'ids [2147483647, 2147483902] '
     'do not fit [0, 2147483647] (int32'),
]


@pytest.mark.parametrize('edit, text', BAD_CONFIG)
def test_malformed_config_is_one_error_line(uniform_dir, edit, text):
    edit_config(uniform_dir, edit)
    msg = _load_error(uniform_dir)
    assert text in msg, msg
    assert msg.startswith(str(uniform_dir / 'tokenizer.yaml')), msg


@pytest.mark.parametrize('raw, text', [
    ("kind: !!python/object/apply:os.system ['echo pwned']\n",
     'not valid YAML: could not determine a constructor for the tag '
     "'tag:yaml.org,2002:python/object/apply:os.system' at line 1, column 7"),
    ('!!python/object:collections.OrderedDict {}\n', 'python/object:collections.OrderedDict'),
    ('kind: uniform\nkind: vq\n', "not valid YAML: key 'kind' appears twice at line 2"),
    ('kind: [uniform\n', 'not valid YAML: '),
    ('- 1\n- 2\n', 'must be a mapping, got [1, 2]'),
    ('', 'must be a mapping, got None'),
    (b'kind: \xff\n', 'not UTF-8 text'),
])
def test_unparseable_config_is_one_error_line(uniform_dir, raw, text):
    path = uniform_dir / 'tokenizer.yaml'
    path.write_bytes(raw if isinstance(raw, bytes) else raw.encode())
    msg = _load_error(uniform_dir)
    assert msg.startswith(f'{path}: ') and text in msg, msg


def test_a_resealed_state_still_meets_the_shape_checks(quantile_dir):
    from safetensors.numpy import save_file
    save_file({'edges': np.zeros((7, 3))}, str(quantile_dir / 'state.safetensors'))
    reseal(quantile_dir)
    assert 'edges must have shape (7, 17), got (7, 3)' in _load_error(quantile_dir)


@pytest.mark.parametrize('kind, settings, ids', [
    ('uniform', {'vocab_offset': INT32_MAX - 255}, (INT32_MAX - 255, INT32_MAX)),
    ('uniform', {'vocab_offset': INT32_MAX - 255 * 7 - 6, 'layout': 'per_dimension'},
     (INT32_MAX - 255 * 7 - 6, INT32_MAX - 255 * 7 - 6 + 7 * 256 - 1)),
    ('openvla', {'text_vocab_size': INT32_MAX}, (INT32_MAX - 256, INT32_MAX - 1)),
    ('vq', {'vocab_offset': INT32_MAX - 255}, (INT32_MAX - 255, INT32_MAX)),
])
def test_the_highest_id_may_be_int32_max(kind, settings, ids):
    assert make_tokenizer(kind, PROFILE, **settings).id_range == ids


@pytest.mark.parametrize('kind, settings, hi', [
    ('uniform', {'vocab_offset': INT32_MAX - 254}, INT32_MAX + 1),
    ('uniform', {'vocab_offset': INT32_MAX - 1000, 'layout': 'per_dimension'},
     INT32_MAX - 1000 + 7 * 256 - 1),
    ('rt1', {'vocab_offset': INT32_MAX}, INT32_MAX + 255),
    ('vq', {'vocab_offset': INT32_MAX - 10, 'codebook_size': 16}, INT32_MAX + 5),
    ('fast', {'vocab_offset': 2 ** 40}, 2 ** 40 + 64),  # unfitted: the 65-symbol alphabet
])
def test_ids_beyond_int32_are_a_config_error(kind, settings, hi):
    with pytest.raises(ConfigError) as info:
        make_tokenizer(kind, PROFILE, **settings)
    msg = str(info.value)
    assert f'{kind} tokenizer: ids [' in msg and f', {hi}] do not fit [0, {INT32_MAX}]' in msg
    assert 'std_msgs/Int32MultiArray' in msg


def test_a_fit_that_grows_ids_beyond_int32_is_a_config_error():
    tok = make_tokenizer('fast', PROFILE, chunk_steps=4, vocab=200, vocab_offset=INT32_MAX - 100)
    assert tok.id_range[1] <= INT32_MAX  # the base alphabet alone fits
    rng = np.random.default_rng(3)
    episodes = [np.cumsum(rng.normal(0, 0.002, (40, 7)), axis=0).clip(PROFILE.lows, PROFILE.highs)
                for _ in range(20)]
    with pytest.raises(ConfigError, match=r'fast tokenizer: ids \[2147483547, 2147483746\] '
                                          r'do not fit \[0, 2147483647\]'):
        tok.fit(episodes)


def test_cli_prints_one_line_for_a_tampered_folder(uniform_dir):
    (uniform_dir / 'tokenizer.yaml').write_text('kind: !!python/object/apply:os.system [id]\n')
    exe = Path(sys.executable).parent / 'robotok'
    run = subprocess.run([str(exe), 'decode', '--tokenizer-path', str(uniform_dir),
                          '0,0,0,0,0,0,0'], capture_output=True, text=True, timeout=60)
    assert run.returncode == 2 and run.stdout == '', run
    assert 'Traceback' not in run.stderr and run.stderr.count('\n') == 1, run.stderr
    assert 'not valid YAML: could not determine a constructor' in run.stderr
