"""
`robotok encode/decode --tokenizer-path DIR` on FAST hub folders, and `train-bpe --hf-out`.

A folder trained here must load back in the fast_hf kind (and so in openpi /
LeRobot code, which reads the same two files) and round-trip; the shared
fixture folder must encode from the command line exactly as the original.
"""

import json

import numpy as np
import pytest
from robotok_ros.cli.main import main
from robotok_ros.errors import ConfigError
from robotok_ros.tokenizers import load_tokenizer
from robotok_ros.tokenizers.fast_hf import FastHFTokenizer
from test_fast_hf import FOLDER, VECTORS  # noqa: I100 - test-local helper module


def run(capsys, *argv):
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def rows(text, kind=float):
    return np.array([[kind(v) for v in row.split(',')] for row in text.split()])


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    base = tmp_path_factory.mktemp('train')
    rc = main(['train-bpe', '--synthetic', '12', '--robot', 'franka_panda', '--chunk-steps', '8',
               '--vocab', '400', '--quiet', '--out', str(base / 'bpe'),
               '--hf-out', str(base / 'hf')])
    assert rc == 0
    return base


def test_train_bpe_writes_a_hub_folder_that_loads_and_round_trips(trained):
    hf = trained / 'hf'
    config = json.loads((hf / 'processor_config.json').read_text())
    assert config['processor_class'] == 'UniversalActionProcessor'
    assert (config['time_horizon'], config['action_dim'], config['vocab_size']) == (8, 7, 400)
    stats = json.loads((hf / 'norm_stats.json').read_text())['norm_stats']['actions']
    assert set(stats) == {'mean', 'std', 'q01', 'q99'}
    metrics = json.loads((trained / 'bpe' / 'metrics.json').read_text())['hf_format']
    assert metrics['refused'] == 0 and metrics['tokens_per_chunk_mean'] < 8 * 7
    own = load_tokenizer(trained / 'bpe')  # the package's own kind, same windows
    tok = FastHFTokenizer.from_folder(hf, 'franka_panda', norm_stats=str(hf / 'norm_stats.json'))
    from robotok_ros.data.synthetic import generate_episodes
    chunk = generate_episodes(own.profile, n_episodes=1, seed=3)[0][:8]
    back = tok.decode_chunk(tok.encode_chunk(chunk))
    half = 0.5 * (own.profile.highs - own.profile.lows)
    assert (np.abs(back - chunk) <= half * 0.5 / 10 * np.sqrt(8) + 1e-9).all()


def test_cli_encodes_and_decodes_a_trained_hub_folder(trained, capsys):
    hf = trained / 'hf'
    flags = ['--robot', 'franka_panda', '--tokenizer-path', hf,
             '--norm-stats', hf / 'norm_stats.json', '--id-map', 'qwen']
    rc, out, err = run(capsys, 'encode', *flags, '--', ';'.join(['0.1,-0.2,0,0,0,0.3,1'] * 8))
    assert rc == 0, err
    ids = rows(out, int).ravel()
    assert (ids >= 151665).all() and (ids < 151665 + 400).all()
    rc, out, err = run(capsys, 'decode', *flags, ','.join(map(str, ids)))
    assert rc == 0, err
    np.testing.assert_allclose(rows(out), [[0.1, -0.2, 0, 0, 0, 0.3, 1]] * 8, atol=0.05)
    rc, _, err = run(capsys, 'decode', *flags, '151665')
    assert rc == 2 and 'not one whole chunk' in err and err.count('\n') == 1
    rc, _, err = run(capsys, 'decode', *flags, '5')
    assert rc == 2 and 'outside the action ids' in err


def test_fast_flags_without_a_hub_folder_are_refused(capsys):
    rc, _, err = run(capsys, 'decode', '--robot', 'franka_panda', '--id-map', 'paligemma', '1')
    assert rc == 2 and '--id-map=' in err and 'FAST hub folder' in err


@pytest.mark.skipif(not VECTORS.is_file(), reason=f'FAST fixture vectors not found at {VECTORS}')
def test_cli_encodes_the_fixture_as_the_original(capsys, tmp_path):
    vectors = json.loads(VECTORS.read_text())
    profile = tmp_path / 'wide7.yaml'
    dims = '\n'.join(f'  - {{name: a{i}, min: -100, max: 100}}' for i in range(7))
    profile.write_text(f'name: wide7\nframe_id: base\ncontrol_rate_hz: 10\ndimensions:\n{dims}\n'
                       'safety: {max_linear_speed: 0.25, max_angular_speed: 1.0}\n')
    flags = ['--profile', profile, '--tokenizer-path', FOLDER, '--time-horizon', '50',
             '--id-map', 'paligemma']
    chunk = vectors['chunks'][207]
    text = ';'.join(','.join(repr(v) for v in row) for row in chunk)
    rc, out, err = run(capsys, 'encode', *flags, '--', text)
    assert rc == 0, err
    assert rows(out, int).ravel().tolist() == vectors['paligemma_ids'][207]
    rc, _, err = run(capsys, 'decode', '--profile', profile, '--tokenizer-path', FOLDER, '1')
    assert rc == 2 and 'time_horizon is null' in err


def test_import_fast_saves_a_folder_the_nodes_load(trained, capsys, tmp_path, monkeypatch):
    hf = trained / 'hf'
    monkeypatch.chdir(hf)  # a relative stats path is saved resolved
    rc, out, err = run(capsys, 'import-fast', hf, '--robot', 'franka_panda', '--id-map',
                       'paligemma', '--norm-stats', 'norm_stats.json', '--out', tmp_path / 'n')
    assert rc == 0, err
    assert 'id map paligemma, normalisation quantile' in out
    monkeypatch.chdir(tmp_path)
    from robotok_ros.tokenizers.build import build_tokenizer  # the nodes' path
    tok = build_tokenizer('fast_hf', None, tokenizer_path=str(tmp_path / 'n'))
    direct = FastHFTokenizer.from_folder(hf, 'franka_panda', id_map='paligemma',
                                         norm_stats=str(hf / 'norm_stats.json'))
    chunk = np.full((8, 7), 0.1)
    assert tok.encode_chunk(chunk).tolist() == direct.encode_chunk(chunk).tolist()
    rc, _, err = run(capsys, 'import-fast', tmp_path, '--robot', 'franka_panda', '--out',
                     tmp_path / 'x')
    assert rc == 2 and 'not a FAST folder' in err
    with pytest.raises(ConfigError, match='not fitted here'):
        tok.fit([np.zeros((20, 7))])
