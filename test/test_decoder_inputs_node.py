"""token_decoder's inputs beside plain ids, with real rclpy: generated sequences, text, chunks."""

import json

from diagnostic_msgs.msg import DiagnosticArray
from episodes import sine_episodes
from geometry_msgs.msg import TwistStamped
import numpy as np
import pytest
from robotok_ros.profile_loader import load_profile
from robotok_ros.runtime.decoder import DecoderCore
from robotok_ros.tokenizers import make_tokenizer
from rosutil import reliable
from std_msgs.msg import (Float32MultiArray, Float64MultiArray, Int32MultiArray,
                          MultiArrayDimension, String)
from std_srvs.srv import SetBool

pytestmark = pytest.mark.timeout(120)
TOKENS, TEXT, CHUNK = '/robotok/action_tokens', '/robotok/action_text', '/robotok/action_chunk'
TWIST = '/servo_node/delta_twist_cmds'
DECODED = '/robotok/decoded_action'
OFFSET = 31744  # OpenVLA's action ids: the last 256 of Llama-2's 32000
STEP = np.array([[0.01, -0.005, 0.0, 0.05, -0.02, 0.0, 1.0]])


class Node:
    """A token_decoder with every extra input on, plus the test's end of its topics."""

    def __init__(self, ros, profile_path, topics=(TOKENS, TEXT, CHUNK), **params):
        self.ros = ros
        params = {'profile_path': str(profile_path), 'start_enabled': True, 'publish_rate': 0.0,
                  'max_queue_seconds': 2.0, **params}
        self.proc = ros.start_node('token_decoder', params=params)
        self.twist = ros.collect(TWIST, TwistStamped)
        self.decoded = ros.collect(DECODED, Float64MultiArray)
        self.diag = ros.collect('/diagnostics', DiagnosticArray)
        for topic in topics:
            ros.wait_for_subscribers(topic)
        ros.wait_for_publishers(DECODED)

    def send(self, topic, msg):
        self.ros.publish(topic, msg, reliable(100))

    def diagnostics(self, condition, timeout=10):
        """Wait for diagnostics values satisfying ``condition``; return them."""
        found = []

        def check():
            found.extend({kv.key: kv.value for kv in a.status[0].values}
                         for a in self.diag[len(found):])
            return any(condition(v) for v in found)
        assert self.ros.wait_for(check, timeout), f'never matched; last {found[-1:]}\n' + (
            self.proc.describe())
        return next(v for v in reversed(found) if condition(v))


def ints(ids, dims=()):
    msg = Int32MultiArray(data=[int(i) for i in np.ravel(ids)])
    msg.layout.dim = [MultiArrayDimension(size=s) for s in dims]
    return msg


def floats(values, dims=(), offset=0):
    msg = Float32MultiArray(data=[float(v) for v in np.ravel(values)])
    msg.layout.dim = [MultiArrayDimension(size=s) for s in dims]
    msg.layout.data_offset = offset
    return msg


def test_openvla_sequence_text_and_chunk_move_the_arm_and_bad_ones_count(ros, profile_path):
    dec = Node(ros, profile_path, stream_format='openvla', vocab_offset=OFFSET,
               text_topic='robotok/action_text', chunk_topic='robotok/action_chunk')
    profile = load_profile(profile_path)
    tok = make_tokenizer('uniform', profile, vocab_offset=OFFSET)
    core = DecoderCore(profile, tok)
    ids = tok.encode_chunk(STEP).ravel()
    # OpenVLA: prompt ids, 7 action ids, EOS (2), padding: one step.
    dec.send(TOKENS, ints(np.r_[1, 29871, ids, 2, 32000]))
    assert ros.wait_for(lambda: len(dec.decoded) == 1, 10), dec.proc.describe()
    np.testing.assert_allclose(dec.decoded[0].data, tok.decode_chunk(ids)[0])
    # RT-2 text: flag 1 (RT-1's "move arm"), then 7 bins.
    bins = [128, 91, 241, 5, 101, 127, 217]
    dec.send(TEXT, String(data='1 ' + ' '.join(map(str, bins))))
    assert ros.wait_for(lambda: len(dec.decoded) == 2, 10), dec.proc.describe()
    want = core.command_for(tok.decode_chunk(np.array(bins) + OFFSET)[0])
    np.testing.assert_allclose(dec.decoded[1].data, want.action)
    # A continuous chunk of 3 steps: one per control period.
    chunk = np.repeat(STEP, 3, axis=0)
    dec.send(CHUNK, floats(chunk, (3, 7)))
    assert ros.wait_for(lambda: len(dec.decoded) == 5, 10), dec.proc.describe()
    np.testing.assert_allclose([m.data for m in dec.decoded[2:]], chunk, rtol=1e-6)
    x = [m.twist.linear.x for m in dec.twist if m.twist.linear.x]
    np.testing.assert_allclose(x[-3:], 0.1, rtol=1e-6)  # 0.01 m per step at 10 Hz
    # Every reject reason of the new inputs, each counted; nothing moves.
    bad = [(TOKENS, ints(np.r_[ids[1:], 2]), 'no_actions'),
           (TOKENS, ints(np.r_[1, 5, ids[1:], 2]), 'out_of_range'),
           (TOKENS, ints(np.r_[ids, 2], (3,)), 'layout'),
           (TEXT, String(data='1 128 91'), 'length'),
           (TEXT, String(data='1 128 91 241 5 101 127 256'), 'out_of_range'),
           (TEXT, String(data='1 128,91 241 5 101 127 217'), 'text_format'),
           (TEXT, String(data='2 128 91 241 5 101 127 217'), 'text_format'),
           (CHUNK, floats(np.zeros(6)), 'length'),
           (CHUNK, floats(np.zeros(14), (2, 6)), 'layout'),
           (CHUNK, floats(np.zeros(7 * 21)), 'too_long'),
           (CHUNK, floats(np.r_[np.zeros(6), np.nan]), 'non_finite'),
           (CHUNK, floats(np.r_[0.5, np.zeros(6)]), 'out_of_range')]
    for topic, msg, _ in bad:
        dec.send(topic, msg)
    want = {}
    for _, _, reason in bad:
        want[f'rejected_{reason}'] = str(int(want.get(f'rejected_{reason}', '0')) + 1)
    values = dec.diagnostics(lambda v: all(v[k] == n for k, n in want.items()))
    assert values['text_rejected'] == '4' and values['chunk_rejected'] == '5'
    assert values['text_received'] == '5' and values['chunk_received'] == '6'
    assert values['rejected'] == str(len(bad)) and values['decoded'] == '3'
    # Dropped: 2 prompt ids and EOS + padding, then the out_of_range one's 1 and its EOS.
    assert values['stream_dropped_prefix'] == '3' and values['stream_dropped_trailing'] == '3'
    assert len(dec.decoded) == 5
    # The terminate flag (RT-1: 0) ends the episode: a zero twist, motion disabled.
    dec.send(TEXT, String(data='1 ' + ' '.join(map(str, bins))))
    assert ros.wait_for(lambda: len(dec.decoded) == 6, 10), dec.proc.describe()
    n = len(dec.twist)
    dec.send(TEXT, String(data='0 128 128 128 128 128 128 128'))
    values = dec.diagnostics(lambda v: v['terminations'] == '1')
    assert values['enabled'] == 'False' and len(dec.decoded) == 6
    assert len(dec.twist) > n and not dec.twist[n].twist.linear.x  # the stop, not a step
    dec.send(CHUNK, floats(STEP))
    dec.diagnostics(lambda v: v['ignored_disabled'] == '1')
    assert ros.call(SetBool, '/token_decoder/enable', SetBool.Request(data=True)).success
    dec.send(CHUNK, floats(STEP))
    assert ros.wait_for(lambda: len(dec.decoded) == 7, 10), dec.proc.describe()


def test_pi0_fast_sequence_and_a_normalised_chunk(ros, profile_path, tmp_path):
    profile = load_profile(profile_path)
    eps = sine_episodes(profile)
    tok = make_tokenizer('fast', profile, chunk_steps=5, scale=10, vocab=300,
                         vocab_offset=1000).fit(eps)
    tok.save(tmp_path / 'fast')
    stats = tmp_path / 'norm_stats.json'  # openpi's layout
    stats.write_text(json.dumps({'norm_stats': {'actions': {
        'q01': [-0.01] * 6 + [0.0], 'q99': [0.01] * 6 + [1.0]}}}))
    dec = Node(ros, profile_path, topics=(TOKENS, CHUNK), tokenizer='fast',
               tokenizer_path=str(tmp_path / 'fast'), stream_format='pi0_fast',
               stream_prefix='[7, 8]', stream_separator=9, stream_eos='1',
               chunk_topic='robotok/action_chunk', chunk_normalization='q01_q99',
               chunk_stats=str(stats))
    ids = tok.encode_chunk(eps[0][:5]).ravel()
    text = [tok.id_range[1] + 5, 3]
    dec.send(TOKENS, ints(np.r_[text, 7, 8, ids, 9, 1]))
    assert ros.wait_for(lambda: len(dec.decoded) == 5, 10), dec.proc.describe()
    np.testing.assert_allclose([m.data for m in dec.decoded], tok.decode_chunk(ids))
    dec.send(TOKENS, ints(np.r_[text, ids, 9]))
    dec.send(TOKENS, ints(np.r_[text, 7, 8, 9]))
    values = dec.diagnostics(lambda v: v['rejected_no_prefix'] == '1' and
                             v['rejected_no_actions'] == '1')
    assert values['stream_dropped_prefix'] == '4' and values['stream_dropped_trailing'] == '2'
    # Normalised [-1, 1] -> q01..q99 as openpi un-normalises: 0.5 is 0.005 m.
    dec.send(CHUNK, floats(np.r_[np.full(6, 0.5), 0.0], (1, 7)))
    assert ros.wait_for(lambda: len(dec.decoded) == 6, 10), dec.proc.describe()
    np.testing.assert_allclose(dec.decoded[5].data[:6], 0.75 * (0.02 + 1e-6) - 0.01,
                               rtol=1e-6)


@pytest.mark.parametrize('params, needle', [
    ({'stream_format': 'jpeg'}, 'parameter stream_format must be one of ids, openvla, '
                                "pi0_fast, got 'jpeg'"),
    ({'stream_format': 'openvla'}, 'parameter stream_eos: id 2 is an action id'),
    ({'stream_format': 'pi0_fast', 'stream_prefix': 'Action:'},
     'parameter stream_prefix must be token ids'),
    ({'chunk_normalization': 'mean_std'}, 'apply with chunk_topic only'),
    ({'chunk_topic': 'robotok/action_chunk', 'chunk_normalization': 'mean_std'},
     'set both or neither'),
    ({'chunk_topic': 'bad topic'}, "parameter chunk_topic='bad topic'"),
])
def test_bad_input_parameter_is_one_fatal_line(ros, profile_path, params, needle):
    proc = ros.start_node('token_decoder', params={'profile_path': str(profile_path),
                                                   **params})
    assert proc.wait(20) == 2, proc.describe()
    assert needle in proc.stderr and 'FATAL' in proc.stderr, proc.stderr
    assert 'Traceback' not in proc.stderr


def test_throttled_log_changes_level_without_raising():
    # rclpy (Humble, Jazzy) raises ValueError when one call site logs at a second level: a
    # warn (a rejected text) then an info (a terminate) killed the node before.
    import rclpy.logging
    from robotok_ros.nodes.decoder_io import throttled_log
    from robotok_ros.runtime.health import Throttle
    logger, throttle = rclpy.logging.get_logger('robotok_test_levels'), Throttle(0.0)
    for level in ('warn', 'info', 'error', 'warn', 'info'):
        throttled_log(logger, throttle, 'key', 'text', level)
