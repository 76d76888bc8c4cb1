"""The policy core: settings checks, the saved folder, numpy inference equal to torch."""

import hashlib
import os
import subprocess
import sys

import numpy as np
import pytest
from robotok_ros.errors import ConfigError, RobotokError
from robotok_ros.policy import load_policy, NumpyPolicy, PolicyConfig, PolicyFileError
from robotok_ros.policy import TrainSettings
from robotok_ros.policy.config import Layout
from robotok_ros.policy.data import histories
from robotok_ros.policy.files import expected_shapes, save_policy
from robotok_ros.profile_loader import load_profile
from robotok_ros.tokenizers import make_tokenizer
from policy_data import REACH3  # noqa: I100 - test-local helper module
import yaml

NAMES = ('a', 'b', 'c', 'd')


@pytest.fixture
def reach3(tmp_path):
    path = tmp_path / 'reach3.yaml'
    path.write_text(REACH3)
    return load_profile(path)


def layout(variable=False, seq_len=3, n_ids=16, per_step=True, chunk_steps=1, span_total=0):
    return Layout(NAMES, seq_len, 0, n_ids, variable, per_step, chunk_steps, span_total)


def random_arrays(config, lay, seed=0):
    rng = np.random.default_rng(seed)
    arrays = {k: rng.normal(0, 0.3, s).astype(np.float32)
              for k, s in expected_shapes(config, lay).items()}
    arrays['norm.std'] = np.abs(arrays['norm.std']) + 0.5
    if 'grammar.span' in arrays:
        arrays['grammar.span'] = rng.integers(1, 3, lay.n_ids).astype(np.float32)
    return arrays


@pytest.fixture
def saved(tmp_path, reach3):
    config = PolicyConfig(d_model=16, n_layers=1, n_heads=2)
    lay = layout()
    save_policy(tmp_path / 'pol', config, lay, random_arrays(config, lay),
                make_tokenizer('uniform', reach3, n_bins=16))
    return tmp_path / 'pol'


@pytest.mark.parametrize('values, text', [
    ({'d_model': 4}, 'd_model must be an integer in [8, 1024], got 4'),
    ({'head': 'rnn'}, "head must be one of ar, parallel, got 'rnn'"),
    ({'n_heads': 3}, 'n_heads 3 must divide d_model 64'),
    ({'history': 0}, 'history must be an integer in [1, 64], got 0'),
    ({'dropout': 1.5}, 'dropout must be a finite number in [0.0, 0.9], got 1.5'),
    ({'widht': 64}, "config: unknown setting 'widht' (one of d_model, n_layers, n_heads, "
                    'head, history, dropout)'),
])
def test_bad_config_values_are_named(values, text):
    with pytest.raises(ConfigError) as exc:
        PolicyConfig.from_mapping(values, 'config')
    assert text in str(exc.value)


@pytest.mark.parametrize('values, text', [
    ({'lr': 0.0}, 'lr must be a finite number in [1e-07, 1.0], got 0.0'),
    ({'threads': 0}, 'threads must be an integer in [1, 256], got 0'),
    ({'val_fraction': 1.0}, 'val_fraction must be a finite number in [0.01, 0.9], got 1.0'),
    ({'epochs': 'ten'}, "epochs must be an integer in [1, 100000], got 'ten'"),
])
def test_bad_training_values_are_named(values, text):
    with pytest.raises(ConfigError) as exc:
        TrainSettings.from_mapping(values, 'train')
    assert text in str(exc.value)


def test_round_trip_keeps_config_layout_weights_and_tokenizer(tmp_path, reach3, saved):
    config = PolicyConfig(d_model=16, n_layers=1, n_heads=2)
    want = random_arrays(config, layout())
    policy = load_policy(saved)
    assert policy.config == config and policy.layout == layout()
    got = policy_arrays(saved)
    assert set(got) == set(want)
    for name, value in want.items():
        np.testing.assert_array_equal(got[name], value)
    tok = policy.load_tokenizer()
    assert tok.kind == 'uniform' and tok.n_bins == 16
    ids = policy.predict(np.zeros(4))
    assert ids.shape == (3,) and ((0 <= ids) & (ids < 16)).all()
    tok.decode(ids[None])  # ids the tokenizer decodes


def _rewrite_yaml(folder, change):
    path = folder / 'policy.yaml'
    doc = yaml.safe_load(path.read_text())
    change(doc)
    path.write_text(yaml.safe_dump(doc))


def _resave_weights(folder, change):
    from safetensors.numpy import load_file, save_file
    path = folder / 'policy.safetensors'
    arrays = load_file(str(path))
    change(arrays)
    save_file(arrays, str(path))
    _rewrite_yaml(folder, lambda d: d.update(
        weights_sha256=hashlib.sha256(path.read_bytes()).hexdigest()))


def test_a_changed_weights_file_is_refused_by_its_hash(saved):
    path = saved / 'policy.safetensors'
    data = bytearray(path.read_bytes())
    data[-3] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(PolicyFileError, match=r'policy.safetensors: SHA-256 differs from '
                                              r'weights_sha256 in .*policy.yaml'):
        load_policy(saved)


@pytest.mark.parametrize('change, text', [
    (lambda a: a.update({'head.weight': np.zeros((5, 16), np.float32)}),
     'policy.safetensors: tensor head.weight has shape (5, 16), the config needs (16, 16)'),
    (lambda a: a.pop('blocks.0.qkv.bias'), 'policy.safetensors: tensor blocks.0.qkv.bias '
                                           'missing'),
    (lambda a: a.update({'extra': np.zeros(2, np.float32)}),
     'policy.safetensors: unexpected tensor extra'),
    (lambda a: a.update({'norm.std': np.full(4, np.nan, np.float32)}),
     'policy.safetensors: tensor norm.std holds NaN or inf'),
])
def test_tampered_tensors_are_named(saved, change, text):
    _resave_weights(saved, change)
    with pytest.raises(PolicyFileError) as exc:
        load_policy(saved)
    assert text in str(exc.value) and '\n' not in str(exc.value)


def test_a_file_that_is_not_safetensors_is_one_line(saved):
    _resave_weights(saved, lambda a: None)
    path = saved / 'policy.safetensors'
    path.write_bytes(b'not a tensor file')
    _rewrite_yaml(saved, lambda d: d.update(
        weights_sha256=hashlib.sha256(path.read_bytes()).hexdigest()))
    with pytest.raises(PolicyFileError, match=r'policy.safetensors: not a safetensors file'):
        load_policy(saved)


@pytest.mark.parametrize('change, text', [
    (lambda d: d['config'].update(n_heads=3), 'policy.yaml: n_heads 3 must divide d_model 16'),
    (lambda d: d['config'].update(depth=3), "policy.yaml: config: unknown setting 'depth'"),
    (lambda d: d.update(extra=1), "policy.yaml: unknown key 'extra'"),
    (lambda d: d.update(version=9), 'policy.yaml: version 9, this robotok reads version 1'),
    (lambda d: d.update(format='other'), 'policy.yaml: not a robotok policy'),
    (lambda d: d['layout'].update(seq_len='3'), 'policy.yaml: layout.seq_len must be an '
                                                "integer, got '3'"),
    (lambda d: d['layout'].pop('n_ids'), 'policy.yaml: layout.n_ids must be an integer, '
                                         'got None'),
    (lambda d: d['layout'].update(n_ids=8), 'tensor head.weight has shape (16, 16), the '
                                            'config needs (8, 16)'),
    (lambda d: d.update(tokenizer='tok'), 'policy.yaml: tokenizer must be {path: FOLDER}, '
                                          "got 'tok'"),
])
def test_bad_policy_yaml_is_one_line(saved, change, text):
    _rewrite_yaml(saved, change)
    with pytest.raises(PolicyFileError) as exc:
        load_policy(saved)
    assert text in str(exc.value)


def test_a_missing_folder_says_what_a_policy_folder_holds(tmp_path):
    with pytest.raises(PolicyFileError, match=r'nowhere/policy.yaml: no such file \(a policy '
                                              r'folder holds policy.yaml and '
                                              r'policy.safetensors'):
        load_policy(tmp_path / 'nowhere')
    assert issubclass(PolicyFileError, RobotokError)


def test_step_publishes_every_chunk_from_its_history():
    config = PolicyConfig(d_model=16, n_layers=1, n_heads=2, history=3, head='parallel')
    lay = layout(seq_len=2, n_ids=8, per_step=False, chunk_steps=4)
    policy = NumpyPolicy(config, lay, random_arrays(config, lay))
    states = np.random.default_rng(1).normal(size=(10, 4))
    hist = histories(states, 3)
    out = [policy.step(s) for s in states]
    assert [o is not None for o in out] == [t % 4 == 0 for t in range(10)]
    for t in (0, 4, 8):
        np.testing.assert_array_equal(out[t], policy.predict(hist[t]))
    np.testing.assert_array_equal(hist[0], np.repeat(states[:1], 3, axis=0))
    policy.reset()
    np.testing.assert_array_equal(policy.step(states[5]), policy.predict(
        np.repeat(states[5:6], 3, axis=0)))


def test_state_is_taken_by_name_and_a_missing_name_is_refused():
    config = PolicyConfig(d_model=16, n_layers=1, n_heads=2)
    policy = NumpyPolicy(config, layout(), random_arrays(config, layout()))
    np.testing.assert_array_equal(policy.select([4, 3, 2, 1, 9], ['d', 'c', 'b', 'a', 'z']),
                                  [1, 2, 3, 4])
    with pytest.raises(ConfigError, match=r'the policy needs state c \(1 of 4 missing\); it '
                                          r'was trained on a, b, c, d'):
        policy.select([1, 2, 3], ['a', 'b', 'd'])
    with pytest.raises(ConfigError, match=r'policy needs state histories of shape \(k, S\) = '
                                          r'\(1, 4\) or \(B, k, S\), got \(1, 3\)'):
        policy.predict(np.zeros((1, 3)))
    with pytest.raises(ConfigError, match='policy state holds NaN or inf'):
        policy.predict(np.array([0, np.nan, 0, 0]))


def test_variable_length_ids_stop_at_the_end_id_and_fill_their_chunk():
    config = PolicyConfig(d_model=16, n_layers=1, n_heads=2)
    lay = layout(variable=True, seq_len=8, n_ids=6, per_step=False, chunk_steps=2,
                 span_total=5)
    arrays = random_arrays(config, lay, seed=3)
    policy = NumpyPolicy(config, lay, arrays)
    spans = arrays['grammar.span'].astype(int)
    for s in np.random.default_rng(2).normal(size=(20, 4)):
        ids = policy.predict(s)
        assert spans[ids].sum() == 5 and (ids < 6).all()


def test_inference_needs_no_torch(saved):
    code = ('import sys\n'
            'from robotok_ros.policy import load_policy\n'
            f'p = load_policy({str(saved)!r})\n'
            'p.step([0.0, 1.0, 2.0, 3.0])\n'
            'print(sorted(m for m in sys.modules if m.split(".")[0] == "torch"))\n')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                         timeout=120, env=dict(os.environ))
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == '[]'


@pytest.mark.torch
@pytest.mark.parametrize('head', ['ar', 'parallel'])
@pytest.mark.parametrize('variable', [False, True])
def test_numpy_gives_the_torch_models_logits_and_tokens(tmp_path, reach3, head, variable):
    import torch
    from robotok_ros.policy.model import load_arrays, numpy_arrays, PolicyNet
    torch.manual_seed(0)
    config = PolicyConfig(d_model=32, n_layers=2, n_heads=4, head=head, history=2)
    lay = layout(variable, seq_len=6, n_ids=10, per_step=False, chunk_steps=4,
                 span_total=7 if variable else 0)
    spans = np.random.default_rng(0).integers(1, 4, 10) if variable else None
    net = PolicyNet(config, lay, spans).eval()
    rng = np.random.default_rng(1)
    mean, std = rng.normal(size=4), rng.uniform(0.5, 2, 4)
    save_policy(tmp_path / 'p', config, lay, numpy_arrays(net, mean, std),
                make_tokenizer('uniform', reach3, n_bins=16))
    policy = load_policy(tmp_path / 'p')
    hist = rng.normal(size=(16, 2, 4))
    x = torch.tensor((hist - mean) / std, dtype=torch.float32)
    inputs = rng.integers(0, lay.n_out, (16, 6))
    with torch.no_grad():
        want = net(x, torch.from_numpy(inputs)).numpy()
    np.testing.assert_allclose(policy.logits(hist, inputs), want, atol=1e-5, rtol=1e-4)
    ids, _ = net.greedy(x)
    np_ids, _ = policy.greedy(hist)
    np.testing.assert_array_equal(np_ids, ids.numpy())
    for h, row in zip(hist, ids.numpy()):  # one state at a time, as the robot runs it
        got = policy.predict(h)
        cut = row[:np.flatnonzero(row == 10)[0]] if variable and (row == 10).any() else row
        np.testing.assert_array_equal(got, cut)
    again = load_arrays(PolicyNet(config, lay, spans).eval(), policy_arrays(tmp_path / 'p'))
    with torch.no_grad():
        np.testing.assert_allclose(again(x, torch.from_numpy(inputs)).numpy(), want, atol=1e-6)


def policy_arrays(folder):
    from robotok_ros.policy.files import read_policy
    return read_policy(folder)[2]
