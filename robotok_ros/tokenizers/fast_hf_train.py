"""
Train a FAST-format tokenizer folder, as the hub's ``UniversalActionProcessor.fit`` makes one.

FAST (Pertsch et al., 2025, arXiv:2501.09747; physical-intelligence/fast
``processing_action_tokenizer.py``): DCT-II (orthonormal, along time) of each
normalised chunk, times ``scale``, rounded; ``min_token`` is the lowest
coefficient seen; each coefficient minus ``min_token`` becomes one character,
and a byte-level BPE (HF ``tokenizers``, ByteLevel pre-tokeniser and decoder,
``min_frequency`` 2, the characters 0..max-min as initial alphabet, no special
tokens) is trained on those strings.  The folder written (``tokenizer.json``,
``processor_config.json``) loads in openpi / LeRobot code through
``AutoProcessor`` with the hub's processor file, and in this package as kind
``fast_hf``.  Unlike the hub file, ``time_horizon`` and ``action_dim`` are
recorded, so decoding needs no earlier encode call.
"""

import numpy as np
from robotok_ros.errors import ConfigError
from robotok_ros.tokenizers.fast_hf_files import write_hf_folder
from scipy.fft import dct


def quantized_coefficients(chunks, scale):
    """Normalised chunks ``(B, H, D)`` -> rounded scaled DCT coefficients ``(B, H * D)``."""
    coef = np.around(dct(np.asarray(chunks, dtype=np.float64), axis=1, norm='ortho') * scale)
    return coef.reshape(len(chunks), -1).astype(np.int64)


def train_fast_bpe(chunks, scale=10.0, vocab_size=1024, progress=False):
    """
    Train the FAST byte-level BPE on normalised chunks ``(B, H, D)``.

    Returns ``(tokenizer.json text, min_token)``.  ConfigError when the
    coefficients' range does not fit ``vocab_size`` (lower ``scale``).
    """
    from tokenizers import decoders, models, pre_tokenizers, processors, Tokenizer, trainers
    chunks = np.asarray(chunks, dtype=np.float64)
    if chunks.ndim != 3 or not len(chunks):
        raise ConfigError(f'train_fast_bpe needs chunks (B, H, D), got shape {chunks.shape}')
    coef = quantized_coefficients(chunks, scale)
    lo, hi = int(coef.min()), int(coef.max())
    if hi - lo > vocab_size:
        raise ConfigError(f'coefficients span [{lo}, {hi}] ({hi - lo + 1} values) at scale '
                          f'{scale}: more than vocab_size {vocab_size}; lower the scale or '
                          'raise the vocabulary')
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True,
                                                 use_regex=True)
    tok.post_processor = processors.ByteLevel(add_prefix_space=True, trim_offsets=False,
                                              use_regex=True)
    tok.decoder = decoders.ByteLevel(add_prefix_space=True, trim_offsets=True, use_regex=True)
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=2,
                                  show_progress=progress, special_tokens=[],
                                  initial_alphabet=[chr(i) for i in range(hi - lo + 1)],
                                  max_token_length=10000)
    texts = (''.join(map(chr, (row - lo).tolist())) for row in coef)
    tok.train_from_iterator(texts, trainer=trainer, length=len(coef))
    return tok.to_str(), lo


def train_hf_folder(folder, chunks, scale=10.0, vocab_size=1024, progress=False):
    """Train on normalised chunks ``(B, H, D)`` and write the hub folder; return its path."""
    text, min_token = train_fast_bpe(chunks, scale, vocab_size, progress)
    _, steps, dim = np.shape(chunks)
    scale = int(scale) if float(scale).is_integer() else float(scale)
    return write_hf_folder(folder, text, scale, min_token, vocab_size, int(steps), int(dim))
