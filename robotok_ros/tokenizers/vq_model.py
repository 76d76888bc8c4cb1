"""
Torch side of the VQ-VAE chunk tokenizer: the model and its training loop.

Only ``VQTokenizer.fit`` imports this module, so loading or decoding a saved
VQ tokenizer never needs torch (inference runs in numpy, ``vq.py``).

- VQ-VAE: van den Oord et al., 2017, "Neural Discrete Representation
  Learning", arXiv:1711.00937 -- nearest-code lookup, straight-through
  gradients, loss = reconstruction + beta x commitment + codebook term, where
  the codebook term is either the paper's codebook loss or its EMA update
  (appendix A.1).
- Residual VQ: Zeghidour et al., 2021, SoundStream, arXiv:2107.03312
  (algorithm 1), with k-means initialisation and dead-code replacement, as
  implemented by vector-quantize-pytorch (``ResidualVQ``), which this module
  uses for lookup, EMA, k-means and replacement.  Utilisation metrics and the
  explicit loss terms are written here.
- Action chunks as VQ tokens: VQ-BeT, Lee et al., 2024, arXiv:2403.03181.
"""

import math

import numpy as np
from robotok_ros.errors import ConfigError
from robotok_ros.tokenizers.chunking import usage
import torch
from torch import nn
import torch.nn.functional as F
from vector_quantize_pytorch import ResidualVQ


def _mlp(sizes):
    layers = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class ChunkVQVAE(nn.Module):
    """
    MLP encoder -> residual VQ (R levels of C codes) -> MLP decoder.

    Input and output: normalised chunks flattened to ``(B, K * D)``.
    """

    def __init__(self, in_dim, hidden, code_dim, codebook_size, levels, kmeans_init=True,
                 dead_code_threshold=0.0, decay=0.9, codebook_update='ema'):
        super().__init__()
        self.encoder = _mlp([in_dim, *hidden, code_dim])
        self.decoder = _mlp([code_dim, *reversed(hidden), in_dim])
        self.codebook_update = codebook_update
        # commitment_weight=0: the commitment and codebook terms are computed in ``losses`` so
        # both weights are explicit; rotation_trick=False keeps the plain straight-through
        # estimator of the VQ-VAE paper.
        self.rvq = ResidualVQ(
            dim=code_dim, num_quantizers=levels, codebook_size=codebook_size,
            kmeans_init=kmeans_init, kmeans_iters=10, decay=decay,
            threshold_ema_dead_code=dead_code_threshold, commitment_weight=0.0,
            rotation_trick=False, ema_update=codebook_update == 'ema',
            learnable_codebook=codebook_update == 'loss')

    def forward(self, x):
        """Return ``(recon (B, K*D), indices (B, R), z (B, d), codes (R, B, d))``."""
        z = self.encoder(x)
        quantized, indices, _, codes = self.rvq(z[:, None, :], return_all_codes=True)
        # The library's output is a sum of R per-level straight-through terms, whose gradient
        # with respect to z is R x identity; one straight-through over the sum keeps it the
        # identity at every R (same value: the sum of the chosen codes).
        quantized = z + (quantized[:, 0] - z).detach()
        return self.decoder(quantized), indices[:, 0], z, codes[:, :, 0]

    def losses(self, x, commitment_weight):
        """Return ``(total, recon, commitment, codebook, indices (B, R))`` for one batch."""
        recon, indices, z, codes = self(x)
        rec = F.mse_loss(recon, x)
        residual = z
        commit = x.new_zeros(())
        book = x.new_zeros(())
        for code in codes:
            commit = commit + F.mse_loss(residual, code.detach())
            if self.codebook_update == 'loss':
                book = book + F.mse_loss(code, residual.detach())
            residual = residual - code.detach()
        return rec + commitment_weight * commit + book, rec, commit, book, indices

    def arrays(self):
        """Weights and codebooks as float32 numpy arrays, keyed like ``VQTokenizer`` saves."""
        out = {}
        for part in ('encoder', 'decoder'):
            linears = [m for m in getattr(self, part) if isinstance(m, nn.Linear)]
            for i, lin in enumerate(linears):
                out[f'{part}.{i}.weight'] = lin.weight.detach().cpu().numpy().copy()
                out[f'{part}.{i}.bias'] = lin.bias.detach().cpu().numpy().copy()
        out['codebooks'] = self.rvq.codebooks.detach().cpu().numpy().copy()
        return {k: v.astype(np.float32) for k, v in out.items()}


def train(settings, chunks, progress=None):
    """
    Train a ChunkVQVAE on normalised chunks ``(N, K * D)`` float32; return arrays and history.

    ``settings``: the tokenizer's settings dict.  ``progress``: optional
    callable ``(epoch, record)`` called after each epoch.  Training is
    deterministic for a given seed and thread count: torch's global RNG is
    forked, seeded and restored.
    """
    s = settings
    n = chunks.shape[0]
    batch = min(s['batch_size'], n)
    was_deterministic = torch.are_deterministic_algorithms_enabled()
    history = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(s['seed'])
        torch.use_deterministic_algorithms(True, warn_only=True)
        try:
            # The library compares each code's EMA count per batch with an absolute threshold;
            # the setting is relative to the mean count (batch / C) so it means the same for
            # any batch and codebook size.
            dead = s['dead_code_threshold'] * batch / s['codebook_size']
            model = ChunkVQVAE(chunks.shape[1], s['hidden'], s['code_dim'], s['codebook_size'],
                               s['levels'], s['kmeans_init'], dead, s['decay'],
                               s['codebook_update'])
            data = torch.from_numpy(np.ascontiguousarray(chunks, dtype=np.float32))
            gen = torch.Generator().manual_seed(s['seed'])
            opt = torch.optim.Adam(model.parameters(), lr=s['learning_rate'])
            model.train()
            if s['kmeans_init']:
                # k-means on a large sample of (untrained) encoder outputs rather than on the
                # first small batch, so every code starts near real data.
                pick = torch.randperm(n, generator=gen)[:max(batch, 16 * s['codebook_size'])]
                with torch.no_grad():
                    model(data[pick])
            for epoch in range(s['epochs']):
                counts = np.zeros((s['levels'], s['codebook_size']), dtype=np.int64)
                sums = np.zeros(4)
                order = torch.randperm(n, generator=gen)
                steps = 0
                for start in range(0, n - batch + 1, batch):
                    x = data[order[start:start + batch]]
                    total, rec, commit, book, idx = model.losses(x, s['commitment_weight'])
                    opt.zero_grad()
                    total.backward()
                    opt.step()
                    sums += [total.item(), rec.item(), commit.item(), book.item()]
                    steps += 1
                    for r in range(s['levels']):
                        counts[r] += np.bincount(idx[:, r].numpy(), minlength=counts.shape[1])
                used, perp = usage(counts)
                record = {'epoch': epoch + 1, 'loss': sums[0] / steps,
                          'recon': sums[1] / steps, 'commitment': sums[2] / steps,
                          'codebook': sums[3] / steps, 'used': used.tolist(),
                          'perplexity': perp.tolist()}
                if not math.isfinite(record['loss']):
                    raise ConfigError(f'vq training diverged at epoch {epoch + 1} (loss '
                                      f'{record["loss"]}); lower learning_rate')
                history.append(record)
                if progress is not None:
                    progress(epoch, record)
        finally:
            torch.use_deterministic_algorithms(was_deterministic)
    return model.arrays(), history
