"""
Token messages for fuzzing token_decoder, and the checks its commands must pass.

No ROS here: a message is a ``Fuzz`` (int32 ids, layout dims, data_offset), built
with numpy from one ``Target`` (a tokenizer's id range and a pool of valid
chunks).  ``bench/fuzz_decoder.py`` sends millions of them; the seeded
``test/test_fuzz_decoder.py`` a few thousand, plus hypothesis-built ones.
``Checker`` judges every command the decoder publishes against the robot
profile's limits.  ``fuzz_inputs.py`` builds the other inputs (sequences, text,
chunks); ``fuzz_configs.py`` the node configurations and their tokenizers.
"""

from dataclasses import dataclass, field
import math

import numpy as np

INT32_MIN, INT32_MAX, UINT32_MAX = -2 ** 31, 2 ** 31 - 1, 2 ** 32 - 1
MAX_LEN = 10_000          # ids in an ordinary fuzz message, at most
HUGE_LEN = 2_000_000      # ids in a huge one, at most
EXTREMES = (INT32_MIN, INT32_MIN + 1, -1, 0, 1, INT32_MAX - 1, INT32_MAX)
OVERFLOW_DIMS = ((7623851, 1229673, 3935371, 7), (UINT32_MAX, UINT32_MAX, 7), (65536, 65536))
WEIGHTS = {'valid': 20, 'in_range': 15, 'random_int32': 15, 'extremes': 8,
           'just_outside': 15, 'layout': 15, 'empty': 5, 'repeated_valid': 7}
TOLERANCE = 1e-9  # relative: float rounding of a command exactly at its limit


@dataclass
class Fuzz:
    """One message: ``data`` int32 ids, float32 values or a str; layout ``dims``, offset."""

    data: np.ndarray
    dims: list = field(default_factory=list)
    offset: int = 0
    category: str = ''


class Target:
    """What the messages aim at: a tokenizer's id range and valid chunks of its ids."""

    def __init__(self, tok, rng, pool=64):
        self.kind = tok.kind
        self.lo, self.hi = (int(v) for v in tok.id_range)
        self.dim, self.steps = tok.dim, max(1, int(tok.chunk_steps))
        from robotok_ros.errors import InvalidTokenError
        lows, highs = np.asarray(tok.profile.lows), np.asarray(tok.profile.highs)
        mid = (lows + highs) / 2
        self.pool = []
        while len(self.pool) < pool:
            steps = self.steps if self.steps > 1 else int(rng.integers(1, 4))
            actions = rng.uniform(lows, highs, (steps, self.dim))
            # A hub FAST BPE has no token for coefficients it never saw: shrink towards the
            # middle of the box until the chunk encodes.
            for shrink in 0.5 ** np.arange(16):
                try:
                    ids = tok.encode_chunk(mid + (actions - mid) * shrink)
                except InvalidTokenError:
                    continue
                self.pool.append(np.asarray(ids, dtype=np.int32))
                break
            else:
                raise InvalidTokenError(f'{tok.kind}: no chunk of the box encodes')

    def valid(self, rng):
        """Return one valid message's ids (a copy)."""
        return self.pool[int(rng.integers(len(self.pool)))].copy()


def log_length(rng, top=MAX_LEN):
    """Return a length in [0, top], log-uniform (most messages short, some long)."""
    return int(min(top, math.floor(math.exp(rng.uniform(0.0, math.log(top + 1))))))


def random_label(rng):
    """Return a layout label: empty, a name, a step label (odd values too) or garbage."""
    pick = int(rng.integers(6))
    if pick == 0:
        return ''
    if pick == 1:
        return str(rng.choice(['action', 'step', 'steps', 'dx,dy,dz']))
    if pick == 2:
        step = int(rng.integers(-2 ** 62, 2 ** 62))
        return f'step={step};stamp={int(rng.integers(0, 2 ** 62))}'
    if pick == 3:
        return f'step={rng.choice(["", "nan", "1e999", "-", "0x10"])};stamp=x'
    if pick == 4:
        return ''.join(chr(int(c)) for c in rng.integers(1, 0xD7FF, int(rng.integers(1, 40))))
    return 'step=1;' * int(rng.integers(1, 200))


def random_dims(rng, target, n_ids):
    """Return random layout dims, sizes from plausible to overflowing uint32 products."""
    pick = int(rng.integers(5))
    if pick == 0:
        sizes = list(OVERFLOW_DIMS[int(rng.integers(len(OVERFLOW_DIMS)))])
    elif pick == 1:  # plausible: steps x D, maybe off by one
        steps = max(1, n_ids // max(1, target.dim))
        sizes = [steps + int(rng.integers(-1, 2)), target.dim + int(rng.integers(-1, 2))]
    else:
        sizes = [int(rng.choice([0, 1, target.dim, target.steps, int(rng.integers(UINT32_MAX))]))
                 for _ in range(int(rng.integers(0, 5)))]
    sizes = [min(max(s, 0), UINT32_MAX) for s in sizes]
    return [(s, int(rng.integers(UINT32_MAX)) if rng.random() < 0.3 else s,
             random_label(rng)) for s in sizes]


def build(category, target, rng):
    """Return one message of ``category`` (a key of WEIGHTS, or 'huge')."""
    if category == 'valid':
        return Fuzz(target.valid(rng), category=category)
    if category == 'in_range':
        n = log_length(rng)
        return Fuzz(rng.integers(target.lo, target.hi + 1, n, dtype=np.int64).astype(np.int32),
                    category=category)
    if category == 'random_int32':
        return Fuzz(rng.integers(INT32_MIN, INT32_MAX, log_length(rng), endpoint=True,
                                 dtype=np.int64).astype(np.int32), category=category)
    if category == 'extremes':
        return Fuzz(rng.choice(np.array(EXTREMES, np.int32), log_length(rng, 64)),
                    category=category)
    if category == 'just_outside':
        ids = target.valid(rng)
        near = np.array([v for v in (target.lo - 1, target.hi + 1, target.lo, target.hi)
                         if INT32_MIN <= v <= INT32_MAX], np.int64)
        k = int(rng.integers(1, ids.size + 1)) if ids.size else 0
        where = rng.choice(ids.size, k, replace=False) if k else []
        ids[where] = rng.choice(near, k).astype(np.int32)
        return Fuzz(ids, category=category)
    if category == 'layout':
        ids = target.valid(rng) if rng.random() < 0.5 else build('in_range', target, rng).data
        return Fuzz(ids, random_dims(rng, target, ids.size), int(rng.integers(UINT32_MAX)),
                    category)
    if category == 'empty':
        dims = random_dims(rng, target, 0) if rng.random() < 0.5 else []
        return Fuzz(np.zeros(0, np.int32), dims, category=category)
    if category == 'repeated_valid':
        one = target.valid(rng)
        reps = max(1, log_length(rng) // max(1, one.size))
        return Fuzz(np.tile(one, reps), category=category)
    if category == 'huge':
        n = int(rng.integers(HUGE_LEN // 2, HUGE_LEN + 1))
        ids = (rng.integers(target.lo, target.hi + 1, n, dtype=np.int64) if rng.random() < 0.5
               else rng.integers(INT32_MIN, INT32_MAX, n, endpoint=True, dtype=np.int64))
        return Fuzz(ids.astype(np.int32), category=category)
    raise ValueError(f'unknown fuzz category {category!r}')


def generate(target, rng, count, huge_every=0):
    """Yield ``count`` messages in WEIGHTS proportions; every ``huge_every``-th is huge."""
    names = list(WEIGHTS)
    p = np.array([WEIGHTS[n] for n in names], float)
    p /= p.sum()
    for i in range(count):
        if huge_every and i % huge_every == huge_every - 1:
            yield build('huge', target, rng)
        else:
            yield build(names[int(rng.choice(len(names), p=p))], target, rng)


def bursts(rng, count, top=500):
    """Yield burst sizes (log-uniform in 1..top) adding up to ``count``."""
    while count > 0:
        n = min(count, max(1, log_length(rng, top)))
        count -= n
        yield n


class Checker:
    """Judge commands against the robot profile: speeds, gripper range, finiteness, frame."""

    def __init__(self, profile):
        self.profile = profile
        s, g = profile.safety, profile.gripper
        self.max_lin, self.max_ang = s.max_linear_speed, s.max_angular_speed
        self.grip = None if g is None else (min(g.command_open, g.command_closed),
                                            max(g.command_open, g.command_closed))
        self.unsafe, self.examples, self.seen = 0, [], {'twist': 0, 'gripper': 0, 'other': 0}

    def _bad(self, what):
        self.unsafe += 1
        if len(self.examples) < 10:
            self.examples.append(what)

    def twist(self, linear, angular, frame):
        """Check one twist command (m/s, rad/s)."""
        self.seen['twist'] += 1
        lin, ang = np.asarray(linear, float), np.asarray(angular, float)
        if not (np.isfinite(lin).all() and np.isfinite(ang).all()):
            return self._bad(f'non-finite twist {lin.tolist()} {ang.tolist()}')
        if np.linalg.norm(lin) > self.max_lin * (1 + TOLERANCE):
            return self._bad(f'linear speed {np.linalg.norm(lin):.6g} m/s > {self.max_lin:g}')
        if np.linalg.norm(ang) > self.max_ang * (1 + TOLERANCE):
            return self._bad(f'angular speed {np.linalg.norm(ang):.6g} rad/s > '
                             f'{self.max_ang:g}')
        if frame != self.profile.frame_id:
            return self._bad(f'twist in frame {frame!r}, not {self.profile.frame_id!r}')

    def gripper(self, values):
        """Check one gripper command (the controller's units)."""
        self.seen['gripper'] += 1
        vals = np.asarray(values, float)
        if vals.size != 1 or not np.isfinite(vals).all():
            return self._bad(f'gripper command {vals.tolist()}')
        lo, hi = self.grip
        if not lo - 1e-12 <= vals[0] <= hi + 1e-12:
            return self._bad(f'gripper command {float(vals[0])!r} outside [{lo:g}, {hi:g}]')

    def unexpected(self, topic):
        """Count a message on a topic that must stay silent (pose targets, dry run)."""
        self.seen['other'] += 1
        self._bad(f'message on {topic}, which must stay silent')
