"""Prompts exactly as the references make them, each reference's definition restated here and compared on the same
input: LLaVA's conv_vicuna_v1 / conv_llava_v1 (llava/conversation.py) and its tokenizer_image_token
(llava/mm_utils.py); Qwen2.5-VL's and LLaVA-OneVision's processors' apply_chat_template."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from transformers import AutoConfig, AutoTokenizer, Qwen2_5_VLProcessor
from transformers.processing_utils import ProcessorMixin

from geollava.data.dataset import AnnotationDataset
from geollava.data.prompt import PromptSettings
from geollava.data.schema import parse_record
from geollava.data.template import IGNORE_INDEX, SYSTEMS, conversation_turns, encode, render
from geollava.families import FAMILIES
from geollava.models.load import load_processors
from geollava.synthetic.captions import tokenizer_corpus

from helpers import labelled_runs, vicuna_tokenizer_folder

# LLaVA's llava/conversation.py, conv_vicuna_v1 and conv_llava_v1: the system sentences, sep " ", sep2 "</s>"
VICUNA_V1 = ("A chat between a curious user and an artificial intelligence assistant. "
             "The assistant gives helpful, detailed, and polite answers to the user's questions.")
LLAVA_V1 = ("A chat between a curious human and an artificial intelligence assistant. "
            "The assistant gives helpful, detailed, and polite answers to the human's questions.")
QUESTION, ANSWER, QUESTION_2, ANSWER_2 = "What is in the image?", "A harbour.", "How many ships?", "Three."


def llava_get_prompt(system: str, turns: list[tuple[str, str | None]]) -> str:
    """SeparatorStyle.TWO: system + sep, then "ROLE: message" + (sep, sep2 alternating), "ROLE:" for no message."""
    seps, text = [" ", "</s>"], system + " "
    for i, (role, message) in enumerate((r, m) for q, a in turns for r, m in (("USER", q), ("ASSISTANT", a))):
        text += f"{role}: {message}{seps[i % 2]}" if message is not None else f"{role}:"
    return text


def tokenizer_image_token(prompt: str, tokenizer, image_token_index: int) -> list[int]:
    """llava/mm_utils.py: every chunk between <image> markers tokenized on its own, its BOS dropped but the first."""
    chunks = [tokenizer(chunk).input_ids for chunk in prompt.split("<image>")]
    offset = 1 if chunks and chunks[0] and chunks[0][0] == tokenizer.bos_token_id else 0
    ids = [chunks[0][0]] if offset else []
    for k, chunk in enumerate(chunks):
        if k:
            ids += [image_token_index]
        ids += chunk[offset:]
    return ids


def image_record(*turns) -> dict:
    conversations = [{"from": role, "value": text} for q, a in turns for role, text in (("human", q), ("gpt", a))]
    conversations[0]["value"] = "<image>\n" + conversations[0]["value"]
    return {"id": "r", "image": "a.png", "conversations": conversations}


@pytest.mark.parametrize("template,system", [("vicuna_v1", VICUNA_V1), ("llava_v1", LLAVA_V1)])
def test_llava_templates_render_as_llavas_conversation_py(template, system):
    """Both LLaVA templates, one and two turns, generation prompt too: the text is LLaVA's get_prompt()."""
    family = FAMILIES["llava"]
    assert SYSTEMS[template] == system
    for turns in ([(QUESTION, ANSWER)], [(QUESTION, ANSWER), (QUESTION_2, ANSWER_2)]):
        record, _ = parse_record(image_record(*turns))
        ours = conversation_turns(record, family, 1, None)
        text, _ = render(ours, family, "</s>", None, template)
        expected = llava_get_prompt(system, [("<image>\n" + turns[0][0], turns[0][1]), *turns[1:]])
        assert text == expected
        prompt, _ = render(conversation_turns(record, family, 1, None, with_answers=False), family, "</s>", None,
                           template)
        assert prompt == llava_get_prompt(system, [("<image>\n" + turns[0][0], None)])
        assert prompt.endswith(" ASSISTANT:")


def test_the_llava_families_default_to_vicuna_v1_and_llava_v1_is_an_option(tmp_path):
    assert all(FAMILIES[n].chat_template == "vicuna_v1" for n in ("llava", "video_llava", "llava_next_video"))
    saved = PromptSettings(chat_template="llava_v1").save(tmp_path)
    assert json.loads(saved.read_text())["chat_template"] == "llava_v1"
    assert PromptSettings.load(tmp_path).chat_template == "llava_v1"
    # a checkpoint saved before format 2 wrote "vicuna" for what it rendered with GeoChat's evaluation sentence
    old = {k: v for k, v in json.loads(saved.read_text()).items() if k != "format_version"}
    assert PromptSettings.from_dict({**old, "chat_template": "vicuna"}).chat_template == "llava_v1"
    assert PromptSettings.from_dict({**old, "chat_template": "vicuna", "system_prompt": ""}).chat_template == \
        "vicuna_v1"


@pytest.mark.parametrize("legacy", [True, False])
def test_tokenizer_image_token_agrees_for_legacy_and_non_legacy_sentencepiece(tmp_path, legacy):
    """LLaVA's tokenizer_image_token tokenizes the text after <image> as a chunk of its own, and so do we for
    LLaVA's templates: for a legacy=False SentencePiece tokenizer (Vicuna's) the chunk then starts with a "▁"
    that the whole text tokenized at once would not have — the ids LLaVA-1.5 and GeoChat trained on."""
    texts = [VICUNA_V1, QUESTION, ANSWER, *list(tokenizer_corpus())[:300]]
    tokenizer = AutoTokenizer.from_pretrained(vicuna_tokenizer_folder(tmp_path / "sp", texts, legacy))
    tokenizer.add_special_tokens({"additional_special_tokens": ["<image>"]})
    image_id = tokenizer.convert_tokens_to_ids("<image>")
    family = FAMILIES["llava"]
    record, _ = parse_record(image_record((QUESTION, ANSWER)))
    ours = encode(conversation_turns(record, family, 1, None), tokenizer, family, image_id, 1).input_ids
    llava = tokenizer_image_token(llava_get_prompt(VICUNA_V1, [("<image>\n" + QUESTION, ANSWER)]).rstrip(),
                                  tokenizer, image_id)
    assert ours == llava
    whole = tokenizer(llava_get_prompt(VICUNA_V1, [("<image>\n" + QUESTION, ANSWER)]).rstrip()).input_ids
    assert (whole == llava) == legacy  # the whole text at once differs by that "▁" exactly when not legacy
    assert tokenizer.convert_ids_to_tokens(llava[llava.index(image_id) + 1]) == "▁"


class ImageOnlyQwenProcessor(Qwen2_5_VLProcessor):
    """Qwen2_5_VLProcessor without its video processor (which needs torchvision): its image path is the
    reference."""

    def __init__(self, image_processor=None, tokenizer=None, chat_template=None, **kwargs):
        self.image_token, self.video_token = "<|image_pad|>", "<|video_pad|>"
        self.image_token_id = tokenizer.convert_tokens_to_ids(self.image_token)
        self.video_token_id = tokenizer.convert_tokens_to_ids(self.video_token)
        ProcessorMixin.__init__(self, image_processor, tokenizer, chat_template=chat_template)


SIZES = [(64, 96), (48, 48), (80, 40)]  # height x width: each frame its own token count
DATES = ["2016-01-02", "2018-05-06", "2021-09-10"]


@pytest.fixture(scope="module")
def frames(tmp_path_factory):
    root = tmp_path_factory.mktemp("frames")
    rng = np.random.default_rng(0)
    for k, (h, w) in enumerate(SIZES):
        Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(root / f"f{k}.png")
    return root


@pytest.mark.parametrize("case", ["one image", "three dated frames", "two turns"])
def test_qwen2_5_vl_ids_are_its_processors(tiny_models, frames, case):
    """Our training ids and labels, and the generation prompt, against Qwen2.5-VL's processor (its chat template,
    its image processor's token counts) on the same messages."""
    folder = str(tiny_models["qwen2_5_vl"])
    tokenizer, image_processor = load_processors(folder)
    processor = ImageOnlyQwenProcessor(image_processor, tokenizer, chat_template=tokenizer.chat_template)
    family, config = FAMILIES["qwen2_5_vl"], AutoConfig.from_pretrained(folder)
    if case == "one image":
        raw = {"id": "r", "image": "f0.png", "conversations": [{"from": "human", "value": QUESTION},
                                                             {"from": "gpt", "value": ANSWER}]}
        content = [{"type": "image", "image": Image.open(frames / "f0.png")}, {"type": "text", "text": QUESTION}]
        answers = [ANSWER]
    else:
        names = [f"f{k}.png" for k in range(3)]
        turns = [{"from": "human", "value": "<video>\nWhat changed?"}, {"from": "gpt", "value": ANSWER}]
        if case == "two turns":
            turns += [{"from": "human", "value": QUESTION_2}, {"from": "gpt", "value": ANSWER_2}]
        raw = {"id": "r", "video": names, "timestamp": DATES, "conversations": turns}
        content = []
        for k, name in enumerate(names):
            content += [{"type": "text", "text": ("\n" if k else "") + f"Frame {k + 1} ({DATES[k]}): "},
                        {"type": "image", "image": Image.open(frames / name)}]
        content.append({"type": "text", "text": "What changed?"})
        answers = [ANSWER] + ([ANSWER_2] if case == "two turns" else [])
    messages = [{"role": "user", "content": content}, {"role": "assistant", "content": [{"type": "text",
                                                                                          "text": answers[0]}]}]
    if len(answers) == 2:
        messages += [{"role": "user", "content": [{"type": "text", "text": QUESTION_2}]},
                     {"role": "assistant", "content": [{"type": "text", "text": ANSWER_2}]}]
    record, problems = parse_record(raw)
    assert not problems
    settings = PromptSettings(num_frames=3, chat_template="model")
    dataset = AnnotationDataset([record], frames, family, config, tokenizer, image_processor, settings)
    item = dataset[0]
    reference = processor.apply_chat_template(messages, tokenize=True, return_dict=True)
    assert item["input_ids"].tolist() == list(reference["input_ids"][0])
    assert item["grid"].tolist() == reference["image_grid_thw"].tolist()
    runs = labelled_runs(item["input_ids"].tolist(), item["labels"].tolist(), IGNORE_INDEX)
    assert [tokenizer.decode(r) for r in runs] == [a + "<|im_end|>" for a in answers]
    generation = AnnotationDataset([record], frames, family, config, tokenizer, image_processor, settings,
                                      for_generation=True)[0]
    prompt = processor.apply_chat_template(messages[:1], tokenize=True, return_dict=True, add_generation_prompt=True)
    assert generation["input_ids"].tolist() == list(prompt["input_ids"][0])


def test_onevision_ids_are_its_processors_chat_template(tiny_models):
    """OneVision's processor renders its template (media first, each with a newline, then the text); its video
    token is expanded by the count its video path makes (the processor's own video path needs torchvision)."""
    folder = str(tiny_models["llava_onevision"])
    tokenizer, _ = load_processors(folder)
    family = FAMILIES["llava_onevision"]
    record, _ = parse_record({"id": "r", "video": ["a.png", "b.png"], "timestamp": DATES[:2], "conversations": [
        {"from": "human", "value": "What changed?"}, {"from": "gpt", "value": ANSWER},
        {"from": "human", "value": QUESTION_2}, {"from": "gpt", "value": ANSWER_2}]})
    video_id = tokenizer.convert_tokens_to_ids("<video>")
    encoded = encode(conversation_turns(record, family, 2, DATES[:2]), tokenizer, family, video_id, 5,
                     chat_template="model")
    messages = [
        {"role": "user", "content": [{"type": "video"}, {"type": "text", "text": f"Frame dates: Frame 1 ({DATES[0]}), "
                                                                              f"Frame 2 ({DATES[1]})\nWhat changed?"}]},
        {"role": "assistant", "content": [{"type": "text", "text": ANSWER}]},
        {"role": "user", "content": [{"type": "text", "text": QUESTION_2}]},
        {"role": "assistant", "content": [{"type": "text", "text": ANSWER_2}]}]
    text = tokenizer.apply_chat_template(messages, tokenize=False)  # what ProcessorMixin.apply_chat_template renders
    reference = [t for i in tokenizer(text, add_special_tokens=False).input_ids for t in ([i] * 5 if i == video_id
                                                                                          else [i])]
    assert encoded.input_ids == reference
    assert text.startswith("<|im_start|>user\n<video>\nFrame dates: Frame 1 (2016-01-02)")


def test_the_geollava_paper_recipe_trains_as_its_script(tmp_path, synth_set, tiny_models):
    """configs/geollava_paper.yaml's prompt and labels on a tiny Video-LLaVA: videollava_finetune.py's text
    f"USER: {q}\\n ASSISTANT: Answer: {a}" (no system sentence, no end-of-sequence token), every token labelled
    (train_on_prompt), 2 frames without dates, the projector frozen (no modules_to_save)."""
    from geollava.launch import load_config
    from geollava.sft.train import build_trainer

    from helpers import REPO_ROOT

    config = load_config([str(REPO_ROOT / "configs" / "geollava_paper.yaml"), "--model_name_or_path",
                           str(tiny_models["video_llava"]), "--train_data", str(synth_set / "train.json"),
                           "--media_root", str(synth_set), "--output_dir", str(tmp_path / "run"), "--report_to",
                           "none", "--fp16", "false", "--activation_checkpointing", "false",
                           "--dataloader_num_workers", "0"])
    assert (config.prompt.chat_template, config.prompt.train_on_prompt, config.prompt.num_frames) == \
        ("geollava", True, 2)
    trainer, _ = build_trainer(config)
    dataset, tokenizer = trainer.train_dataset, trainer.processing_class
    item, record = dataset[0], dataset.records[0]
    video = tokenizer.convert_tokens_to_ids("<video>")
    ids = [t for k, t in enumerate(item["input_ids"].tolist()) if t != video or item["input_ids"][k - 1] != video]
    question = record.prompt.replace("<video>\n", "")
    assert tokenizer.decode(ids) == f"<s>USER: <video>\n{question}\n ASSISTANT: Answer: {record.answer}"
    assert item["labels"].tolist() == item["input_ids"].tolist()  # the prompt and the placeholders too
    assert not [n for n, p in trainer.model.named_parameters() if p.requires_grad and "multi_modal_projector" in n]
