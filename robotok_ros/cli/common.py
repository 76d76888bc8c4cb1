"""Arguments every `robotok` subcommand shares: which robot, which tokenizer, which data."""

import argparse

import numpy as np
from robotok_ros.errors import ConfigError
from robotok_ros.profile_loader import load_profile
from robotok_ros.tokenizers.build import build_tokenizer, buildable_settings
from robotok_ros.tokenizers.registry import kinds

# How build_tokenizer's errors spell the arguments that are not settings flags.
FLAGS = {'tokenizer': '--tokenizer', 'tokenizer_path': '--tokenizer-path', 'robot': '--robot',
         'profile_path': '--profile'}


def add_profile_args(parser, default='franka_panda'):
    """Add ``--robot NAME`` / ``--profile PATH`` (one robot profile)."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument('--robot', default=None,
                       help=f'shipped robot profile name (default: {default}); see '
                            '`robotok profile list`')
    group.add_argument('--profile', default=None, metavar='PATH',
                       help='a robot profile YAML file of your own')
    parser.set_defaults(default_robot=default)


def profile_from_args(args):
    """Load the profile the user named."""
    return load_profile(args.profile or args.robot or args.default_robot)


def flag_name(name):
    """Return the command-line spelling of setting ``name`` (``n_bins`` -> ``--n-bins``)."""
    return FLAGS.get(name, '--' + name.replace('_', '-'))


def add_settings_args(parser, specs, skip=(), unset_default=False):
    """
    Add one flag per setting of ``specs`` (a Settings class or ``buildable_settings()``).

    Flags are generated from the settings fields, so names, defaults, choices and
    help match the node parameters.  ``unset_default``: flags default to None,
    so ``given_settings`` can tell what the user set.
    """
    if not isinstance(specs, dict):
        specs = {name: (t, d, m) for name, t, d, m in specs.field_specs()}
    for name, (kind_type, default, meta) in specs.items():
        if name in skip:
            continue
        shown = list(default) if isinstance(default, tuple) else default
        kw = {'dest': name, 'default': None if unset_default else shown,
              'help': f'{meta["help"]} (default {shown})'}
        if kind_type is bool:
            kw['action'] = argparse.BooleanOptionalAction
        elif kind_type is tuple:
            kw.update(type=int, nargs='+', metavar='N')
        else:
            kw['type'] = kind_type
            if meta.get('choices'):
                kw['choices'] = meta['choices']
        parser.add_argument(flag_name(name), **kw)


def given_settings(args, names):
    """Return ``{name: value}`` of the settings flags the user set (not None)."""
    return {n: getattr(args, n) for n in names if getattr(args, n, None) is not None}


def add_tokenizer_args(parser):
    """Add ``--tokenizer KIND`` with the settings flags of every buildable kind, or a folder."""
    parser.add_argument('--tokenizer', default='uniform', choices=kinds(),
                        help='tokenizer kind (default: uniform, RT-2 bins)')
    parser.add_argument('--tokenizer-path', default=None, metavar='DIR',
                        help='a saved tokenizer folder (from `robotok fit --save-tokenizer`, '
                             'train-vq or train-bpe), or a FAST folder from the Hugging Face '
                             'hub (tokenizer.json + processor_config.json, with the profile '
                             'and the FAST flags below); overrides --tokenizer')
    add_settings_args(parser, buildable_settings(), unset_default=True)
    group = parser.add_argument_group('FAST hub folder (--tokenizer-path DIR with '
                                      'processor_config.json)')
    add_settings_args(group, hf_settings_class(), unset_default=True)


def hf_settings_class():
    """Return the settings class of the ``fast_hf`` kind (its flags)."""
    from robotok_ros.tokenizers.fast_hf import FastHFSettings
    return FastHFSettings


def _hf_folder_tokenizer(args, profile):
    """Return the fast_hf tokenizer of a hub folder, or None when the path is not one."""
    from pathlib import Path
    from robotok_ros.tokenizers.fast_hf import FastHFTokenizer
    from robotok_ros.tokenizers.fast_hf_files import is_hf_folder
    from robotok_ros.tokenizers.folder import CONFIG_FILE
    path = args.tokenizer_path
    if not path or (Path(path) / CONFIG_FILE).is_file() or not is_hf_folder(path):
        return None
    given = given_settings(args, hf_settings_class().names())
    try:
        return FastHFTokenizer.from_folder(path, profile or profile_from_args(args), **given)
    except ConfigError as exc:
        raise ConfigError(f'--tokenizer-path={path!r}: {exc}') from None


def tokenizer_from_args(args, profile=None):
    """Build (or load) the tokenizer the user named, with the node's checks."""
    hf = _hf_folder_tokenizer(args, profile)
    if hf is not None:
        return hf
    hf_given = given_settings(args, hf_settings_class().names())
    if hf_given:
        name = next(iter(hf_given))
        raise ConfigError(f'{flag_name(name)}={hf_given[name]!r} applies only to a FAST hub '
                          'folder given as --tokenizer-path (tokenizer.json + '
                          'processor_config.json)')
    if args.tokenizer_path:
        return build_tokenizer(None, None, tokenizer_path=args.tokenizer_path, name_of=flag_name)
    profile = profile or profile_from_args(args)
    given = given_settings(args, buildable_settings())
    return build_tokenizer(args.tokenizer, profile, given, name_of=flag_name)


def add_data_args(parser, required=False):
    """Add ``--data PATH`` / ``--synthetic N`` (recorded or generated episodes)."""
    group = parser.add_mutually_exclusive_group(required=required)
    group.add_argument('--data', metavar='PATH',
                       help='recorded demonstrations: robomimic .hdf5, RLDS .tfrecord, .npz, '
                            '.csv, LeRobot parquet/folder, or a rosbag2 folder/.mcap')
    group.add_argument('--synthetic', type=int, metavar='N',
                       help='N generated demonstrations (minimum-jerk reaches and grasps)')
    parser.add_argument('--key', default=None,
                        help='dataset key/column holding actions (reader-specific default)')
    parser.add_argument('--seed', type=int, default=0, help='seed for --synthetic')


def episodes_from_args(args, profile):
    """Return the episodes (list of ``(T, D)``) the user pointed at; default 16 synthetic."""
    if getattr(args, 'data', None):
        from robotok_ros.data.readers import read_episodes
        episodes = read_episodes(args.data, key=args.key, dim=profile.dim)
        bad = [i for i, ep in enumerate(episodes) if ep.shape[1] != profile.dim]
        if bad:
            raise ConfigError(f'{args.data}: episode {bad[0]} has {episodes[bad[0]].shape[1]} '
                              f'action dimensions, profile {profile.name} has {profile.dim}')
        return episodes
    from robotok_ros.data.synthetic import generate_episodes
    return generate_episodes(profile, n_episodes=getattr(args, 'synthetic', None) or 16,
                             seed=getattr(args, 'seed', 0))


def parse_rows(text, dtype, what):
    """Parse ``'1,2,3;4,5,6'`` (rows by ';' or newline) into a 2-D array, naming bad values."""
    rows = []
    for r, row in enumerate(text.replace('\n', ';').split(';')):
        if not row.strip():
            continue
        values = []
        for c, item in enumerate(row.replace(' ', ',').split(',')):
            if not item:
                continue
            try:
                values.append(dtype(item))
            except ValueError:
                raise ConfigError(f'{what} row {r} item {c}: {item!r} is not '
                                  f'{"an integer" if dtype is int else "a number"}') from None
        rows.append(values)
    if not rows or len({len(r) for r in rows}) != 1:
        raise ConfigError(f'{what}: give rows of equal length, got {[len(r) for r in rows]}')
    return np.array(rows, dtype=np.int64 if dtype is int else np.float64)


def add_split_data_args(parser, seed_help='seed of the split and of --synthetic'):
    """Add training data (``--data``/``--synthetic``) and its validation split by episode."""
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument('--data', nargs='+', metavar='PATH',
                     help='recorded demonstrations (any format `robotok` reads); several '
                          'files or folders are joined')
    src.add_argument('--synthetic', type=int, metavar='N',
                     help='N generated demonstrations (minimum-jerk reaches and grasps)')
    parser.add_argument('--val-data', nargs='+', metavar='PATH',
                        help='measure on these episodes instead of a split of --data')
    parser.add_argument('--val-fraction', type=float, default=0.2, metavar='F',
                        help='share of episodes held out for validation (default 0.2, '
                             'at least 1)')
    parser.add_argument('--key', default=None, help='dataset key/column holding the actions')
    parser.add_argument('--seed', type=int, default=0, help=f'{seed_help} (default 0)')


def read_paths(paths, key, profile):
    """Read and join the episodes of several files or folders, checking D against the profile."""
    from robotok_ros.data.readers import read_episodes
    episodes = []
    for path in paths:
        for i, ep in enumerate(read_episodes(path, key=key, dim=profile.dim)):
            if ep.shape[1] != profile.dim:
                raise ConfigError(f'{path}: episode {i} has {ep.shape[1]} action dimensions, '
                                  f'profile {profile.name} has {profile.dim}')
            episodes.append(ep)
    return episodes


def split_episodes(episodes, fraction, seed):
    """Shuffle episode indices with ``seed``; return (train, validation) lists of episodes."""
    if not 0 < fraction < 1:
        raise ConfigError(f'--val-fraction must be in (0, 1), got {fraction!r}')
    if len(episodes) < 2:
        raise ConfigError(f'a split by episode needs at least 2 episodes, got {len(episodes)}; '
                          'give --val-data')
    order = np.random.default_rng(seed).permutation(len(episodes))
    n_val = min(len(episodes) - 1, max(1, round(fraction * len(episodes))))
    return ([episodes[i] for i in sorted(order[n_val:])],
            [episodes[i] for i in sorted(order[:n_val])])


def train_val_from_args(args, profile):
    """Return (train, validation) episodes from ``add_split_data_args`` arguments."""
    if args.synthetic is not None:
        if args.synthetic < 2 and not args.val_data:
            raise ConfigError(f'--synthetic needs at least 2 episodes, got {args.synthetic}')
        from robotok_ros.data.synthetic import generate_episodes
        episodes = generate_episodes(profile, n_episodes=args.synthetic, seed=args.seed)
    else:
        episodes = read_paths(args.data, args.key, profile)
    if args.val_data:
        return episodes, read_paths(args.val_data, args.key, profile)
    return split_episodes(episodes, args.val_fraction, args.seed)
