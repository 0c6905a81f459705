"""Shared fixtures: real files on disk, written by the tests themselves."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from geollava.data.mp4 import write_mp4
from geollava.synthetic.generate import generate_split

REPO_ROOT = Path(__file__).resolve().parents[1]


def index_frame(i: int, size: int = 64) -> np.ndarray:
    """A frame whose brightness encodes its index (survives lossy H.264 to within a few grey levels)."""
    return np.full((size, size, 3), 4 + 8 * i, dtype=np.uint8)


def decode_index(frame: np.ndarray) -> int:
    return int(round((float(frame.mean()) - 4) / 8))


@pytest.fixture(scope="session")
def index_video(tmp_path_factory) -> Path:
    """A 24-frame mp4 whose frame i has brightness 4 + 8 i."""
    path = tmp_path_factory.mktemp("video") / "index.mp4"
    write_mp4(path, [index_frame(i) for i in range(24)])
    return path


@pytest.fixture(scope="session")
def synth_set(tmp_path_factory) -> Path:
    """A small synthetic set: 16 train and 6 val videos of 8 frames at 64 px."""
    out = tmp_path_factory.mktemp("synth")
    generate_split(out, "train", 16, num_frames=8, size=64, seed=3, workers=1)
    generate_split(out, "val", 6, num_frames=8, size=64, seed=3, workers=1)
    return out


def write_json(path: Path, data) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return path


def write_image(path: Path, value: int = 128, size: int = 32) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((size, size, 3), value, dtype=np.uint8)).save(path)
    return path


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> dict:
    """One tiny random model folder per family (built from config, saved like any HF model)."""
    from geollava.models.families import FAMILIES
    from geollava.models.tiny import build_tiny_model

    root = tmp_path_factory.mktemp("tiny_models")
    return {name: build_tiny_model(name, root / name) for name in FAMILIES}


def tiny_argv(output_dir, data_dir, model_dir, family="llava", *extra) -> list[str]:
    """Command-line words for configs/tiny.yaml on the test's own data and prebuilt tiny model."""
    return [str(REPO_ROOT / "configs" / "tiny.yaml"), "--family", family,
            "--train_data", str(data_dir / "train.json"), "--output_dir", str(output_dir),
            "--prepared_model_dir", str(model_dir), "--report_to", "none", "--max_steps", "3",
            "--per_device_train_batch_size", "2", "--save_steps", "100", "--logging_steps", "1",
            "--dataloader_num_workers", "0", *map(str, extra)]


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory, synth_set, tiny_models) -> Path:
    """A short LoRA run of the tiny LLaVA: checkpoint-2, checkpoint-4 and the final model."""
    from geollava.train import main

    out = tmp_path_factory.mktemp("tiny_run") / "run"
    return main(tiny_argv(out, synth_set, tiny_models["llava"], "llava", "--max_steps", 4, "--save_steps", 2))
