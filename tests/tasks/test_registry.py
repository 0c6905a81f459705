"""Every registered task is a whole entry, and a sample of each round-trips: its example record passes the
checks, becomes a prompt that asks its question, and a correct answer scores 1 where a wrong one scores less."""
import pytest

from geollava.data.schema import parse_record
from geollava.data.template import conversation_turns, render
from geollava.families import get_family
from geollava.tasks import DEFAULT_TASK, TASKS, Sample, ScoreOptions, Task, get_task, task_of
from geollava.tasks.base import PARTS, Answer

OPTIONS = ScoreOptions(meteor=False, tokenizer="simple")  # no JVM: the corpus metrics' Java parts have their tests


def example_record(task: Task) -> dict:
    example = task.example
    media = {"image": "a.png"} if task.media == "image" else {"video": ["a.png", "b.png"]}
    return {"id": f"example_{task.name}", **media, "metadata": {"task": task.name, **example["metadata"]},
            "conversations": [{"from": "human", "value": example["question"]},
                              {"from": "gpt", "value": example["answer"]}]}


def test_the_registry_finds_every_task_module():
    assert list(TASKS)[0] == DEFAULT_TASK.name == "change_caption"
    assert {"change_caption", "scene", "vqa", "refer", "grounding", "region_caption", "grounded_description",
            "conversation"} <= set(TASKS)
    assert task_of({}) == DEFAULT_TASK.name
    with pytest.raises(ValueError, match="unknown task 'detect'"):
        get_task("detect")


def test_decoding_budgets_are_the_references():
    """GeoChat's evaluation scripts generate up to 256 new tokens for each of its tasks; GeoLLaVA's evaluation of
    change captions up to 350 (its MAX_LENGTH)."""
    for name in ("scene", "vqa", "refer", "grounding", "region_caption", "grounded_description"):
        assert TASKS[name].max_new_tokens == 256, name
    assert TASKS["change_caption"].max_new_tokens == 350


@pytest.mark.parametrize("name", list(TASKS))
def test_every_task_has_every_part(name):
    task = TASKS[name]
    assert task.name == name and task.media in ("image", "frames", "any") and task.summary
    assert task.columns and all(key and header is not None for key, header in task.columns)
    assert task.reward_key and task.max_new_tokens > 0
    assert {"question", "answer", "metadata", "wrong"} <= set(task.example)
    assert isinstance(task.parse(task.example["answer"]), Answer) and task.parse(task.example["answer"]).parsed
    assert task.question_help and (task.question("a question of mine") or task.asks_checkpoint_question)
    taken_as_is = {part for part in PARTS if getattr(type(task), part) is getattr(Task, part)}
    assert taken_as_is == set(task.inherits), (f"{name} takes {sorted(taken_as_is)} from Task as they are but says "
                                               f"{sorted(task.inherits)}: define the part, or name it in inherits")


@pytest.mark.parametrize("name", list(TASKS))
def test_a_sample_round_trips_from_record_to_score(name):
    task = TASKS[name]
    record, problems = parse_record(example_record(task))
    assert not problems, problems
    assert record.task == name
    # the prompt a model reads holds the question as the task words it
    turns = conversation_turns(record, get_family("llava"), 2, None, with_answers=False)
    prompt, _ = render(turns, get_family("llava"), "</s>")
    assert task.question(task.example["question"]).replace("<video>\n", "").replace("<image>\n", "") in prompt
    right = Sample(task.example["answer"], record.all_references(), record.metadata, (200, 100))
    wrong = Sample(task.example["wrong"], record.all_references(), record.metadata, (200, 100))
    assert task.score(right)[task.reward_key] == pytest.approx(1.0)
    assert task.score(wrong)[task.reward_key] < 1.0
    summary, per_sample = task.aggregate([right, wrong], OPTIONS)
    assert summary["samples"] == 2 and len(per_sample) == 2
    assert per_sample[0][task.reward_key] == pytest.approx(1.0) and per_sample[1][task.reward_key] < 1.0


@pytest.mark.parametrize("name", [n for n, t in TASKS.items() if "task" not in t.example["metadata"]
                                  and t.media != "any"])
def test_a_record_naming_a_task_for_other_media_is_refused(name):
    task = TASKS[name]
    raw = example_record(task)
    if task.media == "image":
        raw["video"] = ["a.png", "b.png"]
        del raw["image"]
    else:
        raw["image"] = "a.png"
        del raw["video"]
    _, problems = parse_record(raw)
    wrong = [p for p in problems if p.code == "wrong_media"]
    assert wrong and name in str(wrong[0]) and "fix:" in str(wrong[0])
