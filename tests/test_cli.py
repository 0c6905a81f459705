"""One command surface: every command is `geollava COMMAND` (and `python -m geollava COMMAND`), each with its own
--help; the seed's entry points run the same commands."""
import subprocess
import sys

import pytest

from geollava.cli import DELEGATED

from helpers import REPO_ROOT, cli

COMMANDS = ["train", "eval", "predict", "demo", "plan", "report", "merge", "data", "model", "baseline",
            "learning-check"]


def test_the_top_level_help_lists_every_command():
    result = cli("--help")
    assert result.returncode == 0
    listed = {line.split()[0] for line in result.stdout.split("positional arguments:")[1].splitlines()
              if line.startswith("    ") and line.split()}
    assert set(COMMANDS) <= listed, set(COMMANDS) - listed


@pytest.mark.parametrize("command", sorted(DELEGATED))
def test_each_delegated_command_answers_help_with_its_own_options(command):
    result = cli(command, "--help")
    assert result.returncode == 0, result.stderr
    assert f"geollava {command}" in result.stdout  # its own parser, named as the user typed it


def test_train_help_lists_every_config_key():
    result = cli("train", "--help")
    assert result.returncode == 0
    for key in ("--family", "--train_data", "--lora_r", "--num_frames", "--learning_rate", "--mm_projector_lr"):
        assert key in result.stdout


def test_a_config_that_cannot_run_is_one_error_line(tmp_path):
    result = cli("train", str(REPO_ROOT / "configs" / "tiny.yaml"), "--lora_rr", "4")
    assert result.returncode == 2 and result.stderr.startswith("error:") and "did you mean lora_r" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_python_dash_m_geollava_is_the_same_command():
    result = subprocess.run([sys.executable, "-m", "geollava", "data", "--help"], cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "check" in result.stdout and "convert" in result.stdout
