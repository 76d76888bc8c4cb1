"""
`robotok import-fast`: a hub FAST folder -> a saved fast_hf tokenizer folder for the nodes.

The decoder node's ``tokenizer_path`` takes folders this package saved
(``tokenizer.yaml`` with the settings and the robot profile, and the BPE's
``tokenizer.json`` in ``state.safetensors`` with its SHA-256).  This command
makes one from a FAST folder as published on the Hugging Face hub (FAST,
Pertsch et al., 2025, arXiv:2501.09747), with the chunk length, the id map
and the normalisation statistics given once here.
"""

import argparse
from pathlib import Path

from robotok_ros.cli.common import (add_profile_args, add_settings_args, given_settings,
                                    profile_from_args)
from robotok_ros.errors import ConfigError
from robotok_ros.tokenizers.fast_hf import FastHFSettings, FastHFTokenizer
from robotok_ros.tokenizers.fast_hf_files import is_hf_folder

EXAMPLES = """\
examples:
  robotok import-fast ./fast_tokenizer --robot franka_panda --time-horizon 10 \\
      --id-map paligemma --norm-stats ./assets/norm_stats.json --out /tmp/pi0fast_franka
  robotok import-fast ./fast_tokenizer --robot widowx_250 --id-map qwen --out /tmp/nora
"""


def register(subparsers):
    """Add the ``import-fast`` subcommand."""
    p = subparsers.add_parser(
        'import-fast', help='hub FAST folder -> tokenizer folder for tokenizer_path',
        description=__doc__.split('\n\n', 1)[1], epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('folder', help='FAST folder: tokenizer.json + processor_config.json')
    add_profile_args(p)
    add_settings_args(p, FastHFSettings, unset_default=True)
    p.add_argument('--out', required=True, metavar='DIR', help='folder to save the tokenizer to')
    p.set_defaults(func=run)


def run(args):
    """Load the hub folder with the settings given, save it, print what it is; return 0."""
    if not is_hf_folder(args.folder):
        raise ConfigError(f'{args.folder}: not a FAST folder (needs tokenizer.json and '
                          'processor_config.json)')
    settings = given_settings(args, FastHFSettings.names())
    if 'norm_stats' in settings:  # saved in tokenizer.yaml: valid from any working directory
        settings['norm_stats'] = str(Path(settings['norm_stats']).resolve())
    tok = FastHFTokenizer.from_folder(args.folder, profile_from_args(args), **settings)
    tok.save(args.out)
    print(f'wrote {args.out}: {tok.describe()}; chunks of {tok.chunk_steps} steps, '
          f'id map {tok.config.id_map}, normalisation {tok.norm_mode}')
    return 0
