"""Conversation → token ids and labels, with the family's Vicuna v1 template. Training and generation use this
same code, so the model is always prompted exactly as it was trained.

    <s><system> USER: <media prefix><question> ASSISTANT: <answer></s>USER: <question> ASSISTANT: <answer></s>

Labels are -100 everywhere except the answers and their EOS. The media prefix holds the frames' placeholders
(one <image> per frame for LLaVA, one <video> for the video families) and, when there are dates, the frame dates.
Each placeholder is expanded to as many placeholder tokens as the model makes features for it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from ..models.families import Family
from .schema import GPT, IMAGE_TOKEN, VIDEO_TOKEN, Record

IGNORE_INDEX = -100
_PLACEHOLDERS = re.compile(r"\s*(<image>|<video>)\s*")


@dataclass
class Encoded:
    input_ids: list[int]
    labels: list[int]
    media_end: int  # index just past the last media token: truncation may never cut before it


def media_prefix(family: Family, num_frames: int, dates: list[str] | None) -> str:
    if family.frames_as == "images":
        if dates:
            return "\n".join(f"Frame {i + 1} ({d}): {IMAGE_TOKEN}" for i, d in enumerate(dates)) + "\n"
        return IMAGE_TOKEN * num_frames + "\n"
    if dates:
        return VIDEO_TOKEN + "\nFrame dates: " + ", ".join(f"Frame {i + 1} ({d})" for i, d in enumerate(dates)) + "\n"
    return VIDEO_TOKEN + "\n"


def conversation_turns(record: Record, family: Family, num_frames: int, dates: list[str] | None,
                       with_answers: bool = True) -> list[tuple[str, str | None]]:
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
    first_question = media_prefix(family, num_frames, dates) + _PLACEHOLDERS.sub(" ", turns[0][0]).strip()
    turns[0] = (first_question, turns[0][1])
    return turns if with_answers else [(first_question, None)]


def encode(turns: list[tuple[str, str | None]], tokenizer, family: Family, media_token_id: int,
           tokens_per_placeholder: int, system_prompt: str = "") -> Encoded:
    """Token ids and labels for the turns; a final turn without an answer ends the text at 'ASSISTANT:'."""
    ids, labels = [tokenizer.bos_token_id], [IGNORE_INDEX]
    media_end = 1
    for k, (question, answer) in enumerate(turns):
        text = f"{family.user} {question} {family.assistant}"
        if k == 0 and system_prompt:
            text = f"{system_prompt} {text}"
        prompt_ids = _tokenize_with_media(text, tokenizer, family.media_token, media_token_id, tokens_per_placeholder)
        ids += prompt_ids
        labels += [IGNORE_INDEX] * len(prompt_ids)
        if k == 0:
            media_end = max(i for i, t in enumerate(ids) if t == media_token_id) + 1 if media_token_id in ids else 1
        if answer is not None:
            answer_ids = tokenizer(" " + answer.strip(), add_special_tokens=False).input_ids + [tokenizer.eos_token_id]
            ids += answer_ids
            labels += answer_ids
    return Encoded(ids, labels, media_end)


def _tokenize_with_media(text: str, tokenizer, media_token: str, media_token_id: int, count: int) -> list[int]:
    ids = []
    for i, piece in enumerate(text.split(media_token)):
        if i:
            ids += [media_token_id] * count
        if piece:
            ids += tokenizer(piece, add_special_tokens=False).input_ids
    return ids
