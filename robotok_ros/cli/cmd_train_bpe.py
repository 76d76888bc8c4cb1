"""
`robotok train-bpe`: fit the DCT + BPE (FAST-style) chunk tokenizer on demonstrations.

Episodes are split into training and validation sets BY EPISODE (chunks of one
demonstration never sit on both sides), the BPE is trained on every H-step
window of the training episodes, and both sets are measured on back-to-back
chunks as a policy would play them: tokens per chunk, compression against the
H x D coefficients, RMSE per dimension in action and physical units, decode
failures, length fixes and clips, with the same routine as `robotok
analyze`.  Warnings (stderr) name the flag that fixes them: ranges far wider
than the data (--fit-ranges), held-out values clipped at fitted ranges, steps
left unmeasured after the last whole chunk.  The tokenizer and metrics.json go
to --out.  With --hf-out, a FAST tokenizer in the Hugging Face hub format is also
trained on the same windows (tokenizer.json, processor_config.json and an
openpi norm_stats.json), which openpi / LeRobot code and `--tokenizer-path`
load, and measured on the validation episodes.
"""

import argparse
import json
from pathlib import Path
import sys

from robotok_ros.analysis import chunk_metrics
from robotok_ros.cli.common import (add_profile_args, add_settings_args, add_split_data_args,
                                    given_settings, profile_from_args, train_val_from_args)
from robotok_ros.fitting import fit_ranges
from robotok_ros.tokenizers.fast import FASTTokenizer
from robotok_ros.tokenizers.settings import FASTSettings
from robotok_ros.tokenizers.symbol_bpe import SYMBOL_BASE

EXAMPLES = """\
examples:
  robotok train-bpe --synthetic 200 --robot robosuite_panda_osc --chunk-steps 20 --out /tmp/bpe
  robotok train-bpe --data lift.hdf5 door.hdf5 stack.hdf5 --val-data nut-assembly.hdf5 \\
      --robot robosuite_panda_osc --chunk-steps 20 --fit-ranges --out /tmp/bpe
  robotok train-bpe --data bridge/ --robot widowx_250 --chunk-steps 5 \\
      --normalization quantile --norm-clip 2 --val-fraction 0.2 --out /tmp/bpe
"""


def register(subparsers):
    """Add the ``train-bpe`` subcommand."""
    p = subparsers.add_parser(
        'train-bpe', help='train the DCT+BPE (FAST-style) chunk tokenizer',
        description=__doc__.split('\n\n', 1)[1], epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    add_profile_args(p)
    add_split_data_args(p)
    add_settings_args(p, FASTSettings)
    p.add_argument('--fit-ranges', action='store_true',
                   help='set the profile min/max and q01/q99 from the training episodes')
    p.add_argument('--out', required=True, metavar='DIR', help='folder for the tokenizer')
    p.add_argument('--hf-out', metavar='DIR',
                   help='also write a FAST folder in the Hugging Face hub format (same chunk '
                        'steps, scale and vocab; normalised as --normalization says)')
    p.add_argument('--quiet', action='store_true', help='no progress bars')
    p.set_defaults(func=run)


def format_metrics(label, m):
    """Return a few readable lines for one metrics dict."""
    rmse = '  '.join(f'{k} {v:.3g}' for k, v in m['rmse_physical'].items())
    return '\n'.join([
        f'{label}: {m["chunks"]} chunks of {m["chunk_steps"]} steps '
        f'({m["coefficients_per_chunk"]} coefficients each); {m["tail_steps_not_measured"]} of '
        f'{m["steps"]} steps after the last whole chunk not measured',
        f'  tokens/chunk mean {m["tokens_per_chunk_mean"]:.2f}  p95 '
        f'{m["tokens_per_chunk_p95"]:.0f}  max {m["tokens_per_chunk_max"]}  compression '
        f'{m["compression_ratio"]:.2f}x  tokens/s of motion {m["tokens_per_second"]:.1f}',
        f'  RMSE (physical) {rmse}',
        f'  decode failures {m["decode_failures"]}  length fixes {m["length_fixes"]}  '
        f'action clips {sum(m["action_clips"].values())}  coefficient clips '
        f'{sum(m["coefficient_clips"].values())}'])


def warnings(tok, base, fitted_ranges, train, val, metrics):
    """Return the warning lines of a fitted DCT+BPE tokenizer, naming train-bpe's flags."""
    from robotok_ros import checks
    span, box = checks.tokenizer_ranges(tok)
    clip = 'train on episodes that cover the held-out range'
    if fitted_ranges and checks.holds((base.lows, base.highs), val, base.dim):
        clip = (f"drop --fit-ranges (profile {base.name}'s ranges hold every held-out value), "
                f'or {clip}')
    wide = ("add --fit-ranges (the training data's min/max)" if not fitted_ranges
            else 'give a profile with narrower ranges')
    found = checks.range_findings(span, box, train, val, tok.profile)
    lines = checks.range_warnings(found, tok.profile, None, wide, clip)
    v = metrics['validation']
    tail = checks.tail_warning(None, v['tail_steps_not_measured'], v['steps'], tok.chunk_steps)
    return lines + ([tail] if tail else [])


def run(args):
    """Load data, split by episode, fit, measure, save; return 0."""
    base = profile = profile_from_args(args)
    train, val = train_val_from_args(args, profile)
    if args.fit_ranges:
        profile = fit_ranges(train, profile)
    tok = FASTTokenizer(profile, **given_settings(args, FASTSettings.names()))
    print(f'train-bpe: {len(train)} training / {len(val)} validation episodes; alphabet '
          f'{2 * tok.coeff_clip + 1} symbols (U+{SYMBOL_BASE:04X}..), coefficients clipped to '
          f'+-{tok.coeff_clip}')
    tok.fit(train, progress=not args.quiet)
    metrics = {'tokenizer': tok.settings(), 'vocab_size': tok.vocab_size,
               'id_range': list(tok.id_range), 'profile': profile.name,
               'train_episodes': len(train), 'val_episodes': len(val),
               'error_bound_rms': dict(zip(profile.names, tok.error_bound()[0].tolist())),
               'train': chunk_metrics(tok, train, not args.quiet),
               'validation': chunk_metrics(tok, val, not args.quiet)}
    out = Path(args.out)
    tok.save(out)
    print(tok.describe())
    print(format_metrics('train', metrics['train']))
    print(format_metrics('validation', metrics['validation']))
    for line in warnings(tok, base, args.fit_ranges, train, val, metrics):
        print(f'robotok train-bpe: warning: {line}', file=sys.stderr)
    if args.hf_out:
        from robotok_ros.cli.hf_export import export_hf_folder
        metrics['hf_format'] = hf = export_hf_folder(args.hf_out, tok, train, val,
                                                     not args.quiet)
        print(f'saved {args.hf_out}/ (tokenizer.json, processor_config.json, '
              f'norm_stats.json): {hf["vocab_size"]} BPE tokens, min_token '
              f'{hf["min_token"]}; validation {hf["chunks"]} chunks, '
              f'{hf["tokens_per_chunk_mean"]:.2f} tokens/chunk, {hf["refused"]} refused')
    (out / 'metrics.json').write_text(json.dumps(metrics, indent=2) + '\n')
    print(f'saved {out}/ (tokenizer.yaml, state.safetensors, metrics.json)')
    return 0
