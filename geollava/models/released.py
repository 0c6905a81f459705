"""Each family's reference checkpoint at its released shape, with random weights: the released config.json (every
width, vocabulary, rope setting, image geometry and token id; only the LLM's and the towers' depth cut), the
released tokenizer, processor and chat template files, byte for byte. What a recipe meets on a GPU node, on a CPU.

    geollava model released --list
    geollava model released llava-hf/llava-1.5-7b-hf --layers 1 --out runs/released/llava-1.5

The public files live in released_files/: one manifest per checkpoint (<slug>.json: each file's source repository,
path, commit, licence and sha256) and the files themselves in blobs/, gzipped and named by their sha256, so a
tokenizer that several releases share is stored once. A manifest's ``build`` says how the folder is made:
"copy" (a transformers checkpoint: its files as they are) or "convert-geochat" (GeoChat's own layout, turned into a
transformers LLaVA exactly as `geollava model convert-geochat` turns the real one)."""
from __future__ import annotations

import gzip
import hashlib
import json
import math
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch

from ..families import FAMILIES, Family

FILES = Path(__file__).parent / "released_files"
BUILT_FILE = "geollava_released.json"  # what a folder was built from (the checkpoint id, depth, seed, sources)


class ReleasedError(ValueError):
    pass


@dataclass(frozen=True)
class Released:
    id: str
    family: Family
    manifest: dict

    @property
    def files(self) -> dict[str, dict]:
        return self.manifest["files"]


def released_models() -> dict[str, Released]:
    """Every family's reference checkpoints (Family.released), by hub id."""
    out = {}
    for family in FAMILIES.values():
        for model_id in family.released:
            path = FILES / f"{slug(model_id)}.json"
            out[model_id] = Released(model_id, family, json.loads(path.read_text()))
    return out


def slug(model_id: str) -> str:
    return model_id.replace("/", "--").lower()


def get_released(model_id: str) -> Released:
    known = released_models()
    by_lower = {k.lower(): v for k, v in known.items()}
    if model_id.lower() not in by_lower:
        raise ReleasedError(f"{model_id!r} is not a released checkpoint this version knows; known: "
                            f"{', '.join(sorted(known))}")
    return by_lower[model_id.lower()]


def listing() -> str:
    rows = [f"{'id':44} {'family':18} build"]
    rows += [f"{r.id:44} {r.family.name:18} {r.manifest['build']}" for r in released_models().values()]
    return "\n".join(rows)


# -- the released files ---------------------------------------------------------------------------------------------
def blob(sha256: str) -> Path:
    return FILES / "blobs" / f"{sha256}.gz"


def write_files(entry: Released, folder: Path) -> Path:
    """The checkpoint's released files, byte for byte as published (each checked against its sha256)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, source in entry.files.items():
        data = gzip.decompress(blob(source["sha256"]).read_bytes())
        if hashlib.sha256(data).hexdigest() != source["sha256"]:
            raise ReleasedError(f"{blob(source['sha256'])} does not hold {entry.id}'s {name} (sha256 differs): "
                                "the installed package is damaged; reinstall it")
        (folder / name).write_bytes(data)
    return folder


# -- the config at a cut depth ------------------------------------------------------------------------------------
def cut_depth(config, layers: int) -> dict:
    """Cut the LLM's and every vision tower's depth to ``layers`` in place; what was cut ({attribute path: (from,
    to)}). Per-layer lists are cut with it; layer indexes (Qwen's full-attention blocks, Qwen3's deepstack
    layers) are mapped onto the cut depth in proportion, so the cut model keeps every kind of layer it had."""
    cut = {}
    for name in ("text_config", "vision_config"):
        sub = getattr(config, name, None)
        if sub is None:
            continue
        attr = "depth" if hasattr(sub, "depth") else "num_hidden_layers"
        old = getattr(sub, attr)
        if layers >= old:
            continue
        setattr(sub, attr, layers)
        cut[f"{name}.{attr}"] = (old, layers)
        for key, value in list(vars(sub).items()):
            if isinstance(value, list) and len(value) == old and key != "mrope_section":
                setattr(sub, key, value[:layers])
            elif key in ("fullatt_block_indexes", "deepstack_visual_indexes") and value:
                setattr(sub, key, sorted({min(layers - 1, math.floor(i * layers / old)) for i in value}))
                cut[f"{name}.{key}"] = (value, getattr(sub, key))
    if not cut:
        raise ReleasedError(f"--layers {layers} cuts nothing: the model is no deeper than that")
    return cut


def geochat_config(entry: Released, files: Path, tower: Path):
    """GeoChat's config and processors as `geollava model convert-geochat` writes them, its CLIP tower (config.json's
    mm_vision_tower, openai/clip-vit-large-patch14-336) read from the release the manifest names as having it
    (LLaVA-1.5's vision_config and CLIP preprocessor)."""
    from transformers import AutoConfig

    from .convert_original import converted_config

    source = get_released(entry.manifest["vision_tower_from"])
    write_files(source, tower)
    AutoConfig.from_pretrained(tower).vision_config.save_pretrained(tower)
    config, save_processors = converted_config(files, tower)

    def extras(out: Path) -> None:
        save_processors(out)
        record = json.loads((out / "converted_from.json").read_text())
        tower_id = json.loads((files / "config.json").read_text())["mm_vision_tower"]
        record.update(source=entry.id, vision_tower=f"{tower_id} (as {source.id} holds it)")
        (out / "converted_from.json").write_text(json.dumps(record, indent=1))
    return config, extras


def build_released(model_id: str, layers: int | None, out: str | Path, seed: int = 0,
                   dtype: torch.dtype = torch.bfloat16, weights: bool = True) -> Path:
    """Write ``model_id`` at its released shape with its depth cut to ``layers`` and random weights to ``out``:
    a folder `from_pretrained` loads like the real checkpoint (its tokenizer, processor and chat template).
    ``weights`` False: the config, tokenizer and processor alone (what planning and prompts need), at full
    depth with ``layers`` None."""
    if layers is None and weights:
        raise ReleasedError("random weights at full depth would be a 7B model of noise: give --layers")
    if layers is not None and layers < 1:
        raise ReleasedError(f"--layers must be at least 1, got {layers}")
    entry = get_released(model_id)
    out = Path(out)
    with tempfile.TemporaryDirectory() as tmp:
        files = write_files(entry, Path(tmp) / "files")
        if entry.manifest["build"] == "convert-geochat":
            config, extras = geochat_config(entry, files, Path(tmp) / "tower")
        else:
            config, extras = entry.family.config_class.from_pretrained(files), None
        if config.model_type != entry.family.config_class.model_type:
            raise ReleasedError(f"{entry.id}'s config.json is a {config.model_type!r} model, not family "
                                f"{entry.family.name}'s {entry.family.config_class.model_type!r}")
        cut = cut_depth(config, layers) if layers is not None else {}
        out.mkdir(parents=True, exist_ok=True)
        if weights:
            from .load import zero3_paused

            torch.manual_seed(seed)
            with zero3_paused(None):  # whole weights, even in a process where a ZeRO-3 config is alive
                entry.family.model_class._from_config(config, dtype=dtype).save_pretrained(out)
        else:
            config.save_pretrained(out)
        if extras is None:
            for name in entry.files:
                if name != "config.json":  # written cut by the model; every other file as released
                    shutil.copyfile(files / name, out / name)
        else:
            extras(out)
    (out / BUILT_FILE).write_text(json.dumps({
        "id": entry.id, "family": entry.family.name, "layers": layers, "seed": seed if weights else None,
        "dtype": str(dtype) if weights else None,
        "cut": {k: list(v) for k, v in cut.items()}, "build": entry.manifest["build"],
        "sources": {name: {k: s[k] for k in ("repo", "path", "commit", "sha256")} for name, s in entry.files.items()},
    }, indent=1))
    return out


VIDEO_LLAVA, NEXT_VIDEO = "LanguageBind/Video-LLaVA-7B-hf", "llava-hf/LLaVA-NeXT-Video-7B-hf"
LLAVA, GEOCHAT = "llava-hf/llava-1.5-7b-hf", "MBZUAI/geochat-7B"
QWEN2_5, QWEN3 = "Qwen/Qwen2.5-VL-7B-Instruct", "Qwen/Qwen3-VL-8B-Instruct"
ONEVISION = "llava-hf/llava-onevision-qwen2-7b-ov-hf"
INTERNVL = "OpenGVLab/InternVL3-8B-hf"

# Every shipped recipe on the released checkpoint it names (tests/models/test_released_recipes.py trains each at
# its released shape; benchmarks/released_plan.py and scripts/gpu_check.py plan and run them):
# (config, released checkpoint, its family, data: change videos or image tasks, extra words)
RECIPES = [
    ("geollava_paper.yaml", VIDEO_LLAVA, "video_llava", "change", []),
    ("geollava_paper.yaml", NEXT_VIDEO, "llava_next_video", "change", []),
    ("lora.yaml", VIDEO_LLAVA, "video_llava", "change", []),
    ("lora.yaml", NEXT_VIDEO, "llava_next_video", "change", []),
    ("lora.yaml", LLAVA, "llava", "change", ["--num_frames", "4"]),  # 4 x 576: LLaVA-1.5's 4,096 positions
    ("lora.yaml", GEOCHAT, "llava", "tasks", []),
    ("qlora.yaml", VIDEO_LLAVA, "video_llava", "change", []),
    ("qlora.yaml", NEXT_VIDEO, "llava_next_video", "change", []),
    ("qlora.yaml", LLAVA, "llava", "change", ["--num_frames", "4"]),
    ("qwen2_5_vl.yaml", QWEN2_5, "qwen2_5_vl", "change", []),
    ("qwen3_vl.yaml", QWEN3, "qwen3_vl", "change", []),
    ("llava_onevision.yaml", ONEVISION, "llava_onevision", "change", []),
    ("internvl.yaml", INTERNVL, "internvl", "change", []),
]

# How those recipes run on a CPU machine at one layer: only how it runs (no DeepSpeed, fp32, one step)
CPU_RUN = ["--deepspeed", "null", "--bf16", "false", "--fp16", "false", "--report_to", "none", "--max_steps", "1",
           "--gradient_accumulation_steps", "1", "--dataloader_num_workers", "0", "--save_steps", "100",
           "--logging_steps", "1"]
