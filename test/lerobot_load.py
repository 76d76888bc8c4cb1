"""
Load a LeRobot dataset folder with lerobot's own LeRobotDataset; print every frame as JSON.

Run by test_lerobot_compat.py in the lerobot venv (.venv-lerobot), never in robotok's:
``python lerobot_load.py FOLDER``.  PyPI's torchvision cannot be imported beside this
machine's torch wheel ("operator torchvision::nms does not exist"); lerobot's dataset
module imports ``torchvision.transforms`` at import time, but a dataset without images
never calls it, so an empty stand-in module is given instead.
"""

import importlib.machinery
import json
import sys
import types


def _stand_in(name):
    module = types.ModuleType(name)
    module.__spec__ = importlib.machinery.ModuleSpec(name, None)
    sys.modules[name] = module
    return module


def main(folder):
    """Print the dataset's metadata and frames (lists of plain numbers) as one JSON line."""
    vision = _stand_in('torchvision')
    vision.transforms = _stand_in('torchvision.transforms')
    vision.transforms.v2 = _stand_in('torchvision.transforms.v2')
    from lerobot.datasets.lerobot_dataset import LeRobotDataset
    ds = LeRobotDataset('local/robotok_export', root=folder)
    frames = []
    for i in range(len(ds)):
        item = ds[i]
        frames.append({k: (v.tolist() if hasattr(v, 'tolist') else v) for k, v in item.items()})
    print(json.dumps({'fps': ds.meta.fps, 'fps_type': type(ds.meta.fps).__name__,
                      'num_episodes': ds.num_episodes, 'num_frames': ds.num_frames,
                      'tasks': list(ds.meta.tasks.index), 'frames': frames}))


if __name__ == '__main__':
    main(sys.argv[1])
