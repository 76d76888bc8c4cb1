"""Choosing and naming action columns when reading, and what files say about them (no ROS)."""

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from robotok_ros.data.columns import Column, parse_columns
from robotok_ros.data.readers import read_actions, read_episodes
from robotok_ros.errors import ConfigError, DataError


def _npz(path, actions, **extra):
    np.savez(path, actions=actions, **extra)
    return path


def _csv(path, header, rows):
    path.write_text(','.join(header) + '\n' + '\n'.join(','.join(map(str, r)) for r in rows)
                    + '\n')
    return path


def test_parse_indices_ranges_names_and_renames():
    assert parse_columns('0:6') == (Column((0, 6)),)
    assert parse_columns('6:') == (Column((6, None)),)
    assert parse_columns('0,1,2,6') == tuple(Column(i) for i in (0, 1, 2, 6))
    assert parse_columns('x, z') == (Column('x'), Column('z'))
    assert parse_columns('torso=7,grip=gripper') == (Column(7, 'torso'),
                                                     Column('gripper', 'grip'))
    assert parse_columns([3, 'x']) == (Column(3), Column('x'))


@pytest.mark.parametrize('spec, message', [
    ('-1', "--columns '-1': column index -1 is negative; columns count from 0"),
    ('a=', "--columns 'a=': 'a=' is empty on one side; write NAME=INDEX or NAME=COLUMN"),
    ('=3', "--columns '=3': '=3' is empty on one side"),
    ('3:x', "--columns '3:x': '3:x' is not a range START:STOP of column indices"),
    ('a=0:2', "--columns 'a=0:2': 'a=0:2' is not a range START:STOP"),
    ([], '--columns []: choose at least one column'),
])
def test_bad_selections_are_config_errors_naming_the_item(spec, message):
    with pytest.raises(ConfigError) as err:
        parse_columns(spec)
    assert str(err.value).startswith(message)


def test_six_of_seven_columns_without_the_gripper(tmp_path):
    acts = np.arange(2 * 5 * 7, dtype=float).reshape(2, 5, 7)
    path = _npz(tmp_path / 'd.npz', acts)
    eps = read_episodes(path, columns='0:6')
    assert [e.shape for e in eps] == [(5, 6), (5, 6)]
    np.testing.assert_array_equal(eps[1], acts[1, :, :6])
    np.testing.assert_array_equal(read_episodes(path, columns='0,1,2,6')[0],
                                  acts[0][:, [0, 1, 2, 6]])
    np.testing.assert_array_equal(read_episodes(path, columns='6:')[0], acts[0][:, 6:])


def test_out_of_range_and_unknown_columns_name_the_file(tmp_path):
    path = _npz(tmp_path / 'd.npz', np.zeros((4, 7)))
    with pytest.raises(DataError) as err:
        read_episodes(path, columns='0,9')
    assert str(err.value) == (f"{path}: --columns '0,9': column 9 is out of range: the actions "
                              'have 7 columns (0..6)')
    with pytest.raises(DataError) as err:
        read_episodes(path, columns='0:8')
    assert str(err.value) == (f"{path}: --columns '0:8': range 0:8 is outside the 7 action "
                              'columns (0..6)')
    with pytest.raises(DataError) as err:
        read_episodes(path, columns='torso')
    assert str(err.value) == (f"{path}: --columns 'torso': no action column named 'torso'; "
                              'the file does not name them; choose by index 0..6')
    with pytest.raises(DataError) as err:
        read_episodes(path, columns='1,0:3')
    assert str(err.value) == f"{path}: --columns '1,0:3': column 1 is chosen twice"
    with pytest.raises(DataError) as err:
        read_episodes(path, columns='a=0,a=1')
    assert str(err.value) == f"{path}: --columns 'a=0,a=1': dimension name 'a' is given twice"


def test_csv_columns_by_header_name_with_names_and_rate(tmp_path):
    rows = [[e, f, f / 10, 0.1 * f, 0.2 * f, 1.0, -f] for e in (0, 1) for f in range(4)]
    path = _csv(tmp_path / 'd.csv', ['episode_index', 'frame_index', 'timestamp', 'x', 'y',
                                     'grip', 'torso'], rows)
    actions = read_actions(path)
    assert actions.names == ('x', 'y', 'grip', 'torso') and actions.rate_hz == 10.0
    picked = read_actions(path, columns='y,x,waist=torso')
    assert picked.names == ('y', 'x', 'waist')
    np.testing.assert_allclose(picked.episodes[1][:, 1], [0.1 * f for f in range(4)])
    with pytest.raises(DataError) as err:
        read_actions(path, columns='x,z')
    assert str(err.value) == (f"{path}: --columns 'x,z': no action column named 'z'; the file "
                              'names them: x, y, grip, torso')


def test_npz_timestamps_give_the_rate_and_several_paths_join(tmp_path):
    a = _npz(tmp_path / 'a.npz', np.zeros((6, 8)), episode_index=np.repeat([0, 1], 3),
             timestamp=np.tile(np.arange(3) / 15.0, 2))
    b = _npz(tmp_path / 'b.npz', np.ones((2, 4, 8)))
    actions = read_actions([a, b], columns='0:7')
    assert [e.shape for e in actions.episodes] == [(3, 7), (3, 7), (4, 7), (4, 7)]
    assert actions.rate_hz == 15.0 and actions.names is None
    c = _npz(tmp_path / 'c.npz', np.zeros((3, 8)), timestamp=np.arange(3) / 20.0)
    with pytest.raises(DataError) as err:
        read_actions([a, c])
    assert str(err.value) == (f'{c}: timestamps give 20 Hz, {a} gives 15 Hz; fit data of one '
                              'control rate')
    d = _npz(tmp_path / 'd.npz', np.zeros((3, 6)))
    with pytest.raises(DataError) as err:
        read_actions([a, d])
    assert str(err.value) == (f'{d}: episodes have 6 action columns, {a} has 8; choose columns '
                              'with --columns')


def _lerobot(root, actions, names, fps=10):
    (root / 'meta').mkdir(parents=True)
    (root / 'meta' / 'info.json').write_text(json.dumps({'fps': fps, 'features': {
        'action': {'dtype': 'float32', 'shape': [actions.shape[1]], 'names': names}}}))
    (root / 'data' / 'chunk-000').mkdir(parents=True)
    n = len(actions)
    table = pa.table({'action': pa.array(actions.tolist(), type=pa.list_(pa.float32())),
                      'episode_index': pa.array(np.repeat([0, 1], n // 2), pa.int64()),
                      'frame_index': pa.array(np.tile(np.arange(n // 2), 2), pa.int64()),
                      'timestamp': pa.array(np.tile(np.arange(n // 2) / fps, 2), pa.float32())})
    pq.write_table(table, root / 'data' / 'chunk-000' / 'file-000.parquet')
    return root


def test_lerobot_folder_names_and_fps(tmp_path):
    names = ['j1', 'j2', 'j3', 'gripper']
    root = _lerobot(tmp_path / 'ds', np.arange(40, dtype=float).reshape(10, 4), names, fps=30)
    actions = read_actions(root)
    assert actions.names == tuple(names) and actions.rate_hz == 30.0
    assert read_actions(root, columns='j1,j3').names == ('j1', 'j3')
    # motors-style names (a mapping) are read too
    info = json.loads((root / 'meta' / 'info.json').read_text())
    info['features']['action']['names'] = {'motors': names}
    (root / 'meta' / 'info.json').write_text(json.dumps(info))
    assert read_actions(root).names == tuple(names)


def test_lerobot_file_rate_from_the_timestamp_column(tmp_path):
    root = _lerobot(tmp_path / 'ds', np.zeros((8, 3)), None, fps=50)
    file = next(root.glob('data/**/*.parquet'))
    actions = read_actions(file)
    assert actions.rate_hz == 50.0 and actions.names is None


def _robosuite_hdf5(path, env_info):
    import h5py
    with h5py.File(path, 'w') as f:
        f.create_dataset('data/demo_1/actions', data=np.zeros((5, 7)))
        if env_info is not None:
            f['data'].attrs['env_info'] = json.dumps(env_info)
    return path


def test_robosuite_hdf5_declares_its_osc_controller(tmp_path):
    osc = {'controller_configs': {'type': 'OSC_POSE', 'input_min': -1, 'input_max': 1,
                                  'output_max': [0.05] * 3 + [0.5] * 3, 'control_delta': True}}
    path = _robosuite_hdf5(tmp_path / 'demo.hdf5', osc)
    actions = read_actions(path)
    assert actions.names == ('dx', 'dy', 'dz', 'droll', 'dpitch', 'dyaw', 'gripper')
    assert actions.scales == (0.05,) * 3 + (0.5,) * 3 + (1.0,)
    assert actions.limits == ((-1.0, 1.0),) * 7 and actions.rate_hz is None
    part = read_actions(path, columns='dz,dyaw')
    assert part.names == ('dz', 'dyaw') and part.scales == (0.05, 0.5)
    osc['controller_configs']['type'] = 'JOINT_VELOCITY'
    other = read_actions(_robosuite_hdf5(tmp_path / 'jv.hdf5', osc))
    assert other.names is None and other.limits is None
    assert read_actions([path, other.paths[0]]).limits is None   # the files disagree
