"""`geollava train | grpo CONFIG [launch options] [--key value ...]`: start a run on one GPU, several, or several
nodes (torchtune's `tune run` is the model) — the same command on a CPU machine runs the tiny model.

    geollava train configs/lora.yaml --nproc-per-node 4 --global-batch 144 --learning_rate 2e-5
    geollava train configs/lora.yaml --nnodes 2 --node-rank 0 --master-addr node0    # once on every node
    geollava train configs/lora.yaml --hostfile hostfile                             # DeepSpeed's launcher over ssh
    geollava grpo configs/tiny_grpo.yaml --dry-run                                   # print the launch, run nothing

In order: the world size; the config checked for that many processes (everything the run would refuse that can
be known before a model loads, the recipe's own checks included) and its tiny / assembled base model built; the
DeepSpeed stage the run's checkpoints were saved with (DeepSpeed resumes only under it); on GPUs the memory plan,
its warning and a cheaper ZeRO stage that fits, with why; then torchrun, DeepSpeed's launcher or one process runs
the recipe, its output also appended to <output_dir>/train.log. Each option's default is the environment variable
the launch scripts document (NUM_GPUS, NNODES, NODE_RANK, MASTER_ADDR, MASTER_PORT, HOSTFILE, GLOBAL_BATCH,
KEEP_ZERO_STAGE, GPU_MEMORY_GIB)."""
from __future__ import annotations

import argparse
import os
import shlex
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

from .config import ConfigError, Recipe, apply_global_batch, check_model_files, named_keys, parse_config
from .grpo.train import RECIPE as GRPO
from .sft.train import RECIPE as SFT

RECIPES: dict[str, Recipe] = {r.command: r for r in (SFT, GRPO)}
WORKER = "--worker"  # the launcher starts its processes with it (through ssh too): they run the recipe itself
PREFIX = "[launch]"


def recipe_for(argv: list[str]) -> Recipe:
    """The recipe of a config: the one whose own keys it sets (GRPO's init_from, rewards), else SFT."""
    source = next((w for w in argv if w.endswith((".yaml", ".yml"))), None)
    named = named_keys(([source] if source else []) + [w for w in argv if w.startswith("--")])
    return next((r for r in RECIPES.values() if r.keys & named), SFT)


@dataclass
class Options:
    nproc_per_node: int | None  # resolved by split_argv: the visible GPUs, else 1, when not given
    nnodes: int
    node_rank: int
    master_addr: str
    master_port: int
    hostfile: str | None
    global_batch: int | None
    keep_zero_stage: bool
    gpu_memory: float | None
    dry_run: bool
    default_config: str | None
    world: int = 0  # processes in the whole run: the hostfile's slots, else processes per node x nodes


def hostfile_slots(path: Path) -> int:
    """The sum of a DeepSpeed hostfile's "host slots=N" lines."""
    try:
        lines = path.read_text().splitlines()
    except OSError as e:
        raise ConfigError(f"hostfile {path}: {e.strerror or e}") from None
    slots = 0
    for number, line in enumerate(lines, 1):
        words = line.split("#")[0].split()
        if not words:
            continue
        found = [w for w in words[1:] if w.startswith("slots=")]
        if not found or not found[0][6:].isdigit() or int(found[0][6:]) < 1:
            raise ConfigError(f"hostfile {path}, line {number}: {line.strip()!r} is not 'HOST slots=N' (N >= 1)")
        slots += int(found[0][6:])
    if not slots:
        raise ConfigError(f"hostfile {path} names no host; write one 'HOST slots=N' line per node")
    return slots


def launch_parser(command: str) -> argparse.ArgumentParser:
    env = os.environ.get
    parser = argparse.ArgumentParser(prog=f"geollava {command}", add_help=False, allow_abbrev=False)
    parser.add_argument("--nproc-per-node", type=int, default=int(env("NUM_GPUS") or 0) or None,
                        help="processes per node (NUM_GPUS; default: the visible GPUs, else 1 CPU process)")
    parser.add_argument("--nnodes", type=int, default=int(env("NNODES") or 1), help="nodes taking part (NNODES)")
    parser.add_argument("--node-rank", type=int, default=int(env("NODE_RANK") or 0),
                        help="this node's index, 0 .. nnodes-1 (NODE_RANK)")
    parser.add_argument("--master-addr", default=env("MASTER_ADDR") or "127.0.0.1",
                        help="node 0's address, reachable from every node (MASTER_ADDR)")
    parser.add_argument("--master-port", type=int, default=int(env("MASTER_PORT") or 29500), help="(MASTER_PORT)")
    parser.add_argument("--hostfile", default=env("HOSTFILE") or None,
                        help="DeepSpeed hostfile ('node slots=8' lines): launch every node from here (HOSTFILE)")
    parser.add_argument("--global-batch", type=int, default=int(env("GLOBAL_BATCH") or 0) or None,
                        help="gradient accumulation = this / (per-device batch x all processes) (GLOBAL_BATCH)")
    parser.add_argument("--keep-zero-stage", action="store_true", default=env("KEEP_ZERO_STAGE") == "1",
                        help="keep the config's DeepSpeed stage when a cheaper one fits (KEEP_ZERO_STAGE=1)")
    parser.add_argument("--gpu-memory", type=float, default=float(env("GPU_MEMORY_GIB") or 0) or None,
                        help="plan for GPUs of this many GiB (GPU_MEMORY_GIB; default: this machine's GPU)")
    parser.add_argument("--dry-run", action="store_true", help="check everything and print the launch; run nothing")
    parser.add_argument("--default-config", help="the config when none is given (the launch scripts' own)")
    return parser


def split_argv(argv: list[str], command: str) -> tuple[Options, list[str]]:
    """(the launch options, the world size resolved once, CONFIG and its --key value overrides); a bad hostfile
    is a ConfigError naming its line."""
    known, rest = launch_parser(command).parse_known_args(argv)
    options = Options(**vars(known))
    if not options.nproc_per_node:
        import torch

        options.nproc_per_node = torch.cuda.device_count() or 1
    options.world = hostfile_slots(Path(options.hostfile)) if options.hostfile else \
        options.nproc_per_node * options.nnodes
    if not rest or rest[0].startswith("--"):
        rest = ([options.default_config] if options.default_config else []) + rest
    return options, rest


def main(argv: list[str], recipe: Recipe) -> int:
    """`geollava train | grpo`: in a process the launcher started (or torchrun started), the recipe itself;
    otherwise the launch."""
    if WORKER in argv or "TORCHELASTIC_RUN_ID" in os.environ:
        result = recipe.main([w for w in argv if w != WORKER])
        return result if isinstance(result, int) else 0
    if {"-h", "--help"} & set(argv):
        launch_parser(recipe.command).print_help()
        print()
        return recipe.main(["--help"])
    try:
        options, config_argv = split_argv(argv, recipe.command)
        if options.global_batch:
            os.environ["GLOBAL_BATCH"] = str(options.global_batch)  # the processes' config reads it too
        config = prepared(recipe, config_argv, options)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    extra = stage_arguments(config, options)
    launch = command_line(recipe, options, config_argv + extra)
    output = Path(config.train.output_dir)
    say(f"{options.world} process(es) on {options.nnodes} node(s); log: {output / 'train.log'}")
    say(" ".join(shlex.quote(w) for w in launch))
    if options.dry_run:
        return 0
    output.mkdir(parents=True, exist_ok=True)
    return run_logged(launch, output / "train.log")


def train(argv: list[str]) -> int:
    return main(argv, SFT)


def grpo(argv: list[str]) -> int:
    return main(argv, GRPO)


def plan(argv: list[str]) -> int:
    """`geollava plan CONFIG`: the planner on the recipe the config is for."""
    from . import plan as planner

    return planner.main(argv, recipe_for(argv))


def say(line: str, error: bool = False) -> None:
    print(f"{PREFIX} {line}", file=sys.stderr if error else sys.stdout, flush=True)


def prepared(recipe: Recipe, config_argv: list[str], options: Options):
    """The config checked for the run's world size, as every process will check it — and, unless a dry run, its
    tiny / assembled base model built once, here, before the processes start."""
    from .models.load import prepare_base_model
    from .synthetic.captions import tokenizer_corpus

    world = options.world
    config = parse_config(config_argv, recipe, need_data=not options.dry_run)
    check_model_files(config)
    apply_global_batch(config, world)
    if recipe.check is not None:  # a dry run checks what the run would refuse, the data's part once it exists
        recipe.check(config, all(Path(p).is_file() for p in config.data.train_data))
    t = config.train
    say(f"batch: {t.per_device_train_batch_size} per device x {world} processes x {t.gradient_accumulation_steps} "
        f"accumulation = {t.per_device_train_batch_size * world * t.gradient_accumulation_steps} per optimizer step")
    if not options.dry_run:
        say(f"base model: {prepare_base_model(config, tokenizer_corpus())}")
    return config


def stage_arguments(config, options: Options) -> list[str]:
    """`--deepspeed X` when the run must or should train under another stage than its config's: the stage its
    checkpoints were saved with (DeepSpeed resumes only so), else on GPUs a cheaper one the memory plan finds
    fits (ZeRO-2 gathers no parameters: LoRA on a base that fits whole on every GPU), unless kept."""
    from .models.checkpoint import saved_deepspeed

    saved = saved_deepspeed(Path(config.train.output_dir))
    if saved:
        say(f"{config.train.output_dir} has checkpoints: deepspeed {saved}, as they were saved (DeepSpeed resumes "
            "only so)")
    preferred = memory_plan(config, options)
    if saved:
        if preferred:
            say(f"the plan prefers {preferred[0]}; the checkpoints' stage is kept")
        return [] if saved == "none" else ["--deepspeed", saved]
    if preferred and not options.keep_zero_stage:
        say(f"deepspeed {preferred[0]} instead of the config's: {preferred[1]} (--keep-zero-stage keeps it)")
        return ["--deepspeed", preferred[0]]
    return []


def memory_plan(config, options: Options) -> tuple[str, str] | None:
    """On GPUs (or for GPUs of --gpu-memory GiB): print the plan, warn when it does not fit; (a cheaper DeepSpeed
    config that fits, why) or None."""
    from .plan import assess, unreadable_model

    gpu_memory = options.gpu_memory or gpu_memory_here()
    if not gpu_memory:
        return None
    try:
        a = assess(config, options.world, 1, gpu_memory)
    except OSError as e:
        say(f"no memory estimate: {unreadable_model(config, e)}", error=True)
        return None
    for line in a.summary_lines():
        print(f"[plan] {line}", flush=True)
    if not a.fits:
        say("WARNING: the estimate exceeds this GPU's memory; see the suggestion above", error=True)
    return (a.change_deepspeed, a.stage[1]) if a.change_deepspeed else None


def gpu_memory_here() -> float:
    import torch

    return torch.cuda.get_device_properties(0).total_memory / 2**30 if torch.cuda.is_available() else 0.0


def command_line(recipe: Recipe, options: Options, config_argv: list[str]) -> list[str]:
    """How the processes start: DeepSpeed's launcher over a hostfile, torchrun for several, else one Python."""
    module = ["-m", "geollava", recipe.command, WORKER, *config_argv]
    if options.hostfile:
        return ["deepspeed", "--hostfile", options.hostfile, "--master_addr", options.master_addr,
                "--master_port", str(options.master_port), "--module", *module[1:]]
    if options.world > 1:
        return ["torchrun", "--nnodes", str(options.nnodes), "--node_rank", str(options.node_rank),
                "--nproc_per_node", str(options.nproc_per_node), "--master_addr", options.master_addr,
                "--master_port", str(options.master_port), *module]
    return [sys.executable, *module]


def run_logged(command: list[str], log: Path) -> int:
    """Run the launch, its stdout and stderr shown as they come (progress bars too) on this process's own, and both
    appended to ``log``; a SIGTERM or SIGINT reaches it; its exit code."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.setdefault("TORCH_EXTENSIONS_DIR", str(Path(sys.prefix) / "torch_extensions"))
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    forward = lambda signum, frame: child.send_signal(signum)  # noqa: E731
    previous = {s: signal.signal(s, forward) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        with open(log, "ab") as out:
            lock = threading.Lock()
            copies = [threading.Thread(target=_copy, args=(pipe, shown, out, lock))
                      for pipe, shown in ((child.stdout, sys.stdout), (child.stderr, sys.stderr))]
            for copy in copies:
                copy.start()
            for copy in copies:
                copy.join()
        return child.wait()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def _copy(pipe, shown, log, lock: threading.Lock) -> None:
    """One of the child's streams onto ours (bytes where ours has them: a progress bar's bytes as they are)."""
    raw = getattr(shown, "buffer", None)
    while chunk := os.read(pipe.fileno(), 65536):
        if raw is not None:
            raw.write(chunk)
        else:
            shown.write(chunk.decode("utf-8", "replace"))
        shown.flush()
        with lock:
            log.write(chunk)
            log.flush()


def load_config(argv: list[str], need_data: bool = True):
    """``[CONFIG.yaml] [--key value ...]`` parsed as the recipe it is for reads it (config.parse_config)."""
    return parse_config(argv, recipe_for(argv), need_data)
