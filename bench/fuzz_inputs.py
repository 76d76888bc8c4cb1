"""
Messages beside plain ids for fuzzing token_decoder: generated sequences, RT-2 text, chunks.

No ROS here (numpy only), like ``fuzz_messages.py``.  A generator has
``topic`` (tokens, text or chunk), ``weights`` (category -> share) and
``build(category, rng)`` -> ``Fuzz``; ``stream`` yields one's messages, every
``huge_every``-th a huge one.

- ``Ids``: plain action ids (``stream_format`` ids), fuzz_messages' categories.
- ``Sequence``: a policy's whole generated sequence (``stream_format`` openvla,
  pi0_fast): prompt ids, prefix, action ids (valid or fuzzed), separator, EOS,
  padding; missing or misplaced pieces, miscounted actions, lengths around the
  node's 2^15 limit, and every plain-ids category too.
- ``Text``: RT-2 text on ``text_topic``: valid and terminate actions, bins out of
  range, numbers past int32 and past 10 digits, wrong counts, NaN / inf / signed /
  float / hex / non-ASCII digit words, odd spacing, random unicode, huge strings.
- ``Chunk``: float32 T x D chunks on ``chunk_topic``: valid (in the profile's
  units or normalised), NaN / Inf, float32 extremes, just outside the range,
  wrong lengths, random and overflowing layouts, too many steps, random bit
  patterns, huge messages (up to 2 M floats).
"""

from types import SimpleNamespace

from fuzz_messages import build as build_ids, EXTREMES, Fuzz, HUGE_LEN, INT32_MAX, \
    INT32_MIN, log_length, MAX_LEN, random_dims, UINT32_MAX, WEIGHTS as ID_WEIGHTS
import numpy as np

MAX_SEQUENCE = 1 << 15  # runtime.streams: a longer generated sequence is rejected whole
F32_MAX = float(np.finfo(np.float32).max)
DIGITS = np.frombuffer(b'0123456789 ', np.uint8)


def stream(gen, rng, count, huge_every=0):
    """Yield ``count`` messages of ``gen`` in its weights; every ``huge_every``-th is huge."""
    names = list(gen.weights)
    p = np.array([gen.weights[n] for n in names], float)
    p /= p.sum()
    for i in range(count):
        if huge_every and i % huge_every == huge_every - 1:
            yield gen.build('huge', rng)
        else:
            yield gen.build(names[int(rng.choice(len(names), p=p))], rng)


class Ids:
    """Plain action ids on the tokens topic (fuzz_messages' categories)."""

    topic = 'tokens'
    weights = ID_WEIGHTS

    def __init__(self, target):
        self.target = target

    def build(self, category, rng):
        return build_ids(category, self.target, rng)


class Sequence:
    """Whole generated sequences (openvla, pi0_fast) around a tokenizer's valid ids."""

    topic = 'tokens'
    weights = {'valid': 25, 'no_eos': 8, 'no_prefix': 6, 'no_actions': 6, 'miscount': 8,
               'pieces': 20, 'boundary': 3, 'ids': 24}

    def __init__(self, target, fmt, prefix=(), separator=(), eos=(2,)):
        self.target, self.fmt = target, fmt
        self.prefix, self.separator, self.eos = (np.array(v, np.int64).reshape(-1)
                                                 for v in (prefix, separator, eos))
        special = np.r_[self.prefix, self.separator, self.eos, 0]
        # Prompt ids: neither an action id nor a special one, so a valid sequence stays valid.
        self.text_lo, self.text_hi = int(special.max()) + 1, target.lo - 1
        if self.text_hi < self.text_lo:
            self.text_lo, self.text_hi = target.hi + 1, target.hi + 300_000

    def text(self, rng, top=64):
        return rng.integers(self.text_lo, self.text_hi + 1, log_length(rng, top), dtype=np.int64)

    def actions(self, rng):
        return self.target.valid(rng).astype(np.int64)

    def _eos(self, rng):
        return self.eos[int(rng.integers(self.eos.size)):][:1] if self.eos.size else self.eos

    def _seq(self, rng, prefix=True, actions=None, end=True):
        acts = self.actions(rng) if actions is None else actions
        pad = rng.integers(INT32_MIN, INT32_MAX, log_length(rng, 16), endpoint=True)
        tail = []
        if end and self.fmt == 'pi0_fast' and self.separator.size and rng.random() < 0.8:
            tail.append(self.separator)
        if end and (not tail or rng.random() < 0.7):
            tail.append(self._eos(rng))
        tail.append(pad if end else pad[:0])
        return np.concatenate([self.text(rng), self.prefix if prefix else self.prefix[:0],
                               acts, *tail])

    def build(self, category, rng):
        if category in ('ids', 'huge'):
            msg = self.target_build(category, rng)
        elif category == 'valid':
            seq = self._seq(rng)
            dims = [(seq.size, seq.size, '')] if rng.random() < 0.2 else []
            msg = Fuzz(seq, dims)
        elif category == 'no_eos':
            msg = Fuzz(self._seq(rng, end=False))
        elif category == 'no_prefix':
            msg = Fuzz(self._seq(rng, prefix=False) if self.prefix.size else
                       np.r_[self.text(rng, 4)[:max(0, self.target.dim - 1)], self._eos(rng)])
        elif category == 'no_actions':
            msg = Fuzz(self._seq(rng, actions=self.actions(rng)[:0]))
        elif category == 'miscount':
            acts = self.actions(rng)
            k = int(rng.integers(1, max(2, acts.size)))
            acts = acts[:-k] if rng.random() < 0.5 else np.r_[acts, acts[:k]]
            msg = Fuzz(self._seq(rng, actions=acts))
        elif category == 'pieces':
            msg = Fuzz(self._pieces(rng))
        elif category == 'boundary':  # padded by prompt ids to the node's limit, +-1
            n = MAX_SEQUENCE + int(rng.integers(-1, 2))
            seq = self._seq(rng)[-n:]
            msg = Fuzz(np.r_[rng.integers(self.text_lo, self.text_hi + 1, n - seq.size), seq])
        else:
            raise ValueError(f'unknown sequence category {category!r}')
        msg.category = category
        msg.data = np.clip(msg.data, INT32_MIN, INT32_MAX).astype(np.int32)
        return msg

    def target_build(self, category, rng):
        if category == 'huge':
            return build_ids('huge', self.target, rng)
        names = list(ID_WEIGHTS)
        return build_ids(names[int(rng.integers(len(names)))], self.target, rng)

    def _pieces(self, rng):
        """Any concatenation of prompt, action, special, extreme and random ids."""
        pieces = []
        for _ in range(int(rng.integers(1, 12))):
            pick = int(rng.integers(7))
            pieces.append([self.text(rng, 8), self.actions(rng), self.prefix, self.separator,
                           self._eos(rng), rng.choice(np.array(EXTREMES, np.int64), 2),
                           rng.integers(INT32_MIN, INT32_MAX, 4, endpoint=True)][pick])
        return np.concatenate(pieces)


TEXT_WORDS = ('NaN', 'nan', 'inf', '-inf', 'Infinity', '-1', '+1', '-0', '1.5', '1e3', '01',
              '00', '0x1f', '1_000', '\u0661\u0662', '\uff11\uff12', '\u00b2', 'x', '', '1,2',
              str(2 ** 31), str(2 ** 32), '9' * 10, '9' * 11, '1' + '0' * 30)


class Text:
    """RT-2 text actions ``'flag b1 .. bD'`` for a binning tokenizer, valid and malformed."""

    topic = 'text'
    # A terminate disables motion until ~/enable (the driver waits for it, then calls it):
    # about one message in 5000.
    weights = {'valid': 30, 'terminate': 0.02, 'out_of_range': 10, 'count': 10, 'words': 15,
               'spacing': 8, 'unicode': 12, 'long': 5, 'empty': 4, 'flag': 5}

    def __init__(self, tok, terminate_value=0):
        self.bins = np.array([hi - lo + 1 for lo, hi in tok.dimension_id_ranges()])
        self.dim, self.stop, self.move = len(self.bins), terminate_value, 1 - terminate_value

    def _bins(self, rng):
        return [str(int(b)) for b in rng.integers(0, self.bins)]

    def build(self, category, rng):
        return Fuzz(self._text(category, rng), category=category)

    def _text(self, category, rng):
        if category == 'valid':
            return ' '.join([str(self.move)] + self._bins(rng))
        if category == 'terminate':
            return ' '.join([str(self.stop)] + self._bins(rng))
        if category == 'out_of_range':
            words = [str(self.move)] + self._bins(rng)
            for d in rng.choice(self.dim, int(rng.integers(1, self.dim + 1)), replace=False):
                n = int(self.bins[d])
                words[1 + d] = str(int(rng.choice([n, n + 1, 999, 2 ** 31 - 1, 2 ** 31,
                                                   2 ** 32, 10 ** 10 - 1])))
            return ' '.join(words)
        if category == 'count':
            k = int(rng.choice([k for k in range(3 * (self.dim + 1)) if k != self.dim + 1]))
            return ' '.join(str(int(v)) for v in rng.integers(0, int(self.bins.min()), k))
        if category == 'words':
            words = [str(self.move)] + self._bins(rng)
            for i in rng.choice(len(words), int(rng.integers(1, 4)), replace=False):
                words[i] = str(rng.choice(TEXT_WORDS))
            return ' '.join(words)
        if category == 'spacing':
            seps = [str(rng.choice([' ', ' ', '  ', '\t', '\n', ',', ', ', '\u00a0', '\u3000']))
                    for _ in range(self.dim)]
            words = [str(self.move)] + self._bins(rng)
            text = words[0] + ''.join(s + w for s, w in zip(seps, words[1:]))
            lead, trail = rng.choice(['', ' ', '\n', '\t']), rng.choice(['', ' ', '\r\n'])
            return f'{lead}{text}{trail}'
        if category == 'unicode':
            return random_unicode(rng, log_length(rng, 1000))
        if category == 'long':  # just past the node's character limit, or far past it
            one = ' '.join([str(self.move)] + self._bins(rng))
            return (one + ' ') * int(rng.integers(2, 200)) if rng.random() < 0.5 else (
                ' ' * log_length(rng, 100_000) + one)
        if category == 'empty':
            return str(rng.choice(['', ' ', '\n', '\t \r', '\u200b']))
        if category == 'flag':
            flag = int(rng.choice([2, 9, 10, 255, 2 ** 31, 2 ** 32]))
            return ' '.join([str(flag)] + self._bins(rng))
        if category == 'huge':  # 1 M - 2 M characters of digits and spaces, or unicode
            n = int(rng.integers(HUGE_LEN // 2, HUGE_LEN + 1))
            if rng.random() < 0.5:
                return random_unicode(rng, n // 4)
            return DIGITS[rng.integers(0, DIGITS.size, n)].tobytes().decode('ascii')
        raise ValueError(f'unknown text category {category!r}')


def random_unicode(rng, n):
    """Return ``n`` random code points (no surrogates, no NUL: not valid in a ROS string)."""
    cps = rng.integers(1, 0x10FFFF - 0x800, n)
    cps = np.where(cps >= 0xD800, cps + 0x800, cps).astype('<u4')
    return cps.tobytes().decode('utf-32-le')


class Chunk:
    """Continuous float32 chunks T x D: in the profile's units, or normalised (q01_q99)."""

    topic = 'chunk'
    weights = {'valid': 30, 'non_finite': 10, 'extreme': 10, 'outside': 10, 'length': 8,
               'layout': 12, 'too_long': 8, 'empty': 3, 'random_bits': 9}

    def __init__(self, profile, max_steps, normalised=False):
        self.dim, self.max_steps = profile.dim, int(max_steps)
        lo, hi = np.array(profile.lows, float), np.array(profile.highs, float)
        # Valid values and the box they are checked against, in the message's own units.
        if normalised:
            q01, q99 = (np.array([getattr(d, k) for d in profile.dimensions], float)
                        for k in ('q01', 'q99'))
            self.lo, self.hi = np.full(self.dim, -1.0), np.ones(self.dim)
            span = (q99 - q01 + 1e-6) / 2
            self.box = ((lo - q01) / span - 1, (hi - q01) / span - 1)
        else:
            self.lo, self.hi, self.box = lo, hi, (lo, hi)
        self.shape = SimpleNamespace(dim=self.dim, steps=self.max_steps)

    def _valid(self, rng, steps=None):
        steps = int(rng.integers(1, self.max_steps + 1)) if steps is None else steps
        return rng.uniform(self.lo, self.hi, (steps, self.dim))

    def build(self, category, rng):
        data, dims, offset = self._chunk(category, rng)
        return Fuzz(np.asarray(data, np.float32).reshape(-1), dims, offset, category)

    def _chunk(self, category, rng):
        if category == 'valid':
            arr = self._valid(rng)
            sizes = [(), arr.shape, (arr.size,)][int(rng.integers(3))]
            if len(arr) == 1 and rng.random() < 0.3:
                sizes = (self.dim,)
            return arr, [(s, s, '') for s in sizes], 0
        if category in ('non_finite', 'extreme', 'outside'):
            arr = self._valid(rng)
            k = int(rng.integers(1, arr.size + 1))
            where = rng.choice(arr.size, k, replace=False)
            flat = arr.reshape(-1)
            if category == 'non_finite':
                flat[where] = rng.choice([np.nan, np.inf, -np.inf], k)
            elif category == 'extreme':
                flat[where] = rng.choice([F32_MAX, -F32_MAX, 1e30, -1e30, 1e-45, -0.0, 3e38], k)
            else:  # just outside the box (rejected), or inside its float32 tolerance
                d = where % self.dim
                lo, hi = self.box
                span = hi[d] - lo[d]
                rel = rng.choice([1e-7, 1e-5, 1e-3, 0.5, 10.0], k)
                flat[where] = np.where(rng.random(k) < 0.5, lo[d] - rel * span,
                                       hi[d] + rel * span)
            return arr, [], 0
        if category == 'length':
            n = log_length(rng, MAX_LEN)
            n += int(n % self.dim == 0)
            return rng.uniform(-1, 1, n), [], 0
        if category == 'layout':
            arr = self._valid(rng)
            offset = int(rng.integers(UINT32_MAX)) if rng.random() < 0.5 else 0
            return arr, random_dims(rng, self.shape, arr.size), offset
        if category == 'too_long':
            steps = self.max_steps + max(1, log_length(rng, MAX_LEN // self.dim))
            return self._valid(rng, steps), [], 0
        if category == 'empty':
            return np.zeros(0), [(0, 0, '')] if rng.random() < 0.5 else [], 0
        if category == 'random_bits':
            n = log_length(rng, 200) if rng.random() < 0.7 else self.dim
            return rng.integers(0, UINT32_MAX, n, endpoint=True, dtype=np.uint64).astype(
                np.uint32).view(np.float32), [], 0
        if category == 'huge':
            n = int(rng.integers(HUGE_LEN // 2, HUGE_LEN + 1)) // self.dim * self.dim
            return rng.uniform(-1, 1, n).astype(np.float32), [], 0
        raise ValueError(f'unknown chunk category {category!r}')
