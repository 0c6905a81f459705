"""`geollava demo --checkpoint CK`: a browser page (Gradio) to ask a checkpoint about uploaded frames — images,
GeoTIFFs, a video — with the task and question, and see the answer with its boxes drawn on the frames.

The model loads once; requests queue and run one at a time. The page binds to 127.0.0.1 by default and never
opens a share link. A bad upload gets a message on the page (never a server path); the server keeps serving.
What one request may cost is bounded: uploads over --max-upload-mb are refused, frames over the pixel limits are
refused before decoding (rasters read at a reduced resolution; one without overviews only up to 24000²), an
upload is deleted once no request has used it for --keep-uploads-s (60 s), and the upload folder when the server
stops. Only the example files are served from --examples.

    geollava demo --checkpoint runs/quickstart/finetuned [--host 127.0.0.1] [--port 7860]
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import SimpleNamespace

from ..data.frames import MediaError
from ..data.limits import ReadLimits, add_limit_arguments
from ..data.raster import file_dates
from ..families import FAMILIES
from ..tasks import DEFAULT_TASK, TASKS

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm")


def parse_args(argv):
    p = argparse.ArgumentParser(prog="geollava demo", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", required=True, help="a checkpoint or run folder, or a base model with --family")
    p.add_argument("--family", choices=sorted(FAMILIES), help="family of a base model given by --checkpoint")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default loopback; 0.0.0.0 exposes it)")
    p.add_argument("--port", type=int, default=7860)
    p.add_argument("--examples", help="folder for the example frames (default: a temporary folder)")
    p.add_argument("--max-new-tokens", type=int, help="the most new tokens of an answer (default: the task's budget)")
    p.add_argument("--max-upload-mb", type=float, default=100, help="largest upload accepted (default 100 MB)")
    p.add_argument("--keep-uploads-s", type=float, default=60, help="an upload is deleted this long after the last "
                   "request that used it ended (default 60 s): two users, or two tabs, may send identical files, "
                   "which Gradio keeps as one")
    add_limit_arguments(p, DEMO_LIMITS)
    return p.parse_args(argv)


# A page anyone on the network may use gets tighter limits than training: 2048² per frame (what the LLaVA families
# see is 336-384 px, Qwen's default up to 3584²: ask with larger frames from the command line), four per request.
# A raster without overviews decodes all its pixels even when read small: at most 24000² a frame (a 0.9 MB GeoTIFF
# of 30000² in 1-row strips held the one-at-a-time queue for 104 s).
DEMO_LIMITS = ReadLimits(2048 ** 2, 4 * 2048 ** 2, 24000 ** 2)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # offline, and nothing phoned home
    uploads = Path(tempfile.mkdtemp(prefix="geollava_uploads_"))
    os.environ["GRADIO_TEMP_DIR"] = str(uploads)  # before gradio loads: every upload lands here, and goes with it
    from ..models.checkpoint import CheckpointError
    from ..runs import Loaded, final_target

    try:
        loaded = Loaded.of(final_target(args.checkpoint, args.family))
    except (CheckpointError, OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    examples = Path(args.examples or tempfile.mkdtemp(prefix="geollava_demo_"))
    target = loaded.target
    shown = example_frames(examples, target.prompt.num_frames)
    limits = ReadLimits(args.max_frame_pixels, args.max_sample_pixels, args.max_decode_pixels)
    UPLOADS.keep_s = args.keep_uploads_s
    page = build_page(loaded, shown, args.max_new_tokens, limits)
    page.queue(default_concurrency_limit=1)  # one request at a time: the CPU runs one generation well
    print(f"GeoLLaVA demo of {target.path} on http://{args.host}:{args.port} (uploads in {uploads}, deleted "
          f"{args.keep_uploads_s:g} s after the last request using them; up to {args.max_upload_mb:g} MB each)",
          flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # a stopped server still deletes its uploads (finally)
    try:
        page.launch(server_name=args.host, server_port=args.port, share=False, show_error=True, quiet=True,
                    allowed_paths=[p for paths in shown for p in paths], max_file_size=int(args.max_upload_mb * 2 ** 20),
                    footer_links=[])
    finally:
        shutil.rmtree(uploads, ignore_errors=True)
    return 0


def example_frames(folder: Path, num_frames: int) -> list[list[str]]:
    """Two synthetic change samples, as PNG frames and as GeoTIFFs whose dates are in the files."""
    from ..synthetic.generate import generate_split

    out = []
    for media in ("png", "geotiff"):
        annotations = folder / media / "val.json"
        if not annotations.is_file():
            generate_split(folder / media, "val", 1, num_frames=max(num_frames, 2), size=128, seed=7, workers=1,
                           style="simple", media=media)
        record = json.loads(annotations.read_text())[0]
        out.append([str(folder / media / p) for p in record["video"]])
    return out


def build_page(loaded, examples: list[list[str]], max_new_tokens: int | None = None,
               limits: ReadLimits = DEMO_LIMITS):
    import gradio as gr

    target = loaded.target
    with gr.Blocks(title="GeoLLaVA", analytics_enabled=False, delete_cache=(300, 300)) as page:
        gr.Markdown(f"## GeoLLaVA — what changed?\nCheckpoint `{Path(target.path).name}` ({target.family}); it sees "
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
        ask.click(lambda *values: answer_request(loaded, max_new_tokens, limits, *values),
                  [frames, dates, task, question], [answer, picture, message], api_name="ask")
        gr.Examples([[paths, "", DEFAULT_TASK.name, ""] for paths in examples], [frames, dates, task, question],
                    label="Synthetic examples (PNG frames; GeoTIFFs with their dates inside)")
    return page


def dates_of(files) -> str:
    """The uploaded frames' own dates, when every one carries a date (GeoTIFF tags, product names)."""
    paths = [Path(_path(f)) for f in files or []]
    dates = file_dates(paths) if paths else None
    return " ".join(dates) if dates else ""


def answer_request(loaded, max_new_tokens: int | None, limits: ReadLimits, files, dates: str, task: str,
                   question: str):
    """(answer, picture, message) for the page; any problem with the request becomes the message. The uploads
    are deleted once no request has used them for a while (Uploads; the examples are kept)."""
    from .predict import PredictError, answer_picture, predict

    paths = [_path(f) for f in files or []]
    if not paths:
        return "", None, "**Upload frames first.**"
    video = paths[0] if len(paths) == 1 and Path(paths[0]).suffix.lower() in VIDEO_SUFFIXES else None
    request = SimpleNamespace(frames=None if video else paths, video=video, dates=dates.split() or None,
                              task=task, question=question or None, bands=None, stretch=None, align=False,
                              pad_frames=False, max_new_tokens=max_new_tokens, max_frame_pixels=limits.frame_pixels,
                              max_sample_pixels=limits.sample_pixels, max_decode_pixels=limits.decode_pixels)
    held = UPLOADS.hold(paths)
    try:
        result, images = predict(request, loaded)
    except (PredictError, MediaError, ValueError, OSError) as e:
        return "", None, f"**Cannot answer:** {public(str(e))}"
    finally:
        UPLOADS.release(held)
    return result["answer"], answer_picture(images, result["answer"]), f"Dates: {', '.join(result['dates'] or ['none'])}"


def public(message: str) -> str:
    """A message as the page may show it: every absolute path cut to its file name (no server path leaks)."""
    return re.sub(r"(?:/[^/\s:,;'\"()]+)+/([^/\s:,;'\"()]+)", r"\1", message)


class Uploads:
    """The uploads of requests, by content: Gradio keeps two uploads of identical files (two users, two tabs) as
    one file, so a request may delete its upload only when no other request uses that content — it is deleted
    ``keep_s`` after the last request that used it ended, unless another began meanwhile. Each upload lives in
    the server's upload folder (GRADIO_TEMP_DIR) twice: where it landed and the copy handed to the request; both
    go. The example files are not uploads."""

    def __init__(self, keep_s: float = 60):
        self.keep_s, self.lock = keep_s, threading.Lock()
        self.in_use: dict[str, int] = {}  # content digest -> requests using it now
        self.ended: dict[str, float] = {}  # content digest -> when the last request using it ended
        self.sizes: dict[str, int] = {}  # content digest -> its size (only files of that size are hashed)

    def hold(self, paths: list[str]) -> set[str]:
        folder = _upload_folder()
        files = [Path(p) for p in paths if Path(p).resolve().is_relative_to(folder) and Path(p).is_file()]
        digests = {_digest(f): f.stat().st_size for f in files}
        with self.lock:
            self.sizes.update(digests)
            for digest in digests:
                self.in_use[digest] = self.in_use.get(digest, 0) + 1
        return set(digests)

    def release(self, digests: set[str]) -> None:
        with self.lock:
            for digest in digests:
                self.in_use[digest] -= 1
                self.ended[digest] = time.monotonic()
        if digests:
            timer = threading.Timer(self.keep_s, self.sweep, [digests])
            timer.daemon = True
            timer.start()

    def sweep(self, digests: set[str]) -> None:
        """Delete the contents no request has used for keep_s."""
        now = time.monotonic()
        with self.lock:
            done = {d for d in digests if not self.in_use.get(d) and now - self.ended.get(d, 0) >= self.keep_s - 0.05}
        sizes = {self.sizes[d] for d in done}
        for path in _upload_folder().rglob("*") if done else ():
            if path.is_file() and path.stat().st_size in sizes and _digest(path) in done:
                path.unlink(missing_ok=True)


UPLOADS = Uploads()


def _upload_folder() -> Path:
    return Path(os.environ.get("GRADIO_TEMP_DIR", "/nonexistent")).resolve()


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _path(item) -> str:
    return item if isinstance(item, str) else getattr(item, "name", None) or item["path"]
