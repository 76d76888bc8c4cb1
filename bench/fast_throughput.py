"""
Encode / decode throughput of the DCT + BPE (FAST-style) tokenizer beside the uniform one.

Both tokenizers see the same chunks of H steps cut from generated
demonstrations (``robotok_ros.data.synthetic``), in the same process: FAST
(Pertsch et al., 2025, arXiv:2501.09747) batched and one message at a time
(``encode_chunk`` / ``decode_chunk``, the node path), uniform bins (RT-2,
arXiv:2307.15818) batched on the same ``(B, H, D)`` arrays.  HF ``tokenizers``
may use several threads for batched encode; the numbers are per process.  The
last line is one JSON object.
"""

import argparse
import json

import numpy as np
from robotok_ros.data.synthetic import generate_episodes
from robotok_ros.profile_loader import load_profile
from robotok_ros.tokenizers import make_tokenizer
from robotok_ros.tokenizers.chunking import sliding_chunks

from timing import best_rate  # noqa: I100 - bench/ helper beside this script


def main():
    """Fit, time, print a table and the JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--robot', default='franka_panda', help='robot profile')
    parser.add_argument('--chunk-steps', type=int, default=10, help='chunk length H')
    parser.add_argument('--chunks', type=int, default=20000, help='chunks timed in a batch')
    parser.add_argument('--single', type=int, default=2000, help='chunks timed one by one')
    parser.add_argument('--repeats', type=int, default=3, help='best of this many runs')
    args = parser.parse_args()

    profile = load_profile(args.robot)
    episodes = generate_episodes(profile, n_episodes=120, seed=0)
    fast = make_tokenizer('fast', profile, chunk_steps=args.chunk_steps).fit(episodes[:80])
    pool = sliding_chunks(episodes[80:], args.chunk_steps, stride=1)
    chunks = pool[np.random.default_rng(0).integers(0, len(pool), args.chunks)]
    uniform = make_tokenizer('uniform', profile)

    ids = fast.encode(chunks)
    uni_ids = uniform.encode(chunks)
    singles = chunks[:args.single]
    single_ids = ids[:args.single]
    rates = {
        'fast_encode_chunks_per_s': best_rate(lambda: fast.encode(chunks), len(chunks),
                                              args.repeats),
        'fast_decode_chunks_per_s': best_rate(lambda: fast.decode(ids), len(chunks),
                                              args.repeats),
        'fast_encode_chunk_single_per_s': best_rate(
            lambda: [fast.encode_chunk(c) for c in singles], len(singles), args.repeats),
        'fast_decode_chunk_single_per_s': best_rate(
            lambda: [fast.decode_chunk(i) for i in single_ids], len(singles), args.repeats),
        'uniform_encode_chunks_per_s': best_rate(lambda: uniform.encode(chunks), len(chunks),
                                                 args.repeats),
        'uniform_decode_chunks_per_s': best_rate(lambda: uniform.decode(uni_ids), len(chunks),
                                                 args.repeats),
    }
    rates['uniform_chunks_per_s'] = 1 / (1 / rates['uniform_encode_chunks_per_s']
                                         + 1 / rates['uniform_decode_chunks_per_s'])
    result = {key: round(value, 1) for key, value in rates.items()}
    result.update(chunk_steps=args.chunk_steps, dim=profile.dim, robot=profile.name,
                  fast_vocab_size=fast.vocab_size,
                  fast_tokens_per_chunk=round(float(np.mean([len(i) for i in ids])), 2),
                  uniform_tokens_per_chunk=args.chunk_steps * profile.dim)
    print(f'{args.chunks} chunks of {args.chunk_steps} x {profile.dim} ({profile.name})')
    for key, value in rates.items():
        print(f'  {key:34s} {value:14,.0f}')
    print(json.dumps(result))


if __name__ == '__main__':
    main()
