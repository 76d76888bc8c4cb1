"""Edit saved tokenizer folders the way an attacker who rewrites every file would."""

import hashlib
from pathlib import Path

import yaml

CONFIG_FILE = 'tokenizer.yaml'
STATE_FILE = 'state.safetensors'


def edit_config(folder, change):
    """Apply ``change(config dict)`` to ``folder``'s tokenizer.yaml and write it back."""
    path = Path(folder) / CONFIG_FILE
    config = yaml.safe_load(path.read_text())
    change(config)
    path.write_text(yaml.safe_dump(config, sort_keys=False))


def reseal(folder):
    """Record the state file's SHA-256 again, so a load reaches the checks behind it."""
    state = Path(folder) / STATE_FILE
    if state.is_file():
        digest = hashlib.sha256(state.read_bytes()).hexdigest()
        edit_config(folder, lambda config: config.update(state_sha256=digest))
