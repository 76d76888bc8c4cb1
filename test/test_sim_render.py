"""
Offscreen frames of the sim (sim/render.py): a strip where MuJoCo renders, one plain line if not.

The demo must never die of a GL backend, so the backends are probed, and the frames rendered,
in child processes; these tests check both outcomes: the strip of a real SimArm pick where a
backend works here (skipped, with each backend's error, where none does), and the plain line
for backends that cannot work anywhere.
"""

from matplotlib.image import imread
import numpy as np
import pytest
from robotok_ros.sim import render

FRAMES = 6


@pytest.fixture(scope='module')
def probe():
    return render.probe_backend()


def pick_states(n=FRAMES):
    """Run the scripted pick in a SimArm; return joint names, n joint rows, n cube positions."""
    from robotok_ros.sim import SimArm, SimSettings
    from robotok_ros.sim.scripted import scripted_pick
    sim = SimArm('franka_panda', seed=0, settings=SimSettings(visual=False))
    states, step = [], sim.step

    def recording_step(dt_s):
        step(dt_s)
        states.append((sim.joint_state().positions, sim.task_state().cube.position))

    sim.step = recording_step
    assert scripted_pick(sim).lifted
    picks = np.linspace(0, len(states) - 1, n).round().astype(int)
    return sim.joint_state().names, [states[i][0] for i in picks], [states[i][1] for i in picks]


def test_probe_names_a_backend_or_says_why_not(probe):
    name, reasons = probe
    assert name is not None or reasons
    if name is None:
        assert set(reasons) == set(render.BACKENDS) and all(reasons.values())
    else:  # the backends tried before the working one say why they failed
        assert name in render.BACKENDS
        assert set(reasons) == set(render.BACKENDS[:render.BACKENDS.index(name)])


def test_failing_backends_give_one_plain_line_naming_each():
    name, reasons = render.probe_backend(('no_such_gl', 'nor_this_one'))
    assert name is None
    line = render.cannot_render_message(reasons)
    assert '\n' not in line and 'Traceback' not in line
    for backend in ('no_such_gl', 'nor_this_one'):
        assert f'MUJOCO_GL={backend}: RuntimeError: invalid value' in line


def test_a_machine_where_no_backend_renders_gets_one_line_naming_each(probe):
    # What this machine's probe said where a backend failed, the others as the probe words
    # them: the line must hold every backend whether or not this machine renders.
    _, reasons = probe
    every = {b: reasons.get(b, 'RuntimeError: no display') for b in render.BACKENDS}
    line = render.cannot_render_message(every)
    assert '\n' not in line
    assert all(f'MUJOCO_GL={b}: ' in line for b in render.BACKENDS)


def test_renderer_child_reports_a_failing_backend_in_one_line(tmp_path):
    names, positions, cubes = ('panda_joint1',), [[0.0]], [[0.5, 0.0, 0.02]]
    error = render.render_in_child('no_such_gl', tmp_path / 'strip.png', 'franka_panda', 0,
                                   names, positions, cubes)
    assert error.startswith('RuntimeError: invalid value for environment variable MUJOCO_GL')
    assert not (tmp_path / 'strip.png').exists()


def test_strip_of_a_scripted_pick(probe, tmp_path):
    name, reasons = probe
    if name is None:
        pytest.skip(render.cannot_render_message(reasons))
    names, positions, cubes = pick_states()
    path = tmp_path / 'strip.png'
    error = render.render_in_child(name, path, 'franka_panda', 0, names, positions, cubes,
                                   title='scripted pick')
    assert error is None
    image = imread(path)[..., :3]
    height, width = render.FRAME_SIZE
    assert image.shape == (height, FRAMES * width, 3)
    frames = np.split(image, FRAMES, axis=1)
    assert all(f.std() > 0.05 for f in frames)  # a scene, not a blank frame
    changes = [np.abs(a - b).mean() for a, b in zip(frames, frames[1:])]
    assert min(changes) > 0.0 and np.abs(frames[0] - frames[-1]).mean() > 0.01, changes
