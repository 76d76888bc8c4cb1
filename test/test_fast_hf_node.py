"""
A real π0-FAST token stream through token_decoder (rclpy, its own process).

The hub FAST tokenizer of ``../shared/fixtures/fast`` (with the original processor's
vectors), imported as a saved ``fast_hf`` folder with PaliGemma ids, decodes a whole
generated sequence (text, ``Action:`` prefix, action ids, ``|``, EOS) into exactly what
the original decodes; a sequence the original would turn into zeros is a counted reject.
"""

import json

import numpy as np
import pytest
from robotok_ros.tokenizers.fast_hf import FastHFTokenizer
from test_decoder_inputs_node import ints, Node, TOKENS  # noqa: I100 - test-local helpers
from test_fast_hf import FOLDER, VECTORS

pytestmark = [pytest.mark.timeout(120),
              pytest.mark.skipif(not VECTORS.is_file(), reason=f'FAST fixture vectors not '
                                 f'found at {VECTORS} (set ROBOTOK_FIXTURES_DIR)')]
PROFILE = """
name: fast_fixture
frame_id: base
control_rate_hz: 50
dimensions:
""" + ''.join(f'  - {{name: {n}, unit: {u}, min: -3.0, max: 3.0, scale: 0.001}}\n'
              for n, u in (('dx', 'm'), ('dy', 'm'), ('dz', 'm'), ('droll', 'rad'),
                           ('dpitch', 'rad'), ('dyaw', 'rad'), ('a6', ''))) + """
safety: {max_linear_speed: 0.5, max_angular_speed: 1.0}
"""
PREFIX, SEPARATOR, EOS = [4022, 235292], [235371], 1  # stand-ins for "Action: ", "|", <eos>


def test_a_pi0_fast_sequence_decodes_as_the_original_and_bad_ones_are_counted(ros, tmp_path):
    vectors = json.loads(VECTORS.read_text())
    profile = tmp_path / 'fast7.yaml'
    profile.write_text(PROFILE)
    FastHFTokenizer.from_folder(FOLDER, profile, time_horizon=50,
                                id_map='paligemma').save(tmp_path / 'tok')
    dec = Node(ros, profile, topics=(TOKENS,), tokenizer='fast_hf',
               tokenizer_path=str(tmp_path / 'tok'), stream_format='pi0_fast',
               stream_prefix=' '.join(map(str, PREFIX)), stream_separator=SEPARATOR[0],
               stream_eos=str(EOS))
    k = 205  # a smooth chunk: the original decodes it to 50 x 7 values
    assert vectors['decode_ok'][k]
    text = [2, 651, 1645]  # prompt ids the extraction drops
    dec.send(TOKENS, ints(text + PREFIX + vectors['paligemma_ids'][k] + SEPARATOR + [EOS]))
    assert ros.wait_for(lambda: len(dec.decoded) >= 3, 10), dec.proc.describe()
    want = np.array(vectors['decoded'][k])
    np.testing.assert_allclose([m.data for m in dec.decoded[:3]], want[:3], rtol=0,
                               atol=1e-12)
    # One id short: the original prints an error and returns an all-zeros chunk.
    short = vectors['paligemma_ids'][k][:-1]
    dec.send(TOKENS, ints(text + PREFIX + short + SEPARATOR + [EOS]))
    # An id past the FAST vocabulary (PaliGemma maps FAST id 1024 below 256000).
    dec.send(TOKENS, ints(PREFIX + [257023 - 1024] + SEPARATOR))
    values = dec.diagnostics(lambda v: int(v['rejected_length']) + int(
        v['rejected_out_of_range']) + int(v['rejected_invalid']) >= 2)
    assert int(values['rejected_length']) >= 1, values
