"""`make demo`'s loop stage: collect -> train-policy -> token_policy -> sim_arm, small."""

import argparse
import os
import sys

import pytest

pytest.importorskip('mujoco', reason='the loop stage runs sim_arm (MuJoCo)')


def test_a_missing_torch_skips_the_stage_with_its_reason(monkeypatch, capsys):
    from robotok_ros.demo import loop_stage
    monkeypatch.setitem(sys.modules, 'torch', None)   # import torch now raises ImportError
    assert loop_stage.run(argparse.Namespace(seed=0)) == 0
    assert capsys.readouterr().out == \
        '== 5. loop stage skipped: torch is not installed (train-policy)\n'


@pytest.mark.timeout(300)
def test_the_loop_stage_collects_trains_and_rolls_out_through_the_real_nodes(
        monkeypatch, capsys):
    pytest.importorskip('torch', reason='train-policy needs torch')
    from robotok_ros.demo import loop_stage
    monkeypatch.setattr(loop_stage, 'EPISODES', 2)
    monkeypatch.setattr(loop_stage, 'EPOCHS', 2)
    monkeypatch.setattr(loop_stage, 'ROLLOUTS', 1)
    monkeypatch.setenv('ROS_DOMAIN_ID', os.environ.get('ROS_DOMAIN_ID', '77'))
    assert loop_stage.run(argparse.Namespace(seed=3)) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith('== 5. loop stage: 2 scripted demonstrations -> train-policy '
                             '(uniform255-parallel)')
    assert out[1].startswith('   collect: 2/2 demonstrations lifted the cube -> ')
    assert out[2].startswith('   train-policy: 2 epochs, validation loss ')
    # Two epochs on two demonstrations lift nothing reliably: the stage must still run
    # the rollout through the nodes and say what happened, with its figures.
    assert out[3].startswith('   rollout: the policy lifted and held the cube in ')
    assert '/1 new scenes; tracking ' in out[3] and ' ms p50' in out[3]
