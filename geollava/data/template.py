"""Conversation → token ids and labels, with one of the templates (`chat_template`). Training and generation use
this same code, so the model is always prompted exactly as it was trained.

    vicuna_v1  LLaVA-1.5's and GeoChat's training template (LLaVA's conv_vicuna_v1; the default of the
               LLaVA-1.5-era families): <s><system> USER: <media prefix><question> ASSISTANT: <answer></s>USER: ...
               with the system sentence "A chat between a curious user ... answers to the user's questions."
    llava_v1   the same with "curious human ... the human's questions" (conv_llava_v1): what GeoChat's
               evaluation scripts prompt with, to reproduce its own evaluation runs
    geollava   GeoLLaVA's fine-tuning prompt (videollava_finetune.py): USER: <question>\n ASSISTANT: Answer: <answer>,
               no system sentence, no end-of-sequence token
    raw        the question alone, as GeoLLaVA's videollava_eval.py asks it (evaluation only)
    model      the model's own chat template (the processor's where the model folder has one, else the
               tokenizer's: ChatML for Qwen and SmolLM2). Where it renders typed content parts, the frames go in as
               image / video parts, so the ids are exactly what the model's processor makes of the same messages

The conversation is rendered once as text and tokenized as its reference tokenizes it: LLaVA's two templates as
LLaVA's tokenizer_image_token does (llava/mm_utils.py: the text between placeholders tokenized chunk by chunk,
each chunk's BOS dropped but the first's — so a tokenizer with legacy=False, Vicuna's, puts a "▁" after each
placeholder, as GeoChat and LLaVA trained); geollava, raw and the model's chat template as the text is tokenized
whole (as their processors do; a chat template's own special tokens instead of the tokenizer's). Labels are -100
everywhere except the tokens whose characters lie in an answer or its end (EOS for Vicuna, the end-of-turn token
for a chat template), found by the tokenizer's character offsets. The media prefix holds the
frames' placeholders (one <image> per frame for LLaVA, one <|vision_start|><|image_pad|><|vision_end|> per frame
for Qwen, one <video> for the video families) and, when there are dates, the frame dates. Each placeholder is
expanded to as many placeholder tokens as the model makes features for.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from ..families import Family
from .schema import GPT, IMAGE_TOKEN, Record

IGNORE_INDEX = -100
SYSTEMS = {  # LLaVA's conversation templates' system sentences (llava/conversation.py)
    "vicuna_v1": "A chat between a curious user and an artificial intelligence assistant. "
                 "The assistant gives helpful, detailed, and polite answers to the user's questions.",
    "llava_v1": "A chat between a curious human and an artificial intelligence assistant. "
                "The assistant gives helpful, detailed, and polite answers to the human's questions.",
}
CHAT_TEMPLATES = ("vicuna_v1", "llava_v1", "geollava", "model", "raw")
END_OF_TURN = ("<|im_end|>", "<|eot_id|>", "<end_of_turn>")  # ChatML (Qwen, SmolLM2), Llama 3, Gemma
PLACEHOLDERS = re.compile(r"\s*(<image>|<video>)\s*")


@dataclass
class Encoded:
    input_ids: list[int]
    labels: list[int]
    media_end: int  # index just past the last media token: truncation may never cut before it
    placeholders: int = 0  # media placeholders in the text
    visual_tokens: int = 0  # the tokens they were expanded into

    def counted_length(self, counts: str = "all") -> int:
        """The length a limit is held against: every token ("all"), or the text with each placeholder as one
        token, as before the expansion ("text")."""
        return len(self.input_ids) - (self.visual_tokens - self.placeholders if counts == "text" else 0)

    def limit_index(self, limit: int, counts: str = "all") -> int:
        """How many of the ids a limit of ``limit`` counted as ``counts`` keeps."""
        return limit + (self.visual_tokens - self.placeholders if counts == "text" else 0)


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
                       with_answers: bool = True, as_image: bool = False,
                       reword: Callable[[str], str] | None = None) -> list[tuple[str, str | None]]:
    """(question, answer) pairs; the media prefix replaces any placeholder of the first question.

    ``with_answers=False`` keeps only the first question, with no answer: the generation prompt. ``reword``: how
    the first question is put to the model (a zero-shot model's own convention), before the media prefix.
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
    question = PLACEHOLDERS.sub(" ", turns[0][0]).strip()
    first_question = media_prefix(family, num_frames, dates, as_image) + (reword(question) if reword else question)
    turns[0] = (first_question, turns[0][1])
    return turns if with_answers else [(first_question, None)]


def render(turns: list[tuple[str, str | None]], family: Family, eos_token: str,
           system_prompt: str | None = None, template: str = "vicuna_v1") -> tuple[str, list[tuple[int, int]]]:
    """The conversation as one LLaVA v1 text, and the character spans to learn: each answer with its EOS, and the
    space before it — a tokenizer may make that space a token of its own, which the model must learn to write,
    since a generation prompt ends at 'ASSISTANT:' (a final turn without an answer). ``system_prompt`` None:
    the template's own (``template``: vicuna_v1 or llava_v1)."""
    system_prompt = SYSTEMS[template] if system_prompt is None else system_prompt
    text, spans = "", []
    for k, (question, answer) in enumerate(turns):
        turn = f"{family.user} {question} {family.assistant}"
        text += f"{system_prompt} {turn}" if k == 0 and system_prompt else turn
        if answer is not None:
            start = len(text)
            text += f" {answer.strip()}{eos_token}"
            spans.append((start, len(text)))
    return text, spans


def render_geollava(turns: list[tuple[str, str | None]], system_prompt: str | None = None
                    ) -> tuple[str, list[tuple[int, int]]]:
    """GeoLLaVA's fine-tuning text, "USER: {q}\\n ASSISTANT: Answer: {a}" (turns joined by a newline), with no
    system sentence unless one is given and no end-of-sequence token, as its videollava_finetune.py writes it."""
    text, spans = (f"{system_prompt} " if system_prompt else ""), []
    for k, (question, answer) in enumerate(turns):
        text += ("\n" if k else "") + f"USER: {question}\n ASSISTANT: Answer:"
        if answer is not None:
            spans.append((len(text), len(text) + 1 + len(answer.strip())))
            text += f" {answer.strip()}"
    return text, spans


def render_raw(turns: list[tuple[str, str | None]]) -> tuple[str, list[tuple[int, int]]]:
    """The first question alone, its media placeholders where the annotation puts them, nothing around it: what
    GeoLLaVA's videollava_eval.py hands its processor. For asking only: it has no place for an answer."""
    if any(answer is not None for _, answer in turns):
        raise ValueError("chat_template: raw asks the question alone (GeoLLaVA's videollava_eval.py) and has no "
                         "place for an answer, so it cannot train; use it with eval.py --chat-template raw")
    return turns[0][0], []


def end_of_turn(tokenizer) -> str:
    """The token a chat template closes each turn with (generation stops there too). Looked up token by token:
    the whole vocabulary (get_vocab) is a dict built anew on every call, 72 ms for Qwen's 152,064 tokens."""
    return next((t for t in END_OF_TURN if in_vocabulary(tokenizer, t)), tokenizer.eos_token)


def in_vocabulary(tokenizer, token: str) -> bool:
    found = tokenizer.convert_tokens_to_ids(token)
    return found is not None and (found != tokenizer.unk_token_id or token == tokenizer.unk_token)


def render_chat(turns: list[tuple[str, str | None]], tokenizer, system_prompt: str | None = None,
                family: Family | None = None) -> tuple[str, list[tuple[int, int]]]:
    """The conversation through the model's own chat template, and the spans to learn: each answer with its
    end-of-turn token. ``system_prompt`` None: whatever the template puts there by itself. Where the template
    renders typed image / video parts (Qwen's, OneVision's), the media placeholders of ``family`` go in as such
    parts — exactly the messages a processor's apply_chat_template takes."""
    if not getattr(tokenizer, "chat_template", None):
        raise ValueError(f"chat_template: model, but the tokenizer {type(tokenizer).__name__} has no chat template; "
                         "use chat_template: vicuna_v1, or a model folder whose tokenizer or processor has one")
    close = end_of_turn(tokenizer)
    message = _message_maker(tokenizer)
    media = family is not None and _renders_media(tokenizer, family)
    messages = [message("system", system_prompt)] if system_prompt is not None else []
    spans, text = [], ""
    for question, answer in turns:
        messages.append({"role": "user", "content": media_parts(question, family)} if media else
                        message("user", question))
        text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        if answer is None:
            break
        messages.append(message("assistant", answer.strip()))
        full = tokenizer.apply_chat_template(messages, tokenize=False)
        if not full.startswith(text):  # the generation prompt opens the turn otherwise than the turn itself does
            # (OneVision's released template: "assistant\n" to generate, "assistant \n" in a conversation):
            # the turn is learned as the conversation renders it, from its answer on
            text = tokenizer.apply_chat_template(messages[:-1], tokenize=False)
            text = full[:full.find(answer.strip(), len(text))] if full.startswith(text) else full
        end = full.find(close, len(text))
        if not full.startswith(text) or end < 0:
            raise ValueError("the tokenizer's chat template does not render a conversation turn by turn (each "
                             f"prefix a prefix of the whole, every answer closed by {close!r}); use "
                             "chat_template: vicuna_v1")
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


_RENDERS_MEDIA: dict[tuple[str, str], bool] = {}  # (chat template text, placeholder) -> renders typed media parts


def _renders_media(tokenizer, family: Family) -> bool:
    """Whether the chat template renders an image / video part as the family's placeholder (probed once)."""
    key = (tokenizer.chat_template, family.placeholder)
    if key not in _RENDERS_MEDIA:
        probe = [{"role": "user", "content": [{"type": _part_kind(family.placeholder, family)},
                                              {"type": "text", "text": "probe"}]}]
        try:
            _RENDERS_MEDIA[key] = family.placeholder in tokenizer.apply_chat_template(probe, tokenize=False)
        except Exception:  # noqa: BLE001 - a text-only template fails on typed parts its own way
            _RENDERS_MEDIA[key] = False
    return _RENDERS_MEDIA[key]


def media_parts(question: str, family: Family) -> list[dict]:
    """A question with its media placeholders as typed parts: text, image and video parts in order. The newline
    that only separates the last placeholder from the text is left to the template, which writes its own."""
    pieces = re.split(f"({re.escape(family.placeholder)}|{re.escape(IMAGE_TOKEN)})", question)
    parts, last_media = [], max((k for k, p in enumerate(pieces) if k % 2), default=-1)
    for k, piece in enumerate(pieces):
        if k % 2:
            parts.append({"type": _part_kind(piece, family)})
        else:
            text = piece[1:] if k == last_media + 1 and piece.startswith("\n") else piece
            if text:
                parts.append({"type": "text", "text": text})
    return parts


def _part_kind(placeholder: str, family: Family) -> str:
    return "image" if placeholder == IMAGE_TOKEN or family.frames_as == "images" else "video"


def render_text(turns: list[tuple[str, str | None]], tokenizer, family: Family, system_prompt: str | None = None,
                chat_template: str = "vicuna_v1") -> tuple[str, list[tuple[int, int]]]:
    """The conversation's text and spans to learn, with the template ``chat_template`` names."""
    if chat_template == "model":
        return render_chat(turns, tokenizer, system_prompt, family)
    if chat_template == "geollava":
        return render_geollava(turns, system_prompt)
    if chat_template == "raw":
        return render_raw(turns)
    return render(turns, family, tokenizer.eos_token, system_prompt, chat_template)


def tokenized_in_chunks(text: str, tokenizer, media_token_id: int) -> tuple[list[int], list[tuple[int, int]]]:
    """(ids, character offsets) as LLaVA's tokenizer_image_token makes them: the text between media placeholders
    tokenized chunk by chunk, each with the tokenizer's special tokens, the BOS kept only on the first chunk."""
    marker = tokenizer.convert_ids_to_tokens(media_token_id)
    ids, offsets, start = [], [], 0
    for k, chunk in enumerate(text.split(marker)):
        if k:
            ids.append(media_token_id)
            offsets.append((start - len(marker), start))
        encoding = tokenizer(chunk, return_offsets_mapping=True)
        skip = 1 if k and encoding.input_ids[:1] == [tokenizer.bos_token_id] and tokenizer.bos_token_id is not None \
            else 0
        ids += encoding.input_ids[skip:]
        offsets += [(start + a, start + b) if b > a else (a, b) for a, b in encoding.offset_mapping[skip:]]
        start += len(chunk) + len(marker)
    return ids, offsets


def encode(turns: list[tuple[str, str | None]], tokenizer, family: Family, media_token_id: int,
           tokens_per_placeholder: int | list[int], system_prompt: str | None = None,
           chat_template: str = "vicuna_v1", train_on_prompt: bool = False) -> Encoded:
    """Token ids and labels for the turns: the tokenizer's ids for the rendered text, media tokens expanded
    (each to ``tokens_per_placeholder``, or the k-th to its k-th entry where frames differ: Qwen).
    ``train_on_prompt``: every token is a label, the prompt and the media placeholders too (GeoLLaVA's recipe)."""
    if tokenizer.eos_token is None:
        raise ValueError(f"the tokenizer {type(tokenizer).__name__} has no EOS token: a fine-tuned model would "
                         "never learn to stop; set tokenizer.eos_token in the model folder")
    text, spans = render_text(turns, tokenizer, family, system_prompt, chat_template)
    if chat_template in SYSTEMS:
        token_ids, offsets = tokenized_in_chunks(text, tokenizer, media_token_id)
    else:  # a chat template writes its own special tokens (apply_chat_template's policy); GeoLLaVA's gets the BOS
        encoding = tokenizer(text, return_offsets_mapping=True, add_special_tokens=chat_template != "model")
        token_ids, offsets = encoding.input_ids, encoding.offset_mapping
    placeholders = sum(token == media_token_id for token in token_ids)
    counts = tokens_per_placeholder if isinstance(tokens_per_placeholder, list) else \
        [tokens_per_placeholder] * placeholders
    if len(counts) != placeholders:
        raise ValueError(f"{placeholders} media placeholders in the prompt for {len(counts)} frames")
    before, after = ([tokenizer.convert_tokens_to_ids(t)] if t else [] for t in family.expanded_wrap)
    ids, labels, media_end, remaining = [], [], 0, iter(counts)
    for token, (start, end) in zip(token_ids, offsets):
        if token == media_token_id:
            count = next(remaining)
            ids += before + [media_token_id] * count + after
            labels += [IGNORE_INDEX] * (len(before) + count + len(after))
            media_end = len(ids)
            continue
        ids.append(token)
        learned = end > start and any(start < span_end and end > span_start for span_start, span_end in spans)
        labels.append(token if learned else IGNORE_INDEX)
    if train_on_prompt:
        labels = list(ids)
    return Encoded(ids, labels, media_end, placeholders, sum(counts) + placeholders * (len(before) + len(after)))
