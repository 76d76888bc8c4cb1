"""
Encode + decode throughput of robotok's uniform tokenizer against the seed's.

The seed's ``UniformActionTokenizer`` is written here from its published
description (RT-2, arXiv:2307.15818: normalise with the action ranges, clip to
[0, 1 - eps], ``floor(x * N)``, add the vocabulary offset; decode to bin
centres).  Both run on the same 10^6 x 7 actions in the same process; the last
line is JSON with ``ratio`` = robotok speed / seed speed (goal >= 2).
"""

import argparse
import json

import numpy as np
from robotok_ros.profile_loader import profile_from_dict
from robotok_ros.tokenizers import make_tokenizer

from timing import best_time  # noqa: I100 - bench/ helper beside this script


class UniformActionTokenizer:
    """The seed: RT-2 uniform binning as described, plain numpy."""

    def __init__(self, low, high, n_bins=256, vocab_offset=0, eps=1e-6):
        self.low = np.asarray(low, dtype=np.float64)
        self.high = np.asarray(high, dtype=np.float64)
        self.n_bins = n_bins
        self.vocab_offset = vocab_offset
        self.eps = eps

    def encode(self, actions):
        """Map actions (..., D) to token ids."""
        norm = (actions - self.low) / (self.high - self.low)
        norm = np.clip(norm, 0.0, 1.0 - self.eps)
        return np.floor(norm * self.n_bins).astype(np.int64) + self.vocab_offset

    def decode(self, tokens):
        """Map token ids back to bin centres."""
        bins = tokens - self.vocab_offset
        return self.low + (bins + 0.5) / self.n_bins * (self.high - self.low)


PROFILE = {
    'name': 'bench7', 'frame_id': 'base', 'control_rate_hz': 10,
    'dimensions': [{'name': n, 'min': -lim, 'max': lim} for n, lim in
                   (('dx', 0.02), ('dy', 0.02), ('dz', 0.02), ('droll', 0.1),
                    ('dpitch', 0.1), ('dyaw', 0.1))] + [{'name': 'gripper', 'min': 0, 'max': 1}],
    'safety': {'max_linear_speed': 0.25, 'max_angular_speed': 1.0},
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument('--n', type=int, default=10**6, help='number of 7-D actions')
    parser.add_argument('--repeats', type=int, default=7)
    args = parser.parse_args()
    profile = profile_from_dict(PROFILE, 'bench')
    rng = np.random.default_rng(0)
    actions = rng.uniform(profile.lows * 1.05, profile.highs * 1.05, (args.n, 7))
    ours = make_tokenizer('uniform', profile, n_bins=256, vocab_offset=32000)
    seed = UniformActionTokenizer(profile.lows, profile.highs, 256, 32000)
    ids_ours, ids_seed = ours.encode(actions), seed.encode(actions)
    mismatch = int((ids_ours != ids_seed).sum())
    max_diff = float(np.abs(ours.decode(ids_ours) - seed.decode(ids_seed)).max())
    t_ours = best_time(lambda: ours.decode(ours.encode(actions)), args.repeats)
    t_seed = best_time(lambda: seed.decode(seed.encode(actions)), args.repeats)
    rate = args.n / t_ours
    print(f'{args.n} x 7 actions, encode + decode, best of {args.repeats}')
    print(f'  robotok uniform : {t_ours * 1e3:8.2f} ms  ({rate / 1e6:.1f} M actions/s)')
    print(f'  seed reference  : {t_seed * 1e3:8.2f} ms  ({args.n / t_seed / 1e6:.1f} M actions/s)')
    print(f'  ids differing   : {mismatch} (values within eps of the top edge), '
          f'max decode diff {max_diff:.2e}')
    print(json.dumps({'ratio': round(t_seed / t_ours, 3), 'robotok_actions_per_s': round(rate),
                      'seed_actions_per_s': round(args.n / t_seed), 'id_mismatch': mismatch}))


if __name__ == '__main__':
    main()
