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


def add_profile_args(parser):
    """Add ``--robot NAME`` / ``--profile PATH`` (one robot profile; no silent default)."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument('--robot', default=None,
                       help='robot profile name (see `robotok profile list`; a name: field on '
                            'ROBOTOK_PROFILE_PATH counts too)')
    group.add_argument('--profile', default=None, metavar='PATH',
                       help='a robot profile YAML file of your own')


# The robot --synthetic demonstrations are generated for when no robot is named.
SYNTHETIC_ROBOT = 'franka_panda'


def missing_robot_error(args):
    """Return the ConfigError for a command given neither --robot nor --profile."""
    from robotok_ros.profile_loader import list_profiles
    known = ', '.join(list_profiles()) or '(none found)'
    text = f'give --robot NAME (one of: {known}) or --profile PATH'
    if getattr(args, 'data', None):
        text += ('; for a robot without a profile make one from the data: robotok fit --data '
                 f'{" ".join(args.data)} --out my_robot.yaml, then --profile my_robot.yaml')
    return ConfigError(text)


def profile_from_args(args):
    """
    Load the profile the user named; naming none is an error listing the profiles.

    Only generated demonstrations (``--synthetic N`` alone) fall back to SYNTHETIC_ROBOT,
    and say so (on stdout, beside the results: stderr stays one line per error): no
    recorded data is ever read as a robot it may not be.
    """
    if args.profile or args.robot:
        return load_profile(args.profile or args.robot)
    if getattr(args, 'synthetic', None) is not None and not getattr(args, 'data', None):
        print(f'note: no --robot given: the synthetic demonstrations are made for '
              f'{SYNTHETIC_ROBOT} (give --robot NAME for another)')
        return load_profile(SYNTHETIC_ROBOT)
    raise missing_robot_error(args)


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


COLUMNS_HELP = ("choose and name the action columns: indices '0:6' or '0,1,2,6', the file's "
                "column names 'x,y,z', NAME=INDEX to name them ('j1=0,j2=1'); default: the "
                "profile's column keys, else every column")


def add_data_args(parser, required=False):
    """Add ``--data PATH...`` / ``--synthetic N`` (recorded or generated episodes)."""
    group = parser.add_mutually_exclusive_group(required=required)
    group.add_argument('--data', nargs='+', metavar='PATH',
                       help='recorded demonstrations: robomimic .hdf5, RLDS .tfrecord, .npz, '
                            '.csv, LeRobot parquet/folder, or a rosbag2 folder/.mcap; several '
                            'files or folders are joined')
    group.add_argument('--synthetic', type=int, metavar='N',
                       help='N generated demonstrations (minimum-jerk reaches and grasps)')
    parser.add_argument('--key', default=None,
                        help='dataset key/column holding actions (reader-specific default)')
    parser.add_argument('--columns', default=None, metavar='SPEC', help=COLUMNS_HELP)
    parser.add_argument('--seed', type=int, default=0, help='seed for --synthetic')


def episodes_from_args(args, profile):
    """Return the episodes (list of ``(T, D)``) the user pointed at; default 16 synthetic."""
    if getattr(args, 'data', None):
        return read_paths(args.data, args.key, profile, getattr(args, 'columns', None))
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
    parser.add_argument('--columns', default=None, metavar='SPEC', help=COLUMNS_HELP)
    parser.add_argument('--seed', type=int, default=0, help=f'{seed_help} (default 0)')


def read_paths(paths, key, profile, columns=None):
    """
    Read and join the episodes of several files or folders, checking D against the profile.

    ``columns`` (``--columns``) chooses the action columns, else the profile's ``column``
    keys do; a width that still differs from the profile's is an error saying how to go on.
    """
    from robotok_ros.data.readers import read_actions
    what = '--columns' if columns is not None else f'profile {profile.name} column keys'
    columns = columns if columns is not None else profile.columns
    episodes = []
    for path in paths:
        eps = read_actions(path, key=key, dim=profile.dim, columns=columns, what=what).episodes
        for i, ep in enumerate(eps):
            if ep.shape[1] != profile.dim:
                raise ConfigError(f'{path}: episode {i} has {ep.shape[1]} action dimensions, '
                                  f'profile {profile.name} has {profile.dim} '
                                  f'({", ".join(profile.names)}); {_way_on(path, ep, profile)}')
        episodes.extend(eps)
    return episodes


def _way_on(path, ep, profile):
    # What the user can do about a width mismatch: choose columns, or fit a profile.
    new = f'fit a new profile: robotok fit --data {path} --out my_robot.yaml (without --robot)'
    if ep.shape[1] > profile.dim:
        return (f'choose {profile.dim} of them with --columns (e.g. --columns '
                f'0:{profile.dim}), or {new}')
    named = ','.join(f'{n}={j}' for j, n in enumerate(profile.names[:ep.shape[1]]))
    return (f'name them after dimensions of {profile.name} to fit that part of it (robotok '
            f'fit --robot {profile.name} --columns {named}), or {new}')


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
        episodes = read_paths(args.data, args.key, profile, args.columns)
    if args.val_data:
        return episodes, read_paths(args.val_data, args.key, profile, args.columns)
    return split_episodes(episodes, args.val_fraction, args.seed)
