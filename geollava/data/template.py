"""Conversation → token ids and labels, with the family's Vicuna v1 template. Training and generation use this
same code, so the model is always prompted exactly as it was trained.

    <s><system> USER: <media prefix><question> ASSISTANT: <answer></s>USER: <question> ASSISTANT: <answer></s>

The conversation is rendered once as text and tokenized once, exactly as the tokenizer tokenizes that text (its
own BOS, if it has one; SentencePiece and byte-level BPE alike); labels are -100 everywhere except the tokens whose
characters lie in an answer or its EOS (found by the tokenizer's character offsets). The media prefix holds the
frames' placeholders (one <image> per frame for LLaVA, one <video> for the video families) and, when there are
dates, the frame dates. Each placeholder is expanded to as many placeholder tokens as the model makes features for.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from ..families import Family
from .schema import GPT, IMAGE_TOKEN, VIDEO_TOKEN, Record

IGNORE_INDEX = -100
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
    if family.frames_as == "images":
        if dates:
            return "\n".join(f"Frame {i + 1} ({d}): {IMAGE_TOKEN}" for i, d in enumerate(dates)) + "\n"
        return IMAGE_TOKEN * num_frames + "\n"
    if dates:
        return VIDEO_TOKEN + "\nFrame dates: " + ", ".join(f"Frame {i + 1} ({d})" for i, d in enumerate(dates)) + "\n"
    return VIDEO_TOKEN + "\n"


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
           system_prompt: str = "") -> tuple[str, list[tuple[int, int]]]:
    """The conversation as one text, and the character spans to learn: each answer with its EOS, and the space
    before it — a tokenizer may make that space a token of its own, which the model must learn to write, since a
    generation prompt ends at 'ASSISTANT:' (a final turn without an answer)."""
    text, spans = "", []
    for k, (question, answer) in enumerate(turns):
        turn = f"{family.user} {question} {family.assistant}"
        text += f"{system_prompt} {turn}" if k == 0 and system_prompt else turn
        if answer is not None:
            start = len(text)
            text += f" {answer.strip()}{eos_token}"
            spans.append((start, len(text)))
    return text, spans


def encode(turns: list[tuple[str, str | None]], tokenizer, family: Family, media_token_id: int,
           tokens_per_placeholder: int, system_prompt: str = "") -> Encoded:
    """Token ids and labels for the turns: the tokenizer's ids for the rendered text, media tokens expanded."""
    if tokenizer.eos_token is None:
        raise ValueError(f"the tokenizer {type(tokenizer).__name__} has no EOS token: a fine-tuned model would "
                         "never learn to stop; set tokenizer.eos_token in the model folder")
    text, spans = render(turns, family, tokenizer.eos_token, system_prompt)
    encoding = tokenizer(text, return_offsets_mapping=True)
    ids, labels, media_end = [], [], 0
    for token, (start, end) in zip(encoding.input_ids, encoding.offset_mapping):
        if token == media_token_id:
            ids += [media_token_id] * tokens_per_placeholder
            labels += [IGNORE_INDEX] * tokens_per_placeholder
            media_end = len(ids)
            continue
        ids.append(token)
        learned = end > start and any(start < span_end and end > span_start for span_start, span_end in spans)
        labels.append(token if learned else IGNORE_INDEX)
    return Encoded(ids, labels, media_end)
