"""
Numpy inference of a trained VQ-VAE chunk model: what a robot runs to use VQ tokens.

The model is a dict of float32 arrays in torch's layout (``vq_model.py``
writes them): ``encoder.{i}.weight`` ``(out, in)`` and ``encoder.{i}.bias``
``(out,)`` for each linear layer (ReLU between them), the same for
``decoder``, and ``codebooks`` ``(R, C, code_dim)``.  Encoding is the MLP
then residual nearest-code search (level r quantises what levels 0..r-1 left
over; Zeghidour et al., 2021, arXiv:2107.03312); decoding sums the chosen
codes and runs the decoder MLP.  No torch needed.
"""

import numpy as np
from robotok_ros.errors import TokenizerStateError

# Rows per block: large blocks for the MLP's matrix products, small ones for nearest-code
# search so the (rows, C) distance matrix stays in cache.
MLP_BLOCK = 32768
SEARCH_BLOCK = 2048
# Largest |value| a saved tensor may hold. Trained weights and codes stay orders of magnitude
# below; values near float32's limit would overflow the products into inf / NaN.
MAX_ABS = 1e4


def expected_shapes(in_dim, hidden, code_dim, levels, codebook_size):
    """Name -> shape of every array of a model with these sizes."""
    shapes = {}
    for part, sizes in (('encoder', [in_dim, *hidden, code_dim]),
                        ('decoder', [code_dim, *reversed(hidden), in_dim])):
        for i in range(len(sizes) - 1):
            shapes[f'{part}.{i}.weight'] = (sizes[i + 1], sizes[i])
            shapes[f'{part}.{i}.bias'] = (sizes[i + 1],)
    shapes['codebooks'] = (levels, codebook_size, code_dim)
    return shapes


def check_arrays(arrays, shapes, source):
    """Return ``arrays`` as contiguous float32, or raise TokenizerStateError naming the tensor."""
    extra = sorted(set(arrays) - set(shapes))
    if extra:
        raise TokenizerStateError(f'{source}: unexpected tensor {extra[0]!r} (not part of '
                                  'this vq model; tampered or from another tokenizer?)')
    state = {}
    for name, shape in shapes.items():
        if name not in arrays:
            raise TokenizerStateError(f'{source}: tensor {name!r} is missing')
        arr = np.asarray(arrays[name])
        if arr.shape != shape:
            raise TokenizerStateError(f'{source}: tensor {name!r} must have shape {shape} '
                                      f'for these settings, got {arr.shape}')
        if arr.dtype.kind != 'f' or not np.isfinite(arr).all():
            raise TokenizerStateError(f'{source}: tensor {name!r} must hold finite floats')
        peak = float(np.abs(arr).max()) if arr.size else 0.0
        if peak > MAX_ABS:
            raise TokenizerStateError(f'{source}: tensor {name!r} holds |value| {peak:g}, more '
                                      f'than the {MAX_ABS:g} a trained model stays under')
        state[name] = np.ascontiguousarray(arr, dtype=np.float32)
    return state


class VQInference:
    """A checked model: ``encode`` normalised chunks to codes, ``decode`` codes back."""

    def __init__(self, arrays, shapes, source='<arrays>'):
        self.arrays = check_arrays(arrays, shapes, source)
        depth = sum(1 for name in shapes if name.startswith('encoder.') and
                    name.endswith('.weight'))
        # Weights transposed once, so every product is x @ W_t.
        self._layers = {part: [(np.ascontiguousarray(self.arrays[f'{part}.{i}.weight'].T),
                                self.arrays[f'{part}.{i}.bias']) for i in range(depth)]
                        for part in ('encoder', 'decoder')}
        books = self.arrays['codebooks']
        self.levels, self.codebook_size, self.code_dim = books.shape
        self._books_t2 = np.ascontiguousarray(-2.0 * np.swapaxes(books, 1, 2))
        self._book_norms = (books * books).sum(axis=2)

    def _mlp(self, x, part):
        layers = self._layers[part]
        for i, (w_t, b) in enumerate(layers):
            x = x @ w_t
            x += b
            if i < len(layers) - 1:
                np.maximum(x, 0.0, out=x)
        return x

    def _search(self, z):
        books = self.arrays['codebooks']
        idx = np.empty((z.shape[0], self.levels), dtype=np.int64)
        residual = z.copy()
        for r in range(self.levels):
            # argmin ||z - e||^2 = argmin (||e||^2 - 2 z.e); ||z||^2 is the same for every code.
            dist = residual @ self._books_t2[r]
            dist += self._book_norms[r]
            idx[:, r] = np.argmin(dist, axis=1)
            residual -= books[r][idx[:, r]]
        return idx

    def encode(self, flat):
        """Normalised chunks ``(N, K * D)`` float32 -> codes ``(N, R)`` int64 in [0, C)."""
        idx = np.empty((flat.shape[0], self.levels), dtype=np.int64)
        for start in range(0, flat.shape[0], MLP_BLOCK):
            z = self._mlp(flat[start:start + MLP_BLOCK], 'encoder')
            for sub in range(0, z.shape[0], SEARCH_BLOCK):
                idx[start + sub:start + sub + SEARCH_BLOCK] = self._search(
                    z[sub:sub + SEARCH_BLOCK])
        return idx

    def decode(self, codes):
        """Codes ``(N, R)`` in [0, C) -> normalised chunks ``(N, K * D)`` float64, unclipped."""
        books = self.arrays['codebooks']
        z = np.zeros((codes.shape[0], self.code_dim), dtype=np.float32)
        for r in range(self.levels):
            z += books[r][codes[:, r]]
        with np.errstate(over='ignore', invalid='ignore'):  # the caller checks finiteness
            return self._mlp(z, 'decoder').astype(np.float64)
