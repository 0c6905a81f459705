"""`geollava demo` as a person uses it: the server started on a loopback port with a tiny checkpoint, a real
headless Chromium (Debian's chromium and chromium-driver) uploads frames, asks, and reads the answer off the
page; a bad upload gets a message and the page still answers after it."""
import json
import os
import shutil
import socket
import subprocess
import sys
import time

import pytest

from geollava.synthetic.generate import generate_split

from helpers import REPO_ROOT

pytestmark = pytest.mark.slow


def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    binary, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if binary is None or driver is None:
        if os.environ.get("GEOLLAVA_REQUIRE_BROWSER") == "1":
            pytest.fail("chromium and chromium-driver are required here (GEOLLAVA_REQUIRE_BROWSER=1)")
        pytest.skip("chromium / chromium-driver not installed (apt-get install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--window-size=1400,1000"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(driver), options=options)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def served(tmp_path_factory, tiny_run):
    root = tmp_path_factory.mktemp("demo")
    generate_split(root / "frames", "val", 1, num_frames=4, size=64, seed=9, workers=1, media="png")
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "geollava", "demo", "--checkpoint", str(tiny_run),
                               "--port", str(port), "--examples", str(root / "examples"), "--max-new-tokens", "8"],
                              cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert server.poll() is None, server.stdout.read()
            time.sleep(0.5)
    frames = [str(root / "frames" / p) for p in json.loads((root / "frames" / "val.json").read_text())[0]["video"]]
    yield url, frames, root
    server.terminate()
    server.wait(timeout=30)


def ask(driver, url, files, wait_for):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(url)
    WebDriverWait(driver, 60).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#frames input[type=file]"))
    driver.find_element(By.CSS_SELECTOR, "#frames input[type=file]").send_keys("\n".join(map(str, files)))
    WebDriverWait(driver, 30).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#frames tr, #frames .file"))
                                    >= 1)
    time.sleep(1)  # the upload finishes before the click is taken
    driver.find_element(By.CSS_SELECTOR, "#ask").click()
    answer = lambda d: d.find_element(By.CSS_SELECTOR, "#answer textarea").get_attribute("value")  # noqa: E731
    message = lambda d: d.find_element(By.CSS_SELECTOR, "#message").text  # noqa: E731
    WebDriverWait(driver, 120).until(lambda d: wait_for(answer(d), message(d)))
    return answer(driver), message(driver)


def test_the_page_answers_then_survives_a_bad_upload(served):
    url, frames, root = served
    bad = root / "notes.txt"
    bad.write_text("not an image")
    driver = browser()
    try:
        answer, message = ask(driver, url, frames, lambda a, m: a.strip())
        assert answer.strip() and message.startswith("Dates:")
        answer, message = ask(driver, url, [bad, *frames[1:]], lambda a, m: "Cannot answer" in m)
        assert not answer and "cannot read image" in message and "notes.txt" in message
        answer, message = ask(driver, url, frames[:1], lambda a, m: "Cannot answer" in m)
        assert "needs two or more frames" in message
        answer, _ = ask(driver, url, frames, lambda a, m: a.strip())  # still serving, and right again
        assert answer.strip()
        driver.save_screenshot(str(root / "demo.png"))
    finally:
        driver.quit()
    assert (root / "demo.png").stat().st_size > 20_000
