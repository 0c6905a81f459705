"""Dynamic sampling's parts: which groups have no reward spread (judged on the gathered rewards, so every rank
agrees), which of a rank's rows they are, the new prompts (the same on every rank and after a resume), and a batch
spliced from two generations of different widths."""
import torch

from geollava.grpo.dynamic_sampling import fresh_prompts, groups_without_spread, local_rows, splice


def test_groups_without_spread_are_those_whose_weighted_rewards_all_equal():
    rewards = torch.tensor([[1.0, 0.0], [1.0, 0.0],    # group 0: equal
                            [1.0, 0.0], [0.0, 1.0],    # group 1: 1 vs 1 weighted 1:1 -> equal
                            [0.5, 0.0], [0.2, 0.0],    # group 2: spread
                            [float("nan"), 1.0], [float("nan"), 1.0]])  # group 3: a term that does not apply
    flags = groups_without_spread(rewards, torch.tensor([1.0, 1.0]), 2)
    assert flags.tolist() == [True, True, False, True]
    assert groups_without_spread(rewards, torch.tensor([1.0, 0.5]), 2).tolist() == [True, False, False, True]


def test_each_rank_replaces_only_its_own_rows_of_a_group_that_straddles_ranks():
    groups = torch.tensor([False, True, False])  # 3 groups of 4 completions over 2 ranks of 6 rows
    assert local_rows(groups, 4, rank=0, rows_per_rank=6) == [4, 5]
    assert local_rows(groups, 4, rank=1, rows_per_rank=6) == [0, 1]


def test_new_prompts_are_the_same_for_every_rank_and_after_a_resume_and_new_each_round():
    first = fresh_prompts(100, 8, seed=42, step=7, attempt=1)
    assert first == fresh_prompts(100, 8, seed=42, step=7, attempt=1)
    assert first != fresh_prompts(100, 8, seed=42, step=7, attempt=2)
    assert first != fresh_prompts(100, 8, seed=42, step=8, attempt=1)
    assert all(0 <= i < 100 for i in first)


def batch(prompt_width, completion_width, value, images_per_row=1, patches=4):
    rows = 4
    prompt = torch.full((rows, prompt_width), value)
    prompt[:, 0] = 0  # left padding
    completion = torch.full((rows, completion_width), value + 1)
    grid = torch.tensor([[1, 2, patches // 2]] * (rows * images_per_row))
    return {"prompt_ids": prompt, "prompt_mask": (prompt != 0).long(), "completion_ids": completion,
            "completion_mask": torch.ones(rows, completion_width, dtype=torch.long),
            "old_per_token_logps": torch.full((rows, completion_width), -float(value)),
            "advantages": torch.full((rows,), float(value)), "num_items_in_batch": torch.tensor(99),
            "pixel_values": torch.full((rows * images_per_row * patches, 3), float(value)),
            "image_grid_thw": grid, "num_images": [images_per_row] * rows}


def test_splice_takes_the_rows_and_pads_prompts_left_and_completions_right():
    old, new = batch(3, 2, value=5), batch(5, 4, value=7)
    out = splice(old, new, [2, 3], pad_token_id=0)
    assert out["prompt_ids"].shape == (4, 5) and out["completion_ids"].shape == (4, 4)
    assert out["prompt_ids"][0].tolist() == [0, 0, 0, 5, 5]  # kept rows padded on the left
    assert out["prompt_ids"][2].tolist() == [0, 7, 7, 7, 7]
    assert out["completion_ids"][0].tolist() == [6, 6, 0, 0] and out["completion_mask"][0].tolist() == [1, 1, 0, 0]
    assert out["completion_ids"][3].tolist() == [8, 8, 8, 8]
    assert out["old_per_token_logps"][1].tolist() == [-5.0, -5.0, 0.0, 0.0]
    assert out["advantages"].tolist() == [5.0, 5.0, 7.0, 7.0]
    pixels = out["pixel_values"].view(4, 4, 3)[:, 0, 0]  # each row's image, in row order
    assert pixels.tolist() == [5.0, 5.0, 7.0, 7.0] and out["image_grid_thw"].shape == (4, 3)
    assert splice(old, new, [], pad_token_id=0) is old
