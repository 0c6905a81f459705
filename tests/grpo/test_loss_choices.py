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


def test_dynamic_sampling_replaces_a_group_without_spread_by_a_new_prompts_and_logs_it(tmp_path, task_set,
                                                                                       tiny_models):
    """One real GRPO step of the tiny LLaVA (2 groups of 2), its reward scripted: the first generation's group 0
    scores alike, group 1 does not; the new prompts' generation has spread in its group 0. The step trains on
    group 0 of the second generation and group 1 of the first, and logs one group replaced in one round."""
    config = load_config(grpo_argv(tmp_path, task_set, tiny_models["llava"], "llava", "--num_frames", 1,
                                   "--rewards", '{"task": 1.0}', "--dynamic_sampling", "true", "--max_resample", 2))
    trainer, _ = build_grpo_trainer(config)
    scripted = iter([[0.5, 0.5, 0.0, 1.0], [1.0, 0.0, 0.3, 0.3]])
    trainer.reward_funcs[0] = lambda prompts, completions, **kwargs: next(scripted)
    generations, trained, scored, compute = [], [], trainer._scored, trainer._compute_loss
    trainer._scored = lambda inputs: generations.append(scored(inputs)) or generations[-1]
    trainer._compute_loss = lambda model, inputs: trained.append(inputs) or compute(model, inputs)
    trainer.train()

    first, second = generations
    [batch] = trained
    def prompts(b, rows):
        return sorted(tuple(b["prompt_ids"][k][b["prompt_mask"][k].bool()].tolist()) for k in rows)

    assert prompts(batch, range(4)) == sorted(prompts(second, [0, 1]) + prompts(first, [2, 3]))
    assert sorted(batch["advantages"].abs().gt(0).tolist()) == [True] * 4  # every row teaches something
    assert int(batch["num_items_in_batch"]) == int(batch["completion_mask"].sum())
    log = next(e for e in trainer.state.log_history if "loss" in e)
    assert log["dynamic_sampling/groups_replaced"] == 1 and log["dynamic_sampling/resample_rounds"] == 1
    assert log["dynamic_sampling/groups_without_spread_before"] == 0.5
    assert log["dynamic_sampling/groups_without_spread"] == 0.0
