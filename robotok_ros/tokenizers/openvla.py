"""
OpenVLA's action tokenizer, bit for bit (Kim et al., 2024, arXiv:2406.09246).

Transcribed from openvla ``prismatic/vla/action_tokenizer.py`` and the
un-normalisation in ``OpenVLAForActionPrediction.predict_action`` (BOUNDS_Q99).
"""

import numpy as np
from robotok_ros.errors import ConfigError
from robotok_ros.fitting import fit_ranges
from robotok_ros.tokenizers.base import (ActionTokenizer, check_actions, check_token_array,
                                         reject_out_of_range)
from robotok_ros.tokenizers.binning import _flat
from robotok_ros.tokenizers.settings import Capabilities, OpenVLASettings


class OpenVLATokenizer(ActionTokenizer):
    """
    OpenVLA's action tokenizer, bit for bit.

    Encode: ``n = 2 (a - q01) / (q99 - q01 + 1e-8) - 1`` for every dimension but
    the gripper (masked: passed through), clip to [-1, 1], ``d = np.digitize(n,
    np.linspace(-1, 1, N))`` and ``id = text_vocab_size - d``.  Decode: ``d =
    text_vocab_size - id``, ``centres[clip(d - 1, 0, N - 2)]``, then
    ``0.5 (n + 1) (q99 - q01) + q01``.

    The 255-interval quirk: N = 256 *edges* make only 255 intervals, so there
    are 255 centres; ``digitize`` returns 256 only for exactly 1.0, and that id
    decodes to the same centre as 255.  OpenVLA clips stray ids silently; here
    an id outside ``[text_vocab_size - N, text_vocab_size - 1]`` is rejected.
    """

    kind = 'openvla'
    capabilities = Capabilities(per_step=True, exact_table=True, needs_fit=False)
    settings_class = OpenVLASettings

    def __init__(self, profile, **settings):
        super().__init__(profile, **settings)
        self.n_bins, self.text_vocab_size = self.config.n_bins, self.config.text_vocab_size
        if self.text_vocab_size < self.n_bins:
            raise ConfigError(f'text_vocab_size must be an integer >= n_bins {self.n_bins}, '
                              f'got {self.text_vocab_size!r}')
        self.bins = np.linspace(-1.0, 1.0, self.n_bins)
        self.bin_centers = (self.bins[:-1] + self.bins[1:]) / 2.0
        self._set_stats()

    def _set_stats(self):
        gi = self.profile.gripper_index
        self.mask = np.array([i != gi for i in range(self.dim)])
        missing = [d.name for i, d in enumerate(self.profile.dimensions)
                   if self.mask[i] and d.q01 is None]
        # A profile without statistics is fine until the first encode/decode (fit adds them).
        self._missing = missing and (
            f'{self.profile.source or self.profile.name}: the openvla tokenizer needs q01/q99 '
            f'for dimension {missing[0]}; add them to the profile or fit on data first')
        dims = self.profile.dimensions
        self.q01 = np.array([d.q01 if m and d.q01 is not None else 0.0
                             for d, m in zip(dims, self.mask)])
        self.q99 = np.array([d.q99 if m and d.q99 is not None else 1.0
                             for d, m in zip(dims, self.mask)])

    @property
    def vocab_size(self):
        """N action ids (OpenVLA's ``ActionTokenizer.vocab_size``)."""
        return self.n_bins

    @property
    def id_range(self):
        """Return the last N ids of the text vocabulary."""
        return self.text_vocab_size - self.n_bins, self.text_vocab_size - 1

    def fit(self, episodes, progress=False):
        """Set q01/q99 (and min/max) from data, as OpenVLA's dataset statistics do."""
        self.profile = fit_ranges(episodes, self.profile)
        self._set_stats()
        return self

    def value_ranges(self):
        """Return q01/q99 as both span and box; the gripper passes through, so infinite."""
        lo = np.where(self.mask, self.q01, -np.inf)
        hi = np.where(self.mask, self.q99, np.inf)
        return (lo, hi), (lo, hi)

    @classmethod
    def quantile_needs(cls, settings, profile):
        """Return every dimension but the gripper (passed through unnormalised), always."""
        return [d for d in profile.dimensions if d.name != profile.gripper_name], ''

    def normalize(self, actions):
        """Actions ``(..., D)`` -> OpenVLA's normalised values (gripper untouched), unclipped."""
        if self._missing:
            raise ConfigError(self._missing)
        arr = check_actions(actions, self.dim)
        norm = 2 * (arr - self.q01) / (self.q99 - self.q01 + 1e-8) - 1
        return np.where(self.mask, norm, arr)

    def encode(self, actions):
        """Actions ``(..., D)`` -> ids ``(..., D)`` in the last N ids of the text vocabulary."""
        norm = self.normalize(actions)
        self._record_clips(_flat((norm < -1) | (norm > 1), self.dim).sum(axis=0))
        norm = np.clip(norm, -1.0, 1.0)
        return self.text_vocab_size - np.digitize(norm, self.bins).astype(np.int64)

    def decode(self, tokens):
        """Ids ``(..., D)`` -> actions, un-normalised with q01/q99 (gripper passed through)."""
        if self._missing:
            raise ConfigError(self._missing)
        ids = check_token_array(tokens, self.dim)
        lo, hi = self.id_range
        reject_out_of_range(ids, lo, hi)
        disc = np.clip(self.text_vocab_size - ids - 1, 0, self.bin_centers.shape[0] - 1)
        norm = self.bin_centers[disc]
        return np.where(self.mask, 0.5 * (norm + 1) * (self.q99 - self.q01) + self.q01, norm)
