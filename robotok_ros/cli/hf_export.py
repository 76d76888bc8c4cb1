"""
`robotok train-bpe --hf-out DIR`: a FAST tokenizer folder in the Hugging Face hub format.

The folder (``tokenizer.json``, ``processor_config.json``) is what
physical-intelligence's ``UniversalActionProcessor.fit`` writes (FAST, Pertsch
et al., 2025, arXiv:2501.09747), trained on the same windows as the package's
own DCT + BPE tokenizer, plus an openpi ``norm_stats.json`` whose q01/q99 are
the normalisation box of that tokenizer (the profile's ranges, or its q01/q99
with ``--normalization quantile``), so openpi's quantile normalisation maps
actions to [-1, 1] exactly as the training chunks were.
"""

import json
from pathlib import Path

import numpy as np
from robotok_ros.errors import InvalidTokenError
from robotok_ros.tokenizers.chunking import sliding_chunks
from robotok_ros.tokenizers.fast_hf import FastHFTokenizer
from robotok_ros.tokenizers.fast_hf_train import train_hf_folder

EPS = 1e-6  # openpi's quantile normalisation: (x - q01) / (q99 - q01 + 1e-6) * 2 - 1
STATS_FILE = 'norm_stats.json'


def openpi_stats(lo, hi, episodes):
    """Return an openpi ``norm_stats.json`` mapping: q01/q99 = ``lo``/``hi``, data mean/std."""
    data = np.concatenate(episodes)
    block = {'mean': data.mean(axis=0).tolist(), 'std': data.std(axis=0).tolist(),
             'q01': np.asarray(lo, dtype=float).tolist(),
             'q99': np.asarray(hi, dtype=float).tolist()}
    return {'norm_stats': {'actions': block}}


def export_hf_folder(folder, fast, train, val, progress=False):
    """
    Train and write the hub folder beside ``fast`` (a fitted FASTTokenizer); return metrics.

    Chunks are ``fast``'s training windows, clipped to its box and normalised
    as openpi does with the q01/q99 written.  Metrics: the validation chunks
    (back to back), tokens per chunk, RMSE per dimension, and how many chunks
    encode refused (coefficients the BPE never saw).
    """
    out = Path(folder)
    lo, hi = fast._centre - fast._half, fast._centre + fast._half
    chunks = sliding_chunks(train, fast.chunk_steps, fast.config.stride)
    clipped = np.clip(chunks, fast._box_lo, fast._box_hi)
    norm = (clipped - lo) / (hi - lo + EPS) * 2 - 1
    train_hf_folder(out, norm, scale=fast.scale, vocab_size=fast.vocab, progress=progress)
    (out / STATS_FILE).write_text(json.dumps(openpi_stats(lo, hi, train), indent=2) + '\n')
    tok = FastHFTokenizer.from_folder(out, fast.profile, norm_stats=str(out / STATS_FILE))
    val_chunks = sliding_chunks(val, fast.chunk_steps, stride=fast.chunk_steps)
    lengths, sq, refused = [], np.zeros(tok.dim), 0
    for chunk in val_chunks:
        try:
            ids = tok.encode_chunk(chunk)
        except InvalidTokenError:
            refused += 1
            continue
        lengths.append(len(ids))
        sq += ((tok.decode_chunk(ids) - np.clip(chunk, tok.profile.lows, tok.profile.highs))
               ** 2).sum(axis=0)
    rmse = np.sqrt(sq / max(1, len(lengths) * tok.chunk_steps))
    return {'folder': str(out), 'vocab_size': tok.vocab_size, 'min_token': tok.min_token,
            'scale': tok.scale, 'chunks': len(val_chunks), 'refused': refused,
            'tokens_per_chunk_mean': float(np.mean(lengths)) if lengths else 0.0,
            'rmse': dict(zip(tok.profile.names, rmse.tolist()))}
