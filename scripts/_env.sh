# Sourced by the scripts in this folder: create or reuse the project's virtual environment and install
# what is missing. Idempotent: once requirements*.txt and pyproject.toml are installed, a second run installs nothing.
#   VENV=path      use another environment folder (default: <repo>/.venv)
#   GEOLLAVA_NO_INSTALL=1   use the active Python as it is (for clusters with a managed environment)
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VENV:-$REPO_ROOT/.venv}"

geollava_setup_env() {
  if [ "${GEOLLAVA_NO_INSTALL:-0}" = "1" ]; then
    return
  fi
  local python="${PYTHON:-python3}"
  if [ ! -x "$VENV/bin/python" ]; then
    echo "[setup] creating virtual environment $VENV"
    # A GPU node often has a CUDA torch already installed: let the venv see it instead of downloading another.
    if "$python" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
      "$python" -m venv --system-site-packages "$VENV"
    else
      "$python" -m venv "$VENV"
    fi
  fi
  # shellcheck disable=SC1091
  source "$VENV/bin/activate"

  local stamp="$VENV/.geollava-installed"
  local want
  want="$(cat "$REPO_ROOT/requirements.txt" "$REPO_ROOT/requirements-nodeps.txt" "$REPO_ROOT/pyproject.toml" \
          | sha256sum | cut -d' ' -f1)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    return
  fi

  echo "[setup] installing dependencies into $VENV (once)"
  if ! python -c "import torch" 2>/dev/null; then
    if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
      python -m pip install "torch>=2.4"           # CUDA build from the index
    else
      python -m pip install "torch==2.13.0"        # CPU wheel; a bare 'torch' would pull a multi-GB CUDA build
    fi
  fi
  # DS_BUILD_OPS=0: DeepSpeed compiles its ops on first use instead of at install time.
  DS_BUILD_OPS=0 python -m pip install -r "$REPO_ROOT/requirements.txt"
  python -m pip install --no-deps -r "$REPO_ROOT/requirements-nodeps.txt"
  python -m pip install --no-deps --no-build-isolation -e "$REPO_ROOT"
  echo "$want" > "$stamp"
}

geollava_setup_env
