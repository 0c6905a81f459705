"""GRPO's rewards come from the task entries: each term on hand-written completions scores as the task's own
score does (box IoU computed by hand, GeoChat's exact-match rule, the event score, CIDEr-D with the corpus's
document frequencies as pycocoevalcap computes it on the whole corpus); a bad reward config is one error that
names the term, the weight or the task — before any model loads."""
import pytest
from pycocoevalcap.cider.cider import Cider

from geollava.config import ConfigError
from geollava.grpo.rewards import TermReward, check_rewards, parse_rewards, term_tasks, zero_std_share
from geollava.metrics.coco import CorpusCider, simple_tokenize
from geollava.grpo.train import main as grpo_main


def columns(task, references, metadata=None, size=(200, 100), ids=None):
    """The rows' columns as TRL passes them to a reward function: one entry per completion."""
    n = len(references)
    references = [r if isinstance(r, list) else [r] for r in references]
    return {"id": ids or [f"r{k}" for k in range(n)], "task": [task] * n, "references": references,
            "metadata": [metadata or {}] * n, "size": [size] * n, "model_size": [None] * n}


def completions(*texts):
    return [[{"role": "assistant", "content": t}] for t in texts]


def test_every_task_takes_task_and_format_and_its_own_terms():
    terms = term_tasks()
    assert set(terms["task"]) == set(terms["format"]) and "refer" in terms["task"]
    assert set(terms["box_iou"]) == set(terms["box_acc50"]) == {"refer", "grounding", "grounded_description"}
    assert {"scene", "vqa", "change_vqa"} <= set(terms["exact_match"])
    assert terms["event_score"] == terms["cider"] == ["change_caption"]


def test_box_iou_on_a_non_square_image_is_the_hand_computed_overlap():
    # reference 10..30 x 20..40 of the 0-100 grid on a 200 x 100 image: 40 x 20 px; prediction 20..30 x 20..40
    logged = {}
    reward = TermReward("box_iou", "geochat", [])
    values = reward(completions("{<20><20><30><40>|<0>}", "no box here"), **columns("refer", [
        "{<10><20><30><40>|<0>}"] * 2), log_metric=lambda name, value: logged.update({name: value}))
    assert values == [pytest.approx((20 * 20) / (40 * 20)), 0.0]
    assert TermReward("box_acc50", "geochat", [])(completions("{<20><20><30><40>}"), **columns(
        "refer", ["{<10><20><30><40>}"])) == [1.0]
    assert logged == {"rewards/box_iou/zero_std_groups": 0.0}  # two completions of two prompts: no group


def test_a_models_own_box_format_is_read_and_format_says_whether_it_parses():
    qwen3 = TermReward("box_iou", "norm1000", [])
    assert qwen3(completions('{"bbox_2d": [100, 200, 300, 400]}'), **columns("refer", ["{<10><20><30><40>}"])) \
        == [pytest.approx(1.0)]
    form = TermReward("format", "norm1000", [])
    assert form(completions('[{"bbox_2d": [1, 2, 3, 4]}]', "{<10><20><30><40>}"), **columns(
        "refer", ["{<10><20><30><40>}"] * 2)) == [1.0, 0.0]


def test_exact_match_is_geochats_rule_and_other_tasks_get_none():
    reward = TermReward("exact_match", "geochat", [])
    rows = columns("scene", ["Dense Residential"] * 3)
    assert reward(completions("dense residential.", "denseresidential", "forest"), **rows) == [1.0, 1.0, 0.0]
    assert reward(completions("{<1><2><3><4>}"), **columns("refer", ["{<1><2><3><4>}"])) == [None]


def test_change_caption_terms():
    events = {"events": [{"type": "construction", "count": 2, "quadrant": "north-east"}]}
    right = "Two new buildings were constructed in the north-east part."
    half = "Two new buildings were constructed in the south-west part."
    rows = columns("change_caption", [[right]] * 2, events)
    assert TermReward("event_score", "geochat", [])(completions(right, half), **rows) == [1.0, 0.0]
    assert TermReward("event_fields", "geochat", [])(completions(right, half), **rows) == [1.0, pytest.approx(2 / 3)]
    assert TermReward("event_score", "geochat", [])(completions(right), **columns(
        "change_caption", [[right]])) == [None]  # no events: the term does not apply
    assert TermReward("rougeL", "geochat", [])(completions(right), **rows | {"id": ["a"], "task": [
        "change_caption"], "references": [[half, right]], "metadata": [{}], "size": [None],
        "model_size": [None]}) == [pytest.approx(1.0)]


def test_corpus_cider_equals_pycocoevalcap_when_the_candidates_are_the_corpus():
    corpus = [["two buildings were built", "new houses appear"], ["the lake shrank a lot"],
              ["a road was built through the forest"], ["nothing has changed"]]
    candidates = ["two new buildings were built", "the lake shrank", "a road through trees", "no change"]
    tokenized = {str(k): [simple_tokenize(r) for r in refs] for k, refs in enumerate(corpus)}
    _, reference = Cider().compute_score(tokenized, {str(k): [simple_tokenize(c)] for k, c in enumerate(candidates)})
    assert CorpusCider(corpus).scores(candidates, corpus) == pytest.approx(list(reference))
    # one caption scored alone keeps the corpus's weights (pycocoevalcap alone would give it 0)
    assert CorpusCider(corpus).scores(candidates[:1], corpus[:1]) == pytest.approx([reference[0]])
    cider = CorpusCider(corpus)
    known = len(cider.document_frequency)
    cider.scores(["an unseen caption about zebras"], corpus[:1])
    assert len(cider.document_frequency) == known  # the corpus's frequencies do not grow with what is sampled
    scored = TermReward("cider", "geochat", corpus)(completions(candidates[0]), **columns(
        "change_caption", [corpus[0]]))
    assert scored == [pytest.approx(reference[0] / 10)]


def test_zero_std_share_counts_prompts_whose_completions_all_scored_the_same():
    assert zero_std_share(["a", "a", "b", "b", "c", "c"], [1.0, 1.0, 0.0, 1.0, None, 0.5]) == pytest.approx(1 / 2)


@pytest.mark.parametrize("rewards, message", [
    ({"box_iouu": 1.0}, "unknown term(s) box_iouu; the terms are task, format, "),
    ({"task": -1.0}, "task: weight -1.0 must be a number >= 0"),
    ({"task": "high"}, "task: weight 'high' must be a number >= 0"),
    ({"task": 0.0}, "every weight is 0"),
    ({"exact_match": 1.0, "box_iou": 1.0}, "box_iou fits refer, grounding, grounded_description, but the training "
                                           "data has only scene"),
    ({"format": 1.0, "cider": 0.0}, "cider fits change_caption, but the training data has only scene"),
])
def test_bad_rewards_are_one_clear_error(rewards, message):
    with pytest.raises(ConfigError, match="config.yaml: rewards: " + message.replace("(", r"\(").replace(")", r"\)")):
        check_rewards(rewards, {"scene": 3}, "config.yaml")


def test_a_task_of_the_data_without_a_reward_is_an_error_and_unset_means_task():
    with pytest.raises(ConfigError, match="the 2 refer record.s. of the training data get no reward from "
                                          "exact_match; add task"):
        check_rewards({"exact_match": 1.0}, {"scene": 3, "refer": 2}, "c.yaml")
    assert parse_rewards(None, "c") == {"task": 1.0}
    assert parse_rewards('{"task": 1, "format": 0.5}', "c") == {"task": 1, "format": 0.5}
    assert parse_rewards("[task, format]", "c") == {"task": 1.0, "format": 1.0}


def test_geollava_grpo_stops_on_a_bad_reward_before_any_model_loads(tmp_path, task_set, capsys):
    """init_from names a hub model that is not here: the reward error comes first, nothing is loaded."""
    code = grpo_main(["--init_from", "owner/no-such-model", "--train_data", str(task_set / "train.json"),
                      "--rewards", '{"cider": 1.0}', "--output_dir", str(tmp_path / "run")])
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "rewards: cider fits change_caption, but the training data has only" in err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("extra,message", [
    (["--use_transformers_continuous_batching", "true"], "TRL's batched generation there takes prompt ids only"),
    (["--use_transformers_paged", "true"], "TRL's batched generation there takes prompt ids only"),
    (["--reward_weights", "1.0"], "reward_weights: the weights come from `rewards`"),
    (["--train_data_ratios", "1.0"], "train_data_ratios is not used by GRPO"),
])
def test_keys_grpo_would_ignore_or_misuse_are_refused_before_any_model_loads(tmp_path, task_set, capsys, extra,
                                                                             message):
    code = grpo_main(["--init_from", "owner/base-model", "--family", "llava", "--train_data",
                      str(task_set / "train.json"), "--output_dir", str(tmp_path / "run"), *extra])
    assert code == 2 and message in capsys.readouterr().err


def test_an_init_from_path_that_does_not_exist_is_named(tmp_path, task_set, capsys):
    # runs/ exists here, so runs/typo is a path, not a hub id: say so rather than ask the hub for it
    (tmp_path / "runs").mkdir()
    code = grpo_main(["--init_from", str(tmp_path / "runs" / "typo"), "--train_data", str(task_set / "train.json"),
                      "--output_dir", str(tmp_path / "run")])
    assert code == 2 and "init_from " + str(tmp_path / "runs" / "typo") + " does not exist" in capsys.readouterr().err


def test_event_terms_on_captions_without_events_are_refused_and_cider_stays_in_0_1():
    from geollava.tasks import Sample, get_task

    captions = get_task("change_caption")
    assert "needs metadata.events" in captions.reward_problem("event_score", [{}, {"source": "levir"}])
    assert captions.reward_problem("event_score", [{}, {"events": []}]) is None
    assert captions.reward_problem("rougeL", [{}]) is None
    same = "two new buildings were constructed in the north"
    rewards = captions.reward("cider", [Sample(same, [same]), Sample("a lake", ["a road was built"])])
    assert all(0.0 <= r <= 1.0 for r in rewards) and rewards[0] == 1.0


def _share_on_rank(rank: int, port: int, out) -> None:
    import torch.distributed as dist

    from geollava.grpo.rewards import gathered

    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    values = [1.0, 0.0] if rank == 0 else [1.0, 1.0]  # prompt a scored 1, 1; prompt b 0, 1 — one completion a rank
    pairs = gathered(list(zip(["a", "b"], values)))
    out.put((rank, zero_std_share([i for i, _ in pairs], [v for _, v in pairs])))
    dist.destroy_process_group()


@pytest.mark.slow
def test_the_zero_std_share_counts_groups_split_across_processes():
    """TRL spreads a prompt's completions over the processes: each rank alone sees one completion a prompt (no
    group to judge); gathered, prompt a has no spread and b has: 1/2 on every rank."""
    import socket

    import torch.multiprocessing as mp

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    context = mp.get_context("spawn")
    out = context.Queue()
    processes = [context.Process(target=_share_on_rank, args=(rank, port, out)) for rank in range(2)]
    for p in processes:
        p.start()
    results = dict(out.get(timeout=120) for _ in processes)
    for p in processes:
        p.join(timeout=60)
    assert results == {0: 0.5, 1: 0.5}


def test_a_grpo_dry_run_refuses_an_unknown_reward_term_before_the_data_exists(tmp_path, tiny_run, capsys):
    """`bash scripts/finetune_grpo.sh configs/tiny_grpo.yaml --rewards '{bogus_term: 1}' --dry-run` exited 0 while
    the run itself refused the term: the dry run checks the terms too, and against the data once it exists."""
    from geollava.cli import main as cli

    from helpers import REPO_ROOT

    argv = ["grpo", "--dry-run", str(REPO_ROOT / "configs" / "tiny_grpo.yaml"),
            "--init_from", str(tiny_run), "--train_data", str(tmp_path / "not_yet.json"), "--output_dir",
            str(tmp_path / "grpo")]
    assert cli([*argv, "--rewards", "{bogus_term: 1}"]) == 2
    assert "rewards: unknown term(s) bogus_term" in capsys.readouterr().err
    assert cli([*argv, "--rewards", "{task: 1, format: 0.1}"]) == 0
