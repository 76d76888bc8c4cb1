"""
A saved tokenizer folder: ``tokenizer.yaml`` (+ ``state.safetensors``), written and checked.

``tokenizer.yaml`` holds ``format_version``, ``kind``, ``profile_fingerprint``
(``RobotProfile.fingerprint()`` of the profile block), ``state_sha256`` (of the
state file, when the tokenizer learned one), ``settings`` and ``profile``.
Reading refuses anything else: an unknown key, a value of the wrong type, a
fingerprint or checksum that does not match.  Every refusal is one
TokenizerStateError line naming the file; nothing here executes code from a
file (safe YAML, safetensors).

The checksums catch corruption and edits by hand; they are no signature, since
whoever can write the folder can recompute them.  That is why nodes take the
safety limits from the robot profile, never from a tokenizer folder.
"""

import hashlib
from pathlib import Path
import re

import numpy as np
from robotok_ros.errors import ConfigError, TokenizerStateError
from robotok_ros.profile_loader import profile_from_dict, read_yaml
import yaml

CONFIG_FILE = 'tokenizer.yaml'
STATE_FILE = 'state.safetensors'
FORMAT_VERSION = 1
TOP_KEYS = ('format_version', 'kind', 'profile_fingerprint', 'state_sha256', 'settings',
            'profile')
REQUIRED = ('kind', 'profile_fingerprint', 'settings', 'profile')
FINGERPRINT = re.compile(r'[0-9a-f]{16}')
SHA256 = re.compile(r'[0-9a-f]{64}')


def _short(value, limit=80):
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + '...'


def sha256_hex(data):
    """Return the hex SHA-256 of ``data`` (bytes)."""
    return hashlib.sha256(data).hexdigest()


def write_folder(path, kind, settings, profile, arrays):
    """Write ``arrays`` (if any) to the state file, then ``tokenizer.yaml``; return the folder."""
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    config = {'format_version': FORMAT_VERSION, 'kind': kind,
              'profile_fingerprint': profile.fingerprint()}
    if arrays:
        from safetensors.numpy import save
        data = save({k: np.ascontiguousarray(v) for k, v in arrays.items()})
        (folder / STATE_FILE).write_bytes(data)
        config['state_sha256'] = sha256_hex(data)
    config.update(settings=settings, profile=profile.to_dict())
    (folder / CONFIG_FILE).write_text(yaml.safe_dump(config, sort_keys=False))
    return folder


def read_config(folder):
    """Return ``(path of tokenizer.yaml, its checked mapping)``; refuse a malformed file."""
    cfg_path = Path(folder) / CONFIG_FILE
    if not cfg_path.is_file():
        raise TokenizerStateError(f'{folder}: no {CONFIG_FILE} here; save a tokenizer '
                                  'with `robotok fit` or `.save(path)` first')
    try:
        config = read_yaml(cfg_path)
    except ConfigError as exc:
        raise TokenizerStateError(str(exc)) from None
    if not isinstance(config, dict):
        raise TokenizerStateError(f'{cfg_path}: must be a mapping, got {_short(config)}')
    unknown = sorted((k for k in config if k not in TOP_KEYS), key=str)
    if unknown:
        raise TokenizerStateError(f'{cfg_path}: unknown key {_short(unknown[0])} (allowed: '
                                  f'{", ".join(TOP_KEYS)})')
    version = config.get('format_version')
    if isinstance(version, bool) or not isinstance(version, int) or version != FORMAT_VERSION:
        raise TokenizerStateError(f'{cfg_path}: format_version must be the integer '
                                  f'{FORMAT_VERSION}, got {_short(version)}')
    for key in REQUIRED:
        if key not in config:
            hint = (' (saved before checksums were recorded? save it again with this version)'
                    if key == 'profile_fingerprint' else '')
            raise TokenizerStateError(f'{cfg_path}: missing key {key}{hint}')
    if not isinstance(config['kind'], str):
        raise TokenizerStateError(f'{cfg_path}: kind must be a string naming a tokenizer kind, '
                                  f'got {_short(config["kind"])}')
    for key in ('settings', 'profile'):
        if not isinstance(config[key], dict):
            raise TokenizerStateError(f'{cfg_path}: {key} must be a mapping, '
                                      f'got {_short(config[key])}')
    odd = [k for k in config['settings'] if not isinstance(k, str)]
    if odd:
        raise TokenizerStateError(f'{cfg_path}: settings: key {_short(odd[0])} must be a '
                                  'setting name (a string)')
    for key, pattern, what in (('profile_fingerprint', FINGERPRINT, '16'),
                               ('state_sha256', SHA256, '64')):
        value = config.get(key)
        if key in config and not (isinstance(value, str) and pattern.fullmatch(value)):
            raise TokenizerStateError(f'{cfg_path}: {key} must be a string of {what} lowercase '
                                      f'hex digits, got {_short(value)}')
    return cfg_path, config


def checked_profile(cfg_path, config):
    """Return the profile block as a RobotProfile whose fingerprint matches the recorded one."""
    try:
        profile = profile_from_dict(config['profile'], source=f'{cfg_path}: profile')
    except ConfigError as exc:
        raise TokenizerStateError(str(exc)) from None
    recorded, actual = config['profile_fingerprint'], profile.fingerprint()
    if actual != recorded:
        raise TokenizerStateError(f'{cfg_path}: the profile block has fingerprint {actual}, '
                                  f'not the {recorded} recorded when it was saved: it was '
                                  'edited, tampered or corrupted')
    return profile


def read_state(folder, cfg_path, config):
    """Return the state file's arrays after checking its SHA-256 against ``state_sha256``."""
    state_path = Path(folder) / STATE_FILE
    if 'state_sha256' not in config:
        raise TokenizerStateError(f'{cfg_path}: missing key state_sha256 (the checksum of '
                                  f'{STATE_FILE}); save the tokenizer again with this version')
    if not state_path.is_file():
        raise TokenizerStateError(f'{folder}: {STATE_FILE} is missing')
    try:
        data = state_path.read_bytes()
    except OSError as exc:
        raise TokenizerStateError(f'{state_path}: cannot be read: {exc.strerror}') from None
    actual = sha256_hex(data)
    if actual != config['state_sha256']:
        raise TokenizerStateError(f'{state_path}: SHA-256 {actual} does not match the '
                                  f'state_sha256 {config["state_sha256"]} in {CONFIG_FILE}: '
                                  'the file is tampered or corrupted')
    from safetensors.numpy import load
    try:
        return load(data)
    except Exception as exc:  # noqa: B902 - safetensors raises several types
        problem = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise TokenizerStateError(f'{state_path}: not a readable safetensors file '
                                  f'({problem})') from None
