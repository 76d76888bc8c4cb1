"""
`robotok train-policy`: train a small transformer from robot state to action tokens.

Reads episode bags recorded with their robot state (episode_recorder's
observation_topics), splits them into training and validation sets BY EPISODE,
and trains a policy whose targets are the tokens of any tokenizer kind: the D
ids of each step (per-step kinds) or the ids of the chunk starting at each
step (chunk kinds; FAST's variable-length sequences end with an end id).  The
head is 'ar' (one token after another, causal) or 'parallel' (all at once).
Tokenizers that learn (quantile, fast, vq) are fitted on the training
episodes' actions unless --tokenizer-path gives one.  The policy folder (--out)
holds policy.yaml, policy.safetensors, the tokenizer and metrics.json:
training and validation loss, validation token accuracy (per token and whole
step / chunk, greedy as on the robot), decode failures, action RMSE, and the
numpy policy's latency per call.
"""

import argparse
from fnmatch import fnmatch
import json
from pathlib import Path

from robotok_ros.cli.common import (add_profile_args, add_settings_args, add_tokenizer_args,
                                    flag_name, given_settings, split_episodes,
                                    tokenizer_from_args)
from robotok_ros.errors import ConfigError
from robotok_ros.policy.config import PolicyConfig, TrainSettings

EXAMPLES = """\
examples:
  robotok train-policy --data bags/ --tokenizer uniform --n-bins 256 --head ar --out /tmp/p
  robotok train-policy --data bags/ --tokenizer vq --tokenizer-setting chunk_steps=8 \\
      codebook_size=64 levels=2 --head parallel --epochs 50 --out /tmp/p_vq
  robotok train-policy --data bags/ more_bags/ --tokenizer-path /tmp/fast --head ar \\
      --history 2 --threads 2 --out /tmp/p_fast
"""


def register(subparsers):
    """Add the ``train-policy`` subcommand."""
    p = subparsers.add_parser(
        'train-policy', help='train a transformer policy: robot state -> action tokens',
        description=__doc__.split('\n\n', 1)[1], epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--data', nargs='+', required=True, metavar='DIR',
                   help='episode bags (folders of bags, or bags) recorded with robot state')
    p.add_argument('--val-data', nargs='+', metavar='DIR',
                   help='validate on these bags instead of a split of --data')
    add_profile_args(p)
    add_tokenizer_args(p)
    p.add_argument('--tokenizer-setting', nargs='+', action='extend', default=[],
                   metavar='NAME=VALUE',
                   help='a setting of the tokenizer fitted here (e.g. chunk_steps=8 '
                        'codebook_size=64 for vq; values are YAML)')
    add_settings_args(p, PolicyConfig)
    add_settings_args(p, TrainSettings)
    p.add_argument('--ranges', choices=('data', 'profile'), default='data',
                   help="data (default): the tokenizer's ranges are the training episodes' "
                        "min/max (kinds that may choose); profile: the robot profile's")
    p.add_argument('--state', nargs='+', metavar='PATTERN',
                   help="state values the policy sees, by name pattern (e.g. 'ee_pose.*' "
                        "'task_state.*'); default all recorded (and derived) values")
    p.add_argument('--relative', choices=('auto', 'none'), default='auto',
                   help='auto: the policy also sees each task-state object position minus the '
                        "TCP's (ee_pose), where both are recorded; none: recorded values only")
    p.add_argument('--out', required=True, metavar='DIR', help='folder for the policy')
    p.add_argument('--quiet', action='store_true', help='no progress bar')
    p.set_defaults(func=run)


def parse_settings(items):
    """Return ``{name: value}`` from ``NAME=VALUE`` strings (values read as YAML)."""
    import yaml
    out = {}
    for item in items:
        name, sep, text = item.partition('=')
        if not sep or not name:
            raise ConfigError(f'--tokenizer-setting {item!r}: write NAME=VALUE')
        try:
            out[name.replace('-', '_')] = yaml.safe_load(text)
        except yaml.YAMLError:
            raise ConfigError(f'--tokenizer-setting {item!r}: {text!r} is not a value') from None
    return out


def tokenizer_for(args, profile, train):
    """Return the tokenizer: loaded (--tokenizer-path), built, or fitted on ``train``."""
    from robotok_ros.tokenizers.build import buildable_settings
    from robotok_ros.tokenizers.registry import tokenizer_class
    extra = parse_settings(args.tokenizer_setting)
    if args.tokenizer_path:
        if extra:
            raise ConfigError(f'--tokenizer-setting applies to a tokenizer fitted here, not to '
                              f'--tokenizer-path={args.tokenizer_path!r}')
        return tokenizer_from_args(args, profile), False
    cls = tokenizer_class(args.tokenizer)
    if getattr(args, 'ranges', 'profile') == 'data' and cls.capabilities.ranges_choice:
        # Bins over the demonstrations' own range, not the controller's: a Panda profile's
        # +-1.1 m/s in 255 bins is 9 mm/s a bin, and a policy's one-bin bias while it
        # descends for 4 s carries the hand 3.5 cm off the cube.
        if 'fit_ranges' in cls.settings_class.names():
            extra.setdefault('fit_ranges', True)
        else:
            given = dict(given_settings(args, buildable_settings()), **extra)
            profile = cls.data_profile([ep.actions for ep in train], profile, given)
            if not cls.capabilities.needs_fit and not extra:
                return tokenizer_from_args(args, profile), True
    given = dict(given_settings(args, buildable_settings()), **extra)
    if not cls.capabilities.needs_fit and not extra:
        return tokenizer_from_args(args, profile), False
    own = cls.settings_class.names()
    for name, value in given.items():
        if name not in own:
            spelled = flag_name(name) if name not in extra else f'--tokenizer-setting {name}'
            raise ConfigError(f'{spelled}={value!r} does not apply to the {args.tokenizer} '
                              f'tokenizer (its settings: {", ".join(own) or "none"})')
    if 'seed' in own:
        given.setdefault('seed', args.seed)
    try:
        tok = cls(profile, **given)
    except ConfigError as exc:
        raise ConfigError(f'tokenizer {args.tokenizer!r} with {given}: {exc}') from None
    if not cls.capabilities.needs_fit:
        return tok, False
    if cls.capabilities.fit_needs_torch:
        import torch
        torch.set_num_threads(args.threads)
    return tok.fit([ep.actions for ep in train]), True


def _check_dims(episodes, profile):
    for ep in episodes:
        if ep.actions.shape[1] != profile.dim:
            raise ConfigError(f'{ep.path}: {ep.actions.shape[1]} action dimensions, profile '
                              f'{profile.name} has {profile.dim}')


def run(args):
    """Read bags, split by episode, fit the tokenizer, train, save the policy; return 0."""
    from robotok_ros.policy.data import profile_of, read_state_episodes, relative_pairs, \
        with_relative
    from robotok_ros.policy.files import save_policy
    from robotok_ros.policy.train import train_policy
    from robotok_ros.profile_loader import load_profile
    config = PolicyConfig(**given_settings(args, PolicyConfig.names()))
    settings = TrainSettings(**given_settings(args, TrainSettings.names()))
    episodes, names = read_state_episodes(args.data)
    if args.val_data:
        episodes, (val, _) = episodes, read_state_episodes(args.val_data, names)
    pairs = relative_pairs(names) if args.relative == 'auto' else []
    for ep in episodes + (val if args.val_data else []):
        ep.states, derived = with_relative(ep.states, names, pairs)
    names = derived
    if args.state:
        keep = [i for i, n in enumerate(names) if any(fnmatch(n, pat) for pat in args.state)]
        if not keep:
            raise ConfigError(f'--state {" ".join(args.state)}: matches none of the recorded '
                              f'state values ({", ".join(names[:6])}, ...)')
        for ep in episodes + (val if args.val_data else []):
            ep.states = ep.states[:, keep]
        names = [names[i] for i in keep]
    if args.val_data:
        train = episodes
    else:
        train, val = split_episodes(episodes, settings.val_fraction, settings.seed)
    given_profile = args.profile or args.robot
    profile = load_profile(given_profile) if given_profile else profile_of(train)
    _check_dims(train + val, profile)
    tok, fitted = tokenizer_for(args, profile, train)
    fit_note = ' (fitted on the training episodes)' if fitted else ''
    print(f'train-policy: {len(train)} training / {len(val)} validation episodes, state of '
          f'{len(names)} values; {tok.describe()}{fit_note}')
    layout, arrays, metrics, _ = train_policy(train, val, tok, names, config, settings,
                                              progress=not args.quiet)
    out = Path(args.out)
    save_policy(out, config, layout, arrays, tok,
                train=dict(settings.to_dict(), data=[str(d) for d in args.data],
                           val_data=[str(d) for d in args.val_data or []],
                           tokenizer_fitted=fitted))
    metrics = dict(metrics, config=config.to_dict(), train_settings=settings.to_dict(),
                   tokenizer={'kind': tok.kind, 'settings': tok.settings(),
                              'vocab_size': int(tok.vocab_size),
                              'id_range': [int(v) for v in tok.id_range]},
                   profile=profile.name, state_names=list(names),
                   train_bags=[str(ep.path) for ep in train],
                   val_bags=[str(ep.path) for ep in val])
    (out / 'metrics.json').write_text(json.dumps(metrics, indent=2) + '\n')
    unit = metrics['exact_unit']
    print(f'trained {settings.epochs} epochs in {metrics["train_seconds"]:.1f} s: loss train '
          f'{metrics["train_loss"]:.4f}, validation {metrics["val_loss"]:.4f}')
    print(f'validation token accuracy {metrics["val_token_accuracy"]:.1%}, whole-{unit} exact '
          f'{metrics["val_exact_accuracy"]:.1%}, decode failures '
          f'{metrics["val_decode_failures"]}, action RMSE {metrics["val_action_rmse"]:.4g}')
    print(f'numpy inference {metrics["inference_ms_per_call_mean"]:.2f} ms per call (p95 '
          f'{metrics["inference_ms_per_call_p95"]:.2f} ms), one call every '
          f'{metrics["messages_every_steps"]} step(s)')
    print(f'saved {out}/ (policy.yaml, policy.safetensors, tokenizer/, metrics.json)')
    return 0
