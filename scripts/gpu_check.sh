#!/usr/bin/env bash
# One short check for a GPU machine (torch installed, no internet needed): a 7B-shaped LLaVA with fewer LLM layers
# trains a few LoRA, QLoRA (bitsandbytes 4-bit) and ZeRO-3 steps in bf16 through GeoLLaVA's own code, and prints
# samples/s, tokens/s, peak GPU memory and model-FLOPs utilisation. Under 5 minutes on one H100.
#   bash scripts/gpu_check.sh [--text-layers 4] [--batch 4] [--modes lora,qlora,zero3]
# Uses $PYTHON (default: the repo's .venv if present, else python3) with transformers, peft, bitsandbytes and
# deepspeed installed (requirements.txt).
set -euo pipefail
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ -z "${PYTHON:-}" ]; then
  if [ -x "$REPO_ROOT/.venv/bin/python" ]; then PYTHON="$REPO_ROOT/.venv/bin/python"; else PYTHON=python3; fi
fi
export PYTHONPATH="$REPO_ROOT${PYTHONPATH:+:$PYTHONPATH}"
"$PYTHON" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'gpu_check: no CUDA GPU visible')"
exec "$PYTHON" "$REPO_ROOT/scripts/gpu_check.py" "$@"
