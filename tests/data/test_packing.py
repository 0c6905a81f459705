"""Padding-free packing: a micro-batch's samples in one row give every sample the logits, the loss and the
gradients of the padded batch — for every family, Qwen's per-sample 3-D rotary positions included — and no token
attends across a sample boundary (changing one sample leaves the others' logits exactly as they were). Token
budgets fill micro-batches by tokens."""
import pytest
import torch

from geollava.data.collator import Collator
from geollava.data.dataset import AnnotationDataset
from geollava.data.packing import TokenBudgetBatches
from geollava.data.prompt import PromptSettings
from geollava.data.template import IGNORE_INDEX
from geollava.data.validate import load_records
from geollava.families import FAMILIES, get_family
from geollava.models.load import load_model, load_processors



def items_for(folder, family, data, count=3):
    tokenizer, processor = load_processors(str(folder))
    model = load_model(str(folder), family)
    dataset = AnnotationDataset(load_records(data / "train.json"), data, get_family(family), model.config,
                                   tokenizer, processor, PromptSettings(num_frames=2))
    return model, tokenizer, [dataset[k] for k in range(count)]


def forward(model, batch):
    batch = {k: v for k, v in batch.items() if k not in ("labels", "bad_records")}
    return model(**batch).logits


def sample_logits(model, family, tokenizer, items, packed: bool) -> list[torch.Tensor]:
    """Each sample's logits at its own positions."""
    batch = Collator(family, tokenizer.pad_token_id, packed=packed)(items)
    lengths = [len(item["input_ids"]) for item in items]
    if packed:
        logits = forward(model, family.packed_inputs(model, batch))[0]
        starts = [sum(lengths[:k]) for k in range(len(lengths))]
        return [logits[s:s + n] for s, n in zip(starts, lengths)]
    logits = forward(model, batch)
    return [logits[k, :n] for k, n in enumerate(lengths)]


def labelled_loss(logits: list[torch.Tensor], items) -> torch.Tensor:
    """The mean next-token loss over every sample's labelled tokens."""
    losses = [torch.nn.functional.cross_entropy(lg[:-1], item["labels"][1:], ignore_index=IGNORE_INDEX,
                                                reduction="sum") for lg, item in zip(logits, items)]
    return sum(losses) / sum(int((item["labels"][1:] != IGNORE_INDEX).sum()) for item in items)


@pytest.mark.parametrize("family", list(FAMILIES))
def test_packed_samples_get_the_padded_batchs_logits_loss_and_gradients(synth_set, tiny_models, family):
    model, tokenizer, items = items_for(tiny_models[family], family, synth_set)
    spec = get_family(family)
    grads = {}
    for packed in (False, True):
        model.zero_grad()
        logits = sample_logits(model, spec, tokenizer, items, packed)
        labelled_loss(logits, items).backward()
        grads[packed] = ([lg.detach() for lg in logits],
                         {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None})
    (padded, padded_grads), (packed, packed_grads) = grads[False], grads[True]
    assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(padded, packed))
    assert padded_grads.keys() == packed_grads.keys()
    assert all(torch.allclose(padded_grads[n], packed_grads[n], atol=1e-5) for n in padded_grads)


@pytest.mark.parametrize("family", list(FAMILIES))
def test_no_token_attends_across_a_sample_boundary(synth_set, tiny_models, family):
    model, tokenizer, items = items_for(tiny_models[family], family, synth_set)
    spec = get_family(family)
    with torch.no_grad():
        before = sample_logits(model, spec, tokenizer, items, packed=True)
        changed = dict(items[1], pixels=items[1]["pixels"] + 1.0, input_ids=items[1]["input_ids"].clone())
        text = changed["input_ids"] != spec.media_token_id(model.config)
        changed["input_ids"][text] = (changed["input_ids"][text] + 7) % 50 + 20  # other words (past every special)
        after = sample_logits(model, spec, tokenizer, [items[0], changed, items[2]], packed=True)
    assert torch.equal(before[0], after[0]) and torch.allclose(before[2], after[2], atol=1e-6)
    assert not torch.allclose(before[1], after[1], atol=1e-3)  # the changed sample did change: the check can fail


def test_the_packed_row_ignores_each_samples_first_label_and_restarts_positions(synth_set, tiny_models):
    _, tokenizer, items = items_for(tiny_models["llava"], "llava", synth_set, count=2)
    items[1]["labels"][0] = items[1]["input_ids"][0]  # train_on_prompt: a sample's first token may be labelled
    batch = Collator(get_family("llava"), tokenizer.pad_token_id, packed=True)(items)
    n = len(items[0]["input_ids"])
    assert batch["input_ids"].shape == (1, n + len(items[1]["input_ids"])) and "attention_mask" not in batch
    assert batch["labels"][0, n] == IGNORE_INDEX  # the last position of sample 0 predicts nothing of sample 1
    assert batch["position_ids"][0, n - 1] == n - 1 and batch["position_ids"][0, n] == 0
    assert batch["segment_lengths"] == [n, len(items[1]["input_ids"])] and batch["use_cache"] is False


def test_token_budgets():
    lengths = [100, 600, 4600, 600, 100, 4600, 600, 600]
    packed = TokenBudgetBatches(list(range(8)), lengths, 5000, packed=True)
    assert sorted(packed._batches()) == [[0, 1], [2], [3, 4], [5], [6, 7]]
    padded = TokenBudgetBatches(list(range(8)), [100, 600, 600, 600, 600, 600, 600, 600, 600], 1500, packed=False)
    assert [len(b) for b in padded._batches()] == [2, 2, 2, 2]  # 600 x 3 > 1500: two a batch when padded
    kinds = ["image", "image", "video", "image", "image", "video", "image", "image"]
    blocks = TokenBudgetBatches(list(range(8)), lengths, 5000, True, kinds, block=2, seed=1)._batches()
    assert all(len({kinds[i] for i in b}) == 1 for b in blocks)  # one kind a micro-batch
    pairs = [blocks[k:k + 2] for k in range(0, len(blocks), 2)]
    assert all(kinds[a[0]] == kinds[b[0]] for a, b in pairs)  # one kind a block of an optimizer step's batches


class Reshuffled(torch.utils.data.Sampler):
    """A sampler whose order changes with the epoch, as the Trainer's do."""

    def __init__(self, n):
        self.n, self.epoch = n, 0

    def set_epoch(self, epoch):
        self.epoch = epoch

    def __iter__(self):
        return iter(torch.randperm(self.n, generator=torch.Generator().manual_seed(self.epoch)).tolist())


def test_every_epoch_has_as_many_batches_and_holds_every_sample_once():
    # the Trainer counts an epoch's steps once: a budget filled in each epoch's own order would change the count
    lengths = [100 * (1 + k % 13) for k in range(60)]
    batches = TokenBudgetBatches(Reshuffled(60), lengths, 1000, packed=True)
    count = len(batches)
    for epoch in range(4):
        batches.set_epoch(epoch)
        drawn = list(batches)
        assert len(drawn) == count and sorted(i for b in drawn for i in b) == list(range(60))
    orders = []
    for epoch in (1, 2, 1):
        batches.set_epoch(epoch)
        orders.append(list(batches))
    assert orders[0] != orders[1] and orders[0] == orders[2]  # a function of (seed, epoch)


def test_a_rare_kind_fills_its_block():
    # one video batch, blocks of 4 micro-batches (gradient accumulation x ranks): the block is still 4 batches
    kinds = ["image"] * 8 + ["video"]
    blocks = TokenBudgetBatches(list(range(9)), [100] * 8 + [4000], 200, True, kinds, block=4)._batches()
    assert len(blocks) % 4 == 0
    for k in range(0, len(blocks), 4):
        assert len({kinds[b[0]] for b in blocks[k:k + 4]}) == 1
    assert sum(b == [8] for b in blocks) == 4
