"""What the harness tests share: a merged tiny Qwen2.5-VL and its task records, and each harness's environment
of its own, built as docs/evaluation.md tells a user (scripts/setup_harness.sh; the two side by side in the
background from collection on, 1.5–3 minutes the first time; later runs reuse them; GEOLLAVA_<HARNESS>_ENV names a
prebuilt one). One environment for both does not work: lmms-eval pins antlr4 4.7.2, with which VLMEvalKit's
dataset package does not import."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from geollava.synthetic.tasks import generate_task_split
from helpers import REPO_ROOT, cli, tiny_argv

HARNESS_TASKS = ["refer", "scene", "multiple_choice", "change_vqa"]  # boxes, classes, choices, frames


@pytest.fixture(scope="session")
def merged_qwen(tmp_path_factory, tiny_models) -> tuple[Path, Path]:
    """A tiny Qwen2.5-VL fine-tuned two LoRA steps on task records and merged; the records' folder (val.json: two
    records of each of HARNESS_TASKS)."""
    from geollava.sft.train import main as train

    root = tmp_path_factory.mktemp("harness")
    generate_task_split(root / "data", "train", 8, HARNESS_TASKS, size=64, seed=4, frames=4)
    generate_task_split(root / "data", "val", 8, HARNESS_TASKS, size=64, seed=5, frames=4)
    run = train(tiny_argv(root / "run", root / "data", tiny_models["qwen2_5_vl"], "qwen2_5_vl", "--max_steps", 2,
                          "--num_frames", 4))
    assert cli("merge", run, root / "merged").returncode == 0
    return root / "merged", root / "data"


HARNESSES = ("lmms-eval", "vlmevalkit")
_BUILDS: dict[str, subprocess.Popen] = {}


def env_of(harness: str) -> Path:
    variable = f"GEOLLAVA_{harness.upper().replace('-', '_')}_ENV"
    return Path(os.environ.get(variable, REPO_ROOT / f".{harness}-env"))


def start_builds() -> None:
    """Both environments built side by side, in the background (a build is mostly unpacking wheels); one already
    built is only checked."""
    for harness in HARNESSES:
        if harness not in _BUILDS:
            _BUILDS[harness] = subprocess.Popen(["bash", str(REPO_ROOT / "scripts" / "setup_harness.sh"), harness,
                                                 str(env_of(harness))], stdout=subprocess.PIPE,
                                                stderr=subprocess.STDOUT, text=True)


@pytest.hookimpl(trylast=True)  # after -m / -k have deselected: the fast loop builds nothing
def pytest_collection_modifyitems(session, config, items):
    """Start the builds as soon as a collected test will need them: they overlap the tests that run before."""
    if any("harness_env" in getattr(item, "fixturenames", ()) for item in items):
        start_builds()


@pytest.fixture(scope="session")
def harness_env():
    start_builds()

    def ready(harness: str) -> Path:
        output, _ = _BUILDS[harness].communicate(timeout=1800)
        said = "\n".join(line for line in output.splitlines() if not line.startswith("WARNING: Location"))
        assert _BUILDS[harness].returncode == 0, f"scripts/setup_harness.sh {harness} failed:\n{said[-3000:]}"
        return env_of(harness)
    return ready
