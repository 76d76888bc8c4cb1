"""The `robotok` core subcommands, the vocabulary report and the resolution analysis."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from robotok_ros.cli.main import main
from robotok_ros.errors import ConfigError
from robotok_ros.profile_loader import load_profile
from robotok_ros.resolution import analyze_resolution
from robotok_ros.tokenizers import make_tokenizer
from robotok_ros.vocab import offset_for, vocab_report

from conftest import data_dir  # noqa: I100 - test-local helper module

ROBOTOK = os.path.join(os.path.dirname(sys.executable), 'robotok')


def run(capsys, *argv):
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def test_encode_then_decode_round_trips_through_the_cli(capsys, profile_path):
    rc, out, _ = run(capsys, 'encode', '--profile', str(profile_path),
                     '0.01,0,-0.02,0,0,0.05,1;0,0,0,0,0,0,0')
    assert rc == 0
    ids = out.strip().replace('\n', ';')
    tok = make_tokenizer('uniform', profile_path)
    expected = tok.encode([[0.01, 0, -0.02, 0, 0, 0.05, 1], [0] * 7])
    assert ids == ';'.join(','.join(str(v) for v in row) for row in expected)
    rc, out, _ = run(capsys, 'decode', '--profile', str(profile_path), ids)
    back = np.array([[float(v) for v in row.split(',')] for row in out.split()])
    np.testing.assert_allclose(back, tok.decode(expected), rtol=1e-5)


def test_encode_reports_clipping_on_stderr(capsys, profile_path):
    rc, _, err = run(capsys, 'encode', '--profile', str(profile_path), '1,0,0,0,0,0,0')
    assert rc == 0 and "clipped to the profile range: {'dx': 1}" in err


@pytest.mark.parametrize('argv, message', [
    (['decode', '--robot', 'widowx_250', '300,0,0,0,0,0,0'], 'token id 300 at position (0, 0)'),
    (['decode', '--robot', 'widowx_250', '1,x,0'], "tokens row 0 item 1: 'x' is not an integer"),
    (['encode', '--robot', 'nope', '0'], "unknown robot profile 'nope'"),
    (['encode', '--robot', 'widowx_250', '--n-bins', '3', '0,0,0,0,0,0,0'], 'n_bins must be'),
    (['encode', '--robot', 'widowx_250', '0,0'], 'last dimension 7, got shape (1, 2)'),
    (['encode', '--robot', 'widowx_250', '--tokenizer', 'vq', '0'],
     "--tokenizer='vq' must be fitted: make one with `robotok train-vq`"),
    (['fit', '--robot', 'widowx_250', '--data', '/nonexistent.hdf5'], '/nonexistent.hdf5'),
    (['analyze-resolution', '--robot', 'widowx_250', '--bins', '64,x'], "got '64,x'"),
])
def test_user_errors_are_one_line_with_exit_2(capsys, argv, message):
    rc, _, err = run(capsys, *argv)
    assert rc == 2
    assert message in err and 'Traceback' not in err and len(err.strip().splitlines()) == 1


def test_cli_error_from_the_console_script_has_no_traceback():
    proc = subprocess.run([ROBOTOK, 'decode', '--robot', 'widowx_250', '--', '-1,0,0,0,0,0,0'],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.startswith('robotok decode: error: token id -1')
    assert 'Traceback' not in proc.stderr


def test_help_teaches_with_examples(capsys):
    with pytest.raises(SystemExit):
        main(['encode', '--help'])
    out = capsys.readouterr().out
    assert 'example: robotok encode' in out and '--vocab-offset' in out


def test_fit_writes_a_profile_and_a_quantile_tokenizer(capsys, tmp_path):
    out_yaml, tok_dir = tmp_path / 'fitted.yaml', tmp_path / 'tok'
    rc, out, _ = run(capsys, 'fit', '--robot', 'franka_panda', '--synthetic', '4', '--out',
                     str(out_yaml), '--name', 'lab_panda', '--save-tokenizer', str(tok_dir))
    assert rc == 0 and 'wrote' in out
    fitted = load_profile(out_yaml)
    assert fitted.name == 'lab_panda' and fitted.has_quantiles
    assert (tok_dir / 'tokenizer.yaml').is_file() and (tok_dir / 'state.safetensors').is_file()
    rc, out, _ = run(capsys, 'encode', '--tokenizer-path', str(tok_dir), '0,0,0,0,0,0,0.04')
    assert rc == 0 and len(out.strip().split(',')) == 7


def test_vocab_append_and_overwrite_layouts(capsys, tmp_path):
    rc, out, _ = run(capsys, 'vocab', '--robot', 'franka_panda', '--layout', 'per_dimension',
                     '--n-bins', '128', '--json', str(tmp_path / 'v.json'))
    assert rc == 0
    report = json.loads((tmp_path / 'v.json').read_text())
    assert report['first_action_id'] == 32000 and report['action_vocab_size'] == 7 * 128
    assert report['total_vocab_size'] == 32000 + 896
    assert report['action_token_fraction'] == pytest.approx(896 / 32896)
    assert [d['first_id'] for d in report['dimensions']] == [32000 + 128 * i for i in range(7)]
    rc, out, _ = run(capsys, 'vocab', '--robot', 'franka_panda', '--mode', 'overwrite')
    assert rc == 0 and '[31744, 31999]' in out and 'total vocabulary     : 32000' in out


def test_vocab_offsets_and_their_errors(profile_path):
    assert offset_for('append', 32000, 256) == 32000
    assert offset_for('overwrite', 32000, 256) == 31744
    with pytest.raises(ConfigError, match="mode must be one of .* got 'middle'"):
        offset_for('middle', 32000, 256)
    with pytest.raises(ConfigError, match='overwrite needs text_vocab_size >= the 256'):
        offset_for('overwrite', 100, 256)
    tok = make_tokenizer('uniform', profile_path, vocab_offset=31900)
    with pytest.raises(ConfigError, match='action id 32155 is beyond the text vocabulary'):
        vocab_report(tok, 32000, 'overwrite')


def test_resolution_error_halves_with_twice_the_bins(profile_path):
    profile = load_profile(profile_path)
    rng = np.random.default_rng(0)
    data = [rng.uniform(profile.lows, profile.highs, (4000, 7))]
    rows = analyze_resolution(data, profile, bins=(64, 128, 256))
    for a, b in zip(rows, rows[1:]):
        np.testing.assert_allclose(a['rmse'] / b['rmse'], 2.0, rtol=0.1)
    # Uniform data in a bin: RMSE = width / sqrt(12); max error <= width / 2.
    np.testing.assert_allclose(rows[0]['rmse'], rows[0]['bin_width'] / np.sqrt(12), rtol=0.05)
    assert (rows[0]['max_error'] <= rows[0]['bin_width'] / 2 + 1e-12).all()


def test_analyze_resolution_on_real_data_writes_a_plot(capsys, tmp_path):
    lift = os.path.join(data_dir(), 'robosuite', 'lift_panda.hdf5')
    if not os.path.exists(lift):
        pytest.skip(f'shared demonstrations not found at {lift} (set ROBOTOK_DATA_DIR)')
    png = tmp_path / 'res.png'
    rc, out, _ = run(capsys, 'analyze-resolution', '--robot', 'robosuite_panda_osc', '--data',
                     lift, '--plot', str(png))
    assert rc == 0 and '412 steps' in out
    lines = out.splitlines()
    assert [line.split()[0] for line in lines if line[:1].isdigit()] == [
        '64', '128', '256', '512', '1024']
    assert png.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'


def test_demo_core_stage_prints_the_table(capsys):
    rc, out, _ = run(capsys, 'demo', '--core-only', '--episodes', '8')
    assert rc == 0
    assert 'in-range values within half a bin: True' in out and '1024' in out
