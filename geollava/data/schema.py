"""One record type for every supported annotation style, and the fast (no I/O) checks on it.

Styles read (see data/README.md):
  GeoLLaVA           {"id", "video": "x.mp4", "conversations": [...]}
  LLaVA / GeoChat    {"id", "image": "x.jpg", "conversations": [...]}
  TEOChat            {"id", "video": ["f1.png", "f2.png", ...], "timestamp": [...], "conversations": [...]}
Optional on all of them: "timestamps" (or TEOChat's "timestamp"), "references" (extra reference captions for
evaluation) and "metadata".
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from ..tasks import task_of, task_problems

VIDEO_TOKEN = "<video>"
IMAGE_TOKEN = "<image>"
HUMAN, GPT = "human", "gpt"
ROLE_ALIASES = {"human": HUMAN, "user": HUMAN, "gpt": GPT, "assistant": GPT}


@dataclass(frozen=True)
class Problem:
    code: str
    message: str
    fix: str

    def __str__(self) -> str:
        return f"{self.message} (fix: {self.fix})"


@dataclass(frozen=True)
class Turn:
    role: str  # HUMAN or GPT
    text: str


@dataclass
class Record:
    id: str
    media_kind: str  # "video" (one file), "frames" (list of image files) or "image" (one image file)
    media: list[str]  # paths as written in the annotation, relative to the media root
    conversations: list[Turn]
    timestamps: list[str] | None = None
    references: list[str] = field(default_factory=list)
    metadata: dict = field(default_factory=dict)

    @property
    def task(self) -> str:
        """`metadata.task`, else the default task (geollava/tasks/ lists them)."""
        return task_of(self.metadata)

    @property
    def answer(self) -> str:
        """The first assistant answer: the caption a change-captioning model is trained and scored on."""
        return next(t.text for t in self.conversations if t.role == GPT)

    @property
    def prompt(self) -> str:
        return next(t.text for t in self.conversations if t.role == HUMAN)

    def all_references(self) -> list[str]:
        answers = [t.text for t in self.conversations if t.role == GPT][:1]
        return answers + [r for r in self.references if r not in answers]

    def to_json(self) -> dict:
        """The canonical annotation: GeoLLaVA style for videos, TEOChat style for frame lists, LLaVA for images."""
        out: dict = {"id": self.id}
        if self.media_kind == "video":
            out["video"] = self.media[0]
        elif self.media_kind == "frames":
            out["video"] = list(self.media)
        else:
            out["image"] = self.media[0]
        if self.timestamps is not None:
            out["timestamps"] = list(self.timestamps)
        out["conversations"] = [{"from": t.role, "value": t.text} for t in self.conversations]
        if self.references:
            out["references"] = list(self.references)
        if self.metadata:
            out["metadata"] = self.metadata
        return out


def parse_timestamp(value: str) -> dt.datetime:
    """ISO date ('2016-03-02') or datetime ('2016-03-02T10:04:00Z'); raises ValueError otherwise."""
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a string")
    text = value.strip()
    if text.endswith("Z"):  # UTC as fMoW writes it; Python 3.10's fromisoformat does not read "Z"
        text = text[:-1] + "+00:00"
    parsed = dt.datetime.fromisoformat(text)
    return parsed.replace(tzinfo=None) if parsed.tzinfo is None else parsed.astimezone(dt.timezone.utc).replace(tzinfo=None)


def has_answer(raw: dict) -> bool:
    """Whether a (valid) raw record has an answer: labeled training / scoring data, not inference input."""
    return any(ROLE_ALIASES.get(str(t.get("from", "")).strip().lower()) == GPT for t in raw.get("conversations", []))


def parse_record(raw: object, require_answer: bool = True) -> tuple[Record | None, list[Problem]]:
    """Turn one raw annotation into a Record, or say everything that is wrong with it (no file access)."""
    if not isinstance(raw, dict):
        return None, [Problem("wrong_type", f"record is a {type(raw).__name__}, not an object",
                              "make every entry a JSON object with id, media and conversations")]
    problems: list[Problem] = []
    record_id = _parse_id(raw, problems)
    media_kind, media = _parse_media(raw, problems)
    turns = _parse_conversations(raw, problems, require_answer)
    timestamps = _parse_timestamps(raw, problems)
    references = _parse_string_list(raw, "references", problems)
    metadata = raw.get("metadata", {})
    if not isinstance(metadata, dict):
        problems.append(Problem("wrong_type", f"'metadata' is a {type(metadata).__name__}, not an object",
                                "make 'metadata' a JSON object or drop it"))
    if media_kind == "frames" and timestamps is not None and len(timestamps) != len(media):
        problems.append(Problem("timestamp_count", f"{len(timestamps)} timestamps for {len(media)} frames",
                                "give exactly one timestamp per frame image"))
    if turns and media_kind:
        problems += _placeholder_problems(turns, media_kind, len(media))
    if turns and isinstance(metadata, dict):
        problems += [Problem(*p) for p in task_problems(metadata, [t.text for t in turns if t.role == HUMAN],
                                                        [t.text for t in turns if t.role == GPT], media_kind or None)]
    if problems:
        return None, problems
    return Record(record_id, media_kind, media, turns, timestamps, references or [], metadata), []


def _parse_id(raw: dict, problems: list[Problem]) -> str:
    if "id" not in raw:
        problems.append(Problem("missing_key", "missing key 'id'", "give every record a unique string 'id'"))
        return ""
    value = raw["id"]
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str) or not value.strip():
        problems.append(Problem("wrong_type", f"'id' must be a non-empty string, got {value!r}",
                                "give every record a unique string 'id'"))
        return ""
    return value


def _parse_media(raw: dict, problems: list[Problem]) -> tuple[str, list[str]]:
    has_video, has_image = "video" in raw, "image" in raw
    if has_video and has_image:
        problems.append(Problem("wrong_type", "record has both 'video' and 'image'", "keep exactly one media key"))
        return "", []
    if not (has_video or has_image):
        problems.append(Problem("missing_key", "missing media key: none of 'video' or 'image'",
                                "add 'video' (an mp4 path or a list of frame image paths) or 'image' (one path)"))
        return "", []
    value = raw["video" if has_video else "image"]
    if isinstance(value, str) and value.strip():
        return ("video" if has_video else "image"), [value]
    if has_video and isinstance(value, list) and value and all(isinstance(v, str) and v.strip() for v in value):
        return "frames", list(value)
    key = "video" if has_video else "image"
    shape = "a path or a non-empty list of paths" if has_video else "a path"
    problems.append(Problem("wrong_type", f"'{key}' must be {shape}, got {_short(value)}",
                            f"set '{key}' to {shape} relative to the media root"))
    return "", []


def _parse_conversations(raw: dict, problems: list[Problem], require_answer: bool) -> list[Turn]:
    if "conversations" not in raw:
        problems.append(Problem("missing_key", "missing key 'conversations'",
                                "add 'conversations': [{'from': 'human', ...}, {'from': 'gpt', ...}]"))
        return []
    value = raw["conversations"]
    if not isinstance(value, list) or not value:
        problems.append(Problem("wrong_type", f"'conversations' must be a non-empty list, got {_short(value)}",
                                "make 'conversations' a list of {'from', 'value'} turns"))
        return []
    turns = []
    for i, turn in enumerate(value):
        if not (isinstance(turn, dict) and isinstance(turn.get("from"), str) and isinstance(turn.get("value"), str)):
            problems.append(Problem("wrong_type", f"conversations[{i}] is not a {{'from': str, 'value': str}} object",
                                    "give every turn a string 'from' (human or gpt) and a string 'value'"))
            return []
        role = ROLE_ALIASES.get(turn["from"].strip().lower())
        if role is None:
            problems.append(Problem("wrong_type", f"conversations[{i}] has unknown role {turn['from']!r}",
                                    "use 'human' for questions and 'gpt' for answers"))
            return []
        turns.append(Turn(role, turn["value"]))
    roles = [t.role for t in turns]
    if HUMAN not in roles:
        problems.append(Problem("no_human_turn", "no human turn", "add a 'human' turn that asks about the media"))
    elif GPT not in roles and require_answer:
        problems.append(Problem("no_gpt_turn", "no gpt turn (nothing to train or score on)",
                                "add a 'gpt' turn with the reference answer"))
    elif any(role != (HUMAN if i % 2 == 0 else GPT) for i, role in enumerate(roles)):
        problems.append(Problem("role_order", f"turns must alternate human, gpt, human, ...; got {roles}",
                                "reorder the turns so that each human turn is followed by its gpt answer"))
    for i, turn in enumerate(turns):
        if turn.role == GPT and not turn.text.strip():
            problems.append(Problem("empty_answer", f"conversations[{i}] (gpt) is empty",
                                    "write the answer, or drop the record"))
    return turns


def _parse_timestamps(raw: dict, problems: list[Problem]) -> list[str] | None:
    if "timestamps" in raw and "timestamp" in raw:
        problems.append(Problem("wrong_type", "record has both 'timestamps' and 'timestamp'", "keep one of them"))
        return None
    key = "timestamps" if "timestamps" in raw else "timestamp"
    value = raw.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not value:
        problems.append(Problem("wrong_type", f"'{key}' must be a list with one date per frame, got {_short(value)}",
                                "write ISO dates, e.g. [\"2016-03-02\", \"2017-05-10\"]"))
        return None
    parsed = []
    for i, item in enumerate(value):
        try:
            parsed.append(parse_timestamp(item))
        except (ValueError, TypeError):
            problems.append(Problem("timestamp_unparsable", f"{key}[{i}] = {item!r} is not an ISO date or datetime",
                                    "write dates as YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS"))
            return None
    for i in range(1, len(parsed)):
        if parsed[i] < parsed[i - 1]:
            problems.append(Problem("timestamp_order", f"{key}[{i}] = {value[i]} is earlier than {value[i - 1]}",
                                    "order the frames (and their timestamps) from oldest to newest"))
            return None
    return [str(v).strip() for v in value]


def _parse_string_list(raw: dict, key: str, problems: list[Problem]) -> list[str] | None:
    value = raw.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        problems.append(Problem("wrong_type", f"'{key}' must be a list of strings, got {_short(value)}",
                                f"make '{key}' a list of caption strings"))
        return None
    return value


def _placeholder_problems(turns: list[Turn], media_kind: str, num_media: int) -> list[Problem]:
    first, later = turns[0].text, turns[1:]
    problems = []
    if any(VIDEO_TOKEN in t.text or IMAGE_TOKEN in t.text for t in later):
        problems.append(Problem("placeholder_mismatch", "a <video>/<image> placeholder appears after the first turn",
                                "put the media placeholder in the first human turn only"))
    videos, images = first.count(VIDEO_TOKEN), first.count(IMAGE_TOKEN)
    fix = {"video": "use one <video> placeholder (or none: it is added for you)",
           "image": "use one <image> placeholder (or none: it is added for you)",
           "frames": f"use one <video> or exactly {num_media} <image> placeholders (or none)"}[media_kind]
    allowed = {"video": videos <= 1 and images == 0,
               "image": images <= 1 and videos == 0,
               "frames": (videos <= 1 and images == 0) or (videos == 0 and images == num_media)}[media_kind]
    if not allowed:
        problems.append(Problem("placeholder_mismatch",
                                f"first turn has {videos} <video> and {images} <image> placeholders "
                                f"for {media_kind} media ({num_media} file{'s' if num_media != 1 else ''})", fix))
    return problems


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
