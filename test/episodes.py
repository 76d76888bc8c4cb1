"""Smooth synthetic episodes for tokenizer and decoder tests, one generator for all of them."""

import numpy as np


def smooth_episodes(profile, n, steps=60, seed=0, noise=0.0):
    """
    Return n episodes ``(steps, D)``: slow sines in 60 % of each range, a binary gripper.

    ``noise``: Gaussian noise added, in half-ranges, before the gripper is made binary.
    """
    rng = np.random.default_rng(seed)
    centre, half = (profile.lows + profile.highs) / 2, (profile.highs - profile.lows) / 2
    t = np.arange(steps)[:, None] / steps
    eps = []
    for _ in range(n):
        freq, phase = rng.uniform(0.2, 1.5, profile.dim), rng.uniform(0, 2 * np.pi, profile.dim)
        ep = centre + 0.6 * half * np.sin(2 * np.pi * freq * t + phase)
        if noise:
            ep += rng.normal(0, noise, ep.shape) * half
        ep[:, -1] = (np.sin(2 * np.pi * freq[-1] * t[:, 0] + phase[-1]) > 0).astype(float)
        eps.append(ep)
    return eps


def sine_episodes(profile, n=8, steps=60, seed=0):
    """Return n episodes ``(steps, D)`` of sines in half of each range (a fitting corpus)."""
    rng = np.random.default_rng(seed)
    t = np.arange(steps)[:, None] / steps
    mid, half = (profile.lows + profile.highs) / 2, (profile.highs - profile.lows) / 2
    return [mid + 0.5 * half * np.sin(2 * np.pi * rng.uniform(0.2, 1.5, profile.dim) * t +
                                      rng.uniform(0, 6, profile.dim)) for _ in range(n)]
