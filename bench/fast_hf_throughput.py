"""
Decode throughput of FAST hub-format chunks: the fast_hf kind against the original's decode.

FAST (Pertsch et al., 2025, arXiv:2501.09747).  The tokenizer is the shared
fixture folder (``../shared/fixtures/fast/act_fast``, or
``ROBOTOK_FIXTURES_DIR``; a folder trained here on random chunks when it is
absent) and the chunks are its ``fast_ids``.  The original processor
(``UniversalActionProcessor.decode`` of physical-intelligence/fast) needs
``transformers``, which is not installed, so the baseline is a re-implementation
of its decode loop measured in the same run: per sequence, ``tokenizers``'
``Tokenizer.decode`` (what its ``PreTrainedTokenizerFast.decode`` calls, minus
the transformers wrapper, so the baseline is if anything faster than the
original), ``ord`` of every character plus ``min_token``, reshape with its
assertion (zeros on error), scipy ``idct``, and ``np.stack``.  Both paths are
checked to give identical arrays first.  The last line is one JSON object;
``ratio`` is ours (one message at a time, the node path) / the original.
"""

import argparse
import json
import os
from pathlib import Path
import tempfile

import numpy as np
from robotok_ros.profile_loader import profile_from_dict
from robotok_ros.tokenizers.fast_hf import FastHFTokenizer
from scipy.fft import idct

from timing import best_rate  # noqa: I100 - bench/ helper beside this script


def wide_profile(dim):
    """Return a profile of ``dim`` dimensions in [-100, 100] (decode never clips)."""
    dims = [{'name': f'a{i}', 'min': -100.0, 'max': 100.0} for i in range(dim)]
    return profile_from_dict({'name': f'fast{dim}', 'frame_id': 'base', 'control_rate_hz': 10,
                              'dimensions': dims,
                              'safety': {'max_linear_speed': 0.25, 'max_angular_speed': 1.0}})


def original_decode(bpe, tokens, time_horizon, action_dim, scale, min_token):
    """Return the original processor's decode of ``tokens`` (a list of id lists), ``(B, H, D)``."""
    decoded_actions = []
    for token in tokens:
        try:
            text = bpe.decode(token)
            coeff = np.array(list(map(ord, text))) + min_token
            coeff = coeff.reshape(-1, action_dim)
            assert coeff.shape == (time_horizon, action_dim)
        except Exception:  # noqa: B902 - as the original: any error gives a zeros chunk
            coeff = np.zeros((time_horizon, action_dim))
        decoded_actions.append(idct(coeff / scale, axis=0, norm='ortho'))
    return np.stack(decoded_actions)


def fixture_or_trained(tmp):
    """Return ``(folder, time_horizon, dim, id lists, source)``."""
    here = Path(__file__).resolve().parent
    base = Path(os.environ.get('ROBOTOK_FIXTURES_DIR', here.parent.parent / 'shared' / 'fixtures'))
    vectors = base / 'fast' / 'vectors_act_fast.json'
    if vectors.is_file():
        data = json.loads(vectors.read_text())
        return base / 'fast' / 'act_fast', 50, 7, data['fast_ids'], 'fixture act_fast'
    from robotok_ros.tokenizers.fast_hf_train import train_hf_folder
    chunks = np.random.default_rng(0).uniform(-1, 1, (220, 50, 7))
    folder = train_hf_folder(Path(tmp) / 'fast', chunks, scale=10, vocab_size=1024)
    tok = FastHFTokenizer.from_folder(folder, wide_profile(7))
    return folder, 50, 7, [i.tolist() for i in tok.encode(chunks)], 'trained here (no fixture)'


def main():
    """Check both decodes agree, time them, print a table and the JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--copies', type=int, default=10, help='times the id lists are repeated')
    parser.add_argument('--repeats', type=int, default=3, help='best of this many runs')
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder, steps, dim, seqs, source = fixture_or_trained(tmp)
        tok = FastHFTokenizer.from_folder(folder, wide_profile(dim), time_horizon=steps)
        seqs = seqs * args.copies
        arrays = [np.array(s, dtype=np.int64) for s in seqs]
        scale, min_token, bpe = tok.scale, tok.min_token, tok.codec.bpe
        ref = original_decode(bpe, seqs, steps, dim, scale, min_token)
        ours = np.stack([tok.decode_chunk(a) for a in arrays])
        if not np.array_equal(ref, ours):
            raise SystemExit('fast_hf decode differs from the original decode loop')
        rates = {
            'original_decode_chunks_per_s': best_rate(
                lambda: original_decode(bpe, seqs, steps, dim, scale, min_token), len(seqs),
                args.repeats),
            'fast_hf_decode_chunk_single_per_s': best_rate(
                lambda: [tok.decode_chunk(a) for a in arrays], len(seqs), args.repeats),
            'fast_hf_decode_list_per_s': best_rate(lambda: tok.decode(arrays), len(seqs),
                                                   args.repeats),
        }
    ratio = rates['fast_hf_decode_chunk_single_per_s'] / rates['original_decode_chunks_per_s']
    result = {key: round(value, 1) for key, value in rates.items()}
    result.update(ratio=round(ratio, 3), chunks=len(seqs), chunk_steps=steps, dim=dim,
                  tokens_per_chunk=round(float(np.mean([len(s) for s in seqs])), 2),
                  identical=True, tokenizer=source)
    print(f'{len(seqs)} FAST chunks of {steps} x {dim} ({source}), decode:')
    for key, value in rates.items():
        print(f'  {key:36s} {value:12,.0f}')
    print(f'  ratio (ours one by one / original)   {ratio:12.2f}')
    print(json.dumps(result))


if __name__ == '__main__':
    main()
