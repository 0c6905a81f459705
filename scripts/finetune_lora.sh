#!/usr/bin/env bash
# Fine-tune with LoRA on one GPU, several, or several nodes (a CPU machine runs the tiny model): `geollava train`,
# whose launcher (geollava/launch.py) checks, plans and starts the processes; the log goes to <output_dir>/train.log.
#   bash scripts/finetune_lora.sh [CONFIG] [--key value ...]        # default CONFIG: configs/lora.yaml
#   NUM_GPUS=4 GLOBAL_BATCH=144 bash scripts/finetune_lora.sh configs/lora.yaml --learning_rate 2e-5
#   NNODES=2 NODE_RANK=0 MASTER_ADDR=node0 bash scripts/finetune_lora.sh   # run once on every node
#   HOSTFILE=hostfile bash scripts/finetune_lora.sh                          # DeepSpeed's launcher over ssh
#   bash scripts/finetune_lora.sh configs/tiny.yaml --dry-run               # print the launch, run nothing
# Also: MASTER_PORT, KEEP_ZERO_STAGE=1, GPU_MEMORY_GIB (`geollava train --help` lists them as options).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_env.sh"
cd "$REPO_ROOT"
exec python -m geollava "${GEOLLAVA_COMMAND:-train}" --default-config "${DEFAULT_CONFIG:-configs/lora.yaml}" "$@"
