"""The README's and the docs' CPU examples run as shown, in the order shown (the README, then docs/*.md by name), in
a fresh copy of the repository: documentation whose examples break fails CI. The blocks it runs are the ```bash
blocks right after a `<!-- tested: ... -->` line. The README's tables name every registered task and family.

Not run here: `bash scripts/quickstart.sh` (tests/test_quickstart.py runs it end to end at a small size) and
`bash scripts/test.sh` (this suite), and the GPU and model-hub examples, which are in blocks without the marker.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest

from helpers import REPO_ROOT

MARK = "<!-- tested:"


def documents(root) -> list:
    """The README first, then the docs in name order: the order their tested blocks run in."""
    return [root / "README.md", *sorted((root / "docs").glob("*.md"))]


def marked_blocks(text: str) -> list[list[str]]:
    """The command lines of every marked bash block, in README order."""
    blocks = re.findall(r"^" + re.escape(MARK) + r".*?-->\n```bash\n(.*?)```", text, flags=re.M | re.S)
    return [[line for line in block.splitlines() if line.strip() and not line.lstrip().startswith("#")]
            for block in blocks]


def fresh_copy(dest):
    """What a clone of the working tree holds: tracked files and untracked ones git does not ignore."""
    files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=REPO_ROOT,
                           capture_output=True, text=True, check=True).stdout.splitlines()
    for name in files:
        if (REPO_ROOT / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO_ROOT / name, dest / name)
    (dest / ".venv").symlink_to(sys.prefix)  # the environment the suite runs in (installed already; VENV= may move it)


def test_the_marker_finds_the_readme_examples():
    blocks = [b for doc in documents(REPO_ROOT) for b in marked_blocks(doc.read_text())]
    commands = [c for block in blocks for c in block]
    assert len(blocks) >= 2 and any("finetune_lora.sh configs/tiny.yaml" in c for c in commands)
    assert any("--dry-run" in c for c in commands)  # docs/training.md's launch example
    assert any(c.startswith("geollava data synth") for c in commands)
    assert marked_blocks("x\n<!-- tested: a -->\n```bash\n# comment\necho hi  # there\n\n```\n") == [
        ["echo hi  # there"]]


@pytest.mark.slow
def test_every_cpu_example_of_the_readme_runs_as_shown(tmp_path):
    clone = tmp_path / "clone"
    fresh_copy(clone)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTEST"))}
    env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if ".venv" not in p)
    done = []
    commands = [c for doc in documents(clone) for block in marked_blocks(doc.read_text()) for c in block]
    for command in commands:
        # each line in a shell of its own, in the environment the README's first commands made
        script = f"set -euo pipefail\nsource .venv/bin/activate\n{command}"
        result = subprocess.run(["bash", "-c", script], cwd=clone, env=env, capture_output=True, text=True,
                                timeout=900)
        assert result.returncode == 0, (f"documented command failed after {done}:\n  {command}\n"
                                        + result.stdout[-2000:] + result.stderr[-3000:])
        done.append(command)
    assert (clone / "runs" / "tiny" / "eval" / "metrics.json").is_file()


def test_the_readme_tables_name_every_task_and_family():
    from geollava.families import FAMILIES
    from geollava.tasks import TASKS

    readme = (REPO_ROOT / "README.md").read_text()
    rows = {line.split("|")[1].strip().split(" ")[0].strip("`") for line in readme.splitlines()
            if line.startswith("| `")}
    assert set(TASKS) <= rows, f"README's task table lacks {set(TASKS) - rows}"
    assert set(FAMILIES) <= rows, f"README's family table lacks {set(FAMILIES) - rows}"
    assert len(readme.splitlines()) <= 200, "the README is a first screen: move detail to docs/"
    tasks_doc = (REPO_ROOT / "docs" / "tasks.md").read_text()
    assert all(f"| `{name}` |" in tasks_doc for name in TASKS), "docs/tasks.md lists every task"
