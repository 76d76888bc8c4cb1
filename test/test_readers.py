"""Tests of read_episodes: every format on files the test writes, error messages, real data."""

import os
import shutil
import sys
import types

from conftest import data_dir
import h5py
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from robotok_ros.data.readers import read_episodes
from robotok_ros.errors import DataError


# -- HDF5 -------------------------------------------------------------------------------------
def _write_hdf5(path, demos, key='actions'):
    with h5py.File(path, 'w') as f:
        for name, actions in demos.items():
            f.create_dataset(f'data/{name}/{key}', data=actions)
            f.create_dataset(f'data/{name}/obs/eef_pos', data=np.zeros((len(actions), 3)))
    return path


def test_hdf5_demos_in_numeric_order_and_key_override(tmp_path):
    demos = {f'demo_{k}': np.full((k, 2), float(k)) for k in (10, 2, 1)}
    path = _write_hdf5(tmp_path / 'd.hdf5', demos)
    assert [len(e) for e in read_episodes(path)] == [1, 2, 10]
    eps = read_episodes(path, key='obs/eef_pos')
    assert [e.shape for e in eps] == [(1, 3), (2, 3), (10, 3)]
    with pytest.raises(DataError, match=r"data/demo_1 has no dataset 'act'; available: "
                                        r'actions, obs/eef_pos'):
        read_episodes(path, key='act')


def test_hdf5_bad_files_name_the_problem(tmp_path):
    with h5py.File(tmp_path / 'flat.h5', 'w') as f:
        f['actions'] = np.zeros((3, 7))
    with pytest.raises(DataError, match=r'flat\.h5: no group "data".*top-level keys: actions'):
        read_episodes(tmp_path / 'flat.h5')
    (tmp_path / 'junk.hdf5').write_bytes(b'not an hdf5 file at all')
    with pytest.raises(DataError, match=r'junk\.hdf5: cannot be read as HDF5'):
        read_episodes(tmp_path / 'junk.hdf5')
    bad = np.zeros((5, 3))
    bad[3, 2] = np.nan
    path = _write_hdf5(tmp_path / 'nan.hdf5', {'demo_1': np.zeros((2, 3)), 'demo_2': bad})
    with pytest.raises(DataError, match=r'episode 1 step 3 dimension 2 is not finite'):
        read_episodes(path)
    path = _write_hdf5(tmp_path / 'cube.hdf5', {'demo_1': np.zeros((2, 3, 4))})
    with pytest.raises(DataError, match=r'must be a \(T, D\) array, got shape \(2, 3, 4\)'):
        read_episodes(path)


# -- npz / csv --------------------------------------------------------------------------------
def test_npz_layouts(tmp_path):
    np.savez(tmp_path / 'a.npz', actions=np.ones((4, 3)))
    assert [e.shape for e in read_episodes(tmp_path / 'a.npz')] == [(4, 3)]
    np.savez(tmp_path / 'b.npz', actions=np.zeros((3, 5, 2)))
    assert [e.shape for e in read_episodes(tmp_path / 'b.npz')] == [(5, 2)] * 3
    actions = np.arange(12.0).reshape(6, 2)
    np.savez(tmp_path / 'c.npz', actions=actions, episode_index=[1, 0, 1, 0, 1, 0],
             frame_index=[2, 1, 1, 0, 0, 2])
    eps = read_episodes(tmp_path / 'c.npz')
    np.testing.assert_array_equal(eps[0], actions[[3, 1, 5]])
    np.testing.assert_array_equal(eps[1], actions[[4, 2, 0]])
    np.savez(tmp_path / 'd.npz', np.zeros((2, 2)), *[np.ones((k, 2)) for k in range(3, 12)])
    assert [len(e) for e in read_episodes(tmp_path / 'd.npz')] == [2] + list(range(3, 12))
    with pytest.raises(DataError, match=r"no array 'act'; available: actions, episode_index"):
        read_episodes(tmp_path / 'c.npz', key='act')
    (tmp_path / 'e.npz').write_bytes(b'PK\x03\x04 broken')
    with pytest.raises(DataError, match=r'e\.npz: cannot be read as \.npz'):
        read_episodes(tmp_path / 'e.npz')


def test_csv_columns_episodes_and_errors(tmp_path):
    path = tmp_path / 'a.csv'
    path.write_text('episode_index,frame_index,timestamp,dx,dy,note,g\n'
                    '0,1,0.1,0.2,0.3,go,1\n0,0,0.0,0.1,0.2,go,1\n1,0,0.0,-0.1,0.0,stop,0\n')
    eps = read_episodes(path)
    np.testing.assert_array_equal(eps[0], [[0.1, 0.2, 1], [0.2, 0.3, 1]])
    np.testing.assert_array_equal(eps[1], [[-0.1, 0.0, 0]])
    assert read_episodes(path, key='g, dx')[1].tolist() == [[0.0, -0.1]]
    with pytest.raises(DataError, match=r"no column 'dz'; available: episode_index.*note, g"):
        read_episodes(path, key='dx,dz')
    with pytest.raises(DataError, match="column 'note' is not numeric"):
        read_episodes(path, key='note')
    (tmp_path / 'ragged.csv').write_text('dx,dy\n1,2\n3\n')
    with pytest.raises(DataError, match=r'ragged\.csv: line 3 has 1 fields, the header has 2'):
        read_episodes(tmp_path / 'ragged.csv')
    (tmp_path / 'gap.csv').write_text('dx,dy\n1,2\n3,\n')
    with pytest.raises(DataError, match=r'gap\.csv: episode 0 step 1 dimension 1 is not finite'):
        read_episodes(tmp_path / 'gap.csv')


# -- parquet / LeRobot ------------------------------------------------------------------------
def _write_parquet(path, actions, episode, frame):
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.table({'action': pa.array([list(map(float, a)) for a in actions],
                                         pa.list_(pa.float32())),
                      'episode_index': pa.array(episode, pa.int64()),
                      'frame_index': pa.array(frame, pa.int64())})
    pq.write_table(table, path)
    return path


def test_parquet_file_and_lerobot_folder(tmp_path):
    actions = np.arange(10.0).reshape(5, 2)
    path = _write_parquet(tmp_path / 'one.parquet', actions, [3, 3, 1, 3, 1], [2, 0, 1, 1, 0])
    eps = read_episodes(path)
    np.testing.assert_array_equal(eps[0], actions[[4, 2]])
    np.testing.assert_array_equal(eps[1], actions[[1, 3, 0]])
    root = tmp_path / 'lerobot'
    (root / 'meta').mkdir(parents=True)
    (root / 'meta' / 'info.json').write_text('{}')
    for ep in (0, 1, 2):
        _write_parquet(root / 'data' / 'chunk-000' / f'episode_{ep:06d}.parquet',
                       np.full((ep + 2, 4), ep), [ep] * (ep + 2), list(range(ep + 2)))
    eps = read_episodes(root)
    assert [e.shape for e in eps] == [(2, 4), (3, 4), (4, 4)]
    assert [e[0, 0] for e in eps] == [0.0, 1.0, 2.0]
    with pytest.raises(DataError, match=r"no column 'actions'; available: action, episode_index"):
        read_episodes(path, key='actions')


def test_parquet_bad_files(tmp_path):
    (tmp_path / 'junk.parquet').write_bytes(b'PAR1 not really')
    with pytest.raises(DataError, match=r'junk\.parquet: cannot be read as parquet'):
        read_episodes(tmp_path / 'junk.parquet')
    pq.write_table(pa.table({'action': [[1.0, 2.0], [3.0]]}), tmp_path / 'ragged.parquet')
    with pytest.raises(DataError, match=r'row 1 has 1 values, row 0 has 2'):
        read_episodes(tmp_path / 'ragged.parquet')
    pq.write_table(pa.table({'action': ['a', 'b']}), tmp_path / 'text.parquet')
    with pytest.raises(DataError, match='must be a list of numbers per row'):
        read_episodes(tmp_path / 'text.parquet')


# -- dispatch ---------------------------------------------------------------------------------
def test_folder_reads_every_supported_file_in_order(tmp_path):
    np.savez(tmp_path / 'ep10.npz', actions=np.full((3, 2), 10.0))
    np.savez(tmp_path / 'ep2.npz', actions=np.full((4, 2), 2.0))
    (tmp_path / 'ep3.csv').write_text('a,b\n3,3\n')
    (tmp_path / 'README.md').write_text('not data')
    eps = read_episodes(tmp_path)
    assert [e[0, 0] for e in eps] == [2.0, 3.0, 10.0]
    (tmp_path / 'ep4.csv').write_text('a\n4\n')
    with pytest.raises(DataError, match='episode 2 has 1 action dimensions, episode 0 has 2'):
        read_episodes(tmp_path)


def test_dispatch_errors_and_format_override(tmp_path):
    with pytest.raises(DataError, match=r'nothing\.npz: no such file'):
        read_episodes(tmp_path / 'nothing.npz')
    (tmp_path / 'x.bin').write_bytes(b'')
    with pytest.raises(DataError, match=r"unknown file type '\.bin'; supported: \.csv, \.h5"):
        read_episodes(tmp_path / 'x.bin')
    with pytest.raises(DataError, match="unknown format 'pkl'; supported: hdf5, tfrecord"):
        read_episodes(tmp_path / 'x.bin', fmt='pkl')
    with open(tmp_path / 'y.bin', 'wb') as f:
        np.savez(f, actions=np.ones((2, 2)))
    assert read_episodes(tmp_path / 'y.bin', fmt='npz')[0].shape == (2, 2)
    (tmp_path / 'empty').mkdir()
    with pytest.raises(DataError, match='folder holds no supported files'):
        read_episodes(tmp_path / 'empty')


def test_rosbag2_dispatch_uses_bags_module(tmp_path, monkeypatch):
    bag = tmp_path / 'bag'
    bag.mkdir()
    (bag / 'metadata.yaml').write_text('rosbag2_bagfile_information: {}\n')
    (tmp_path / 'x.mcap').write_bytes(b'')
    calls = []
    fake = types.ModuleType('robotok_ros.data.bags')
    fake.read_bag_episodes = lambda path, key: calls.append((path, key)) or [np.ones((2, 7))]
    monkeypatch.setitem(sys.modules, 'robotok_ros.data.bags', fake)
    assert read_episodes(bag, key='/t')[0].shape == (2, 7)
    assert read_episodes(tmp_path / 'x.mcap')[0].shape == (2, 7)
    assert [(os.path.basename(str(p)), k) for p, k in calls] == [('bag', '/t'), ('x.mcap', None)]
    monkeypatch.setitem(sys.modules, 'robotok_ros.data.bags', None)
    with pytest.raises(DataError, match='reading rosbag2 needs robotok_ros.data.bags'):
        read_episodes(bag)


# -- real shared data -------------------------------------------------------------------------
def _shared(*parts):
    path = os.path.join(data_dir(), *parts)
    if not os.path.exists(path):
        pytest.skip(f'shared demonstrations not found at {path} (set ROBOTOK_DATA_DIR)')
    return path


def test_real_bridge_tfrecord():
    eps = read_episodes(_shared('bridge', 'bridge_dataset-train.tfrecord'))
    assert len(eps) == 25
    assert {e.shape for e in eps} == {(10, 7)}
    actions = np.concatenate(eps)
    assert np.abs(actions[:, :3]).max() < 0.05
    assert actions[:, 6].min() >= 0.0 and actions[:, 6].max() <= 1.0


def test_real_bridge_corrupted_copy_is_rejected(tmp_path):
    src = _shared('bridge', 'bridge_dataset-train.tfrecord')
    data = bytearray(open(src, 'rb').read())
    data[len(data) // 2] ^= 0x40
    (tmp_path / 'copy.tfrecord').write_bytes(data)
    with pytest.raises(DataError, match=r'copy\.tfrecord: record \d+ .*checksum mismatch'):
        read_episodes(tmp_path / 'copy.tfrecord')


def test_real_robosuite_lift_and_folder():
    eps = read_episodes(_shared('robosuite', 'lift_panda.hdf5'))
    assert [e.shape for e in eps] == [(412, 7)]
    assert np.abs(eps[0]).max() <= 1.0
    assert set(np.unique(eps[0][:, 6])) <= {-1.0, 1.0}
    folder = read_episodes(_shared('robosuite'))
    assert sorted(len(e) for e in folder) == [261, 412, 532, 1036]


def test_real_bridge_folder_skips_json(tmp_path):
    src = _shared('bridge')
    for name in os.listdir(src):
        shutil.copy(os.path.join(src, name), tmp_path / name)
    assert len(read_episodes(tmp_path)) == 25
