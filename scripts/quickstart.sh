#!/usr/bin/env bash
# The CPU quickstart, no downloads: generate a synthetic change-video set, fine-tune a small random LLaVA on it
# with LoRA (and, as a control, the same fine-tuning with the frames blanked), evaluate the untrained model, a
# constant-caption baseline, the fine-tuned model and the blind control on held-out videos, and write a report.
#   bash scripts/quickstart.sh            # ~12 minutes on 2 cores; a second run reuses what is done
# Tunables (environment):
DATA=${DATA:-data/quickstart}     # the quickstart's synthetic set (git-ignored; data/synthetic is left alone)
OUT=${OUT:-runs/quickstart}       # models, evaluations, report.html
TRAIN=${TRAIN:-2000}              # training videos
VAL=${VAL:-200}                   # held-out videos (their own seed stream)
FRAMES=${FRAMES:-2}               # frames per video = frames the model sees (a before / after pair)
SIZE=${SIZE:-64}                  # frame side in pixels (the model sees 64)
STYLE=${STYLE:-simple}            # simple: few distractors, no illumination / cloud changes (realistic: harder)
SEED=${SEED:-0}
STEPS=${STEPS:-3500}              # optimizer steps of each fine-tuning (batch 8)
source "$(dirname "${BASH_SOURCE[0]}")/_env.sh"
cd "$REPO_ROOT"
step() { echo; echo "[quickstart $(date +%H:%M:%S)] $*"; }

stamp="$DATA/.synth-$TRAIN-$VAL-$FRAMES-$SIZE-$STYLE-$SEED"
if [ -f "$stamp" ]; then
  step "reusing the synthetic set in $DATA"
else
  step "1/6 generating $TRAIN + $VAL synthetic change videos ($STYLE scenes) into $DATA"
  rm -rf "$DATA"
  geollava data synth --out "$DATA" --train "$TRAIN" --val "$VAL" --frames "$FRAMES" --size "$SIZE" --style "$STYLE" \
    --seed "$SEED"
  geollava data check "$DATA/train.json" --deep --num-frames "$FRAMES" | tail -n 1
  geollava data check "$DATA/val.json" --deep --num-frames "$FRAMES" | tail -n 1
  touch "$stamp"
fi

finetune() {  # finetune NAME [extra args]: skipped when the final model is already there
  local name=$1; shift
  if [ -f "$OUT/$name/adapter_model.safetensors" ]; then echo "reusing $OUT/$name"; return; fi
  bash scripts/finetune_lora.sh configs/quickstart.yaml --train_data "$DATA/train.json" --num_frames "$FRAMES" \
    --max_steps "$STEPS" --output_dir "$OUT/$name" --prepared_model_dir "$OUT/base_model" "$@" \
    | tr '\r' '\n' | grep --line-buffered -E "'loss'|trainable parameters|saved the final" || true
  [ -f "$OUT/$name/adapter_model.safetensors" ] || { echo "fine-tuning $name failed: see $OUT/$name/train.log"; exit 1; }
}
step "2/6 fine-tuning the tiny LLaVA with LoRA for $STEPS steps (log: $OUT/finetuned/train.log)"
finetune finetuned --save_steps $((STEPS / 2))
step "3/6 the blind control: the same fine-tuning, every frame blanked"
finetune blind --blank_frames true --save_strategy no

step "4/6 evaluating the untrained model, every checkpoint and the fine-tuned model on $VAL held-out videos"
EVAL=(--data "$DATA/val.json" --batch-size 16 --max-new-tokens 64)
python scripts/eval.py --checkpoint "$OUT/finetuned" --base --output-dir "$OUT/eval/finetuned" "${EVAL[@]}" >/dev/null
python scripts/eval.py --checkpoint "$OUT/blind" --output-dir "$OUT/eval/blind" "${EVAL[@]}" >/dev/null
step "5/6 the constant-caption baseline (the most frequent training caption, for every sample)"
geollava baseline --train "$DATA/train.json" --data "$DATA/val.json" --out "$OUT/eval/baseline.jsonl"
python scripts/eval.py --predictions "$OUT/eval/baseline.jsonl" --data "$DATA/val.json" --output-dir "$OUT/eval/baseline" >/dev/null

step "6/6 report"
MODELS=(--model "untrained=$OUT/eval/finetuned/base" --model "constant caption=$OUT/eval/baseline/baseline")
for folder in $(ls -d "$OUT"/eval/finetuned/checkpoint-* 2>/dev/null | sort -t- -k2 -n); do
  MODELS+=(--model "$(basename "$folder")=$folder")
done
MODELS+=(--model "blind control=$OUT/eval/blind/blind" --model "fine-tuned=$OUT/eval/finetuned/final")
geollava report "${MODELS[@]}" --data "$DATA/val.json" --num-frames "$FRAMES" \
  --train-log "$OUT/finetuned/train_log.json" --title "GeoLLaVA quickstart: does a tiny LLaVA learn to see change?" \
  --out "$OUT/report.html" --markdown "$OUT/results.md" >/dev/null
echo
cat "$OUT/results.md"
echo
geollava learning-check --finetuned "$OUT/eval/finetuned/final" --baseline "$OUT/eval/baseline/baseline" \
  --untrained "$OUT/eval/finetuned/base" --blind "$OUT/eval/blind/blind" \
  || echo "(the README's quickstart section says what this means and what was measured)"
echo
echo "asking the fine-tuned model about frames of your own: a PNG pair (dates given) and a GeoTIFF pair (dates inside):"
for media in png geotiff; do
  own="$DATA/own-$media"
  [ -f "$own/val.json" ] || geollava data synth --out "$own" --train 0 --val 1 --frames "$FRAMES" --size "$SIZE" \
    --style "$STYLE" --seed 99 --media "$media" >/dev/null
  dates=()
  [ "$media" = png ] && read -r -a dates <<< "--dates $(python -c \
    'import json, sys; print(*json.load(open(sys.argv[1]))[0]["timestamps"])' "$own/val.json")"
  answer=$(geollava predict --checkpoint "$OUT/finetuned" --frames "$own"/videos/val_00000/* "${dates[@]}" \
    --max-new-tokens 64 2>"$OUT/predict.log") || answer="(failed: $(grep '^error' "$OUT/predict.log"))"
  echo "  $media: $answer"
  echo "    truth: $(python -c 'import json, sys; print(json.load(open(sys.argv[1]))[0]["conversations"][1]["value"])' \
    "$own/val.json")"
done
echo "report: $OUT/report.html"
