#!/usr/bin/env bash
# QLoRA: the LoRA launch with a 4-bit NF4 base (configs/qlora.yaml). Same environment variables and arguments as
# scripts/finetune_lora.sh; `--bits 8` switches to an 8-bit base.
#   bash scripts/finetune_qlora.sh [CONFIG] [--key value ...]
DEFAULT_CONFIG=configs/qlora.yaml exec bash "$(dirname "${BASH_SOURCE[0]}")/finetune_lora.sh" "$@"
