"""`robotok demo`: the main job on a built-in default, from tokenizer core to ROS pipeline."""

import importlib

import numpy as np
from robotok_ros.fitting import fit_ranges
from robotok_ros.profile_loader import load_profile
from robotok_ros.resolution import analyze_resolution, format_table
from robotok_ros.tokenizers import make_tokenizer

# Later stages of the demo, each a module with run(args) -> int; run in this order.
STAGES = (
    ('decoder', 'robotok_ros.demo.decoder_stage'),
    ('teleop', 'robotok_ros.demo.teleop_stage'),
    ('sim', 'robotok_ros.demo.sim_stage'),
    ('loop', 'robotok_ros.demo.loop_stage'),
)


def core_demo(args):
    """Fit a profile on generated demonstrations, tokenize, decode, print the resolution."""
    # Imported here: the generator pulls in scipy, which other subcommands should not pay for.
    from robotok_ros.data.synthetic import generate_episodes
    base = load_profile(args.robot)
    episodes = generate_episodes(base, n_episodes=args.episodes, seed=args.seed)
    train, test = episodes[:-4], episodes[-4:]
    profile = fit_ranges(train, base, name=f'{base.name}_fitted')
    tok = make_tokenizer('uniform', profile, n_bins=256)
    held_out = np.concatenate(test)
    ids = tok.encode(held_out)
    err = np.abs(tok.decode(ids) - held_out)
    inside = (held_out >= profile.lows) & (held_out <= profile.highs)
    half_bin = np.broadcast_to(tok.bin_width / 2 * (1 + 1e-9), err.shape)
    within = err[inside] <= half_bin[inside]
    print(f'== 1. tokenizer core: {base.name}, {len(train)} generated demonstrations fitted, '
          f'{len(test)} held out ({len(held_out)} steps)')
    print(f'   {tok.describe()}')
    print(f'   held-out values clipped by the fitted range: {int(tok.last_clip_counts.sum())}; '
          f'in-range values within half a bin: {bool(within.all())}')
    print(format_table(analyze_resolution(test, profile), profile))
    return 0


def _demo(args):
    rc = core_demo(args)
    if args.core_only:
        return rc
    for name, module in STAGES:
        try:
            stage = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
            continue
        print()
        rc = stage.run(args) or rc
    return rc


def register(sub):
    """Add `robotok demo`."""
    p = sub.add_parser('demo', help='run the whole pipeline on generated demonstrations',
                       description='Fit a profile on generated demonstrations, tokenize and '
                                   'decode them,\nprint the resolution table, then run the ROS '
                                   'pipelines (policy tokens -> token_decoder,\nteleop -> '
                                   'tokens -> bag -> decoder) and print their errors.')
    p.add_argument('--robot', default='franka_panda', help='shipped profile name or YAML path')
    p.add_argument('--episodes', type=int, default=24, help='generated demonstrations')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--core-only', action='store_true', help='skip the ROS stages')
    p.set_defaults(func=_demo)
