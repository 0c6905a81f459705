#!/usr/bin/env bash
# The CPU quickstart: install if needed, generate a synthetic change-captioning set and check it.
#   bash scripts/quickstart.sh
# Tunables (environment):
DATA=${DATA:-data/synthetic}        # where the synthetic set goes (git-ignored)
TRAIN=${TRAIN:-2000}                # training videos
VAL=${VAL:-200}                     # held-out videos (another seed stream)
FRAMES=${FRAMES:-8}                 # frames per video
SIZE=${SIZE:-128}                   # frame side in pixels
SEED=${SEED:-0}
source "$(dirname "${BASH_SOURCE[0]}")/_env.sh"
cd "$REPO_ROOT"

stamp="$DATA/.synth-$TRAIN-$VAL-$FRAMES-$SIZE-$SEED"
if [ -f "$stamp" ]; then
  echo "[quickstart] reusing synthetic set in $DATA"
else
  echo "[quickstart] generating $TRAIN + $VAL synthetic change videos into $DATA"
  rm -rf "$DATA"
  geollava data synth --out "$DATA" --train "$TRAIN" --val "$VAL" --frames "$FRAMES" --size "$SIZE" --seed "$SEED"
  touch "$stamp"
fi

echo "[quickstart] checking every record (decoding every video)"
geollava data check "$DATA/train.json" --deep --num-frames "$FRAMES" | tail -n 1
geollava data check "$DATA/val.json" --deep --num-frames "$FRAMES" | tail -n 1
echo "[quickstart] done: annotations in $DATA/train.json and $DATA/val.json, videos in $DATA/videos/"
