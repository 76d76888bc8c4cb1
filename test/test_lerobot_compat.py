"""
robotok's LeRobot export, loaded by the ``lerobot`` package's own LeRobotDataset.

lerobot pins torch < 2.11 and this machine has only the local 2.13.0 wheel, so it lives
in a venv of its own (``.venv-lerobot``, built by ``make test`` from
requirements-lerobot.txt with --no-deps); ``lerobot_load.py`` runs there and prints
every frame, which is compared with the recorded episodes here.
"""

import json
from pathlib import Path
import subprocess

import numpy as np
import pytest
from robotok_ros.cli.main import main
from robotok_ros.profile_loader import load_profile
from robotok_ros.tokenizers import make_tokenizer
from test_bags_cli import make_bag  # noqa: I100 - test-local helper module

ROOT = Path(__file__).resolve().parent.parent
LEROBOT_PYTHON = ROOT / '.venv-lerobot' / 'bin' / 'python'
TASKS = ('push the red cube', 'pull', 'push the red cube')


@pytest.fixture(scope='module')
def exported(tmp_path_factory):
    """Three recorded episodes, exported; return (folder, episodes, profile)."""
    if not LEROBOT_PYTHON.exists():
        pytest.skip(f'lerobot venv not found at {LEROBOT_PYTHON.parent.parent}: '
                    'make .venv-lerobot/.installed (make test builds it)')
    tmp = tmp_path_factory.mktemp('lerobot')
    profile = load_profile('franka_panda')
    rng = np.random.default_rng(1)
    episodes = []
    for i, (n, task) in enumerate(zip((30, 20, 25), TASKS)):
        acts = rng.uniform(profile.lows, profile.highs, (n, profile.dim))
        make_bag(tmp / 'bags' / f'episode_{i:06d}', profile, acts, task, i)
        episodes.append(acts)
    assert main(['export-lerobot', str(tmp / 'bags'), '--out', str(tmp / 'ds')]) == 0
    return tmp / 'ds', episodes, profile


def load_with_lerobot(folder):
    """Return what LeRobotDataset read from ``folder`` (lerobot_load.py's JSON)."""
    proc = subprocess.run([str(LEROBOT_PYTHON), str(Path(__file__).with_name('lerobot_load.py')),
                           str(folder)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_lerobot_loads_every_frame_as_recorded(exported):
    folder, episodes, profile = exported
    got = load_with_lerobot(folder)
    assert got['fps'] == 15 and got['fps_type'] == 'int'
    assert got['num_episodes'] == 3 and got['num_frames'] == 75
    assert got['tasks'] == ['push the red cube', 'pull']
    frames = got['frames']
    tok = make_tokenizer('uniform', profile)
    k = 0
    for e, (acts, task) in enumerate(zip(episodes, TASKS)):
        for f, row in enumerate(acts):
            frame = frames[k]
            assert frame['task'] == task, (k, frame['task'])  # the text, not its index
            assert frame['task_index'] == (0 if task == TASKS[0] else 1)
            assert (frame['episode_index'], frame['frame_index'], frame['index']) == (e, f, k)
            np.testing.assert_allclose(frame['timestamp'], f / 15, rtol=1e-6, atol=1e-7)
            np.testing.assert_allclose(frame['action'], row, rtol=1e-6, atol=1e-7)
            assert frame['action_tokens'] == tok.encode(row).tolist()
            k += 1
    assert k == len(frames)


def test_a_fractional_fps_is_refused_with_the_flag_that_fixes_it(exported, tmp_path, capsys):
    folder, _, _ = exported
    bags = folder.parent / 'bags'
    assert main(['export-lerobot', str(bags), '--out', str(tmp_path / 'x'), '--fps',
                 '7.5']) != 0
    err = capsys.readouterr().err
    assert 'fps 7.5 is not a whole number' in err and '--fps' in err


def test_lerobot_reads_the_recorded_robot_state_as_observation_state(exported, tmp_path):
    from robotok_ros.data.bags import read_bag
    from test_observations import make_state_bag
    _, _, profile = exported
    bags = [tmp_path / 'bags' / f'episode_{i:06d}' for i in range(2)]
    for i, bag in enumerate(bags):
        make_state_bag(bag, profile, (12, 9)[i], index=i)
    assert main(['export-lerobot', str(tmp_path / 'bags'), '--out', str(tmp_path / 'ds')]) == 0
    got = load_with_lerobot(tmp_path / 'ds')
    want = np.concatenate([read_bag(b).observation_state()[0] for b in bags])
    assert got['num_frames'] == len(want) == 21
    np.testing.assert_allclose([f['observation.state'] for f in got['frames']], want,
                               rtol=1e-6, atol=1e-7)
