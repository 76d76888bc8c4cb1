"""Policy training: both heads learn a reach controller; chunk kinds give decodable chunks."""

import numpy as np
import pytest
from robotok_ros.errors import ConfigError
from robotok_ros.policy import PolicyConfig, TrainSettings
from robotok_ros.policy.data import histories, StateEpisode
from robotok_ros.policy.train import train_policy
from robotok_ros.profile_loader import load_profile
from robotok_ros.tokenizers import make_tokenizer
from policy_data import REACH3, reach_episode  # noqa: I100 - test-local helper module

pytestmark = pytest.mark.torch
NAMES = ['p0', 'p1', 'p2', 't0', 't1', 't2']
SMALL = PolicyConfig(d_model=32, n_layers=1, n_heads=4)
FAST_TRAIN = TrainSettings(epochs=30, lr=1e-2, batch_size=128, threads=1)


@pytest.fixture(scope='module')
def reach3(tmp_path_factory):
    path = tmp_path_factory.mktemp('profile') / 'reach3.yaml'
    path.write_text(REACH3)
    return load_profile(path)


@pytest.fixture(scope='module')
def episodes():
    rng = np.random.default_rng(0)
    return [StateEpisode(f'ep{i}', *reach_episode(rng, 40), {}) for i in range(60)]


@pytest.mark.parametrize('head', ['ar', 'parallel'])
def test_both_heads_learn_a_state_to_action_mapping(reach3, episodes, head):
    tok = make_tokenizer('uniform', reach3, n_bins=16)
    config = PolicyConfig.from_mapping(dict(SMALL.to_dict(), head=head))
    layout, _, m, policy = train_policy(episodes[12:], episodes[:12], tok, NAMES, config,
                                        FAST_TRAIN, progress=False)
    print(f'{head}: val token accuracy {m["val_token_accuracy"]:.3f}, exact '
          f'{m["val_exact_accuracy"]:.3f}, numpy {m["inference_ms_per_call_mean"]:.2f} ms')
    assert layout.seq_len == 3 and layout.per_step and m['exact_unit'] == 'step'
    assert m['val_token_accuracy'] >= 0.85 and m['val_exact_accuracy'] >= 0.6
    assert m['history'][-1]['val_loss'] < 0.5 * m['history'][0]['val_loss']
    assert m['val_action_rmse'] < 0.1 and m['val_decode_failures'] == 0
    assert m['train_steps'] == 48 * 40 and m['val_steps'] == 12 * 40
    assert 0 < m['inference_ms_per_call_mean'] < 50
    # What the robot runs gives the actions the controller would.
    ep = episodes[0]
    ids = np.stack([policy.step(s) for s in ep.states])
    assert np.mean(np.abs(tok.decode(ids) - ep.actions)) < 0.1


@pytest.mark.parametrize('kind, settings', [
    ('fast', {'chunk_steps': 4, 'vocab': 64, 'scale': 4.0}),
    ('vq', {'chunk_steps': 4, 'codebook_size': 16, 'levels': 2, 'code_dim': 4,
            'hidden': [32, 16], 'epochs': 5}),
])
@pytest.mark.parametrize('head', ['ar', 'parallel'])
def test_chunk_tokenizers_give_one_decodable_chunk_per_message(reach3, episodes, kind,
                                                               settings, head):
    train, val = episodes[4:20], episodes[:4]
    tok = make_tokenizer(kind, reach3, **settings).fit([ep.actions for ep in train])
    config = PolicyConfig.from_mapping(dict(SMALL.to_dict(), head=head, history=2))
    short = TrainSettings(epochs=8, lr=1e-2, batch_size=128)
    layout, _, m, policy = train_policy(train, val, tok, NAMES, config, short, progress=False)
    assert not layout.per_step and layout.chunk_steps == 4 and m['exact_unit'] == 'chunk'
    assert m['messages_every_steps'] == 4 and m['val_decode_failures'] == 0
    if kind == 'vq':
        assert layout.seq_len == 2 and not layout.variable_length
        assert m['tokens_per_message'] == 2
    else:
        assert layout.variable_length and layout.span_total == 12
        assert m['tokens_per_message'] is None and m['val_sequences_cut'] == 0
    messages = [policy.step(s) for s in val[0].states[:12]]
    assert [msg is not None for msg in messages] == [t % 4 == 0 for t in range(12)]
    for msg in filter(lambda x: x is not None, messages):
        assert tok.decode_chunk(msg).shape == (4, 3)
    hist = histories(val[1].states, 2)
    for h in hist[::7]:
        assert tok.decode_chunk(policy.predict(h)).shape == (4, 3)


def test_training_needs_both_sets(reach3, episodes):
    tok = make_tokenizer('uniform', reach3, n_bins=16)
    with pytest.raises(ConfigError, match='a policy needs training and validation episodes, '
                                          'got 3 and 0'):
        train_policy(episodes[:3], [], tok, NAMES, SMALL, FAST_TRAIN, progress=False)


def test_the_learning_rate_warms_up_then_decays_to_zero():
    from robotok_ros.policy.train import lr_factor
    factors = [lr_factor(step, 100) for step in range(101)]
    assert factors[0] == 0.1 and factors[9] == 1.0 and factors[100] == 0.0
    assert all(a >= b for a, b in zip(factors[9:], factors[10:]))
