"""Bins over the data's own range still decode "hold still" to exactly 0."""

from hypothesis import given, settings, strategies as st
import numpy as np
import pytest
from robotok_ros.fitting import zero_on_a_bin
from robotok_ros.profile_loader import profile_from_dict
from robotok_ros.tokenizers.binning import RT1Tokenizer, UniformTokenizer
import yaml

from conftest import SEVEN_DOF_PROFILE  # noqa: I100 - test-local helper module

PROFILE = profile_from_dict(yaml.safe_load(SEVEN_DOF_PROFILE), 'test7.yaml')


@settings(max_examples=200, deadline=None)
@given(lo=st.floats(1e-6, 10.0), hi=st.floats(1e-6, 10.0), n_bins=st.integers(16, 4096),
       cls=st.sampled_from([UniformTokenizer, RT1Tokenizer]))
def test_zero_decodes_to_zero_and_the_range_grows_by_at_most_two_bins(lo, hi, n_bins, cls):
    intervals = cls._intervals(n_bins)
    (new_lo,), (new_hi,) = zero_on_a_bin([-lo], [hi], intervals, cls._edge_centre)
    assert new_lo <= -lo and new_hi >= hi                   # the data stay inside
    assert new_hi - new_lo <= (hi + lo) * (1 + 2.0 / intervals) * (1 + 1e-12)
    profile = PROFILE.with_ranges(np.full(7, new_lo), np.full(7, new_hi))
    tok = cls(profile, n_bins=n_bins)
    assert np.abs(tok.decode(tok.encode(np.zeros((1, 7))))).max() <= 1e-12 * (hi + lo)


def test_a_range_that_does_not_straddle_zero_is_kept():
    lows, highs = zero_on_a_bin([0.0, 0.2, -3.0], [1.0, 0.5, -1.0], 255)
    np.testing.assert_array_equal(lows, [0.0, 0.2, -3.0])
    np.testing.assert_array_equal(highs, [1.0, 0.5, -1.0])


@pytest.mark.parametrize('n_bins', [64, 128, 255, 256, 512])
def test_data_ranges_of_a_uniform_tokenizer_put_zero_on_a_bin(n_bins):
    # Fitted min/max alone (asymmetric, as a pick's moves are) gave a Panda's dz a zero
    # command of -0.65 mm/s: a held hand sank 1.3 cm in 20 s.  Even bin counts had no bin
    # on 0 at all with a symmetric range.
    rng = np.random.default_rng(n_bins)
    actions = [rng.uniform(-0.08, 0.19, (400, 7)), rng.uniform(-0.19, 0.05, (300, 7))]
    profile = UniformTokenizer.data_profile(actions, PROFILE, {'n_bins': n_bins})
    data = np.concatenate(actions)
    assert (profile.lows <= data.min(0)).all() and (profile.highs >= data.max(0)).all()
    assert all(d.q01 is not None for d in profile.dimensions)
    tok = UniformTokenizer(profile, n_bins=n_bins)
    assert np.abs(tok.decode(tok.encode(np.zeros((1, 7))))).max() < 1e-15
    assert tok.last_clip_counts.sum() == 0
