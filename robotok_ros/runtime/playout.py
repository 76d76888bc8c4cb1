"""
Chunk playout for token_decoder: how a new chunk meets the queued steps of the last one.

- ``replace`` drops what is left of the previous chunk;
- ``ensemble`` is ACT's temporal ensembling (Zhao et al., "Learning
  Fine-Grained Bimanual Manipulation with Low-Cost Hardware", 2023,
  arXiv:2304.13705): every prediction for the same future step is averaged
  with weights ``exp(-m * i)``, i = 0 for the oldest prediction.

A new chunk cancels what the queue holds beyond it, in both policies: the
queue never reaches past the end of the newest chunk, so the motion one
message may leave queued is bounded by that chunk (``max_queue_seconds``).
``ensemble`` keeps averaging the steps the new chunk predicts too, and drops
older predictions of later steps.  ``clear`` (a disable, a watchdog trip)
cancels everything.
"""

import numpy as np
from robotok_ros.errors import ConfigError


POLICIES = ('replace', 'ensemble')


class Playout:
    """Queued future steps; ``replace`` or ACT-style ``ensemble`` merging of new chunks."""

    def __init__(self, dim, policy='replace', decay=0.01):
        if policy not in POLICIES:
            raise ConfigError(f'chunk_policy must be one of {", ".join(POLICIES)}, '
                              f'got {policy!r}')
        self.policy, self.decay, self.dim = policy, float(decay), dim
        self.clear()

    def clear(self):
        """Drop every queued step."""
        if getattr(self, '_weight', None) is not None and not len(self._weight):
            return  # already empty: no new arrays on the one-step fast path
        self._sum = np.zeros((0, self.dim))
        self._weight = np.zeros(0)
        self._count = np.zeros(0, dtype=np.int64)

    def __len__(self):
        return len(self._weight)

    def push(self, actions):
        """Merge a chunk ``actions`` (T, D) whose first step is the next one to play."""
        actions = np.asarray(actions, dtype=np.float64)
        n = len(actions)
        if self.policy == 'replace' or not len(self):
            self._sum, self._weight = actions.copy(), np.ones(n)
            self._count = np.ones(n, dtype=np.int64)
            return
        extra = n - len(self)
        if extra < 0:  # predictions past the new chunk's end are cancelled
            self._sum, self._weight, self._count = self._sum[:n], self._weight[:n], \
                self._count[:n]
        elif extra > 0:
            self._sum = np.vstack([self._sum, np.zeros((extra, self.dim))])
            self._weight = np.concatenate([self._weight, np.zeros(extra)])
            self._count = np.concatenate([self._count, np.zeros(extra, dtype=np.int64)])
        # The i-th prediction of a step (0 = oldest) weighs exp(-m i), as in ACT.
        w = np.exp(-self.decay * self._count[:n])
        self._sum[:n] += w[:, None] * actions
        self._weight[:n] += w
        self._count[:n] += 1

    def pop(self):
        """Return the next step's action (D,) and remove it; None when empty."""
        if not len(self):
            return None
        action = self._sum[0] / self._weight[0]
        self._sum, self._weight, self._count = self._sum[1:], self._weight[1:], self._count[1:]
        return action
