"""
A policy folder: ``policy.yaml`` (settings, layout, tokenizer) + ``policy.safetensors``.

``policy.yaml`` is human readable: the model ``config``, the ``layout`` the
data fixed (state names, token positions, ids), the tokenizer's folder (saved
beside it, relative paths are relative to the policy folder), the training
settings and the SHA-256 of the weights file.  ``policy.safetensors`` holds the
weights, the state normalisation (``norm.mean``, ``norm.std``) and, for FAST,
each id's coefficient count (``grammar.span``), float32.
Nothing is pickled.  Loading checks the hash, then every tensor's name and
shape against the config: any problem is one PolicyFileError line naming the
file and the tensor.
"""

import hashlib
from pathlib import Path

import numpy as np
from robotok_ros.errors import ConfigError
from robotok_ros.policy.config import Layout, PolicyConfig, PolicyFileError
import yaml

CONFIG_FILE = 'policy.yaml'
WEIGHTS_FILE = 'policy.safetensors'
TOKENIZER_DIR = 'tokenizer'
FORMAT = 'robotok-policy'
VERSION = 1
TOP_KEYS = ('format', 'version', 'config', 'layout', 'tokenizer', 'train', 'weights_sha256')


def expected_shapes(config, layout):
    """Return ``{tensor name: shape}`` of a policy's weights and normalisation."""
    d, s, n = config.d_model, layout.state_dim, layout.n_out
    shapes = {'norm.mean': (s,), 'norm.std': (s,), 'state_in.weight': (d, s),
              'state_in.bias': (d,), 'state_pos': (config.history, d),
              'seq_pos': (layout.seq_len, d), 'ln_f.weight': (d,), 'ln_f.bias': (d,),
              'head.weight': (n, d), 'head.bias': (n,)}
    if config.head == 'ar':
        shapes['tok_emb.weight'] = (n + 1, d)
    if layout.span_total:
        shapes['grammar.span'] = (layout.n_ids,)
    for i in range(config.n_layers):
        for name, shape in (('ln1', (d,)), ('ln2', (d,))):
            shapes[f'blocks.{i}.{name}.weight'] = shapes[f'blocks.{i}.{name}.bias'] = shape
        for name, (rows, cols) in (('qkv', (3 * d, d)), ('proj', (d, d)),
                                   ('fc1', (4 * d, d)), ('fc2', (d, 4 * d))):
            shapes[f'blocks.{i}.{name}.weight'] = (rows, cols)
            shapes[f'blocks.{i}.{name}.bias'] = (rows,)
    return shapes


def save_policy(folder, config, layout, arrays, tokenizer, train=None):
    """Write the policy folder: the tokenizer, the weights, then ``policy.yaml``; return it."""
    from safetensors.numpy import save_file
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    shapes = expected_shapes(config, layout)
    if set(arrays) != set(shapes):
        raise ConfigError(f'policy arrays {sorted(set(arrays) ^ set(shapes))[:3]} do not '
                          'match the config')
    tokenizer.save(folder / TOKENIZER_DIR)
    weights = folder / WEIGHTS_FILE
    save_file({k: np.ascontiguousarray(v, dtype=np.float32) for k, v in arrays.items()},
              str(weights))
    doc = {'format': FORMAT, 'version': VERSION, 'config': config.to_dict(),
           'layout': layout.to_dict(), 'tokenizer': {'path': TOKENIZER_DIR},
           'train': dict(train or {}),
           'weights_sha256': hashlib.sha256(weights.read_bytes()).hexdigest()}
    (folder / CONFIG_FILE).write_text(yaml.safe_dump(doc, sort_keys=False))
    return folder


def _read_yaml(path):
    try:
        doc = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise PolicyFileError(f'{path}: no such file (a policy folder holds {CONFIG_FILE} '
                              f'and {WEIGHTS_FILE}, from `robotok train-policy`)') from None
    except yaml.YAMLError as exc:
        raise PolicyFileError(f'{path}: not YAML ({str(exc).splitlines()[0]})') from None
    if not isinstance(doc, dict) or doc.get('format') != FORMAT:
        raise PolicyFileError(f'{path}: not a robotok policy (format: {FORMAT} missing)')
    unknown = sorted(set(doc) - set(TOP_KEYS))
    if unknown:
        raise PolicyFileError(f'{path}: unknown key {unknown[0]!r} (one of '
                              f'{", ".join(TOP_KEYS)})')
    if doc.get('version') != VERSION:
        raise PolicyFileError(f'{path}: version {doc.get("version")!r}, this robotok reads '
                              f'version {VERSION}')
    return doc


def read_policy(folder):
    """Return ``(config, layout, arrays, tokenizer_path, doc)`` of a policy folder, checked."""
    from safetensors import SafetensorError
    from safetensors.numpy import load_file
    folder = Path(folder)
    cfg_path, weights = folder / CONFIG_FILE, folder / WEIGHTS_FILE
    doc = _read_yaml(cfg_path)
    try:
        config = PolicyConfig.from_mapping(doc.get('config'), 'config')
    except ConfigError as exc:
        raise PolicyFileError(f'{cfg_path}: {exc}') from None
    layout = Layout.from_dict(doc.get('layout'), str(cfg_path))
    try:
        data = weights.read_bytes()
    except FileNotFoundError:
        raise PolicyFileError(f'{weights}: no such file') from None
    if hashlib.sha256(data).hexdigest() != doc.get('weights_sha256'):
        raise PolicyFileError(f'{weights}: SHA-256 differs from weights_sha256 in {cfg_path} '
                              '(the file was changed or replaced)')
    try:
        arrays = load_file(str(weights))
    except (SafetensorError, ValueError, OSError) as exc:
        raise PolicyFileError(f'{weights}: not a safetensors file ({exc})') from None
    for name, shape in expected_shapes(config, layout).items():
        if name not in arrays:
            raise PolicyFileError(f'{weights}: tensor {name} missing')
        if tuple(arrays[name].shape) != shape:
            raise PolicyFileError(f'{weights}: tensor {name} has shape '
                                  f'{tuple(arrays[name].shape)}, the config needs {shape}')
        if not np.isfinite(arrays[name]).all():
            raise PolicyFileError(f'{weights}: tensor {name} holds NaN or inf')
    extra = sorted(set(arrays) - set(expected_shapes(config, layout)))
    if extra:
        raise PolicyFileError(f'{weights}: unexpected tensor {extra[0]}')
    ref = doc.get('tokenizer')
    if not isinstance(ref, dict) or not isinstance(ref.get('path'), str):
        raise PolicyFileError(f'{cfg_path}: tokenizer must be {{path: FOLDER}}, got {ref!r}')
    arrays = {k: np.asarray(v, dtype=np.float32) for k, v in arrays.items()}
    return config, layout, arrays, folder / ref['path'], doc
