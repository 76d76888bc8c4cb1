"""
The policy's forward pass in numpy only: what the robot side runs, without torch.

The same pre-LayerNorm transformer as ``model.py`` (Vaswani et al. 2017,
"Attention Is All You Need"; GPT-style decoder blocks with tanh GELU), float32:
the state history is the prefix (one token per state), then either
- ``ar``: the action tokens one after another, greedy, each attending to the
  prefix and the tokens before it; keys and values are cached, so a step costs
  one token's pass; or
- ``parallel``: L learned query positions answered in one pass.
Seed exercise 3 ("a tiny transformer that predicts action tokens
autoregressively").  ``test/test_policy.py`` checks logits and tokens against
the torch model.
"""

import math

import numpy as np
from robotok_ros.errors import ConfigError
from robotok_ros.policy.data import split_relative
from robotok_ros.policy.files import read_policy
from robotok_ros.policy.targets import allowed, tokens_from_model

EPS = 1e-5


def _layer_norm(x, w, b):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + EPS) * w + b


def _gelu(x):
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


class NumpyPolicy:
    """
    A loaded policy: state history -> token ids, numpy only.

    ``predict(history)``: history ``(k, S)`` raw states, oldest first -> ids ``(N,)``
    (D per step, or one chunk).  ``step(state)``: one control step ``(S,)``; returns
    the ids to publish when a message is due (every step, or every ``chunk_steps``
    steps from the first), else None.  ``reset()`` at an episode's start.
    """

    def __init__(self, config, layout, arrays, tokenizer_path=None):
        self.config, self.layout, self.tokenizer_path = config, layout, tokenizer_path
        self.history = config.history
        self.chunk_steps = 1 if layout.per_step else layout.chunk_steps
        self.state_names = list(layout.state_names)
        self.mean, self.std = arrays['norm.mean'], arrays['norm.std']
        span = arrays.get('grammar.span')
        self.spans = None if span is None else np.append(span.astype(np.int64), 0)
        # Linear weights transposed once: x @ W.T becomes x @ Wt.
        self.w = {k: (np.ascontiguousarray(v.T) if k.endswith('weight') and v.ndim == 2
                      and not k.startswith('tok_emb') else v) for k, v in arrays.items()}
        self.reset()

    # -- the pieces -----------------------------------------------------------------------
    def _lin(self, name, x):
        return x @ self.w[name + '.weight'] + self.w[name + '.bias']

    def _block(self, i, x, cache=None, causal=False):
        """Run block i on ``x`` (B, n, d); ``cache``: [K, V] extended with x's keys/values."""
        p = f'blocks.{i}.'
        b, n, d = x.shape
        h = self.config.n_heads
        qkv = self._lin(p + 'qkv', _layer_norm(x, self.w[p + 'ln1.weight'],
                                               self.w[p + 'ln1.bias']))
        q, k, v = qkv.reshape(b, n, 3, h, d // h).transpose(2, 0, 3, 1, 4)
        if cache is not None:
            if cache:
                k, v = np.concatenate([cache[0], k], 2), np.concatenate([cache[1], v], 2)
            cache[:] = [k, v]
        att = q @ k.transpose(0, 1, 3, 2) / math.sqrt(d // h)
        if causal:
            old = k.shape[2] - n
            blocked = np.arange(k.shape[2])[None, :] > (old + np.arange(n))[:, None]
            att = np.where(blocked, -np.inf, att)
        att = np.exp(att - att.max(-1, keepdims=True))
        att /= att.sum(-1, keepdims=True)
        y = (att @ v).transpose(0, 2, 1, 3).reshape(b, n, d)
        x = x + self._lin(p + 'proj', y)
        hid = _gelu(self._lin(p + 'fc1', _layer_norm(x, self.w[p + 'ln2.weight'],
                                                     self.w[p + 'ln2.bias'])))
        return x + self._lin(p + 'fc2', hid)

    def _out(self, x):
        return self._lin('head', _layer_norm(x, self.w['ln_f.weight'], self.w['ln_f.bias']))

    def _prefix(self, histories):
        """Return the prefix tokens (B, k, d) of raw state histories (B, k, S)."""
        norm = ((np.asarray(histories, np.float64) - self.mean) / self.std).astype(np.float32)
        return self._lin('state_in', norm) + self.w['state_pos']

    def _check(self, histories):
        arr = np.asarray(histories, dtype=np.float64)
        want = (self.history, self.layout.state_dim)
        if arr.ndim == 2:
            arr = arr[None]
        if arr.ndim != 3 or arr.shape[1:] != want:
            raise ConfigError(f'policy needs state histories of shape (k, S) = {want} or '
                              f'(B, k, S), got {np.shape(histories)}')
        if not np.isfinite(arr).all():
            raise ConfigError('policy state holds NaN or inf')
        return arr

    # -- whole passes -----------------------------------------------------------------------
    def logits(self, histories, inputs=None):
        """
        Return logits ``(B, L, n_out)`` of one full pass (what training computes).

        ``inputs`` (AR only): ``(B, L)`` model ids, the targets (teacher forcing); position
        j sees the begin id and inputs ``[:j]``.
        """
        hist = self._check(histories)
        x = self._prefix(hist)
        k, big_l = x.shape[1], self.layout.seq_len
        if self.config.head == 'ar':
            begin = np.full((len(hist), 1), self.layout.n_out, dtype=np.int64)
            seq = np.concatenate([begin, np.asarray(inputs, np.int64)[:, :big_l - 1]], 1)
            q = self.w['tok_emb.weight'][seq] + self.w['seq_pos'][:seq.shape[1]]
        else:
            q = np.broadcast_to(self.w['seq_pos'], (len(hist),) + self.w['seq_pos'].shape)
        x = np.concatenate([x, q.astype(np.float32)], 1)
        for i in range(self.config.n_layers):
            x = self._block(i, x, causal=self.config.head == 'ar')
        return self._out(x[:, k:])

    def _chooser(self, batch):
        """Return choose(logits (B, n_out)) -> ids (B,): argmax, within the grammar if any."""
        used = np.zeros(batch, np.int64)

        def choose(logit):
            if self.spans is None:
                return logit.argmax(-1)
            ok = allowed(self.spans[:-1], self.layout.span_total, used)
            tok = np.where(ok, logit, -np.inf).argmax(-1)
            used[:] += self.spans[tok]
            return tok
        return choose

    def greedy(self, histories):
        """Return greedy model ids ``(B, L)`` and their logits ``(B, L, n_out)``."""
        hist = self._check(histories)
        choose = self._chooser(len(hist))
        if self.config.head == 'parallel':
            logits = self.logits(hist)
            return np.stack([choose(logits[:, j]) for j in range(logits.shape[1])], 1), logits
        x = self._prefix(hist)
        caches = [[] for _ in range(self.config.n_layers)]
        for i in range(self.config.n_layers):
            x = self._block(i, x, caches[i], causal=True)
        tok = np.full(len(hist), self.layout.n_out, dtype=np.int64)
        ids, out = [], []
        end = self.layout.end_id
        for j in range(self.layout.seq_len):
            x = (self.w['tok_emb.weight'][tok] + self.w['seq_pos'][j])[:, None, :]
            for i in range(self.config.n_layers):
                x = self._block(i, x, caches[i], causal=True)
            logit = self._out(x)[:, 0]
            tok = choose(logit)
            ids.append(tok)
            out.append(logit)
            if end is not None and len(hist) == 1 and tok[0] == end:
                break  # one state: stop at the end id (a batch runs all L positions)
        ids, out = np.stack(ids, 1), np.stack(out, 1)
        if ids.shape[1] < self.layout.seq_len:
            pad = self.layout.seq_len - ids.shape[1]
            ids = np.concatenate([ids, np.full((len(hist), pad), end)], 1)
            out = np.concatenate([out, np.zeros((len(hist), pad, out.shape[2]), out.dtype)], 1)
        return ids, out

    # -- what a node calls ---------------------------------------------------------------------
    def predict(self, history):
        """Return the tokenizer ids ``(N,)`` for one state history ``(k, S)`` (or ``(S,)``)."""
        arr = np.asarray(history, dtype=np.float64)
        if arr.ndim == 1 and self.history == 1:
            arr = arr[None]
        ids, _ = self.greedy(arr)
        return tokens_from_model(self.layout, ids[0])

    def select(self, values, names):
        """Return the state ``(S,)`` in the policy's order from ``values`` named ``names``."""
        where = {n: i for i, n in enumerate(names)}
        raw = [n for n in self.state_names if split_relative(n) is None]
        missing = [n for n in raw if n not in where]
        if missing:
            raise ConfigError(f'the policy needs state {missing[0]} ({len(missing)} of '
                              f'{len(raw)} missing); it was trained on {", ".join(raw)}')
        values = np.asarray(values, dtype=np.float64)
        out = []
        for name in self.state_names:
            pair = split_relative(name)  # its parts are raw names, checked at load
            out.append(values[where[pair[0]]] - values[where[pair[1]]] if pair
                       else values[where[name]])
        return np.asarray(out)

    def reset(self):
        """Forget the state history and the chunk clock (a new episode)."""
        self._states, self._step = [], 0

    def step(self, state):
        """Take one control step's state ``(S,)``; return ids ``(N,)`` when a message is due."""
        state = np.asarray(state, dtype=np.float64).reshape(-1)
        if not self._states:
            self._states = [state] * self.history
        self._states = self._states[1:] + [state]
        due = self._step % self.chunk_steps == 0
        self._step += 1
        return self.predict(np.stack(self._states)) if due else None

    def load_tokenizer(self):
        """Return the tokenizer saved with the policy (to decode what it says)."""
        from robotok_ros.tokenizers import load_tokenizer
        return load_tokenizer(self.tokenizer_path)


def load_policy(folder):
    """Load a policy folder (``policy.yaml`` + ``policy.safetensors``) for numpy inference."""
    config, layout, arrays, tok_path, _ = read_policy(folder)
    return NumpyPolicy(config, layout, arrays, tok_path)
