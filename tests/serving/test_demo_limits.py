"""What one request to `geollava demo` may cost: oversized images and GeoTIFFs, a too-large upload, paths outside
the examples — the server's peak resident memory stays bounded, it keeps serving, the uploads are deleted, and no
server path reaches the page. Driven through Gradio's HTTP API (no browser needed)."""
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from geollava.synthetic.generate import generate_split

from helpers import REPO_ROOT

pytestmark = pytest.mark.slow
GiB = 2 ** 30
KEEP_S = 4  # the server deletes an upload this long after the last request that used it


def peak_resident(pid: int) -> int:
    """The process's high-water mark of resident memory (VmHWM), in bytes."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) * 1024


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_big_geotiff(path: Path, side: int) -> Path:
    """A 4-band uint16 GeoTIFF of ``side``² px that compresses to almost nothing (written in strips)."""
    import rasterio
    from rasterio.transform import from_origin
    from rasterio.windows import Window

    profile = dict(driver="GTiff", width=side, height=side, count=4, dtype="uint16", crs="EPSG:32632",
                   transform=from_origin(400000, 5000000, 10, 10), compress="zstd", tiled=True, blockxsize=1024,
                   blockysize=1024)
    rows = np.empty((4, 1024, side), np.uint16)
    rows[:] = np.array([900, 1400, 700, 2600], np.uint16)[:, None, None]  # one colour: compresses to ~1 KB a MB
    with rasterio.open(path, "w", **profile) as out:
        for top in range(0, side, 1024):
            height = min(1024, side - top)
            out.write(rows[:, :height], window=Window(0, top, side, height))
    return path


@pytest.fixture(scope="module")
def server(tmp_path_factory, tiny_run):
    root = tmp_path_factory.mktemp("demo_limits")
    examples = root / "examples"
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "geollava", "demo", "--checkpoint", str(tiny_run), "--port",
                                str(port), "--examples", str(examples), "--max-new-tokens", "6", "--max-upload-mb", "2",
                                "--keep-uploads-s", str(KEEP_S)],
                               cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               env={**os.environ, "OMP_NUM_THREADS": "1"})
    lines = []
    while not lines or "uploads in" not in lines[-1]:
        lines.append(process.stdout.readline())
        assert lines[-1] or process.poll() is None, "".join(lines)
    uploads = Path(re.search(r"uploads in (\S+),", lines[-1]).group(1))
    first = "".join(lines)
    deadline = time.time() + 180
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert process.poll() is None, first + process.stdout.read()
            time.sleep(0.5)
    yield f"http://127.0.0.1:{port}/", process, root, uploads
    process.terminate()
    process.wait(timeout=30)
    assert not uploads.exists(), "the upload folder goes with the server"


def ask(url: str, files: list[Path], question: str = "") -> tuple[str, str]:
    from gradio_client import Client, handle_file

    client = Client(url, verbose=False)
    answer, _, message = client.predict([handle_file(str(f)) for f in files], "", "change_caption", question,
                                        api_name="/ask")
    return answer, message


def test_oversized_requests_are_refused_or_read_small_and_the_server_keeps_serving(server, tmp_path):
    url, process, root, uploads = server
    generate_split(tmp_path / "ok", "val", 1, num_frames=4, size=64, seed=3, workers=1, media="png")
    frames = sorted((tmp_path / "ok" / "videos" / "val_00000").glob("*.png"))
    answer, message = ask(url, frames)
    assert answer.strip() and message.startswith("Dates:"), message
    at_rest = peak_resident(process.pid)

    big_png = tmp_path / "big.png"  # 12000 x 12000, a few hundred KB
    Image.new("RGB", (12000, 12000), (90, 120, 60)).save(big_png, optimize=True)
    assert big_png.stat().st_size < 2 * 2 ** 20
    answer, message = ask(url, [big_png, *frames[1:]])
    assert not answer and "over the limit" in message and "max_frame_pixels" in message
    assert "/" not in message.split("Cannot answer:")[1].split(" is ")[0], message  # the file's name, not its path

    tiffs = [write_big_geotiff(tmp_path / f"big_{k}.tif", 20000) for k in range(4)]
    assert all(t.stat().st_size < 2 * 2 ** 20 for t in tiffs)  # under the upload limit: the pixels must be bounded
    answer, message = ask(url, tiffs)
    assert answer.strip() and "Cannot answer" not in message  # read at a reduced resolution, not refused

    answer, message = ask(url, frames)  # still serving
    assert answer.strip()
    peak = peak_resident(process.pid)
    print(f"demo peak resident memory: {at_rest / GiB:.2f} GiB after a normal request, {peak / GiB:.2f} GiB after "
          "the oversized ones")
    assert peak < 2 * GiB
    time.sleep(KEEP_S + 1)
    sent = {f.read_bytes() for f in [*frames, big_png, *tiffs]}
    left = [p for p in uploads.rglob("*") if p.is_file() and p.stat().st_size < 10 * 2 ** 20 and p.read_bytes() in sent]
    assert not left, f"uploads are deleted {KEEP_S} s after their last request: {left}"


def test_requests_with_identical_files_are_all_answered(server, tmp_path):
    """Two users (or tabs) sending the same file: Gradio keeps one copy, and one request's cleanup deleted the
    other's upload (4 of 5 answered "g0.png does not exist"). Five at once, all answered."""
    from concurrent.futures import ThreadPoolExecutor

    url, process, root, uploads = server
    generate_split(tmp_path / "same", "val", 1, num_frames=4, size=64, seed=4, workers=1, media="png")
    frames = sorted((tmp_path / "same" / "videos" / "val_00000").glob("*.png"))
    with ThreadPoolExecutor(5) as pool:
        results = list(pool.map(lambda _: ask(url, frames), range(5)))
    assert all(answer.strip() and message.startswith("Dates:") for answer, message in results), results


def test_a_raster_that_would_hold_the_queue_is_refused_at_once(server, tmp_path):
    """A 0.9 MB GeoTIFF of 30000² px without overviews (its reduced read decodes every pixel; it held the queue
    for 104 s) is refused with a message naming the limit, and the next request is answered."""
    import rasterio
    from rasterio.transform import from_origin

    url, process, root, uploads = server
    path = tmp_path / "huge.tif"
    with rasterio.open(path, "w", driver="GTiff", width=30000, height=30000, count=1, dtype="uint8",
                       crs="EPSG:32632", transform=from_origin(400000, 5000000, 1, 1), compress="deflate",
                       sparse_ok=True) as out:
        out.write(np.full((1, 16, 16), 7, np.uint8), window=((0, 16), (0, 16)), indexes=None)
    assert path.stat().st_size < 2 * 2 ** 20
    answer, message = ask(url, [path, path, path, path])
    assert not answer and "without overviews" in message and "max_decode_pixels" in message, message
    generate_split(tmp_path / "after", "val", 1, num_frames=4, size=64, seed=5, workers=1, media="png")
    answer, _ = ask(url, sorted((tmp_path / "after" / "videos" / "val_00000").glob("*.png")))
    assert answer.strip()


def test_an_upload_over_the_size_limit_is_refused(server, tmp_path):
    url, process, root, uploads = server
    noise = tmp_path / "noise.png"  # random pixels do not compress: ~3 MB over the 2 MB limit
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (1000, 1000, 3), dtype=np.uint8)).save(noise)
    with pytest.raises(Exception, match="(?i)size|large|413"):
        ask(url, [noise, noise])
    assert process.poll() is None


def test_only_the_example_files_are_served(server):
    url, process, root, uploads = server
    secret = root / "examples" / "secret.txt"
    secret.write_text("not for the web")
    example = next((root / "examples").rglob("*.png"))
    for path, allowed in ((example, True), (secret, False), (Path("/etc/passwd"), False)):
        try:
            with urllib.request.urlopen(f"{url}gradio_api/file={path}", timeout=30) as response:
                status = response.status
        except urllib.error.HTTPError as e:
            status = e.code
        assert (status == 200) == allowed, (path, status)
