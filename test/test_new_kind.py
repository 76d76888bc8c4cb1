"""
A new tokenizer kind is one new file plus one registry line: nothing else changes.

The kind here is written to a temporary module, registered, and then used
where users meet kinds: the decoder core (with its exact lookup table, since the
kind says it decodes elementwise), the `robotok` CLI (its settings become
flags) and `robotok analyze` (its settings become spec keys).
"""

import sys
import textwrap

import numpy as np
import pytest
from robotok_ros.analysis import compare, parse_spec
from robotok_ros.cli.main import main
from robotok_ros.data.synthetic import generate_episodes
from robotok_ros.errors import ConfigError
from robotok_ros.profile_loader import load_profile
from robotok_ros.runtime.decoder import DecoderCore
from robotok_ros.tokenizers import make_tokenizer
from robotok_ros.tokenizers.registry import KINDS, register_kind

MODULE = textwrap.dedent('''
    """A throwaway kind: a few levels per dimension, rounded to the nearest level."""
    from dataclasses import dataclass

    import numpy as np
    from robotok_ros.tokenizers.base import ActionTokenizer, check_actions, check_token_array
    from robotok_ros.tokenizers.settings import Capabilities, setting, Settings


    @dataclass(frozen=True)
    class ToySettings(Settings):
        toy_levels: int = setting(5, 'Levels per dimension.', lo=2, hi=64, alias=('L',))
        toy_offset: int = setting(0, 'First id.', lo=0, hi=1000)


    class ToyTokenizer(ActionTokenizer):
        kind = 'toy'
        capabilities = Capabilities(per_step=True, exact_table=True, needs_fit=False)
        settings_class = ToySettings

        def _t(self):
            return self.config.toy_levels - 1

        def encode(self, actions):
            a = check_actions(actions, self.dim)
            lo, hi = self.profile.lows, self.profile.highs
            self._record_clips(((a < lo) | (a > hi)).reshape(-1, self.dim).sum(axis=0))
            u = (np.clip(a, lo, hi) - lo) / (hi - lo)
            return np.rint(u * self._t()).astype(np.int64) + self.config.toy_offset

        def decode(self, tokens):
            ids = check_token_array(tokens, self.dim) - self.config.toy_offset
            lo, hi = self.profile.lows, self.profile.highs
            return lo + np.clip(ids, 0, self._t()) / self._t() * (hi - lo)

        @property
        def vocab_size(self):
            return self.config.toy_levels

        @property
        def id_range(self):
            return self.config.toy_offset, self.config.toy_offset + self._t()
''')


@pytest.fixture
def toy(tmp_path):
    """Write the kind's module, register it (one line), and forget it afterwards."""
    (tmp_path / 'toy_tokenizer.py').write_text(MODULE)
    sys.path.insert(0, str(tmp_path))
    register_kind('toy', 'toy_tokenizer', 'ToyTokenizer')
    yield
    KINDS.pop('toy')
    sys.path.remove(str(tmp_path))
    sys.modules.pop('toy_tokenizer', None)


def test_decoder_core_decodes_the_new_kind_through_its_exact_table(toy):
    profile = load_profile('widowx_250')
    tok = make_tokenizer('toy', profile, toy_levels=9, toy_offset=100)
    core = DecoderCore(profile, tok, start_enabled=True)
    assert core.checker.table is not None  # exact_table: every id precomputed
    ids = tok.encode_chunk(np.zeros((1, profile.dim)))
    cmd = core.on_tokens(ids, 0.0, [], 0)
    np.testing.assert_allclose(cmd.action, tok.decode(ids.reshape(1, -1))[0])


def test_cli_offers_the_new_kind_and_its_settings_as_flags(toy, capsys):
    assert main(['encode', '--robot', 'widowx_250', '--tokenizer', 'toy', '--toy-levels', '3',
                 '--toy-offset', '10', '0,0,0,0,0,0,1']) == 0
    ids = [int(i) for i in capsys.readouterr().out.strip().split(',')]
    assert all(10 <= i <= 12 for i in ids)
    # A setting of another kind is refused, naming the flag and the kind.
    assert main(['encode', '--robot', 'widowx_250', '--tokenizer', 'toy', '--n-bins', '64',
                 '0,0,0,0,0,0,1']) == 2
    assert '--n-bins=64 does not apply to the toy tokenizer' in capsys.readouterr().err


def test_analyze_fits_and_measures_the_new_kind(toy):
    profile = load_profile('widowx_250')
    episodes = generate_episodes(profile, n_episodes=4, seed=2)
    spec = parse_spec('toy:L=17')
    assert spec.settings == {'toy_levels': 17}
    result, = compare([spec], episodes[:3], episodes[3:], profile)
    assert result['kind'] == 'toy' and result['decode_failures'] == 0
    assert result['tokens_per_second'] == pytest.approx(profile.dim * profile.control_rate_hz)
    with pytest.raises(ConfigError, match="unknown setting 'n_bins' for toy"):
        parse_spec('toy:n_bins=3')
