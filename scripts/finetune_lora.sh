#!/usr/bin/env bash
# Fine-tune a LLaVA-family model with LoRA (QLoRA: scripts/finetune_qlora.sh) on one GPU, several, or several
# nodes; on a CPU machine the same path runs the tiny model.
#   bash scripts/finetune_lora.sh [CONFIG] [--key value ...]        # default CONFIG: configs/lora.yaml
#   NUM_GPUS=4 GLOBAL_BATCH=144 bash scripts/finetune_lora.sh configs/lora.yaml --learning_rate 2e-5
#   NNODES=2 NODE_RANK=0 MASTER_ADDR=node0 bash scripts/finetune_lora.sh   # run once on every node
#   HOSTFILE=hostfile bash scripts/finetune_lora.sh                          # DeepSpeed's launcher over ssh
#   bash scripts/finetune_lora.sh configs/tiny.yaml --dry-run               # print the command, run nothing
set -euo pipefail
DEFAULT_CONFIG=${DEFAULT_CONFIG:-configs/lora.yaml}
COMMAND=${GEOLLAVA_COMMAND:-train} # geollava train (SFT); scripts/finetune_grpo.sh sets grpo
NUM_GPUS=${NUM_GPUS:-}            # processes per node (default: visible GPUs, else 1 CPU process)
NNODES=${NNODES:-1}               # nodes taking part
NODE_RANK=${NODE_RANK:-0}         # this node's index, 0 .. NNODES-1
MASTER_ADDR=${MASTER_ADDR:-127.0.0.1}   # node 0's address, reachable from every node
MASTER_PORT=${MASTER_PORT:-29500}
HOSTFILE=${HOSTFILE:-}            # DeepSpeed hostfile ("node slots=8" lines): launch every node from here
GLOBAL_BATCH=${GLOBAL_BATCH:-}    # gradient accumulation = GLOBAL_BATCH / (per-device batch x all processes)
source "$(dirname "${BASH_SOURCE[0]}")/_env.sh"
cd "$REPO_ROOT"

CONFIG="$DEFAULT_CONFIG"
if [ $# -gt 0 ] && [[ "$1" != --* ]]; then CONFIG="$1"; shift; fi
DRY_RUN=0
ARGS=()
for arg in "$@"; do
  if [ "$arg" = "--dry-run" ]; then DRY_RUN=1; else ARGS+=("$arg"); fi
done

if [ -z "$NUM_GPUS" ]; then
  NUM_GPUS=$(python -c "import torch; print(torch.cuda.device_count() or 1)")
fi
if [ -n "$HOSTFILE" ]; then
  WORLD=$(awk '/slots=/{split($2, s, "="); n += s[2]} END {print n}' "$HOSTFILE")
else
  WORLD=$((NUM_GPUS * NNODES))
fi
export GLOBAL_BATCH TORCH_EXTENSIONS_DIR="${TORCH_EXTENSIONS_DIR:-$REPO_ROOT/.venv/torch_extensions}"

# Validate the whole config for this many processes and build a tiny / assembled base model, before launching.
VALIDATE_ONLY=(); if [ "$DRY_RUN" = 1 ]; then VALIDATE_ONLY=(--validate-only); fi
PREPARED=$(python -m geollava prepare --command "$COMMAND" --world-size "$WORLD" "${VALIDATE_ONLY[@]}" "$CONFIG" "${ARGS[@]}")
OUTPUT_DIR=$(tail -n 1 <<< "$PREPARED")

# DeepSpeed resumes a checkpoint only under the stage that wrote it: a run with complete checkpoints keeps theirs.
SAVED=$(sed -n 's/^saved deepspeed: //p' <<< "$PREPARED")
if [ -n "$SAVED" ]; then
  echo "[finetune] $OUTPUT_DIR has checkpoints: deepspeed $SAVED, as they were saved (DeepSpeed resumes only so)"
  if [ "$SAVED" != none ]; then ARGS+=(--deepspeed "$SAVED"); fi
fi

# On GPUs, estimate the memory first and warn before an out-of-memory error would (geollava plan's exit code:
# 0 fits, 1 does not fit, 2 cannot read the config); where a cheaper DeepSpeed stage than the config's fits (ZeRO-2,
# which gathers no parameters, for LoRA on a base that fits whole on every GPU), take it and say why
# (KEEP_ZERO_STAGE=1 keeps the config's). GPU_MEMORY_GIB plans for GPUs of that size from any machine.
GPU_GIB=${GPU_MEMORY_GIB:-$(python -c "import torch; print(torch.cuda.get_device_properties(0).total_memory / 2**30 if torch.cuda.is_available() else 0)")}
if [ "$GPU_GIB" != "0" ]; then
  PLAN_STATUS=0
  PLAN=$(python -m geollava plan --json --gpus "$WORLD" --nodes 1 --gpu-memory "$GPU_GIB" "$CONFIG" "${ARGS[@]}" 2>/dev/null) \
    || PLAN_STATUS=$?
  if [ "$PLAN_STATUS" = 2 ] || [ -z "$PLAN" ]; then
    echo "[finetune] the planner could not read the model's config; no estimate" >&2
  else
    python -c '
import json, sys
plan = json.loads(sys.argv[1])
verdict = "fits" if plan["fits"] else "DOES NOT FIT"
print("[plan] %.1f GiB per GPU of %.0f: %s (micro-batch %d x %d tokens)"
      % (plan["total_gib"], plan["gpu_memory_gib"], verdict, plan["micro_batch"], plan["sequence"]))
for what, gib in plan["rows_gib"].items():
    print("[plan]   %s: %.2f GiB" % (what, gib))
if plan["suggested"]:
    print("[plan] suggested: " + ", ".join("%s %s" % item for item in plan["suggested"].items()))' "$PLAN"
    [ "$PLAN_STATUS" = 1 ] && echo "[finetune] WARNING: the estimate exceeds this GPU's memory; see the suggestion above" >&2
    CHANGE=$(python -c 'import json, sys; p = json.loads(sys.argv[1]); print(p["recommended_deepspeed"] if p["change_deepspeed"] else "")' "$PLAN")
    if [ -n "$SAVED" ]; then
      [ -n "$CHANGE" ] && echo "[finetune] the plan prefers $CHANGE; the checkpoints' stage is kept"
    elif [ -n "$CHANGE" ] && [ "${KEEP_ZERO_STAGE:-0}" != 1 ]; then
      WHY=$(python -c 'import json, sys; print(json.loads(sys.argv[1])["recommended_because"])' "$PLAN")
      echo "[finetune] deepspeed $CHANGE instead of the config's: $WHY (KEEP_ZERO_STAGE=1 keeps it)"
      ARGS+=(--deepspeed "$CHANGE")
    fi
  fi
fi

if [ -n "$HOSTFILE" ]; then
  LAUNCH=(deepspeed --hostfile "$HOSTFILE" --master_addr "$MASTER_ADDR" --master_port "$MASTER_PORT"
          --module geollava "$COMMAND")
elif [ "$WORLD" -gt 1 ]; then
  LAUNCH=(torchrun --nnodes "$NNODES" --node_rank "$NODE_RANK" --nproc_per_node "$NUM_GPUS"
          --master_addr "$MASTER_ADDR" --master_port "$MASTER_PORT" -m geollava "$COMMAND")
else
  LAUNCH=(python -m geollava "$COMMAND")
fi
echo "[finetune] $WORLD process(es) on $NNODES node(s); log: $OUTPUT_DIR/train.log"
echo "[finetune] ${LAUNCH[*]} $CONFIG ${ARGS[*]}"
if [ "$DRY_RUN" = 1 ]; then exit 0; fi

mkdir -p "$OUTPUT_DIR"
"${LAUNCH[@]}" "$CONFIG" "${ARGS[@]}" 2>&1 | tee -a "$OUTPUT_DIR/train.log"
