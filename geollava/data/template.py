"""Conversation → token ids and labels, with Vicuna v1's template (`chat_template: vicuna`, LLaVA's) or the
model's own (`chat_template: model`: the tokenizer's chat template, e.g. ChatML for Qwen and SmolLM2). Training
and generation use this same code, so the model is always prompted exactly as it was trained.

    vicuna  <s><system> USER: <media prefix><question> ASSISTANT: <answer></s>USER: <question> ASSISTANT: ...
    model   <|im_start|>system\n...<|im_end|>\n<|im_start|>user\n<media prefix><question><|im_end|>\n
            <|im_start|>assistant\n<answer><|im_end|>\n...   (ChatML; any template that renders turn by turn)

The conversation is rendered once as text and tokenized once, exactly as the tokenizer tokenizes that text (its
own BOS, if it has one; SentencePiece and byte-level BPE alike; a chat template's own special tokens instead);
labels are -100 everywhere except the tokens whose characters lie in an answer or its end (EOS for Vicuna, the
end-of-turn token for a chat template), found by the tokenizer's character offsets. The media prefix holds the
frames' placeholders (one <image> per frame for LLaVA, one <|vision_start|><|image_pad|><|vision_end|> per frame
for Qwen, one <video> for the video families) and, when there are dates, the frame dates. Each placeholder is
expanded to as many placeholder tokens as the model makes features for.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from ..families import Family
from .schema import GPT, IMAGE_TOKEN, Record

IGNORE_INDEX = -100
VICUNA_SYSTEM = ("A chat between a curious human and an artificial intelligence assistant. "
                 "The assistant gives helpful, detailed, and polite answers to the human's questions.")
CHAT_TEMPLATES = ("vicuna", "model")
END_OF_TURN = ("<|im_end|>", "<|eot_id|>", "<end_of_turn>")  # ChatML (Qwen, SmolLM2), Llama 3, Gemma
_PLACEHOLDERS = re.compile(r"\s*(<image>|<video>)\s*")


@dataclass
class Encoded:
    input_ids: list[int]
    labels: list[int]
    media_end: int  # index just past the last media token: truncation may never cut before it


def media_prefix(family: Family, num_frames: int, dates: list[str] | None, as_image: bool = False) -> str:
    """The placeholders (and dates) the frames become; ``as_image``: one image through the image path."""
    if as_image and family.frames_as == "video":
        return IMAGE_TOKEN + "\n"
    placeholder = family.placeholder
    if family.frames_as == "images":
        if dates:
            return "\n".join(f"Frame {i + 1} ({d}): {placeholder}" for i, d in enumerate(dates)) + "\n"
        return placeholder * num_frames + "\n"
    if dates:
        return placeholder + "\nFrame dates: " + ", ".join(f"Frame {i + 1} ({d})" for i, d in enumerate(dates)) + "\n"
    return placeholder + "\n"


def conversation_turns(record: Record, family: Family, num_frames: int, dates: list[str] | None,
                       with_answers: bool = True, as_image: bool = False) -> list[tuple[str, str | None]]:
    """(question, answer) pairs; the media prefix replaces any placeholder of the first question.

    ``with_answers=False`` keeps only the first question, with no answer: the generation prompt.
    """
    turns, question = [], None
    for turn in record.conversations:
        if turn.role == GPT:
            turns.append((question, turn.text))
            question = None
        else:
            question = turn.text
    if question is not None:
        turns.append((question, None))
    first_question = media_prefix(family, num_frames, dates, as_image) + _PLACEHOLDERS.sub(" ", turns[0][0]).strip()
    turns[0] = (first_question, turns[0][1])
    return turns if with_answers else [(first_question, None)]


def render(turns: list[tuple[str, str | None]], family: Family, eos_token: str,
           system_prompt: str | None = None) -> tuple[str, list[tuple[int, int]]]:
    """The conversation as one Vicuna v1 text, and the character spans to learn: each answer with its EOS, and the
    space before it — a tokenizer may make that space a token of its own, which the model must learn to write,
    since a generation prompt ends at 'ASSISTANT:' (a final turn without an answer). ``system_prompt`` None:
    Vicuna's own."""
    system_prompt = VICUNA_SYSTEM if system_prompt is None else system_prompt
    text, spans = "", []
    for k, (question, answer) in enumerate(turns):
        turn = f"{family.user} {question} {family.assistant}"
        text += f"{system_prompt} {turn}" if k == 0 and system_prompt else turn
        if answer is not None:
            start = len(text)
            text += f" {answer.strip()}{eos_token}"
            spans.append((start, len(text)))
    return text, spans


def end_of_turn(tokenizer) -> str:
    """The token a chat template closes each turn with (generation stops there too)."""
    vocab = tokenizer.get_vocab()
    return next((t for t in END_OF_TURN if t in vocab), tokenizer.eos_token)


def render_chat(turns: list[tuple[str, str | None]], tokenizer,
                system_prompt: str | None = None) -> tuple[str, list[tuple[int, int]]]:
    """The conversation through the tokenizer's own chat template, and the spans to learn: each answer with its
    end-of-turn token. ``system_prompt`` None: whatever the template puts there by itself."""
    if not getattr(tokenizer, "chat_template", None):
        raise ValueError(f"chat_template: model, but the tokenizer {type(tokenizer).__name__} has no chat template; "
                         "use chat_template: vicuna, or a model folder whose tokenizer has one")
    close = end_of_turn(tokenizer)
    message = _message_maker(tokenizer)
    messages = [message("system", system_prompt)] if system_prompt is not None else []
    spans, text = [], ""
    for question, answer in turns:
        messages.append(message("user", question))
        text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        if answer is None:
            break
        messages.append(message("assistant", answer.strip()))
        full = tokenizer.apply_chat_template(messages, tokenize=False)
        end = full.find(close, len(text))
        if not full.startswith(text) or end < 0:
            raise ValueError("the tokenizer's chat template does not render a conversation turn by turn (each "
                             f"prefix a prefix of the whole, every answer closed by {close!r}); use "
                             "chat_template: vicuna")
        spans.append((len(text), end + len(close)))
        text = full
    return text, spans


_READS_STRING_CONTENT: dict[str, bool] = {}  # chat template text -> whether it renders a string content


def _message_maker(tokenizer):
    """Messages as the chat template reads them: content as a string (Qwen's, SmolLM2's), or as typed parts
    ([{"type": "text", "text": ...}]) for a template that renders only those (LLaVA-OneVision's, which would
    silently drop a string's text). The template is probed once, not at every sample."""
    template = tokenizer.chat_template
    if template not in _READS_STRING_CONTENT:
        probe = "geollava probe text"
        try:
            rendered = tokenizer.apply_chat_template([{"role": "user", "content": probe}], tokenize=False)
            _READS_STRING_CONTENT[template] = probe in rendered
        except Exception:  # noqa: BLE001 - a template indexing its content's parts fails on a string its own way
            _READS_STRING_CONTENT[template] = False
    if _READS_STRING_CONTENT[template]:
        return lambda role, content: {"role": role, "content": content}
    return lambda role, content: {"role": role, "content": [{"type": "text", "text": content}]}


def render_text(turns: list[tuple[str, str | None]], tokenizer, family: Family, system_prompt: str | None = None,
                chat_template: str = "vicuna") -> tuple[str, list[tuple[int, int]]]:
    """The conversation's text and spans to learn, with the template ``chat_template`` names."""
    if chat_template == "model":
        return render_chat(turns, tokenizer, system_prompt)
    return render(turns, family, tokenizer.eos_token, system_prompt)


def encode(turns: list[tuple[str, str | None]], tokenizer, family: Family, media_token_id: int,
           tokens_per_placeholder: int | list[int], system_prompt: str | None = None,
           chat_template: str = "vicuna") -> Encoded:
    """Token ids and labels for the turns: the tokenizer's ids for the rendered text, media tokens expanded
    (each to ``tokens_per_placeholder``, or the k-th to its k-th entry where frames differ: Qwen)."""
    if tokenizer.eos_token is None:
        raise ValueError(f"the tokenizer {type(tokenizer).__name__} has no EOS token: a fine-tuned model would "
                         "never learn to stop; set tokenizer.eos_token in the model folder")
    text, spans = render_text(turns, tokenizer, family, system_prompt, chat_template)
    # a chat template writes its own special tokens (apply_chat_template's policy); Vicuna's text gets the BOS
    encoding = tokenizer(text, return_offsets_mapping=True, add_special_tokens=chat_template != "model")
    placeholders = sum(token == media_token_id for token in encoding.input_ids)
    counts = tokens_per_placeholder if isinstance(tokens_per_placeholder, list) else \
        [tokens_per_placeholder] * placeholders
    if len(counts) != placeholders:
        raise ValueError(f"{placeholders} media placeholders in the prompt for {len(counts)} frames")
    ids, labels, media_end, counts = [], [], 0, iter(counts)
    for token, (start, end) in zip(encoding.input_ids, encoding.offset_mapping):
        if token == media_token_id:
            count = next(counts)
            ids += [media_token_id] * count
            labels += [IGNORE_INDEX] * count
            media_end = len(ids)
            continue
        ids.append(token)
        learned = end > start and any(start < span_end and end > span_start for span_start, span_end in spans)
        labels.append(token if learned else IGNORE_INDEX)
    return Encoded(ids, labels, media_end)
