#!/usr/bin/env bash
# An environment of its own for another evaluation harness (their pins — transformers, torch — are not ours),
# with geollava installed in it without its dependencies but with its scorers': the tasks `geollava export`
# writes are scored by geollava's scorers from inside the harness. Idempotent (a stamp records what was installed).
#   bash scripts/setup_harness.sh lmms-eval  [ENV_DIR]   # default: <repo>/.lmms-eval-env
#   bash scripts/setup_harness.sh vlmevalkit [ENV_DIR]   # default: <repo>/.vlmevalkit-env
set -euo pipefail
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
HARNESS="${1:?name the harness: lmms-eval or vlmevalkit}"
# The versions the exports are tested with (tests/export/). torch and torchvision are pinned as a pair: the
# harnesses' Qwen-VL models import torchvision, whose wheel must match torch's.
COMMON=("torch==2.14.1" "torchvision==0.29.1" "qwen-vl-utils==0.0.14" "decord==0.6.0"
        "pycocoevalcap==1.2" "rouge_score==0.1.2" "nltk==3.10.4" "shapely==2.2.0" "openpyxl==3.1.5")
case "$HARNESS" in
  # filelock below 4: lmms-eval 0.7.3 imports filelock._api, which filelock 4 removed
  lmms-eval) PINS=("lmms-eval==0.7.3" "filelock==3.20.3" "${COMMON[@]}"); CHECK="lmms_eval" ;;
  # VLMEvalKit is not on PyPI under its own name: ms-vlmeval is its packaged snapshot (vlmeval, vlmeval.run)
  vlmevalkit) PINS=("ms-vlmeval==0.0.20" "${COMMON[@]}"); CHECK="vlmeval.dataset" ;;
  *) echo "unknown harness $HARNESS: lmms-eval or vlmevalkit" >&2; exit 2 ;;
esac
ENV_DIR="${2:-$REPO_ROOT/.$HARNESS-env}"
want="$(printf '%s\n' "${PINS[@]}" | cat - "$REPO_ROOT/pyproject.toml" | sha256sum | cut -d' ' -f1)"
if [ -f "$ENV_DIR/.geollava-$HARNESS" ] && [ "$(cat "$ENV_DIR/.geollava-$HARNESS")" = "$want" ]; then
  echo "[$HARNESS] $ENV_DIR is ready"
  exit 0
fi
echo "[$HARNESS] installing $HARNESS and geollava's scorers into $ENV_DIR (once)"
[ -x "$ENV_DIR/bin/python" ] || "${PYTHON:-python3}" -m venv "$ENV_DIR"
"$ENV_DIR/bin/python" -m pip install -q "${PINS[@]}"
"$ENV_DIR/bin/python" -m pip install -q --no-deps "$REPO_ROOT"
"$ENV_DIR/bin/python" -c "import $CHECK, torchvision, decord, geollava.export.harness" \
  || { echo "[$HARNESS] the environment does not import $CHECK, torchvision and geollava's scorers" >&2; exit 1; }
echo "$want" > "$ENV_DIR/.geollava-$HARNESS"
echo "[$HARNESS] ready: $ENV_DIR"
