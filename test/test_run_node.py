"""
run_node's shutdown path cannot be interrupted: signals during shutdown are only noted.

Each case runs a tiny node under ``run_node`` in its own process.  The node
signals itself at the worst moment (inside a callback, inside ``on_shutdown``),
as a second Ctrl-C or ``ros2 launch`` forwarding one of its own would, and the
shutdown must still run to its last line, with exit status 0 and no traceback.
"""

import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent("""
    import os, signal, sys, time
    from robotok_ros.nodes.base import RobotokNode, run_node

    WHEN = sys.argv[1]

    def poke(sig=signal.SIGINT):
        os.kill(os.getpid(), sig)
        time.sleep(0.05)  # a Python signal handler runs at the next bytecode: let it

    class Probe(RobotokNode):
        def __init__(self):
            super().__init__('probe')
            self.create_timer(0.01, self.tick)

        def tick(self):
            if WHEN in ('callback', 'both'):
                poke()
                print('callback finished', flush=True)
                poke(signal.SIGTERM)
            else:
                poke()

        def on_shutdown(self):
            print('shutdown started', flush=True)
            if WHEN in ('shutdown', 'both'):
                poke()
                poke(signal.SIGTERM)
            print('shutdown finished', flush=True)

    sys.exit(run_node(Probe, 'probe'))
""")


@pytest.mark.timeout(60)
@pytest.mark.parametrize('when', ['callback', 'shutdown', 'both'])
def test_signals_during_a_callback_or_shutdown_do_not_cut_it_short(when):
    proc = subprocess.run([sys.executable, '-c', SCRIPT, when], capture_output=True, text=True,
                          timeout=30)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert 'Traceback' not in proc.stderr, proc.stderr
    lines = proc.stdout.split('\n')
    assert lines.index('shutdown started') < lines.index('shutdown finished')
    if when != 'shutdown':
        assert 'callback finished' in lines  # the signal did not raise inside the callback
