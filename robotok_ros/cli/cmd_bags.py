"""`robotok tokenize-bag`, `export-lerobot` and `repair-bag`: offline tools for episode bags."""

from pathlib import Path

from robotok_ros.cli.common import add_profile_args, add_tokenizer_args, tokenizer_from_args
from robotok_ros.errors import ConfigError


def _bags(paths):
    from robotok_ros.data.bags import find_bags
    return [bag for path in paths for bag in find_bags(path)]


def _tokenize(args):
    from robotok_ros.data.bags import read_bag, retokenize_bag
    from robotok_ros.profile_loader import profile_from_dict
    out = Path(args.out)
    bags = _bags(args.bags)
    for bag in bags:
        if args.profile or args.robot or args.tokenizer_path:
            profile = None
        else:
            # The robot the bag was recorded with, unless the user names another.
            meta = read_bag(bag).metadata
            if 'robot_profile' not in meta:
                raise ConfigError(f'{bag}: no robot profile in its metadata; pass --robot '
                                  'or --profile')
            profile = profile_from_dict(meta['robot_profile'], source=f'{bag}: metadata')
        tok = tokenizer_from_args(args, profile)
        ep = retokenize_bag(bag, out / bag.name, tok, args.tokenizer_path or '')
        print(f'{bag} -> {out / bag.name}: {len(ep.actions)} steps, {len(ep.token_messages)} '
              f'token messages ({tok.describe()}), clipped values: '
              f'{int(tok.clip_counts.sum())}')
    return 0


def _export(args):
    from robotok_ros.data.bags import read_bag
    from robotok_ros.data.lerobot_export import export_lerobot
    episodes = [read_bag(bag) for bag in _bags(args.bags)]
    info = export_lerobot(episodes, args.out, fps=args.fps, robot_type=args.robot_type)
    print(f'{args.out}: LeRobot {info["codebase_version"]} dataset, '
          f'{info["total_episodes"]} episodes, {info["total_frames"]} frames, '
          f'{info["total_tasks"]} tasks at {info["fps"]:g} fps')
    return 0


def _repair(args):
    from robotok_ros.data.bag_repair import repair_bag
    for bag in _bags(args.bags):
        print(f'{bag}: readable, {repair_bag(bag)} messages')
    return 0


def register(sub):
    """Add `robotok tokenize-bag`, `robotok export-lerobot` and `robotok repair-bag`."""
    p = sub.add_parser(
        'tokenize-bag', help='re-tokenize recorded episode bags with another tokenizer',
        description='Copy episode bags (from episode_recorder) with /robotok/teleop_tokens '
                    're-encoded from the recorded continuous actions by another tokenizer; '
                    'every other topic is copied byte for byte. The robot profile recorded '
                    'in each bag is used unless --robot/--profile names another.')
    p.add_argument('bags', nargs='+', help='bag folders, or folders of bags')
    p.add_argument('--out', required=True, help='folder for the re-tokenized bags')
    add_profile_args(p)
    add_tokenizer_args(p)
    p.set_defaults(func=_tokenize)
    p = sub.add_parser(
        'export-lerobot', help='export episode bags as a LeRobotDataset v3-style folder',
        description='Write episode bags as a LeRobot v3.0 dataset: data/chunk-000/'
                    'file-000.parquet (action, action_tokens, timestamp, frame_index, '
                    'episode_index, task_index, index), meta/info.json, meta/stats.json, '
                    'meta/tasks.parquet and meta/episodes/.')
    p.add_argument('bags', nargs='+', help='bag folders, or folders of bags')
    p.add_argument('--out', required=True, help='new dataset folder (must not hold files)')
    p.add_argument('--fps', type=float, default=None,
                   help='frames per second (default: the recorded control rate)')
    p.add_argument('--robot-type', default=None,
                   help='info.json robot_type (default: the recorded profile name)')
    p.set_defaults(func=_export)
    p = sub.add_parser(
        'repair-bag', help='make bags left by a killed recorder readable',
        description='Cut a bag whose recorder died in the middle of a flush back to its last '
                    'whole MCAP record and rewrite metadata.yaml. Bags that read already '
                    'are left untouched.')
    p.add_argument('bags', nargs='+', help='bag folders, or folders of bags')
    p.set_defaults(func=_repair)
