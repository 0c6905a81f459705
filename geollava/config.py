"""YAML config → dataclasses. The YAML's values are the defaults, `--key value` on the command line overrides
them, unknown keys and wrong types are errors naming the key, and the resolved config is written into the run
folder. A YAML file may start from another with `extends: other.yaml` and change only what differs.

    geollava train configs/tiny.yaml --learning_rate 2e-4 --tiny_model.text_layers 4
"""
from __future__ import annotations

import argparse
import difflib
import json
import math
import os
from collections.abc import Callable
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path

import torch
import transformers
import yaml

from .arguments import ConfigError, DataArguments, LoraArguments, ModelArguments, RunKeys, TrainArguments
from .data.annotations import is_hub_dataset_id
from .data.prompt import PromptSettings
from .families import FAMILIES, TinySpec

__all__ = ["Config", "ConfigError", "DataArguments", "LoraArguments", "ModelArguments", "Recipe", "RunKeys",
           "TrainArguments", "parse_config", "config_help", "device_defaults", "apply_global_batch", "named_keys"]


@dataclass(frozen=True)
class Recipe:
    """What a training recipe hands the config layer (sft/train.py's, grpo/train.py's); this module names none."""
    command: str  # its geollava command: train, grpo
    arguments: Callable[[], tuple]  # its own argument groups, its TrainingArguments class last (imported on use)
    keys: frozenset = frozenset()  # keys only its configs set: how `geollava plan` tells a config's recipe
    cpu_defaults: dict = field(default_factory=dict)  # its defaults on a CPU machine, besides use_cpu
    generates: bool = False  # its steps generate completions (the planner counts their KV cache, a KL reference)
    validate: Callable | None = None  # (config) its own checks of a parsed config; raises ConfigError
    batched: Callable | None = None  # (config) what it derives once the global batch is known
    check: Callable | None = None  # (config, data exists) what can be known before any model loads
    build: Callable | None = None  # (config) → (trainer, extras)
    main: Callable | None = None  # (argv) one process of the run


@dataclass
class Config:
    model: ModelArguments
    data: DataArguments
    prompt: PromptSettings
    lora: LoraArguments
    train: TrainArguments
    tiny_model: TinySpec | None = None
    source: str | None = None  # the YAML file
    recipe_args: object | None = None  # the recipe's own group besides its training arguments (GRPO's rewards)
    recipe: Recipe | None = None

    def resolved(self) -> dict:
        """A flat dict the parser accepts again: everything of ours, and the training arguments that were set."""
        out = {}
        for group in (self.model, self.data, self.prompt, self.lora, *([self.recipe_args] if self.recipe_args else [])):
            out.update(asdict(group))
        if self.tiny_model is not None:
            out["tiny_model"] = asdict(self.tiny_model)
        # Compared with the declared defaults: building a second TrainingArguments would reset the process's
        # shared distributed state (measured: a 2-process CPU run fell back to 2 independent runs).
        for f in fields(type(self.train)):
            value = getattr(self.train, f.name)
            value = value.value if hasattr(value, "value") else value
            default = f.default if f.default is not MISSING else (
                f.default_factory() if f.default_factory is not MISSING else None)
            plain = isinstance(value, (str, int, float, bool, list, dict, type(None)))  # not objects built later
            if f.name == "report_to" and value == []:  # TrainingArguments turns "none" into []
                value = "none"
            if f.init and plain and value != default and value != [default] or f.name == "output_dir":
                out[f.name] = value
        return out


def groups(recipe: Recipe) -> tuple:
    """The argument groups of a recipe's configs: the model, data, prompt and LoRA, then the recipe's own."""
    return (ModelArguments, DataArguments, PromptSettings, LoraArguments, *recipe.arguments())


def split_source(argv: list[str]) -> tuple[str | None, list[str]]:
    """``[CONFIG.yaml] [--key value ...]`` → (the YAML file or None, the command-line words)."""
    source = argv[0] if argv and not argv[0].startswith("--") else None
    return source, argv[1:] if source else list(argv)


def named_keys(argv: list[str]) -> set[str]:
    """The keys ``[CONFIG.yaml] [--key value ...]`` sets, in the file (and what it extends) or on the line."""
    source, cli = split_source(argv)
    return set(_load_yaml(source) if source else {}) | {w[2:] for w in cli if w.startswith("--")}


def parse_config(argv: list[str], recipe: Recipe, need_data: bool = True) -> Config:
    """``[CONFIG.yaml] [--key value ...]`` → Config; raises ConfigError with the file and key on any mistake.

    The YAML's values become the parser's defaults and the command line overrides them (TRL's pattern); this
    machine's defaults (CPU, gloo) come first, so both can still change them. ``need_data=False`` accepts a
    config whose data files do not exist yet (the memory planner needs only the model and a text length).
    ``recipe``: whose config it is (its argument groups and checks).
    """
    source, cli = split_source(argv)
    values = _load_yaml(source) if source else {}
    tiny = values.pop("tiny_model", None)
    tiny_cli, cli = _split_tiny_overrides(cli)
    nulls, cli = _split_nulls(cli)
    values.update(dict.fromkeys(nulls))
    parser = transformers.HfArgumentParser(groups(recipe))
    actions = {a.dest: a for a in parser._actions if a.option_strings}
    unknown = [k for k in values if k not in actions]
    if unknown:
        where = source if not set(unknown) & nulls else "the command line"
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}"
                          + "".join(_suggest(k, set(actions)) for k in unknown))
    unknown_cli = [w for w in cli if w.startswith("--") and w[2:] not in actions and w[2:].replace("-", "_")
                   not in actions and not w.startswith("--no_")]
    if unknown_cli:
        raise ConfigError(f"the command line: unknown option(s) {', '.join(unknown_cli)}"
                          + "".join(_suggest(w[2:], set(actions)) for w in unknown_cli))
    parser.set_defaults(**{**device_defaults(recipe), **{k: _typed(actions[k], v, source)
                                                          for k, v in values.items()}})
    try:
        parsed = parser.parse_args_into_dataclasses(cli)
    except SystemExit:
        raise ConfigError(f"invalid value or unknown option on the command line: {' '.join(cli)} "
                          "(see the message above)") from None
    except ValueError as e:
        raise ConfigError(f"{source or 'command line'}: {e}") from None
    tiny_spec = _tiny_spec({**(tiny or {}), **tiny_cli}, source) if tiny is not None or tiny_cli else None
    model, data, prompt, lora, *own, train = parsed
    config = Config(model, data, prompt, lora, train, tiny_spec, source, own[0] if own else None, recipe)
    validate(config, need_data)
    return config


def config_help(recipe: Recipe) -> str:
    """Every config key of a recipe with its help, as `geollava train --help` (or `grpo --help`) prints them."""
    parser = transformers.HfArgumentParser(groups(recipe), prog=f"geollava {recipe.command} CONFIG.yaml")
    parser.description = ("A YAML config sets these keys (see configs/); --key value on the command line overrides "
                          "one. tiny_model.<key> sets a tiny random model's sizes.")
    return parser.format_help()


def device_defaults(recipe: Recipe) -> dict:
    """Defaults for this machine: a CPU run uses the CPU (and the recipe's own CPU defaults), and several CPU
    processes talk over gloo."""
    if torch.cuda.is_available():
        return {}
    defaults = {"use_cpu": True, **recipe.cpu_defaults}
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        defaults["ddp_backend"] = "gloo"
    return defaults


def _typed(action, value, source: str | None):
    """A YAML value converted and checked as argparse would a command-line word, so both fail the same way."""
    if value is None or isinstance(value, dict) or action.type is None:
        return value
    convert = action.type
    try:
        if isinstance(value, list):
            if action.nargs not in ("+", "*"):
                raise ValueError("expected one value, not a list")
            converted = [convert(v if isinstance(v, (bool, str)) else str(v)) for v in value]
        else:
            if action.nargs in ("+", "*"):
                value = [value]
                converted = [convert(v if isinstance(v, (bool, str)) else str(v)) for v in value]
            else:
                converted = convert(value if isinstance(value, (bool, str)) else str(value))
    except (TypeError, ValueError, argparse.ArgumentTypeError) as e:
        raise ConfigError(f"{source}: {action.dest}: invalid value {value!r}: expected {_type_name(convert)} ({e})") from None
    allowed = action.choices
    items = converted if isinstance(converted, list) else [converted]
    if allowed is not None and any(v not in allowed for v in items):
        raise ConfigError(f"{source}: {action.dest}: invalid value {value!r}: expected one of {list(allowed)}")
    return converted


def _type_name(convert) -> str:
    return {"string_to_bool": "true / false"}.get(getattr(convert, "__name__", ""), getattr(convert, "__name__", "value"))


def validate(config: Config, need_data: bool = True) -> None:
    """Impossible combinations, caught before any model is loaded."""
    m, d, lora, t = config.model, config.data, config.lora, config.train
    where = config.source or "config"
    if config.recipe and config.recipe.validate:
        config.recipe.validate(config)
    if m.family not in FAMILIES:
        raise ConfigError(f"{where}: family: {m.family!r} is not one of {sorted(FAMILIES)}")
    sources = [m.model_name_or_path is not None, m.vision_tower is not None or m.language_model is not None,
               config.tiny_model is not None]
    if sum(sources) != 1:
        raise ConfigError(f"{where}: set exactly one model source: model_name_or_path, or vision_tower + "
                          "language_model (assembly), or a tiny_model block")
    if (m.vision_tower is None) != (m.language_model is None):
        raise ConfigError(f"{where}: assembling a model needs both vision_tower and language_model")
    if m.vision_tower is not None and not FAMILIES[m.family].assembles:
        raise ConfigError(f"{where}: vision_tower + language_model assemble a LLaVA-1.5 model: set family: llava, or "
                          f"give family {m.family} a model_name_or_path")
    if m.model_name_or_path and (Path(m.model_name_or_path) / "config.json").is_file():
        check_model_type(Path(m.model_name_or_path), m.family, f"{where}: model_name_or_path")
    check_ranges(config)
    check_kernels(config)
    if config.prompt.chat_template is None:
        config.prompt.chat_template = FAMILIES[m.family].chat_template
    for problem in config.prompt.problems():
        raise ConfigError(f"{where}: {problem}")
    if config.prompt.chat_template == "raw":
        raise ConfigError(f"{where}: chat_template: raw asks the question alone, with no place for an answer "
                          "(GeoLLaVA's evaluation script): it cannot train; it is eval.py's --chat-template raw")
    if (m.min_pixels or m.max_pixels) and FAMILIES[m.family].visual_tokens != "dynamic":
        raise ConfigError(f"{where}: min_pixels / max_pixels set the resolution of Qwen's dynamic-resolution "
                          f"families; family {m.family} resizes every frame to its tower's fixed size")
    if m.min_pixels and m.max_pixels and m.min_pixels > m.max_pixels:
        raise ConfigError(f"{where}: min_pixels {m.min_pixels} is larger than max_pixels {m.max_pixels}")
    odd = [name for name in lora.lora_target_modules if not str(name).isidentifier()]
    if odd or not lora.lora_target_modules:
        raise ConfigError(f"{where}: lora_target_modules must list the names of linear layers (e.g. [q_proj, "
                          f"v_proj]), got {lora.lora_target_modules!r}")
    if lora.lora_target_scope not in ("language_model", "suffix"):
        raise ConfigError(f"{where}: lora_target_scope must be language_model or suffix, got "
                          f"{lora.lora_target_scope!r}")
    if lora.init_lora_weights not in ("default", "gaussian"):
        raise ConfigError(f"{where}: init_lora_weights must be default or gaussian, got {lora.init_lora_weights!r}")
    if lora.bits not in (4, 8, 16):
        raise ConfigError(f"{where}: bits must be 16, 8 or 4, got {lora.bits}")
    if lora.bits < 16 and not lora.lora_enable:
        raise ConfigError(f"{where}: bits: {lora.bits} (QLoRA) needs lora_enable: true — quantized weights "
                          "cannot be fully fine-tuned")
    if is_zero3(t.deepspeed) and m.device_map is not None:
        raise ConfigError(f"{where}: device_map: {m.device_map!r} cannot be combined with DeepSpeed ZeRO-3, which "
                          "places the weights itself; remove device_map")
    if need_data:
        check_data_files(config)
    if d.on_bad_record not in ("error", "skip"):
        raise ConfigError(f"{where}: on_bad_record must be error or skip, got {d.on_bad_record!r}")
    if t.deepspeed is not None and not Path(t.deepspeed).is_file():
        raise ConfigError(f"{where}: deepspeed: {t.deepspeed} does not exist (see configs/deepspeed/)")
    check_writable(t.output_dir, where)
    apply_global_batch(config)


# Every numeric key that has values which cannot work: (test, what it must be). None passes where a key is optional.
RANGES = {
    "learning_rate": (lambda v: v > 0, "> 0"),
    "mm_projector_lr": (lambda v: v is None or v > 0, "> 0 (or null: the learning_rate)"),
    "weight_decay": (lambda v: v >= 0, ">= 0"),
    "max_grad_norm": (lambda v: v is None or v >= 0, ">= 0"),
    "warmup_steps": (lambda v: v >= 0, ">= 0 (below 1: a fraction of all steps)"),
    "num_train_epochs": (lambda v: v > 0, "> 0"),
    "max_steps": (lambda v: v == -1 or v >= 1, "-1 (train num_train_epochs) or >= 1"),
    "per_device_train_batch_size": (lambda v: v >= 1, ">= 1"),
    "per_device_eval_batch_size": (lambda v: v >= 1, ">= 1"),
    "gradient_accumulation_steps": (lambda v: v >= 1, ">= 1"),
    "global_batch_size": (lambda v: v is None or v >= 1, ">= 1 (or null)"),
    "max_tokens_per_batch": (lambda v: v is None or v >= 1, ">= 1 tokens (or null: per_device_train_batch_size)"),
    "logging_steps": (lambda v: v > 0, "> 0"),
    "save_steps": (lambda v: v > 0, "> 0"),
    "eval_steps": (lambda v: v is None or v > 0, "> 0 (or null)"),
    "save_total_limit": (lambda v: v is None or v >= 1, ">= 1 (or null: keep every checkpoint)"),
    "dataloader_num_workers": (lambda v: v >= 0, ">= 0"),
    "seed": (lambda v: v >= 0, ">= 0"),
    "lora_r": (lambda v: v >= 1, ">= 1"),
    "lora_alpha": (lambda v: v > 0, "> 0"),
    "lora_dropout": (lambda v: 0 <= v < 1, "in [0, 1)"),
    "image_size": (lambda v: v is None or v >= 1, ">= 1 pixels (or null)"),
    "min_pixels": (lambda v: v is None or v >= 1, ">= 1 (or null)"),
    "max_pixels": (lambda v: v is None or v >= 1, ">= 1 (or null)"),
}


def check_ranges(config: Config) -> None:
    """Every numeric value that cannot work, named by its key, before any model is loaded."""
    where = config.source or "config"
    groups = (config.model, config.data, config.prompt, config.lora, config.train)
    for key, (ok, wanted) in RANGES.items():
        group = next((g for g in groups if hasattr(g, key)), None)
        if group is None:  # a key of another recipe's
            continue
        value = getattr(group, key)
        if not ok(value):
            raise ConfigError(f"{where}: {key}: {value!r} cannot work; it must be {wanted}")
    for group in groups:  # any other number: finite (an inf or nan learning rate trains a step into nonsense)
        for key, value in vars(group).items():
            if isinstance(value, float) and not math.isfinite(value):
                raise ConfigError(f"{where}: {key}: {value!r} cannot work; give a finite number")


ATTENTION = ("sdpa", "flash_attention_2", "eager")
LIGER_FAMILIES = {"llava", "qwen2_5_vl", "qwen3_vl"}  # families liger-kernel patches (its model-type table, 0.8.5)


def check_kernels(config: Config) -> None:
    """Fused kernels are options, never requirements: one asked for where it cannot run is an error naming why."""
    import importlib.util

    where, m, t = config.source or "config", config.model, config.train
    if m.attn_implementation not in ATTENTION:
        raise ConfigError(f"{where}: attn_implementation must be one of {', '.join(ATTENTION)}, got "
                          f"{m.attn_implementation!r}")
    if m.attn_implementation == "flash_attention_2" and not (
            torch.cuda.is_available() and importlib.util.find_spec("flash_attn")):
        raise ConfigError(f"{where}: attn_implementation: flash_attention_2 needs a CUDA GPU and the flash-attn "
                          "package (built on the GPU node: pip install flash-attn --no-build-isolation); "
                          "sdpa runs everywhere")
    if getattr(t, "use_liger_kernel", False):
        if not torch.cuda.is_available() or not importlib.util.find_spec("liger_kernel"):
            raise ConfigError(f"{where}: use_liger_kernel needs a CUDA GPU and the liger-kernel package (pip "
                              "install liger-kernel); remove it on this machine")
        if m.family not in LIGER_FAMILIES:
            raise ConfigError(f"{where}: use_liger_kernel: liger-kernel has no kernels for {m.family} (it patches "
                              f"{', '.join(sorted(LIGER_FAMILIES))}); remove it")


TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "vocab.json")
PROCESSOR_FILES = ("preprocessor_config.json", "processor_config.json")


def check_model_type(folder: Path, family: str, where: str) -> None:
    """A local model folder's config.json is of the family's model type."""
    model_type = json.loads((folder / "config.json").read_text()).get("model_type")
    wanted = FAMILIES[family].config_class.model_type
    if model_type != wanted:
        others = [name for name, f in FAMILIES.items() if f.config_class.model_type == model_type]
        if others:
            hint = f"set family: {others[0]}"
        elif model_type in ("geochat", "llava_llama"):
            hint = "it is GeoChat's / LLaVA's own layout: convert it first (geollava model convert-geochat)"
        else:
            hint = f"give a folder of a {wanted!r} model"
        raise ConfigError(f"{where}: {folder} holds a {model_type!r} model, but family {family} loads "
                          f"{wanted!r} models; {hint}")


def check_model_files(config: Config) -> None:
    """What training loads from a local model folder is there: a config, a tokenizer and an image processor (a
    planner needs the config alone, so this is the training commands' check, --dry-run included)."""
    path = config.model.model_name_or_path
    if not path or not Path(path).is_dir():
        return
    folder, where = Path(path), f"{config.source or 'config'}: model_name_or_path"
    fix = "(a released checkpoint's folder has them all; `geollava model released --list` names shapes to test with)"
    if not (folder / "config.json").is_file():
        raise ConfigError(f"{where}: {folder} has no config.json: not a model folder {fix}")
    if not any((folder / name).is_file() for name in TOKENIZER_FILES):
        raise ConfigError(f"{where}: {folder} has no tokenizer ({', '.join(TOKENIZER_FILES)}): copy the model's "
                          f"tokenizer files into it {fix}")
    if not any((folder / name).is_file() for name in PROCESSOR_FILES):
        raise ConfigError(f"{where}: {folder} has no image processor ({' or '.join(PROCESSOR_FILES)}): copy the "
                          f"model's processor files into it {fix}")


def check_writable(output_dir: str, where: str) -> None:
    """The output folder can be written (or created): tried with a temporary file in it, or in the nearest folder
    above it that exists, so a read-only place fails here and not after the model has loaded."""
    import tempfile

    folder = Path(output_dir).resolve()
    existing = next((p for p in (folder, *folder.parents) if p.exists()), None)
    if existing is not None and not existing.is_dir():
        raise ConfigError(f"{where}: output_dir: {existing} is a file, not a folder; choose another output_dir")
    try:
        with tempfile.NamedTemporaryFile(dir=existing, prefix=".geollava-write-test"):
            pass
    except OSError as e:
        raise ConfigError(f"{where}: output_dir: cannot write in {existing} ({e.strerror or e}); choose a writable "
                          "output_dir") from None


def check_data_files(config: Config) -> None:
    where, d = config.source or "config", config.data
    if not d.train_data:
        raise ConfigError(f"{where}: train_data is not set; point it at an annotation file")
    if d.train_data_ratios is not None and (len(d.train_data_ratios) != len(d.train_data)
                                            or min(d.train_data_ratios) <= 0):
        raise ConfigError(f"{where}: train_data_ratios needs one positive number per train_data file "
                          f"({len(d.train_data)} files, ratios {d.train_data_ratios})")
    for key, path in [("train_data", p) for p in d.train_data] + [("eval_data", d.eval_data)]:
        if path is not None and not Path(path).is_file() and not is_hub_dataset_id(path):
            raise ConfigError(f"{where}: {key}: {path} does not exist; write it with `geollava data synth` (a "
                              "synthetic set, e.g. --out data/synthetic --train 200 --val 20) or `geollava data "
                              "convert`, or point the key at your annotations")


def apply_global_batch(config: Config, world_size: int | None = None) -> None:
    """gradient_accumulation_steps = global batch / (per-device batch x processes), refused if it does not divide."""
    t = config.train
    global_batch = int(os.environ.get("GLOBAL_BATCH") or 0) or t.global_batch_size
    if not global_batch:
        return
    world_size = world_size or int(os.environ.get("WORLD_SIZE", "1"))
    per_step = t.per_device_train_batch_size * world_size
    if global_batch % per_step:
        raise ConfigError(f"{config.source or 'config'}: global batch {global_batch} (GLOBAL_BATCH or "
                          f"global_batch_size) is not divisible by per_device_train_batch_size "
                          f"{t.per_device_train_batch_size} x {world_size} processes = {per_step}; "
                          "change GLOBAL_BATCH, the per-device batch or the number of GPUs")
    t.global_batch_size = global_batch
    t.gradient_accumulation_steps = global_batch // per_step
    if config.recipe and config.recipe.batched:
        config.recipe.batched(config)


def is_zero3(deepspeed_config: str | dict | None) -> bool:
    if deepspeed_config is None:
        return False
    config = deepspeed_config if isinstance(deepspeed_config, dict) else json.loads(Path(deepspeed_config).read_text())
    return config.get("zero_optimization", {}).get("stage") == 3


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML whose mappings may not name a key twice (PyYAML keeps the last one silently)."""

    def construct_mapping(self, node, deep=False):
        seen = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} is set twice (lines {seen[key] + 1} and "
                    f"{key_node.start_mark.line + 1}); keep one", key_node.start_mark)
            seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep)


def _load_yaml(path: str, seen: tuple = ()) -> dict:
    if not Path(path).is_file():
        raise ConfigError(f"config file {path} does not exist" + (f" (extended by {seen[-1]})" if seen else ""))
    try:
        values = yaml.load(Path(path).read_text(encoding="utf-8"), Loader=_UniqueKeyLoader) or {}
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not UTF-8 text (byte {e.start}): save it as UTF-8") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {' '.join(str(e).split())}") from None
    if not isinstance(values, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of key: value")
    if "tiny_model" in values and not isinstance(values["tiny_model"], (dict, type(None))):
        raise ConfigError(f"{path}: tiny_model must be a mapping of sizes (e.g. tiny_model: {{text_layers: 2}}), "
                          f"got {values['tiny_model']!r}")
    parent = values.pop("extends", None)
    if parent is None:
        return values
    if not isinstance(parent, str):
        raise ConfigError(f"{path}: extends must name one config file (extends: lora.yaml), got {parent!r}")
    parent_path = str(Path(path).parent / parent)
    if parent_path in seen or parent_path == path:
        raise ConfigError(f"{path}: extends: {parent} extends itself")
    merged = _load_yaml(parent_path, (*seen, path))
    merged.update(values)
    return merged


def _split_nulls(cli: list[str]) -> tuple[set[str], list[str]]:
    """`--key null` on the command line means what `key: null` means in YAML: the (None) default."""
    nulls, rest, i = set(), [], 0
    while i < len(cli):
        if cli[i].startswith("--") and i + 1 < len(cli) and cli[i + 1] in ("null", "None"):
            nulls.add(cli[i][2:])
            i += 2
        else:
            rest.append(cli[i])
            i += 1
    return nulls, rest


def _split_tiny_overrides(cli: list[str]) -> tuple[dict, list[str]]:
    tiny, rest, i = {}, [], 0
    while i < len(cli):
        if cli[i].startswith("--tiny_model.") and i + 1 < len(cli):
            tiny[cli[i][len("--tiny_model."):]] = cli[i + 1]
            i += 2
        else:
            rest.append(cli[i])
            i += 1
    return tiny, rest


def _tiny_spec(values: dict, source: str | None) -> TinySpec:
    known = {f.name: f.type for f in fields(TinySpec)}
    unknown = [k for k in values if k not in known]
    if unknown:
        raise ConfigError(f"{source}: unknown tiny_model key(s) {', '.join(unknown)}"
                          + "".join(_suggest(k, set(known)) for k in unknown))
    try:
        spec = TinySpec(**{k: float(v) if known[k] == "float" else int(v) for k, v in values.items()})
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{source}: tiny_model values must be numbers (sizes whole): {e}") from None
    sizes = {k: getattr(spec, k) for k in ("image_size", "patch_size", "vision_hidden", "vision_layers",
                                            "text_hidden", "text_layers", "heads", "vocab_size")}
    small = [k for k, v in sizes.items() if v < 1]
    if small:
        raise ConfigError(f"{source}: tiny_model.{small[0]} must be at least 1, got {sizes[small[0]]}")
    for width in ("text_hidden", "vision_hidden"):
        if sizes[width] % (2 * spec.heads):
            raise ConfigError(f"{source}: tiny_model.{width} {sizes[width]} must be a multiple of 2 x heads "
                              f"({2 * spec.heads}: each of the {spec.heads} heads gets an even width, for its "
                              "rotary positions)")
    if spec.image_size % spec.patch_size:
        raise ConfigError(f"{source}: tiny_model.image_size {spec.image_size} must be a multiple of patch_size "
                          f"{spec.patch_size}")
    return spec


def _suggest(key: str, known: set[str]) -> str:
    close = difflib.get_close_matches(key, known, n=1)
    return f" (did you mean {close[0]}?)" if close else ""
