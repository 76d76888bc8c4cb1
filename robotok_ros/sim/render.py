"""
Offscreen frames of a SimArm scene, for a strip of a pick, where this machine can render.

MuJoCo chooses its GL backend (``MUJOCO_GL``) once, when it is imported, and a failing
backend can take the process down; the demo must go on either way. So each backend is
probed in a child process (``probe_backend``), and the frames are rendered in another
(``render_in_child``, which runs this module's ``main``): the caller never loads GL. A
state is joint positions plus the cube position; the cube is drawn upright.
"""

import ctypes.util
import os
import subprocess
import sys

import numpy as np

BACKENDS = ('egl', 'osmesa')
LIBRARIES = {'egl': 'EGL', 'osmesa': 'OSMesa'}
FRAME_SIZE = (240, 320)  # height, width of one frame
# Run with ``python -c``: on failure the last stderr line is the reason, nothing after it.
PROBE = """
import os, sys
try:
    import mujoco
    m = mujoco.MjModel.from_xml_string('<mujoco><worldbody><geom size=".1"/></worldbody></mujoco>')
    r = mujoco.Renderer(m, 8, 8); r.update_scene(mujoco.MjData(m)); r.render(); r.close()
except BaseException as exc:
    try: text = str(exc)
    except Exception: text = repr(exc.args)  # an EGLError's str() can fail itself
    sys.stderr.write(f'{type(exc).__name__}: {text}\\n'); sys.stderr.flush()
    os._exit(1)  # no teardown: GL destructors would print after the reason
"""


def _env(backend):
    return dict(os.environ, MUJOCO_GL=backend, PYOPENGL_PLATFORM=backend)


def _last_line(text):
    return (text.strip().splitlines() or ['no error text'])[-1].strip()


def probe_backend(backends=BACKENDS, timeout=60.0):
    """Return (the first backend that renders or None, {backend tried: why it failed})."""
    reasons = {}
    for backend in backends:
        try:
            done = subprocess.run([sys.executable, '-c', PROBE], env=_env(backend),
                                  capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            reasons[backend] = f'timed out after {timeout:g} s'
            continue
        if done.returncode == 0:
            return backend, reasons
        reasons[backend] = _last_line(done.stderr or f'exit status {done.returncode}')
        lib = LIBRARIES.get(backend)
        if lib and ctypes.util.find_library(lib) is None:
            reasons[backend] += f' (lib{lib} not found)'
    return None, reasons


def cannot_render_message(reasons):
    """Return the one plain line saying that no backend renders, each one's error named."""
    tried = '; '.join(f'MUJOCO_GL={b}: {why}' for b, why in reasons.items())
    return f'rendered frames: not written, MuJoCo cannot render offscreen here ({tried})'


def capture(sim, names, positions, cubes, size=FRAME_SIZE):
    """Render one RGB frame (h, w, 3) of ``sim`` per joint-position row and cube position."""
    import mujoco
    w, m, d = sim.world, sim.model, sim.data
    index = dict(zip(w.joint_names, np.concatenate([w.qadr, w.finger_qadr])))
    cam = mujoco.MjvCamera()
    cam.type = mujoco.mjtCamera.mjCAMERA_FREE
    cam.azimuth, cam.elevation, cam.distance = 140.0, -20.0, 1.5
    # Looking from front left at a point between the base and the cube's spot, 30 cm up.
    spot = np.array([*w.robot.arm.cube_xy, 0.0]) + (-0.15, 0.0, 0.3)
    cam.lookat[:] = w.base_pos + w.base_rot @ spot
    option = mujoco.MjvOption()
    option.sitegroup[:] = 0  # the hand's long green grip-site cylinder would cross the view
    renderer = mujoco.Renderer(m, *size)
    frames = []
    try:
        for row, cube in zip(positions, np.asarray(cubes, dtype=np.float64)):
            for name, value in zip(names, row):
                if name in index:
                    d.qpos[index[name]] = value
            d.qpos[w.cube_qadr:w.cube_qadr + 7] = (*(w.base_pos + w.base_rot @ cube), 1, 0, 0, 0)
            mujoco.mj_forward(m, d)
            renderer.update_scene(d, camera=cam, scene_option=option)
            frames.append(renderer.render().copy())
    finally:
        renderer.close()
    return frames


def render_strip(frames, path, title=''):
    """Write the frames side by side as one PNG (its Title metadata is ``title``)."""
    from matplotlib.image import imsave
    imsave(path, np.hstack(frames), metadata={'Title': title})


def render_in_child(backend, path, robot, seed, names, positions, cubes, title=''):
    """Write a strip PNG at ``path`` of a SimArm(robot, seed) in each state; None or the error."""
    states = os.path.splitext(str(path))[0] + '_states.npz'
    np.savez(states, robot=robot, seed=seed, names=np.array(names), title=title,
             positions=np.asarray(positions, dtype=np.float64),
             cubes=np.asarray(cubes, dtype=np.float64))
    try:
        done = subprocess.run([sys.executable, '-m', 'robotok_ros.sim.render', states, str(path)],
                              env=_env(backend), capture_output=True, text=True, timeout=300)
    except subprocess.TimeoutExpired:
        return 'the renderer timed out after 300 s'
    return None if done.returncode == 0 else _last_line(done.stderr or str(done.returncode))


def main(argv=None):
    """Render a states file into a strip PNG (``render_in_child``'s child process)."""
    from robotok_ros.sim import SimArm
    states_path, png_path = (argv if argv is not None else sys.argv[1:])[:2]
    s = np.load(states_path)
    sim = SimArm(str(s['robot']), seed=int(s['seed']))
    frames = capture(sim, [str(n) for n in s['names']], s['positions'], s['cubes'])
    render_strip(frames, png_path, str(s['title']))


if __name__ == '__main__':
    try:
        main()
    except Exception as exc:  # one line for the caller, no GL destructor noise after it
        sys.stderr.write(f'{type(exc).__name__}: {exc}\n')
        sys.stderr.flush()
        os._exit(1)
