"""
BPE over integer symbols: each integer in [-M, M] is one private-use character.

The FAST tokenizer (``fast.py``; Pertsch et al., 2025, arXiv:2501.09747)
compresses DCT coefficients with BPE.  Here all 2M + 1 symbols sit in the base
alphabet, so any clipped sequence encodes and decodes losslessly.  Training and
encoding use HF ``tokenizers`` (imported lazily); decoding is a numpy table
lookup.  The state is HF ``Tokenizer.to_str()`` JSON with its SHA-256; only its
vocabulary and merges are read back, checked, and rebuilt into a bare BPE
model, so no saved normaliser, pre-tokeniser or code is ever used.
"""

import hashlib
import json

import numpy as np
from robotok_ros.errors import TokenizerStateError

# Private use area U+E000..U+F8FF: characters no Unicode normaliser touches.
SYMBOL_BASE = 0xE000
MAX_SYMBOL_CLIP = (0xF8FF - SYMBOL_BASE) // 2


def alphabet(clip):
    """Return the 2M + 1 base characters, integer -M first."""
    return [chr(SYMBOL_BASE + i) for i in range(2 * clip + 1)]


def to_strings(values, clip):
    """Integers ``(B, N)`` in [-M, M] -> B strings of N characters."""
    codes = np.ascontiguousarray(values + (SYMBOL_BASE + clip), dtype=np.uint32)
    # UCS-4 numpy strings are uint32 code points: one view, no Python loop.
    return codes.view(f'<U{values.shape[1]}').ravel().tolist()


class SymbolBPE:
    """A checked BPE vocabulary over the symbols of [-M, M], with decode tables."""

    def __init__(self, vocab, merges, clip, source='<bpe>'):
        self.clip = clip
        if not isinstance(vocab, dict) or not isinstance(merges, list):
            raise TokenizerStateError(f'{source}: BPE model needs a vocab mapping and a merges '
                                      'list')
        size = len(vocab)
        if sorted(v for v in vocab.values() if isinstance(v, int)) != list(range(size)):
            raise TokenizerStateError(f'{source}: BPE ids must be exactly 0..{size - 1}')
        first, last = SYMBOL_BASE, SYMBOL_BASE + 2 * clip
        tokens = [None] * size
        for text, i in vocab.items():
            if not text or any(not first <= ord(ch) <= last for ch in text):
                raise TokenizerStateError(f'{source}: BPE token {text!r} (id {i}) is not made '
                                          f'of the {2 * clip + 1} coefficient symbols')
            tokens[i] = text
        if any(ch not in vocab for ch in alphabet(clip)):
            raise TokenizerStateError(f'{source}: BPE vocabulary lacks part of the base alphabet')
        pairs = []
        for k, merge in enumerate(merges):
            pair = tuple(merge.split(' ')) if isinstance(merge, str) else tuple(merge)
            if len(pair) != 2 or any(p not in vocab for p in pair) or ''.join(pair) not in vocab:
                raise TokenizerStateError(f'{source}: BPE merge {k} {merge!r} does not join two '
                                          'vocabulary tokens into a third')
            pairs.append(pair)
        self.vocab, self.merges, self._hf = dict(vocab), pairs, None
        self.token_len = np.array([len(t) for t in tokens], dtype=np.int64)
        self._token_start = np.cumsum(self.token_len) - self.token_len
        self._symbols = np.array([ord(ch) for ch in ''.join(tokens)], dtype=np.int64) - (
            SYMBOL_BASE + clip)

    @classmethod
    def base(cls, clip):
        """Return the alphabet alone: one token per symbol, no merges."""
        return cls({ch: i for i, ch in enumerate(alphabet(clip))}, [], clip, '<alphabet>')

    @classmethod
    def train(cls, values, clip, vocab_size, progress=False):
        """Train on integer rows ``(B, N)`` in [-M, M]; pairs seen once are not merged."""
        from tokenizers import models, Tokenizer, trainers
        # No normaliser or pre-tokeniser: a row is one word over the 2M + 1 characters.
        tok = Tokenizer(models.BPE())
        trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=2,
                                      show_progress=progress, special_tokens=[],
                                      initial_alphabet=alphabet(clip))
        tok.train_from_iterator(to_strings(values, clip), trainer, length=len(values))
        model = json.loads(tok.to_str())['model']
        out = cls(model['vocab'], model['merges'], clip, '<trained>')
        out._hf = tok
        return out

    def __len__(self):
        """Return the number of tokens."""
        return len(self.token_len)

    def hf_tokenizer(self):
        """Return the HF ``tokenizers.Tokenizer`` (built on first use)."""
        if self._hf is None:
            # A bare BPE model from checked data: nothing else from a file is ever run.
            from tokenizers import models, Tokenizer
            self._hf = Tokenizer(models.BPE(vocab=self.vocab, merges=self.merges))
        return self._hf

    def encode(self, values):
        """Integer rows ``(B, N)`` in [-M, M] -> list of B int64 id arrays."""
        encodings = self.hf_tokenizer().encode_batch_fast(to_strings(values, self.clip),
                                                          add_special_tokens=False)
        return [np.asarray(e.ids, dtype=np.int64) for e in encodings]

    def symbols(self, ids):
        """Token ids ``(N,)`` (checked in range) -> their integers, flat, and each id's length."""
        lens = self.token_len[ids]
        ends = np.cumsum(lens)
        # Symbol k of token j sits at _token_start[ids[j]] + k in the flat table.
        gather = np.repeat(self._token_start[ids] - (ends - lens), lens) + np.arange(ends[-1])
        return self._symbols[gather], lens

    def to_json(self):
        """Return HF ``Tokenizer.to_str()`` JSON (loadable with the ``tokenizers`` library)."""
        return self.hf_tokenizer().to_str()

    def state_arrays(self):
        """Return the JSON as uint8 bytes and its SHA-256."""
        raw = self.to_json().encode('utf-8')
        return {'bpe_json': np.frombuffer(raw, dtype=np.uint8).copy(),
                'bpe_sha256': np.frombuffer(hashlib.sha256(raw).digest(), dtype=np.uint8).copy()}

    @classmethod
    def from_state(cls, arrays, clip, source='<arrays>'):
        """Rebuild from ``state_arrays`` output after checking checksum, JSON and alphabet."""
        raw, digest = arrays.get('bpe_json'), arrays.get('bpe_sha256')
        if raw is None or digest is None or raw.dtype != np.uint8 or raw.ndim != 1:
            raise TokenizerStateError(f'{source}: needs uint8 arrays bpe_json and bpe_sha256')
        raw = raw.tobytes()
        if hashlib.sha256(raw).digest() != digest.tobytes():
            raise TokenizerStateError(f'{source}: bpe_json does not match its SHA-256; the file '
                                      'was modified or corrupted')
        try:
            model = json.loads(raw.decode('utf-8'))['model']
            vocab, merges = model['vocab'], model['merges']
        except (ValueError, KeyError, TypeError) as exc:
            raise TokenizerStateError(f'{source}: bpe_json is not a BPE tokenizer JSON: '
                                      f'{exc}') from None
        if model.get('type') != 'BPE':
            raise TokenizerStateError(f'{source}: bpe_json model type must be BPE, '
                                      f'got {model.get("type")!r}')
        return cls(vocab, merges, clip, source)
