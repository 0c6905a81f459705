"""Plain helpers the tests import (`from helpers import ...`); fixtures live in conftest.py."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

REPO_ROOT = Path(__file__).resolve().parents[1]


def index_frame(i: int, size: int = 64) -> np.ndarray:
    """A frame whose brightness encodes its index (survives lossy H.264 to within a few grey levels)."""
    return np.full((size, size, 3), 4 + 8 * i, dtype=np.uint8)


def decode_index(frame: np.ndarray) -> int:
    return int(round((float(frame.mean()) - 4) / 8))


def write_json(path: Path, data) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return path


def write_image(path: Path, value: int = 128, size: int = 32) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((size, size, 3), value, dtype=np.uint8)).save(path)
    return path


def tiny_argv(output_dir, data_dir, model_dir, family="llava", *extra) -> list[str]:
    """Command-line words for configs/tiny.yaml on the test's own data and prebuilt tiny model."""
    return [str(REPO_ROOT / "configs" / "tiny.yaml"), "--family", family,
            "--train_data", str(data_dir / "train.json"), "--output_dir", str(output_dir),
            "--prepared_model_dir", str(model_dir), "--report_to", "none", "--max_steps", "3",
            "--per_device_train_batch_size", "2", "--save_steps", "100", "--logging_steps", "1",
            "--dataloader_num_workers", "0", *map(str, extra)]
