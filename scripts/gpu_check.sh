#!/usr/bin/env bash
# One prepared check for a GPU machine (torch installed, no internet needed): full-depth 7B LLaVA-1.5 and
# Qwen2.5-VL built from config train a few steps each — LoRA, and one change at a time: full logits, packing,
# activation checkpointing, Liger, ZeRO-2, ZeRO-3, QLoRA — printing samples/s, tokens/s, MFU and peak GPU memory
# beside `geollava plan`'s estimate. About 8 minutes on one H100 / H200.
#   bash scripts/gpu_check.sh [--runs llava-lora,qwen-lora] [--batch 4] [--steps 4]
#   bash scripts/gpu_check.sh --dry-run        # any machine, no GPU: the matrix, each run's plan and command
# Uses $PYTHON (default: the repo's .venv if present, else python3) with requirements.txt installed.
set -euo pipefail
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ -z "${PYTHON:-}" ]; then
  if [ -x "$REPO_ROOT/.venv/bin/python" ]; then PYTHON="$REPO_ROOT/.venv/bin/python"; else PYTHON=python3; fi
fi
export PYTHONPATH="$REPO_ROOT${PYTHONPATH:+:$PYTHONPATH}"
if [[ " $* " != *" --dry-run "* ]]; then
  "$PYTHON" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'gpu_check: no CUDA GPU visible (--dry-run runs anywhere)')"
fi
exec "$PYTHON" "$REPO_ROOT/scripts/gpu_check.py" "$@"
