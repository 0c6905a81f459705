"""Measures a Hugging Face Trainer run from inside, whichever system built the Trainer (this suite, TRL's
SFTTrainer, LLaMA-Factory, ms-swift all do): imported first by benchmarks/peers.py's child process, `install(path)`
makes every Trainer created afterwards carry a callback and a counting training_step, and writes at the end of
training, as JSON: each step's wall seconds (from one step's end to the next), its samples, real (unpadded) tokens
and label tokens, the loss logged at step 1, the trainable parameters and the process's peak resident memory."""
from __future__ import annotations

import functools
import json
import resource
import time


def batch_counts(inputs: dict) -> tuple[int, int, int]:
    """(samples, real tokens, label tokens) of one micro-batch as the Trainer hands it to training_step."""
    ids = inputs.get("input_ids")
    if ids is None:
        return 0, 0, 0
    mask = inputs.get("attention_mask")
    positions = inputs.get("position_ids")
    if mask is not None and mask.dim() == 2:
        samples, tokens = ids.shape[0], int(mask.sum())
    elif positions is not None:  # padding-free: one row of concatenated samples, each starting at position 0
        first = positions[0] if positions.dim() == 3 else positions  # Qwen's mrope ids: [3, batch, length]
        samples, tokens = int((first == 0).sum()), ids.numel()
    else:
        samples, tokens = ids.shape[0], ids.numel()
    labels = inputs.get("labels")
    return samples, tokens, int((labels != -100).sum()) if labels is not None else 0


def install(path: str) -> None:
    import transformers

    record = {"step_ends": [], "steps": [], "loss_at_1": None, "trainable": None, "micro": [0, 0, 0]}

    class Probe(transformers.TrainerCallback):
        def on_train_begin(self, args, state, control, model=None, **kwargs):
            record["trainable"] = sum(p.numel() for p in model.parameters() if p.requires_grad)
            record["step_ends"].append(time.perf_counter())

        def on_step_end(self, args, state, control, **kwargs):
            record["step_ends"].append(time.perf_counter())
            record["steps"].append(dict(zip(("samples", "tokens", "labels"), record["micro"])))
            record["micro"] = [0, 0, 0]

        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and "loss" in logs and state.global_step == 1 and record["loss_at_1"] is None:
                record["loss_at_1"] = float(logs["loss"])

        def on_train_end(self, args, state, control, **kwargs):
            ends = record.pop("step_ends")
            for step, (start, end) in zip(record["steps"], zip(ends, ends[1:])):
                step["seconds"] = end - start
            record.pop("micro")
            record["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            with open(path, "w") as out:
                json.dump(record, out)

    original_init = transformers.Trainer.__init__

    @functools.wraps(original_init)  # systems that read the Trainer's signature (ms-swift) still see its own
    def init(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        self.add_callback(Probe())
        step = self.training_step  # the subclass's own, if it has one

        def counted(model, inputs, *rest, **more):
            for k, n in enumerate(batch_counts(inputs)):
                record["micro"][k] += n
            return step(model, inputs, *rest, **more)

        self.training_step = counted

    transformers.Trainer.__init__ = init
