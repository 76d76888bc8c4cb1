"""
The files a FAST-format tokenizer is made of: a hub folder and normalisation statistics.

A FAST tokenizer folder as published on the Hugging Face hub (Pertsch et al.,
2025, arXiv:2501.09747; ``processing_action_tokenizer.py`` of
physical-intelligence/fast) holds ``tokenizer.json`` (an HF ``tokenizers``
byte-level BPE) and ``processor_config.json`` (``scale``, ``min_token``,
``vocab_size``, ``time_horizon``, ``action_dim``).  Both are data: they are
parsed as JSON and by the ``tokenizers`` library, never imported or run.

Normalisation statistics come from the two files policies ship: openpi's
``norm_stats.json`` (``{"norm_stats": {"actions": {"mean", "std", "q01",
"q99"}}}``) and LeRobot's ``stats.json`` (``{"action": {"mean", "std", "min",
"max", ...}}``).
"""

import json
from pathlib import Path

import numpy as np
from robotok_ros.errors import ConfigError

TOKENIZER_FILE = 'tokenizer.json'
PROCESSOR_FILE = 'processor_config.json'
PROCESSOR_KEYS = ('scale', 'min_token', 'vocab_size', 'time_horizon', 'action_dim')
# Which statistics each normalisation needs, and which file key holds the actions.
NORM_FIELDS = {'quantile': ('q01', 'q99'), 'mean_std': ('mean', 'std'),
               'min_max': ('min', 'max')}


def is_hf_folder(path):
    """Whether ``path`` is a folder holding a hub FAST tokenizer (both files)."""
    folder = Path(path)
    return (folder / TOKENIZER_FILE).is_file() and (folder / PROCESSOR_FILE).is_file()


def read_json(path, what):
    """Return the parsed JSON of ``path``; any problem is one ConfigError naming the file."""
    try:
        text = Path(path).read_text(encoding='utf-8')
    except OSError as exc:
        raise ConfigError(f'{path}: cannot read the {what}: {exc.strerror}') from None
    except UnicodeDecodeError:
        raise ConfigError(f'{path}: the {what} is not UTF-8 text') from None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ConfigError(f'{path}: the {what} is not valid JSON ({exc})') from None


def read_processor_config(folder):
    """Return ``{key: value}`` of PROCESSOR_KEYS from ``processor_config.json`` (null kept)."""
    path = Path(folder) / PROCESSOR_FILE
    config = read_json(path, 'FAST processor config')
    if not isinstance(config, dict):
        raise ConfigError(f'{path}: must be a JSON object, got {type(config).__name__}')
    cls = config.get('processor_class', 'UniversalActionProcessor')
    if cls != 'UniversalActionProcessor':
        raise ConfigError(f'{path}: processor_class {cls!r} is not the FAST '
                          'UniversalActionProcessor')
    missing = [k for k in ('scale', 'min_token', 'vocab_size') if k not in config]
    if missing:
        raise ConfigError(f'{path}: missing key {missing[0]}')
    return {k: config.get(k) for k in PROCESSOR_KEYS}


def bytes_to_unicode():
    """Return the byte-level BPE alphabet: ``{character: byte}`` for all 256 bytes."""
    printable = (list(range(ord('!'), ord('~') + 1)) + list(range(ord('\xa1'), ord('\xac') + 1))
                 + list(range(ord('\xae'), ord('\xff') + 1)))
    chars, extra = {}, 0
    for b in range(256):
        if b in printable:
            chars[chr(b)] = b
        else:
            chars[chr(256 + extra)] = b
            extra += 1
    return chars


def piece_bytes(piece, table):
    """
    Return the bytes the byte-level decoder makes of one vocabulary ``piece``.

    As ``tokenizers``' ByteLevel decoder does: each character is mapped back to
    its byte; a piece with any character outside the alphabet (the raw
    characters FAST puts in its initial alphabet, "aliases") is taken as UTF-8.
    """
    try:
        return bytes(table[c] for c in piece)
    except KeyError:
        return piece.encode('utf-8')


def load_bpe(text, source):
    """
    Return ``(tokenizers.Tokenizer, [bytes of each id])`` of ``tokenizer.json`` ``text``.

    Only a byte-level BPE without added tokens is accepted: that is what FAST
    trains, and the only decoder the id table reproduces.  ``source`` names the
    file in errors.
    """
    from tokenizers import Tokenizer
    try:
        spec = json.loads(text)
    except ValueError as exc:
        raise ConfigError(f'{source}: the BPE tokenizer is not valid JSON ({exc})') from None
    if not isinstance(spec, dict) or not isinstance(spec.get('model'), dict):
        raise ConfigError(f'{source}: not an HF tokenizers file (no model object)')
    model = spec['model'].get('type')
    decoder = (spec.get('decoder') or {}).get('type')
    if model != 'BPE' or decoder != 'ByteLevel':
        raise ConfigError(f'{source}: model {model!r} with decoder {decoder!r}; a FAST '
                          "tokenizer is a 'BPE' model with a 'ByteLevel' decoder")
    if spec.get('added_tokens'):
        raise ConfigError(f'{source}: has added_tokens; a FAST action tokenizer has none')
    try:
        tok = Tokenizer.from_str(text)
    except Exception as exc:  # noqa: B902 - tokenizers raises its own Exception type
        raise ConfigError(f'{source}: tokenizers cannot load it ({exc})') from None
    vocab = tok.get_vocab(with_added_tokens=False)
    n = len(vocab)
    if sorted(vocab.values()) != list(range(n)):
        raise ConfigError(f'{source}: model.vocab ids must be 0..{n - 1} without gaps')
    pieces = [''] * n
    for piece, i in vocab.items():
        pieces[i] = piece
    table = bytes_to_unicode()
    return tok, [piece_bytes(p, table) for p in pieces]


def _stats_block(data, path):
    """Return the action statistics mapping of an openpi or a LeRobot file, and its format."""
    if isinstance(data, dict) and isinstance(data.get('norm_stats'), dict):
        block, key, fmt = data['norm_stats'], 'actions', 'openpi'
    elif isinstance(data, dict) and 'action' in data:
        block, key, fmt = data, 'action', 'lerobot'
    else:
        raise ConfigError(f'{path}: neither an openpi norm_stats.json ({{"norm_stats": '
                          '{"actions": ...}}) nor a LeRobot stats.json ({"action": ...})')
    if not isinstance(block.get(key), dict):
        raise ConfigError(f'{path}: missing key {key} (the action statistics)')
    return block[key], fmt


def read_norm_stats(path, mode, dim):
    """
    Return ``(lo (D,), hi (D,), format, mode)`` for normalisation ``mode`` from a stats file.

    ``lo, hi`` are (q01, q99), (mean, std) or (min, max); ``format`` is 'openpi'
    or 'lerobot'.  A mode of None picks quantile for openpi and mean_std for
    LeRobot (what pi0-FAST is trained with in each); ``mode`` is the one used.
    """
    block, fmt = _stats_block(read_json(path, 'normalisation statistics'), path)
    if mode is None:
        mode = 'quantile' if fmt == 'openpi' else 'mean_std'
    out = []
    for name in NORM_FIELDS[mode]:
        if name not in block:
            raise ConfigError(f'{path}: normalisation {mode} needs key {name}, the file has '
                              f'{", ".join(sorted(block))}')
        try:
            arr = np.asarray(block[name], dtype=np.float64).reshape(-1)
        except (TypeError, ValueError):
            raise ConfigError(f'{path}: {name} must be a list of numbers') from None
        # openpi stats can be padded to a model's action dimension: the first D apply.
        if arr.size < dim or not np.isfinite(arr[:dim]).all():
            raise ConfigError(f'{path}: {name} must hold {dim} finite numbers, got '
                              f'{block[name]!r}'[:200])
        out.append(arr[:dim])
    lo, hi = out
    if mode == 'mean_std' and (hi < 0).any():
        raise ConfigError(f'{path}: std must be >= 0, got {hi.tolist()}')
    if mode != 'mean_std' and (hi < lo).any():
        d = int(np.flatnonzero(hi < lo)[0])
        raise ConfigError(f'{path}: {NORM_FIELDS[mode][1]} < {NORM_FIELDS[mode][0]} in '
                          f'dimension {d}')
    return lo, hi, fmt, mode


SAVED_STATS = '<state.safetensors>'  # norm_stats of a saved folder: the arrays are inside


def normalisation(config, dim, profile_name):
    """
    Return ``(a (D,), b (D,), format, mode, mask (D,))``: normalised = (x - a) / b.

    From the ``fast_hf`` settings ``config`` (``norm_stats``, ``norm_mode``,
    ``norm_eps``, ``norm_mask``).  openpi's quantile and LeRobot's min_max map
    [lo, hi + eps] to [-1, 1]; mean_std is (x - mean) / (std + eps); a dimension
    left out of the mask (and every one without statistics) has a = 0, b = 1.
    """
    mode, ones = config.norm_mode, np.ones(dim, dtype=bool)
    if config.norm_stats is None:
        if mode not in (None, 'none'):
            raise ConfigError(f'norm_mode {mode} needs norm_stats (a norm_stats.json or '
                              'stats.json)')
        return np.zeros(dim), np.ones(dim), None, 'none', ~ones
    if mode == 'none':
        raise ConfigError(f'norm_mode none with norm_stats {config.norm_stats!r}: drop one')
    if config.norm_stats == SAVED_STATS:
        # A saved folder: the arrays come with its checksummed state (load_state), so a
        # robot never depends on a stats file elsewhere that nothing checks.
        return np.full(dim, np.nan), np.full(dim, np.nan), 'saved', mode, ones
    lo, hi, fmt, mode = read_norm_stats(config.norm_stats, mode, dim)
    mask = ones
    if config.norm_mask is not None:
        if len(config.norm_mask) != dim:
            raise ConfigError(f'norm_mask must have {dim} entries (one per dimension of '
                              f'{profile_name}), got {list(config.norm_mask)}')
        mask = np.array(config.norm_mask, dtype=bool)
    if mode == 'mean_std':
        a, b = lo, hi + config.norm_eps
    else:
        b = (hi - lo + config.norm_eps) / 2
        a = lo + b
    flat = np.flatnonzero(mask & (b <= 0))
    if flat.size:
        raise ConfigError(f'{config.norm_stats}: dimension {int(flat[0])} has zero '
                          'normalisation width; raise norm_eps or mask it out')
    return np.where(mask, a, 0.0), np.where(mask, b, 1.0), fmt, mode, mask


def write_hf_folder(folder, tokenizer_json, scale, min_token, vocab_size, time_horizon,
                    action_dim):
    """Write ``tokenizer.json`` and ``processor_config.json`` as the hub's FAST folders hold."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    (out / TOKENIZER_FILE).write_text(tokenizer_json, encoding='utf-8')
    config = {'action_dim': action_dim, 'min_token': int(min_token),
              'processor_class': 'UniversalActionProcessor', 'scale': scale,
              'time_horizon': time_horizon, 'vocab_size': int(vocab_size)}
    (out / PROCESSOR_FILE).write_text(json.dumps(config, indent=2) + '\n', encoding='utf-8')
    return out
