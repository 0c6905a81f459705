"""The template's token ids are the tokenizer's own for the rendered conversation, for every family and three kinds
of tokenizer (SentencePiece Llama as Vicuna's, byte-level BPE, and one without a BOS token as Qwen's and SmolLM2's);
the labels are exactly the answers and their EOS."""
from __future__ import annotations

import pytest
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import AutoTokenizer, PreTrainedTokenizerFast

from geollava.data.schema import parse_record
from geollava.data.template import IGNORE_INDEX, conversation_turns, encode
from geollava.families import FAMILIES
from geollava.models.tiny import train_chatml_tokenizer, train_tokenizer
from geollava.synthetic.captions import tokenizer_corpus

from test_released_prompts import tokenizer_image_token
from helpers import labelled_runs, vicuna_tokenizer_folder

SYSTEM = "A chat between a curious human and an artificial intelligence assistant."
DATES = ["2016-03-02", "2019-11-20"]
ANSWERS = ["Two new buildings were built in the north-east.", "Between 2016 and 2019, \u00e9t\u00e9 42 roofs."]
RECORD = {"id": "multi", "video": ["a.png", "b.png"], "conversations": [
    {"from": "human", "value": "<video>\nWhat changed?"}, {"from": "gpt", "value": ANSWERS[0]},
    {"from": "human", "value": "Where, and how many?"}, {"from": "gpt", "value": ANSWERS[1]}]}
PER_PLACEHOLDER = 3


def expected_text(family, eos: str) -> str:
    """The Vicuna v1 rendering, written out by hand."""
    if family.frames_as == "images":
        media = f"Frame 1 ({DATES[0]}): <image>\nFrame 2 ({DATES[1]}): <image>\n"
    else:
        media = f"<video>\nFrame dates: Frame 1 ({DATES[0]}), Frame 2 ({DATES[1]})\n"
    return (f"{SYSTEM} USER: {media}What changed? ASSISTANT: {ANSWERS[0]}{eos}"
            f"USER: Where, and how many? ASSISTANT: {ANSWERS[1]}{eos}")


def sentencepiece_llama(tmp_path, legacy: bool):
    """A SentencePiece BPE model trained here, in a folder laid out as Vicuna's (tokenizer.model, LlamaTokenizer,
    <s> / </s>, no pad token), loaded the way transformers loads Vicuna; <image> / <video> added as assembly does."""
    texts = [SYSTEM, *ANSWERS, *list(tokenizer_corpus())[:400]]
    folder = vicuna_tokenizer_folder(tmp_path / f"vicuna-legacy-{legacy}", texts, legacy)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    assert tokenizer.pad_token is None and tokenizer.bos_token == "<s>"
    tokenizer.add_special_tokens({"additional_special_tokens": ["<image>", "<video>"]})
    return tokenizer


def no_bos_bpe():
    """Byte-level BPE with no BOS token at all and a ChatML-style end token, as Qwen's and SmolLM2's."""
    tokenizer = Tokenizer(models.BPE(unk_token=None))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<image>", "<video>"]
    tokenizer.train_from_iterator([SYSTEM, *ANSWERS, *list(tokenizer_corpus())[:400]], trainers.BpeTrainer(
        vocab_size=500, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False))
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                   additional_special_tokens=["<|im_start|>", "<image>", "<video>"])
    fast.chat_template = CHATML
    return fast


# ChatML as Qwen2.5's and SmolLM2's tokenizers write it, with a default system turn of its own
CHATML = ("{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
          "{{ '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}{% endif %}"
          "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}{% endfor %}"
          "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")


@pytest.fixture(params=["sentencepiece-legacy", "sentencepiece", "byte-bpe", "no-bos"])
def tokenizer(request, tmp_path):
    if request.param.startswith("sentencepiece"):
        return sentencepiece_llama(tmp_path, legacy=request.param.endswith("legacy"))
    return train_tokenizer(tokenizer_corpus()) if request.param == "byte-bpe" else no_bos_bpe()


def expand(ids: list[int], media_id: int) -> list[int]:
    return [t for i in ids for t in ([i] * PER_PLACEHOLDER if i == media_id else [i])]


VICUNA_FAMILIES = sorted(n for n, f in FAMILIES.items() if f.chat_template == "vicuna_v1")
CHAT_FAMILIES = sorted(n for n, f in FAMILIES.items() if f.chat_template == "model")


@pytest.mark.parametrize("family_name", VICUNA_FAMILIES)
def test_ids_are_the_tokenizers_own_and_labels_the_answers(tokenizer, family_name):
    family = FAMILIES[family_name]
    record, problems = parse_record({**RECORD, "timestamp": DATES})
    assert not problems
    media_id = tokenizer.convert_tokens_to_ids(family.media_token)
    turns = conversation_turns(record, family, 2, DATES)
    encoded = encode(turns, tokenizer, family, media_id, PER_PLACEHOLDER, SYSTEM)

    # LLaVA's tokenizer_image_token: the text chunk by chunk between placeholders (the whole text at once for
    # a legacy SentencePiece or a byte-level BPE tokenizer; a "▁" more after each placeholder otherwise)
    chunked = tokenizer_image_token(expected_text(family, tokenizer.eos_token), tokenizer, media_id,
                                    family.media_token)
    assert encoded.input_ids == expand(chunked, media_id)
    assert None not in encoded.input_ids
    assert (encoded.input_ids[0] == tokenizer.bos_token_id) == (tokenizer.bos_token is not None)
    runs = labelled_runs(encoded.input_ids, encoded.labels)
    assert [tokenizer.decode(r).strip() for r in runs] == [a + tokenizer.eos_token for a in ANSWERS]
    assert [r[-1] for r in runs] == [tokenizer.eos_token_id] * 2
    media_positions = [i for i, t in enumerate(encoded.input_ids) if t == media_id]
    assert len(media_positions) == PER_PLACEHOLDER * (2 if family.frames_as == "images" else 1)
    assert encoded.media_end == media_positions[-1] + 1


def test_the_generation_prompt_ends_at_the_assistant_tag(tokenizer):
    family = FAMILIES["llava"]
    record, _ = parse_record({**RECORD, "timestamp": DATES})
    turns = conversation_turns(record, family, 2, DATES, with_answers=False)
    encoded = encode(turns, tokenizer, family, tokenizer.convert_tokens_to_ids("<image>"), PER_PLACEHOLDER, SYSTEM)
    assert set(encoded.labels) == {IGNORE_INDEX}
    assert tokenizer.decode(encoded.input_ids, skip_special_tokens=True).rstrip().endswith("What changed? ASSISTANT:")


def test_a_tokenizer_without_eos_is_refused():
    tokenizer = no_bos_bpe()
    tokenizer.eos_token = None
    record, _ = parse_record(RECORD)
    turns = conversation_turns(record, FAMILIES["llava"], 2, None)
    with pytest.raises(ValueError, match="has no EOS token"):
        encode(turns, tokenizer, FAMILIES["llava"], 0, PER_PLACEHOLDER)


def test_a_space_token_before_the_answer_is_learned_too(tokenizer):
    """Byte-level BPE without a merge for " {" makes the space its own token: the model must learn to write it,
    since generation starts right after 'ASSISTANT:' (found when a refer model never began its boxes)."""
    family = FAMILIES["llava"]
    record, _ = parse_record({**RECORD, "conversations": [RECORD["conversations"][0],
                                                          {"from": "gpt", "value": "{<16><55><24><63>|<11>}"}]})
    turns = conversation_turns(record, family, 2, None)
    encoded = encode(turns, tokenizer, family, tokenizer.convert_tokens_to_ids("<image>"), PER_PLACEHOLDER, SYSTEM)
    prompt = encode(conversation_turns(record, family, 2, None, with_answers=False), tokenizer, family,
                    tokenizer.convert_tokens_to_ids("<image>"), PER_PLACEHOLDER, SYSTEM)
    first = next(i for i, label in enumerate(encoded.labels) if label != IGNORE_INDEX)
    assert encoded.input_ids[:len(prompt.input_ids)] == prompt.input_ids
    assert first == len(prompt.input_ids), "every token after the generation prompt is learned"


@pytest.mark.parametrize("system", [None, SYSTEM])
def test_the_models_chat_template_gives_apply_chat_templates_ids(system):
    """chat_template: model — the ids of a multi-turn conversation are apply_chat_template's (media placeholders
    expanded), and the labels are exactly the answers and their end-of-turn token."""
    tokenizer, family = no_bos_bpe(), FAMILIES["llava"]
    record, _ = parse_record({**RECORD, "timestamp": DATES})
    media_id = tokenizer.convert_tokens_to_ids("<image>")
    encoded = encode(conversation_turns(record, family, 2, DATES), tokenizer, family, media_id, PER_PLACEHOLDER,
                     system, chat_template="model")
    media = f"Frame 1 ({DATES[0]}): <image>\nFrame 2 ({DATES[1]}): <image>\nWhat changed?"
    messages = ([{"role": "system", "content": system}] if system else []) + [
        {"role": "user", "content": media}, {"role": "assistant", "content": ANSWERS[0]},
        {"role": "user", "content": "Where, and how many?"}, {"role": "assistant", "content": ANSWERS[1]}]
    reference = tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True)["input_ids"]
    assert encoded.input_ids == expand(list(reference), media_id)
    runs = labelled_runs(encoded.input_ids, encoded.labels)
    assert [tokenizer.decode(r) for r in runs] == [a + "<|im_end|>" for a in ANSWERS]
    text = tokenizer.decode(encoded.input_ids)
    assert ("You are a helpful assistant." in text) == (system is None)  # the template's own system turn
    prompt = encode(conversation_turns(record, family, 2, DATES, with_answers=False), tokenizer, family, media_id,
                    PER_PLACEHOLDER, system, chat_template="model")
    assert tokenizer.decode(prompt.input_ids).endswith("<|im_start|>assistant\n")
    assert encoded.input_ids[:len(prompt.input_ids)] == prompt.input_ids


def test_a_tokenizer_without_a_chat_template_is_refused_for_model_templates():
    tokenizer = train_tokenizer(tokenizer_corpus())
    record, _ = parse_record(RECORD)
    with pytest.raises(ValueError, match="has no chat template"):
        encode(conversation_turns(record, FAMILIES["llava"], 2, None), tokenizer, FAMILIES["llava"], 0,
               PER_PLACEHOLDER, chat_template="model")


@pytest.mark.parametrize("family_name", CHAT_FAMILIES)
def test_qwen_and_onevision_prompts_are_their_chat_templates_with_frames_in_place(family_name):
    """Each new family's own prompt (ChatML, its default system turn): ids equal apply_chat_template's with every
    placeholder expanded — for Qwen each frame to its own count (frames of different sizes), each frame's
    <|vision_start|><|image_pad|><|vision_end|> next to its date; OneVision one <video> with the dates after."""
    family = FAMILIES[family_name]
    tokenizer = train_chatml_tokenizer([SYSTEM, *ANSWERS, *list(tokenizer_corpus())[:400]])
    record, _ = parse_record({**RECORD, "timestamp": DATES})
    media_id = tokenizer.convert_tokens_to_ids(family.media_token)
    counts = [4, 6] if family.frames_as == "images" else [2 * 5 + 1]
    encoded = encode(conversation_turns(record, family, 2, DATES), tokenizer, family, media_id, counts,
                     chat_template=family.chat_template)
    if family.frames_as == "images":
        frame = family.placeholder  # Qwen's <|vision_start|><|image_pad|><|vision_end|>, InternVL's <IMG_CONTEXT>
        media = f"Frame 1 ({DATES[0]}): {frame}\nFrame 2 ({DATES[1]}): {frame}\n"
    else:
        media = f"<video>\nFrame dates: Frame 1 ({DATES[0]}), Frame 2 ({DATES[1]})\n"
    messages = [{"role": "user", "content": media + "What changed?"}, {"role": "assistant", "content": ANSWERS[0]},
                {"role": "user", "content": "Where, and how many?"}, {"role": "assistant", "content": ANSWERS[1]}]
    reference = list(tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True)["input_ids"])
    before, after = ([tokenizer.convert_tokens_to_ids(w)] if w else [] for w in family.expanded_wrap)
    expanded = [t for i in reference for t in (before + [i] * counts.pop(0) + after if i == media_id else [i])]
    assert encoded.input_ids == expanded
    assert encoded.input_ids.count(media_id) == (10 if family.frames_as == "images" else 11)
    runs = labelled_runs(encoded.input_ids, encoded.labels)
    assert [tokenizer.decode(r) for r in runs] == [a + "<|im_end|>" for a in ANSWERS]
    assert tokenizer.decode(encoded.input_ids).startswith("<|im_start|>system\nYou are a helpful assistant.")


def test_a_frame_count_that_does_not_match_the_placeholders_is_an_error():
    family = FAMILIES["qwen2_5_vl"]
    tokenizer = train_chatml_tokenizer(list(tokenizer_corpus())[:200])
    record, _ = parse_record({**RECORD, "timestamp": DATES})
    with pytest.raises(ValueError, match="2 media placeholders in the prompt for 3 frames"):
        encode(conversation_turns(record, family, 2, DATES), tokenizer, family,
               tokenizer.convert_tokens_to_ids("<|image_pad|>"), [1, 2, 3], chat_template="model")


# As LLaVA-OneVision's HF processor writes it: content is read only as typed parts, no default system turn
TYPED_PARTS = ("{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' }}"
               "{% for part in message['content'] | selectattr('type', 'equalto', 'text') %}{{ part['text'] }}"
               "{% endfor %}{{ '<|im_end|>\n' }}{% endfor %}"
               "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")


def test_a_template_that_reads_typed_parts_gets_them():
    """A string content would render as nothing in this template: questions and answers must still be there."""
    tokenizer = train_chatml_tokenizer([SYSTEM, *ANSWERS, *list(tokenizer_corpus())[:400]])
    tokenizer.chat_template = TYPED_PARTS
    family = FAMILIES["llava_onevision"]
    record, _ = parse_record({**RECORD, "timestamp": DATES})
    media_id = tokenizer.convert_tokens_to_ids("<video>")
    encoded = encode(conversation_turns(record, family, 2, DATES), tokenizer, family, media_id, 3,
                     chat_template="model")
    text = tokenizer.decode(encoded.input_ids)
    assert text.startswith("<|im_start|>user\n<video><video><video>\nFrame dates: Frame 1 (2016-03-02)")
    assert "Where, and how many?<|im_end|>" in text
    runs = labelled_runs(encoded.input_ids, encoded.labels)
    assert [tokenizer.decode(r) for r in runs] == [a + "<|im_end|>" for a in ANSWERS]
