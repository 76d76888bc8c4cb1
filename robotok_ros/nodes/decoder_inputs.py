"""
token_decoder's inputs beside plain token ids: their parameters and subscriptions.

- ``stream_format`` (``ids`` | ``openvla`` | ``pi0_fast``) with ``stream_prefix``,
  ``stream_separator``, ``stream_eos``: messages on robotok/action_tokens are a
  policy's whole generated sequence (``runtime.streams``).
- ``text_topic`` (off when empty; e.g. ``robotok/action_text``): RT-2 text actions,
  ``std_msgs/String`` ``"1 128 91 241 5 101 127 217"``; ``text_terminate_value``
  is the flag that ends the episode (``runtime.inputs``).
- ``chunk_topic`` (off when empty; e.g. ``robotok/action_chunk``): continuous
  chunks, ``std_msgs/Float32MultiArray`` T x D (layout ``[T, D]``, ``[D]`` or
  none), in the profile's units or normalised: ``chunk_normalization``
  (``none`` | ``mean_std`` | ``q01_q99``) with ``chunk_stats`` (a JSON file
  path or inline JSON).

Id lists take an int, a list of ints or a string of them (dynamically typed, so
``-p stream_eos:=2``, ``-p stream_prefix:=[4022,235292]`` and YAML strings all work).
"""

from types import SimpleNamespace

from rcl_interfaces.msg import ParameterDescriptor
from robotok_ros.errors import ConfigError
from robotok_ros.nodes.parameters import declare
from robotok_ros.runtime.inputs import NORMALIZATIONS
from robotok_ros.runtime.streams import FORMATS, parse_ids
from std_msgs.msg import Float32MultiArray, String


def declare_ids(node, name, description):
    """Declare id-list parameter ``name`` (any type, default ''); return its ids or None."""
    desc = ParameterDescriptor(description=description, read_only=True, dynamic_typing=True)
    try:
        value = node.declare_parameter(name, '', desc).value
    except Exception as exc:  # noqa: B902 - rclpy raises several ParameterException types
        raise ConfigError(f'parameter {name}: {type(exc).__name__}: {exc}') from None
    return parse_ids(name, value)


def declare_input_parameters(node):
    """Declare the parameters of the inputs beside plain ids; return them by name."""
    d = declare
    return SimpleNamespace(
        stream_format=d(node, 'stream_format', 'ids', 'What a token message is: ids (the '
                        'action ids), openvla (a generated sequence: the last ids before '
                        'the EOS), pi0_fast (ids between stream_prefix and '
                        'stream_separator / EOS).', choices=FORMATS),
        stream_prefix=declare_ids(node, 'stream_prefix', 'pi0_fast: the ids of the text '
                                  'before the action ids (e.g. of "Action: "); empty: the '
                                  'sequence starts with them.'),
        stream_separator=declare_ids(node, 'stream_separator', 'pi0_fast: the ids of the '
                                     'text after the action ids (e.g. of "|").'),
        stream_eos=declare_ids(node, 'stream_eos', 'EOS ids, any of which ends the '
                               'sequence; empty: 2 for openvla (Llama-2), 1 for pi0_fast '
                               '(Gemma); none: no EOS.'),
        text_topic=d(node, 'text_topic', '', 'std_msgs/String topic of RT-2 text actions '
                     '("flag b1 .. bD"); empty: off.'),
        text_terminate_value=d(node, 'text_terminate_value', 0, 'The text flag that ends '
                               'the episode (RT-1: 0, the argmax of terminate_episode); '
                               'the other value moves.', int_range=(0, 1)),
        chunk_topic=d(node, 'chunk_topic', '', 'std_msgs/Float32MultiArray topic of '
                      'continuous T x D chunks; empty: off.'),
        chunk_normalization=d(node, 'chunk_normalization', 'none', 'Chunks are in the '
                              "profile's units (none) or normalised (mean_std, q01_q99; "
                              'needs chunk_stats).', choices=NORMALIZATIONS),
        chunk_stats=d(node, 'chunk_stats', '', 'Stats of a normalised chunk: a JSON file '
                      '(openpi norm_stats.json, LeRobot stats.json) or inline JSON.'),
    )


class ExtraInputs:
    """The text and chunk subscriptions of one token_decoder (each only when asked for)."""

    def __init__(self, node, core, p, qos):
        self.node, self.core = node, core
        stream = core.set_stream(p.stream_format, p.stream_prefix or (),
                                 p.stream_separator or (), p.stream_eos)
        self.describe = [f'stream {stream}']
        if not p.chunk_topic and (p.chunk_normalization != 'none' or p.chunk_stats):
            raise ConfigError('parameters chunk_normalization and chunk_stats apply with '
                              'chunk_topic only; set chunk_topic (e.g. robotok/action_chunk)')
        if p.text_topic:
            core.add_text_input(p.text_terminate_value)
            self._subscribe(String, 'text_topic', p.text_topic, self.on_text, qos)
        if p.chunk_topic:
            core.add_chunk_input(p.chunk_normalization, p.chunk_stats)
            self._subscribe(Float32MultiArray, 'chunk_topic', p.chunk_topic, self.on_chunk,
                            qos)

    def _subscribe(self, kind, name, topic, callback, qos):
        try:
            self.node.create_subscription(kind, topic, callback, qos)
        except Exception as exc:  # noqa: B902 - rclpy's InvalidTopicNameException and kin
            raise ConfigError(f'parameter {name}={topic!r}: {type(exc).__name__}: '
                              f'{exc}') from None
        self.describe.append(f'{name.split("_")[0]} on {topic}')

    def on_text(self, msg):
        """Decode one RT-2 text action; play it, or stop on a terminate."""
        self.node.feed('text', self.core.on_text, msg.data)

    def on_chunk(self, msg):
        """Take one continuous chunk T x D through the checks into playout."""
        layout = msg.layout
        dims = [d.size for d in layout.dim] if layout.dim else ()
        self.node.feed('chunk', self.core.on_chunk, msg.data, dims, layout.data_offset)
