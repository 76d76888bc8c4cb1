"""
The policy network in torch (training only; ``infer.py`` runs the same pass in numpy).

A small pre-LayerNorm transformer (Vaswani et al. 2017, "Attention Is All You
Need"; GPT-style blocks): each state of the history is embedded as one prefix
token; the ``ar`` head then decodes the action tokens causally, one after
another (teacher forcing in training, greedy at inference; seed exercise 3,
"a tiny transformer that predicts action tokens autoregressively"), the
``parallel`` head answers L learned query tokens at once.  Parameter names are
``files.expected_shapes``'s.
"""

import math

import torch
from torch import nn
import torch.nn.functional as F


class Block(nn.Module):
    """One transformer block: self-attention then a 4x MLP, each pre-normed, residual."""

    def __init__(self, d, heads, dropout):
        super().__init__()
        self.heads = heads
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.fc1, self.fc2 = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)
        self.drop = nn.Dropout(dropout)

    def forward(self, x, blocked=None):
        """Map ``x`` (B, n, d) -> (B, n, d); ``blocked`` (n, n) True where attention is not."""
        b, n, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).view(b, n, 3, self.heads, d // self.heads) \
            .permute(2, 0, 3, 1, 4)
        att = q @ k.transpose(-1, -2) / math.sqrt(d // self.heads)
        if blocked is not None:
            att = att.masked_fill(blocked, float('-inf'))
        y = (att.softmax(-1) @ v).transpose(1, 2).reshape(b, n, d)
        x = x + self.drop(self.proj(y))
        return x + self.drop(self.fc2(F.gelu(self.fc1(self.ln2(x)), approximate='tanh')))


class PolicyNet(nn.Module):
    """State history ``(B, k, S)`` (normalised) -> logits ``(B, L, n_out)``."""

    def __init__(self, config, layout, spans=None):
        super().__init__()
        d = config.d_model
        # FAST: each id's coefficient count (``targets.token_spans``), the end id's 0.
        self.span_total = layout.span_total
        self.spans = None if spans is None else torch.as_tensor(
            list(spans) + [0], dtype=torch.long)
        self.ar = config.head == 'ar'
        self.seq_len, self.n_out = layout.seq_len, layout.n_out
        self.state_in = nn.Linear(layout.state_dim, d)
        self.state_pos = nn.Parameter(torch.randn(config.history, d) * 0.02)
        self.seq_pos = nn.Parameter(torch.randn(layout.seq_len, d) * 0.02)
        if self.ar:
            self.tok_emb = nn.Embedding(layout.n_out + 1, d)  # + the begin id
            nn.init.normal_(self.tok_emb.weight, std=0.02)
        self.blocks = nn.ModuleList(Block(d, config.n_heads, config.dropout)
                                    for _ in range(config.n_layers))
        self.ln_f = nn.LayerNorm(d)
        self.head = nn.Linear(d, layout.n_out)

    def forward(self, states, inputs=None):
        """
        Return logits ``(B, n, n_out)``.

        ``inputs`` (AR): model ids ``(B, j)``; position i sees the begin id and
        ``inputs[:, :i]`` (n = min(j + 1, L)); give the targets for teacher forcing.
        """
        prefix = self.state_in(states) + self.state_pos
        b, k = prefix.shape[:2]
        if self.ar:
            begin = torch.full((b, 1), self.n_out, dtype=torch.long)
            seq = torch.cat([begin, inputs[:, :self.seq_len - 1]], 1)
            q = self.tok_emb(seq) + self.seq_pos[:seq.shape[1]]
            n = k + seq.shape[1]
            blocked = torch.ones(n, n, dtype=torch.bool).triu(1)
        else:
            q, blocked = self.seq_pos.expand(b, -1, -1), None
        x = torch.cat([prefix, q], 1)
        for block in self.blocks:
            x = block(x, blocked)
        return self.head(self.ln_f(x[:, k:]))

    def _choose(self, logit, used):
        """Return argmax ids ``(B,)`` of ``logit`` (B, n_out), within the grammar if any."""
        if self.spans is None:
            return logit.argmax(-1)
        room = self.span_total - used[:, None]
        ok = torch.cat([self.spans[None, :-1] <= room, room == 0], 1)
        tok = logit.masked_fill(~ok, float('-inf')).argmax(-1)
        used += self.spans[tok]
        return tok

    @torch.no_grad()
    def greedy(self, states):
        """Return greedy model ids ``(B, L)`` and logits ``(B, L, n_out)`` (no early stop)."""
        used = torch.zeros(states.shape[0], dtype=torch.long)
        if not self.ar:
            logits = self(states)
            return torch.stack([self._choose(logits[:, j], used)
                                for j in range(self.seq_len)], 1), logits
        ids = torch.zeros((states.shape[0], 0), dtype=torch.long)
        for _ in range(self.seq_len):
            logits = self(states, ids)
            ids = torch.cat([ids, self._choose(logits[:, -1], used)[:, None]], 1)
        return ids, logits


def numpy_arrays(net, mean, std):
    """Return the net's weights, normalisation and grammar as float32 arrays (to save)."""
    import numpy as np
    arrays = {k: v.detach().cpu().numpy().astype(np.float32) for k, v in
              net.state_dict().items()}
    arrays['norm.mean'] = np.asarray(mean, np.float32)
    arrays['norm.std'] = np.asarray(std, np.float32)
    if net.spans is not None:
        arrays['grammar.span'] = net.spans[:-1].numpy().astype(np.float32)
    return arrays


def load_arrays(net, arrays):
    """Load saved numpy ``arrays`` (``numpy_arrays``' names) into ``net``."""
    net.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in arrays.items()
                         if not k.startswith(('norm.', 'grammar.'))})
    return net
