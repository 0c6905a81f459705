#!/usr/bin/env bash
# Reward fine-tuning (GRPO) after LoRA SFT: the LoRA launch running `geollava grpo` (configs/grpo.yaml). Same
# environment variables and arguments as scripts/finetune_lora.sh (NUM_GPUS, NNODES, HOSTFILE, GLOBAL_BATCH,
# --dry-run, DeepSpeed ZeRO-2/3 configs); the log goes to <output_dir>/train.log.
#   bash scripts/finetune_grpo.sh [CONFIG] [--key value ...]          # default CONFIG: configs/grpo.yaml
#   bash scripts/finetune_grpo.sh configs/tiny_grpo.yaml              # CPU: the tiny model after its SFT run
DEFAULT_CONFIG=configs/grpo.yaml GEOLLAVA_COMMAND=grpo exec bash "$(dirname "${BASH_SOURCE[0]}")/finetune_lora.sh" "$@"
