"""`geollava demo --checkpoint CK`: a browser page (Gradio) to ask a checkpoint about uploaded frames — images,
GeoTIFFs, a video — with the task and question, and see the answer with its boxes drawn on the frames.

The model loads once; requests queue and run one at a time. The page binds to 127.0.0.1 by default and never
opens a share link. A bad upload gets a message on the page; the server keeps serving.

    geollava demo --checkpoint runs/quickstart/finetuned [--host 127.0.0.1] [--port 7860]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace

from .data.frames import MediaError
from .data.raster import file_dates
from .families import FAMILIES
from .tasks import DEFAULT_TASK, TASKS

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm")


def parse_args(argv):
    p = argparse.ArgumentParser(prog="geollava demo", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", required=True, help="a checkpoint or run folder, or a base model with --family")
    p.add_argument("--family", choices=sorted(FAMILIES), help="family of a base model given by --checkpoint")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default loopback; 0.0.0.0 exposes it)")
    p.add_argument("--port", type=int, default=7860)
    p.add_argument("--examples", help="folder for the example frames (default: a temporary folder)")
    p.add_argument("--max-new-tokens", type=int, default=128)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # offline, and nothing phoned home
    from .models.checkpoint import CheckpointError
    from .runs import Loaded, final_target

    try:
        loaded = Loaded.of(final_target(args.checkpoint, args.family))
    except (CheckpointError, OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    examples = Path(args.examples or tempfile.mkdtemp(prefix="geollava_demo_"))
    target = loaded.target
    page = build_page(loaded, example_frames(examples, target.prompt.num_frames), args.max_new_tokens)
    page.queue(default_concurrency_limit=1)  # one request at a time: the CPU runs one generation well
    print(f"GeoLLaVA demo of {target.path} on http://{args.host}:{args.port}", flush=True)
    page.launch(server_name=args.host, server_port=args.port, share=False, show_error=True, quiet=True,
                allowed_paths=[str(examples)], footer_links=[])
    return 0


def example_frames(folder: Path, num_frames: int) -> list[list[str]]:
    """Two synthetic change samples, as PNG frames and as GeoTIFFs whose dates are in the files."""
    from .synthetic.generate import generate_split

    out = []
    for media in ("png", "geotiff"):
        annotations = folder / media / "val.json"
        if not annotations.is_file():
            generate_split(folder / media, "val", 1, num_frames=max(num_frames, 2), size=128, seed=7, workers=1,
                           style="simple", media=media)
        record = json.loads(annotations.read_text())[0]
        out.append([str(folder / media / p) for p in record["video"]])
    return out


def build_page(loaded, examples: list[list[str]], max_new_tokens: int = 128):
    import gradio as gr

    target = loaded.target
    with gr.Blocks(title="GeoLLaVA", analytics_enabled=False) as page:
        gr.Markdown(f"## GeoLLaVA — what changed?\nCheckpoint `{target.path}` ({target.family}); it sees "
                    f"{target.prompt.num_frames} frames, prompted as trained.")
        with gr.Row():
            with gr.Column():
                frames = gr.File(file_count="multiple", label="Frames in time order: images, GeoTIFFs, or one video",
                                 elem_id="frames")
                dates = gr.Textbox(label="Dates, one per frame (filled in when the files carry them)",
                                   placeholder="2017-03-01 2021-06-09", elem_id="dates")
                task = gr.Dropdown(list(TASKS), value=DEFAULT_TASK.name, label="Task", elem_id="task")
                question = gr.Textbox(label="Question (what it means depends on the task)",
                                      placeholder=DEFAULT_TASK.question_help, elem_id="question")
                ask = gr.Button("Ask", variant="primary", elem_id="ask")
            with gr.Column():
                answer = gr.Textbox(label="Answer", lines=3, interactive=False, elem_id="answer")
                message = gr.Markdown(elem_id="message")
                picture = gr.Image(label="The frames as the model saw them, with the predicted boxes",
                                   interactive=False, elem_id="picture")
        frames.change(dates_of, frames, dates)
        task.change(lambda name: gr.update(placeholder=TASKS[name].question_help), task, question)
        ask.click(lambda *values: answer_request(loaded, max_new_tokens, *values),
                  [frames, dates, task, question], [answer, picture, message])
        gr.Examples([[paths, "", DEFAULT_TASK.name, ""] for paths in examples], [frames, dates, task, question],
                    label="Synthetic examples (PNG frames; GeoTIFFs with their dates inside)")
    return page


def dates_of(files) -> str:
    """The uploaded frames' own dates, when every one carries a date (GeoTIFF tags, product names)."""
    paths = [Path(_path(f)) for f in files or []]
    dates = file_dates(paths) if paths else None
    return " ".join(dates) if dates else ""


def answer_request(loaded, max_new_tokens: int, files, dates: str, task: str, question: str):
    """(answer, picture, message) for the page; any problem with the request becomes the message."""
    from .predict import PredictError, answer_picture, predict

    paths = [_path(f) for f in files or []]
    if not paths:
        return "", None, "**Upload frames first.**"
    video = paths[0] if len(paths) == 1 and Path(paths[0]).suffix.lower() in VIDEO_SUFFIXES else None
    request = SimpleNamespace(frames=None if video else paths, video=video, dates=dates.split() or None,
                              task=task, question=question or None, bands=None, stretch=None, align=False,
                              pad_frames=False, max_new_tokens=max_new_tokens)
    try:
        result, images = predict(request, loaded)
    except (PredictError, MediaError, ValueError, OSError) as e:
        return "", None, f"**Cannot answer:** {e}"
    return result["answer"], answer_picture(images, result["answer"]), f"Dates: {', '.join(result['dates'] or ['none'])}"


def _path(item) -> str:
    return item if isinstance(item, str) else getattr(item, "name", None) or item["path"]
