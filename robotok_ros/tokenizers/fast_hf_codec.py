"""
The FAST integer codec of one hub tokenizer: coefficients <-> characters <-> BPE ids.

As ``UniversalActionProcessor`` (Pertsch et al., 2025, arXiv:2501.09747;
physical-intelligence/fast ``processing_action_tokenizer.py``) does it, checked
where the original is silent.  Encoding runs HF ``tokenizers`` on the
coefficient string, so the pre-tokeniser's splits and the merges are exactly
the original's.  Decoding does not call ``tokenizers``: each id's bytes (the
byte-level decoder's mapping, ``fast_hf_files.piece_bytes``) are joined and
decoded as strict UTF-8, which gives the same characters as ``tokenizers``
whenever the bytes are valid UTF-8 and refuses them otherwise (where the
original decodes U+FFFD).  The inverse DCT is scipy's, as in the original,
so decoded chunks match it bit for bit.
"""

import hashlib
from pathlib import Path

import numpy as np
from robotok_ros.errors import ConfigError, InvalidTokenError, TokenizerStateError
from robotok_ros.tokenizers.fast import ChunkLengthError
from robotok_ros.tokenizers.fast_hf_files import load_bpe
from scipy.fft import dct, idct


def state_arrays(path):
    """Return a ``tokenizer.json`` file's bytes and SHA-256 as uint8 state arrays."""
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f'{path}: cannot read the BPE tokenizer: {exc.strerror}') from None
    return {'tokenizer_json': np.frombuffer(raw, dtype=np.uint8).copy(),
            'tokenizer_sha256': np.frombuffer(hashlib.sha256(raw).digest(), dtype=np.uint8)
            .copy()}


def tokenizer_json(arrays, source):
    """Return the ``tokenizer.json`` text of ``state_arrays`` after checking its SHA-256."""
    raw, digest = arrays.get('tokenizer_json'), arrays.get('tokenizer_sha256')
    if raw is None or digest is None or raw.dtype != np.uint8 or raw.ndim != 1:
        raise TokenizerStateError(f'{source}: needs uint8 arrays tokenizer_json and '
                                  'tokenizer_sha256')
    if hashlib.sha256(raw.tobytes()).digest() != digest.tobytes():
        raise TokenizerStateError(f'{source}: tokenizer_json does not match its SHA-256')
    try:
        return raw.tobytes().decode('utf-8')
    except UnicodeDecodeError:
        raise TokenizerStateError(f'{source}: tokenizer_json is not UTF-8') from None


def _reject(message, reason, cause):
    exc = InvalidTokenError(message)
    exc.reason, exc.cause = reason, cause
    return exc


class FastCodec:
    """One hub BPE with a processor's H, D, scale and min_token; see the module docstring."""

    def __init__(self, text, chunk_steps, dim, scale, min_token, source):
        self.json = text
        raw = text.encode('utf-8')
        self.state = {'tokenizer_json': np.frombuffer(raw, dtype=np.uint8).copy(),
                      'tokenizer_sha256': np.frombuffer(hashlib.sha256(raw).digest(),
                                                        dtype=np.uint8).copy()}
        self.bpe, self.pieces = load_bpe(text, source)
        self.chunk_steps, self.dim, self.scale, self.min_token = (chunk_steps, dim, scale,
                                                                  min_token)
        self.n = chunk_steps * dim

    def encode(self, chunks):
        """
        Normalised chunks ``(B, H, D)`` -> (B FAST id arrays, low clips per dimension ``(D,)``).

        Coefficients below ``min_token`` are raised to it (as the original does),
        counted per dimension.  A chunk whose characters the BPE cannot all
        represent (the original drops them) raises InvalidTokenError.
        """
        coef = np.around(dct(chunks, axis=1, norm='ortho') * self.scale)
        shifted = coef.reshape(len(chunks), -1) - self.min_token
        low = (shifted < 0).reshape(len(chunks), self.chunk_steps, self.dim).sum(axis=(0, 1))
        codes = np.maximum(shifted, 0).astype(np.int64)
        try:
            texts = [''.join(map(chr, row.tolist())) for row in codes]
            encodings = (self.bpe.encode_batch(texts) if len(texts) > 1
                         else [self.bpe.encode(texts[0])])
        except (ValueError, OverflowError, UnicodeError) as exc:
            raise InvalidTokenError(f'fast_hf: a coefficient has no character ({exc})') from None
        out = []
        for b, enc in enumerate(encodings):
            ids = np.array(enc.ids, dtype=np.int64)
            back = self.codes(ids)
            if back is None or len(back) != self.n or (back != codes[b]).any():
                raise InvalidTokenError(self._unencodable(b, codes[b], back))
            out.append(ids)
        return out, low

    def _unencodable(self, b, want, back):
        got = [] if back is None else back.tolist()
        i = next((k for k in range(self.n) if k >= len(got) or got[k] != want[k]), self.n)
        i = min(i, self.n - 1)
        t, d = divmod(i, self.dim)
        return (f'fast_hf: chunk {b}: DCT coefficient {int(want[i]) + self.min_token}'
                f' (frequency {t}, dimension {d}) has no token in the BPE (the original drops '
                'it and its ids no longer decode); the action is outside what the tokenizer was '
                'trained on')

    def codes(self, fast):
        """FAST ids ``(N,)`` (in range) -> code points ``(M,)`` int64, None if not UTF-8."""
        data = b''.join(map(self.pieces.__getitem__, fast.tolist()))
        try:
            text = data.decode('utf-8')
        except UnicodeDecodeError:
            return None
        if '\ufffd' in text:
            return None
        return np.frombuffer(text.encode('utf-32-le'), dtype='<u4').astype(np.int64)

    def coefficients(self, fast, relaxed=False):
        """
        FAST ids ``(N,)`` -> integer coefficients ``(H, D)`` and the count fixed (or None).

        Rejects (InvalidTokenError, ``reason``/``cause``): bytes that are not UTF-8
        ('invalid'/'utf8') and, unless ``relaxed``, a count other than H x D
        ('length'/'coefficients'); relaxed pads with zeros or cuts, as LeRobot.
        """
        if fast.size == 0:
            raise _reject('fast_hf: no ids hold 0 DCT coefficients: not one chunk', 'length',
                          'coefficients')
        codes = self.codes(fast)
        if codes is None:
            raise _reject(f'fast_hf: {fast.size} ids make bytes that are not UTF-8 (the '
                          'original decodes U+FFFD and coefficients far outside training)',
                          'invalid', 'utf8')
        coeffs, fixed = codes + self.min_token, None
        if len(coeffs) != self.n:
            if not relaxed:
                exc = ChunkLengthError(f'fast_hf: {fast.size} ids hold {len(coeffs)} DCT '
                                       f'coefficients, not {self.chunk_steps} x {self.dim} = '
                                       f'{self.n}: not one whole chunk (the original returns '
                                       'zeros)')
                exc.cause = 'coefficients'
                raise exc
            fixed = len(coeffs)
            coeffs = np.pad(coeffs[:self.n], (0, max(0, self.n - len(coeffs))))
        return coeffs.reshape(self.chunk_steps, self.dim), fixed

    def inverse(self, coeffs):
        """Integer coefficients ``(H, D)`` -> normalised actions ``(H, D)``, as the original."""
        return idct(coeffs / self.scale, axis=0, norm='ortho')
