"""TRL's loss choices reach its GRPOTrainer from a GeoLLaVA config and a step runs with each: GSPO's sequence-level
importance ratio (importance_sampling_level: sequence), DAPO's token-level loss (loss_type: dapo), clip-higher
(epsilon_high), and mask_truncated_completions — every completion cut at max_completion_length leaves the loss
(its tokens' mask is zero where the loss is computed; without the key they count)."""
import math

import pytest

from geollava.grpo.train import build_grpo_trainer
from geollava.launch import load_config

from test_grpo_families import grpo_argv

pytestmark = pytest.mark.slow


def one_step(tmp_path, task_set, tiny_models, *extra):
    """A GRPO step of the tiny LLaVA; (trainer, the loss's completion-mask sums, the step's log)."""
    config = load_config(grpo_argv(tmp_path, task_set, tiny_models["llava"], "llava", "--num_frames", 1, *extra))
    trainer, _ = build_grpo_trainer(config)
    masks, compute = [], trainer._compute_loss

    def counted(model, inputs):
        masks.append(int(inputs["completion_mask"].sum()))
        return compute(model, inputs)

    trainer._compute_loss = counted
    trainer.train()
    return trainer, masks, next(e for e in trainer.state.log_history if "loss" in e)


@pytest.mark.parametrize("extra,attribute,value", [
    (("--importance_sampling_level", "sequence", "--loss_type", "grpo"), "importance_sampling_level", "sequence"),
    (("--loss_type", "dapo"), "loss_type", "dapo"),
    (("--epsilon", "0.2", "--epsilon_high", "0.28"), "epsilon_high", 0.28)])
def test_each_loss_choice_reaches_trl_and_a_step_runs(tmp_path, task_set, tiny_models, extra, attribute, value):
    trainer, masks, log = one_step(tmp_path, task_set, tiny_models, *extra)
    assert getattr(trainer, attribute) == value and masks and math.isfinite(log["loss"])


def test_mask_truncated_completions_leaves_cut_completions_out_of_the_loss(tmp_path, task_set, tiny_models):
    cut = ("--max_completion_length", "1")  # one token: an answer never ends there, every completion is cut
    trainer, masks, log = one_step(tmp_path / "masked", task_set, tiny_models, *cut,
                                   "--mask_truncated_completions", "true")
    assert trainer.mask_truncated_completions and log["completions/clipped_ratio"] == 1.0 and sum(masks) == 0
    _, masks, _ = one_step(tmp_path / "kept", task_set, tiny_models, *cut)
    assert sum(masks) > 0
