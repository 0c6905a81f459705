#!/usr/bin/env bash
# Merge a LoRA checkpoint into a full HF model folder (model, tokenizer, image processor).
#   bash scripts/merge_lora.sh runs/tiny/checkpoint-30 runs/tiny-merged
# Refuses checkpoints trained on a 4- or 8-bit base (QLoRA): merge into a 16-bit load of the base instead.
set -euo pipefail
if [ $# -ne 2 ]; then echo "usage: bash scripts/merge_lora.sh CHECKPOINT OUT" >&2; exit 2; fi
source "$(dirname "${BASH_SOURCE[0]}")/_env.sh"
python -m geollava merge "$1" "$2"
