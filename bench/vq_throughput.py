"""
Batched CPU encode / decode throughput of the VQ-VAE chunk tokenizer beside the uniform one.

A VQ tokenizer (van den Oord et al., 2017, arXiv:1711.00937; residual VQ as
in SoundStream, arXiv:2107.03312) with the default MLP (K x D -> 256 -> 128
-> 16) is trained for a few epochs on generated demonstrations
(``robotok_ros.data.synthetic``); then both it and uniform bins (RT-2,
arXiv:2307.15818) encode and decode the same ``(B, K, D)`` chunks in the same
process.  VQ inference runs in numpy float32 on ``--blas-threads`` BLAS
threads (default 1: on a busy machine extra threads only fight for cores; the
bench re-executes itself with the thread variables set, as BLAS reads them
at import).  Goal: >= 100k chunks/s batched VQ encode.  The last
line is one JSON object holding ``vq_chunks_per_s`` (batched encode).
"""

import argparse
import json
import os
import sys

import numpy as np
from robotok_ros.data.synthetic import generate_episodes
from robotok_ros.profile_loader import load_profile
from robotok_ros.tokenizers import make_tokenizer
from robotok_ros.tokenizers.chunking import chunk_episodes

from timing import best_rate  # noqa: I100 - bench/ helper beside this script


def main():
    """Train briefly, time, print a table and the JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--robot', default='franka_panda', help='robot profile')
    parser.add_argument('--chunk-steps', type=int, default=8, help='chunk length K')
    parser.add_argument('--codebook', type=int, default=256, help='codes per level C')
    parser.add_argument('--levels', type=int, default=1, help='residual levels R')
    parser.add_argument('--epochs', type=int, default=3, help='training epochs (speed only)')
    parser.add_argument('--chunks', type=int, default=100000, help='chunks timed in a batch')
    parser.add_argument('--single', type=int, default=2000, help='chunks timed one by one')
    parser.add_argument('--repeats', type=int, default=3, help='best of this many runs')
    parser.add_argument('--blas-threads', type=int, default=1, help='BLAS threads (default 1)')
    args = parser.parse_args()
    threads = str(args.blas_threads)
    if os.environ.get('OPENBLAS_NUM_THREADS') != threads:
        for var in ('OPENBLAS_NUM_THREADS', 'OMP_NUM_THREADS', 'MKL_NUM_THREADS'):
            os.environ[var] = threads
        os.execv(sys.executable, [sys.executable, *sys.argv])

    import torch
    torch.set_num_threads(1)
    profile = load_profile(args.robot)
    episodes = generate_episodes(profile, n_episodes=60, seed=0)
    vq = make_tokenizer('vq', profile, chunk_steps=args.chunk_steps, codebook_size=args.codebook,
                        levels=args.levels, epochs=args.epochs).fit(episodes[:40])
    pool = chunk_episodes(episodes[40:], args.chunk_steps, profile.dim, stride=1)
    chunks = pool[np.random.default_rng(0).integers(0, len(pool), args.chunks)]
    uniform = make_tokenizer('uniform', profile)

    ids = vq.encode(chunks)
    uni_ids = uniform.encode(chunks)
    singles, single_ids = chunks[:args.single], ids[:args.single]
    rates = {
        'vq_encode_chunks_per_s': best_rate(lambda: vq.encode(chunks), len(chunks),
                                            args.repeats),
        'vq_decode_chunks_per_s': best_rate(lambda: vq.decode(ids), len(chunks), args.repeats),
        'vq_encode_chunk_single_per_s': best_rate(
            lambda: [vq.encode_chunk(c) for c in singles], len(singles), args.repeats),
        'vq_decode_chunk_single_per_s': best_rate(
            lambda: [vq.decode_chunk(i) for i in single_ids], len(singles), args.repeats),
        'uniform_encode_chunks_per_s': best_rate(lambda: uniform.encode(chunks), len(chunks),
                                                 args.repeats),
        'uniform_decode_chunks_per_s': best_rate(lambda: uniform.decode(uni_ids), len(chunks),
                                                 args.repeats),
    }
    err = vq.decode(ids) - chunks
    result = {key: round(value, 1) for key, value in rates.items()}
    result.update(vq_chunks_per_s=result['vq_encode_chunks_per_s'], chunk=args.chunk_steps,
                  dim=profile.dim, robot=profile.name, codebook=args.codebook,
                  levels=args.levels, vq_tokens_per_chunk=args.levels,
                  uniform_tokens_per_chunk=args.chunk_steps * profile.dim,
                  vq_rmse_action_units=round(float(np.sqrt((err ** 2).mean())), 5),
                  cpu_count=os.cpu_count(), blas_threads=args.blas_threads,
                  goal_chunks_per_s=100000,
                  goal_met=result['vq_encode_chunks_per_s'] >= 100000)
    print(f'{args.chunks} chunks of {args.chunk_steps} x {profile.dim} ({profile.name}); vq '
          f'{args.levels} x {args.codebook} codes, {args.epochs} training epochs, '
          f'{args.blas_threads} BLAS thread(s)')
    for key, value in rates.items():
        print(f'  {key:34s} {value:14,.0f}')
    print(json.dumps(result))


if __name__ == '__main__':
    main()
