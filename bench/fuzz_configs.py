"""
The token_decoder configurations the fuzz campaign runs, and their tokenizers.

One configuration is a tokenizer kind, an input and the node parameters that
turn it on.  Every kind the registry knows (``tokenizers.registry.kinds()``)
gets an ids configuration: uniform, rt1 and openvla from parameters; quantile,
FAST, DCT-table and VQ fitted small on synthetic episodes and saved in a
temporary folder (VQ only where torch is installed); fast_hf the hub FAST
folder of the shared fixtures (``$ROBOTOK_FIXTURES_DIR/fast/act_fast``, default
``../shared/fixtures``) imported as ``robotok import-fast`` does (skipped, with
the reason, where it is absent).  Then the inputs beside plain ids:

- ``seq_openvla``: whole OpenVLA generations (stream_format openvla, EOS 2);
- ``seq_pi0_fast``: pi0-FAST generations (stream_format pi0_fast with a prefix,
  separator and EOS) through a FAST tokenizer with a vocab_offset, and
  ``seq_pi0_fast_hf`` through the hub FAST folder with PaliGemma ids;
- ``text``: RT-2 text actions on text_topic (a uniform tokenizer's bins);
- ``chunk``, ``chunk_q01_q99``: continuous chunks on chunk_topic, in the
  profile's units and normalised with the profile's q01/q99 as stats.

Run as a script: the category mix of a seeded sample of every configuration.
"""

import importlib.util
import json
import os
from pathlib import Path
import sys
import tempfile

from fuzz_inputs import Chunk, Ids, Sequence, stream, Text
from fuzz_messages import Target
import numpy as np

TEXT_TOPIC, CHUNK_TOPIC = 'robotok/action_text', 'robotok/action_chunk'
PI0 = {'stream_format': 'pi0_fast', 'stream_prefix': '7 8', 'stream_separator': '9',
       'stream_eos': '1'}
# PaliGemma ids of "Action: ", "|" and <eos>, as test_fast_hf_node.py stands them in.
PI0_HF = {'stream_format': 'pi0_fast', 'stream_prefix': '4022 235292',
          'stream_separator': '235371', 'stream_eos': '1'}
# name: (tokenizer variant, input, node parameters beside the tokenizer's)
CONFIGS = {
    'uniform': ('uniform', 'ids', {}),
    'rt1': ('rt1', 'ids', {}),
    'quantile': ('quantile', 'ids', {}),
    'openvla': ('openvla', 'ids', {}),
    'fast': ('fast', 'ids', {}),
    'dct_table': ('dct_table', 'ids', {}),
    'vq': ('vq', 'ids', {}),
    'fast_hf': ('fast_hf', 'ids', {}),
    'seq_openvla': ('openvla', 'openvla', {'stream_format': 'openvla'}),
    'seq_pi0_fast': ('fast_offset', 'pi0_fast', PI0),
    'seq_pi0_fast_hf': ('fast_hf_paligemma', 'pi0_fast', PI0_HF),
    'text': ('uniform', 'text', {'text_topic': TEXT_TOPIC}),
    'chunk': ('uniform', 'chunk', {'chunk_topic': CHUNK_TOPIC}),
    'chunk_q01_q99': ('uniform', 'chunk_q01_q99', {'chunk_topic': CHUNK_TOPIC,
                                                   'chunk_normalization': 'q01_q99'}),
}
FIT = {'quantile': {}, 'fast': {'chunk_steps': 5, 'vocab': 256},
       'fast_offset': {'chunk_steps': 5, 'vocab': 256, 'vocab_offset': 1000},
       'dct_table': {'chunk_steps': 5, 'vocab': 600},
       'vq': {'chunk_steps': 4, 'codebook_size': 16, 'levels': 2, 'code_dim': 4,
              'hidden': [32], 'epochs': 2}}
HUB = {'fast_hf': {}, 'fast_hf_paligemma': {'id_map': 'paligemma'}}


def fast_folder():
    """Return the shared hub FAST folder (``ROBOTOK_FIXTURES_DIR``, default ../shared/fixtures)."""
    here = Path(__file__).resolve().parent
    return Path(os.environ.get('ROBOTOK_FIXTURES_DIR', here.parent.parent / 'shared' /
                               'fixtures')) / 'fast' / 'act_fast'


def kind_of(variant):
    """Return the tokenizer kind of variant ``variant`` (fast_offset: fast, ...)."""
    return variant.split('_offset')[0].replace('_paligemma', '')


def unfuzzed_kinds():
    """Return the registered kinds no configuration fuzzes (empty, unless one was added)."""
    from robotok_ros.tokenizers.registry import kinds
    used = {kind_of(v) for v, _, _ in CONFIGS.values()}
    return [k for k in kinds() if k not in used]


def chunk_stats(profile, folder):
    """Write q01_q99 stats (the profile's own q01/q99) to a JSON file; return its path."""
    # A file, not inline JSON: '-p chunk_stats:={...}' would be read as a YAML mapping.
    path = Path(folder) / 'chunk_stats.json'
    path.write_text(json.dumps({'q01': [d.q01 for d in profile.dimensions],
                                'q99': [d.q99 for d in profile.dimensions]}))
    return str(path)


def _variant(name, profile, folder, seed, episodes):
    """Return (node parameters, tokenizer) of tokenizer variant ``name``; raise to skip."""
    from robotok_ros.tokenizers import load_tokenizer, make_tokenizer
    kind = kind_of(name)
    base = {'robot': profile.name, 'tokenizer': kind}
    if name in ('uniform', 'rt1', 'openvla'):
        return base, make_tokenizer(name, profile)
    path = f'{folder}/{name}'
    if name in HUB:
        hub = fast_folder()
        if not (hub / 'tokenizer.json').is_file():
            raise LookupError(f'hub FAST folder not found at {hub} (set ROBOTOK_FIXTURES_DIR)')
        # What `robotok import-fast HUB --robot R --time-horizon 5 [--id-map paligemma]` does;
        # chunks of 5 steps fit widowx's one second of queue at 5 Hz.
        from robotok_ros.tokenizers.fast_hf import FastHFTokenizer
        FastHFTokenizer.from_folder(hub, profile, time_horizon=5, **HUB[name]).save(path)
    else:
        if name == 'vq' and importlib.util.find_spec('torch') is None:
            raise LookupError('torch is not installed: a VQ tokenizer cannot be fitted')
        settings = dict(FIT[name], **({'seed': seed} if name == 'vq' else {}))
        make_tokenizer(kind, profile, **settings).fit(episodes()).save(path)
    return dict(base, tokenizer_path=path), load_tokenizer(path)  # exactly what the node loads


def prepare(profile, folder, names=tuple(CONFIGS), seed=0):
    """
    Return ``({name: node parameters}, {name: tokenizer}, {name: why skipped})``.

    Each tokenizer variant is made once, under ``folder``, for all configurations using it.
    """
    from robotok_ros.data.synthetic import generate_episodes
    cache, made, params, toks, skipped = {}, {}, {}, {}, {}

    def episodes():
        if 'eps' not in cache:
            cache['eps'] = generate_episodes(profile, n_episodes=6, seed=seed)
        return cache['eps']
    for name in names:
        variant, source, extra = CONFIGS[name]
        if variant not in made:
            try:
                made[variant] = _variant(variant, profile, folder, seed, episodes)
            except LookupError as exc:
                made[variant] = str(exc)
        if isinstance(made[variant], str):
            skipped[name] = made[variant]
            continue
        base, toks[name] = made[variant]
        params[name] = dict(base, **extra)
        if source == 'chunk_q01_q99':
            params[name]['chunk_stats'] = chunk_stats(profile, folder)
    return params, toks, skipped


def generator(name, tok, profile, rng):
    """Return the message generator of configuration ``name`` (see fuzz_inputs)."""
    _, source, extra = CONFIGS[name]
    if source == 'ids':
        return Ids(Target(tok, rng))
    if source in ('openvla', 'pi0_fast'):
        ids = [[int(v) for v in extra.get(k, '').split()] for k in
               ('stream_prefix', 'stream_separator', 'stream_eos')]
        return Sequence(Target(tok, rng), source, ids[0], ids[1], ids[2] or [2])
    if source == 'text':
        return Text(tok)
    max_steps = int(1.0 * profile.control_rate_hz + 1e-9)  # max_queue_seconds 1 (default)
    return Chunk(profile, max_steps, normalised=source == 'chunk_q01_q99')


def main():
    """Print the category mix of a seeded sample of every configuration (a self-check)."""
    from robotok_ros.profile_loader import load_profile
    profile = load_profile('widowx_250')
    rng = np.random.default_rng(0)
    out = {}
    with tempfile.TemporaryDirectory() as folder:
        names = [n for n in CONFIGS if n != 'vq']
        _, toks, skipped = prepare(profile, folder, names)
        for name, tok in toks.items():
            mix = {}
            for msg in stream(generator(name, tok, profile, rng), rng, 2000):
                mix[msg.category] = mix.get(msg.category, 0) + 1
            out[name] = mix
    print(json.dumps({'sample': out, 'skipped': skipped, 'unfuzzed_kinds': unfuzzed_kinds()}))
    return 0


if __name__ == '__main__':
    sys.exit(main())
