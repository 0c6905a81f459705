"""Plain helpers the tests import (`from helpers import ...`); fixtures live in conftest.py."""
from __future__ import annotations

import contextlib
import io
import json
import sys
import traceback
from pathlib import Path
from types import SimpleNamespace

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


def vicuna_tokenizer_folder(folder: Path, texts, legacy: bool = False) -> Path:
    """A SentencePiece BPE trained here on ``texts``, in a folder laid out as Vicuna's (tokenizer.model,
    LlamaTokenizer, <s> / </s>, no pad token)."""
    import sentencepiece as spm

    folder.mkdir(parents=True, exist_ok=True)
    spm.SentencePieceTrainer.train(sentence_iterator=iter(texts), model_prefix=str(folder / "sp"), vocab_size=500,
                                   model_type="bpe", bos_id=1, eos_id=2, unk_id=0, pad_id=-1, byte_fallback=True,
                                   character_coverage=1.0, minloglevel=2)
    (folder / "sp.model").rename(folder / "tokenizer.model")
    (folder / "sp.vocab").unlink()
    (folder / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "LlamaTokenizer", "legacy": legacy, "bos_token": "<s>", "eos_token": "</s>",
        "unk_token": "<unk>", "add_bos_token": True, "add_eos_token": False}))
    return folder


def tiny_argv(output_dir, data_dir, model_dir, family="llava", *extra) -> list[str]:
    """Command-line words for configs/tiny.yaml on the test's own data and prebuilt tiny model."""
    return [str(REPO_ROOT / "configs" / "tiny.yaml"), "--family", family,
            "--train_data", str(data_dir / "train.json"), "--output_dir", str(output_dir),
            "--prepared_model_dir", str(model_dir), "--report_to", "none", "--max_steps", "3",
            "--per_device_train_batch_size", "2", "--save_steps", "100", "--logging_steps", "1",
            "--dataloader_num_workers", "0", *map(str, extra)]


def screenshot(page: Path, shot: Path, profile: Path, window: str = "1400,1800") -> Path:
    """``page`` rendered by a real headless Chromium into ``shot``. Without a browser the test is skipped, or
    fails where CI promised one (GEOLLAVA_REQUIRE_BROWSER=1, set by .ci/run, which installs it)."""
    import os
    import shutil
    import subprocess

    import pytest

    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if browser is None:
        if os.environ.get("GEOLLAVA_REQUIRE_BROWSER") == "1":
            pytest.fail("Chromium is required here (GEOLLAVA_REQUIRE_BROWSER=1) but not installed")
        pytest.skip("Chromium is not installed (apt-get install chromium) — no screenshot")
    subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                    "--no-first-run", f"--user-data-dir={profile}", f"--screenshot={shot}",
                    f"--window-size={window}", page.as_uri()], capture_output=True, timeout=120)
    return shot


def cli(*args) -> SimpleNamespace:
    """`geollava ARGS` run in this process (a quick command needs no interpreter of its own): returncode, stdout
    and stderr as a subprocess would give them, an uncaught exception's traceback included."""
    from geollava.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main([str(a) for a in args])
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (print(e.code, file=sys.stderr) or 1)
        except Exception:  # noqa: BLE001 - what the interpreter would print and exit 1 with
            traceback.print_exc()
            code = 1
    return SimpleNamespace(returncode=code or 0, stdout=out.getvalue(), stderr=err.getvalue())


def labelled_runs(ids, labels, ignore: int = -100) -> list[list[int]]:
    """The runs of consecutive labelled tokens (each label must equal its token)."""
    runs, current = [], []
    for token, label in zip(ids, labels):
        if label != ignore:
            assert label == token
            current.append(label)
        elif current:
            runs.append(current)
            current = []
    return runs + ([current] if current else [])
