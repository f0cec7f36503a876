"""The web page in a real headless Chromium: type a review into the text box, click the button,
and read the label the server rendered. Driven over the Chrome DevTools Protocol (CDP)."""

from __future__ import annotations

import itertools
import json
import os
import select
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sentiment_mlops.model.artifact import SentimentModel
from tests.integration.serving_server import ApiServer

pytestmark = pytest.mark.integration

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


class Browser:
    """Headless Chromium with one page, driven over ``--remote-debugging-pipe`` (CDP messages are
    NUL-terminated JSON on the browser's fds 3 and 4: no extra client library)."""

    def __init__(self, profile: Path) -> None:
        assert CHROMIUM is not None
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()

        def wire_fds() -> None:  # in the child: fd 3 reads our commands, fd 4 writes replies
            a, b = os.dup(to_browser_r), os.dup(from_browser_w)
            os.dup2(a, 3)
            os.dup2(b, 4)

        self.proc = subprocess.Popen(
            [
                CHROMIUM,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--remote-debugging-pipe",
                f"--user-data-dir={profile}",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            close_fds=False,
            preexec_fn=wire_fds,  # noqa: PLW1509 - single-threaded test process at this point
        )
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buffer = b""
        self.ids = itertools.count(1)
        self.events: list[dict[str, Any]] = []
        self.session: str | None = None
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        self.call("Page.enable")

    def _recv(self) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            ready, _, _ = select.select([self._from_browser], [], [], 30)
            chunk = os.read(self._from_browser, 1 << 16) if ready else b""
            if not chunk:
                raise RuntimeError("chromium closed the DevTools pipe or stopped answering")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)  # type: ignore[no-any-return]

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        msg_id = next(self.ids)
        command: dict[str, Any] = {"id": msg_id, "method": method, "params": params}
        if self.session is not None:
            command["sessionId"] = self.session
        os.write(self._to_browser, json.dumps(command).encode() + b"\0")
        while True:
            msg = self._recv()
            if msg.get("id") == msg_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})  # type: ignore[no-any-return]
            self.events.append(msg)

    def wait_for_load(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if any(e.get("method") == "Page.loadEventFired" for e in self.events):
                self.events.clear()
                return
            self.events.append(self._recv())
        raise TimeoutError("page did not load")

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result["result"].get("value")

    def click(self, selector: str) -> None:
        """A real mouse click at the element's centre (press and release)."""
        box = self.evaluate(
            f"(() => {{ const r = document.querySelector({json.dumps(selector)}).getBoundingClientRect();"
            " return [r.x + r.width / 2, r.y + r.height / 2]; })()"
        )
        for kind in ("mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent", type=kind, x=box[0], y=box[1], button="left", clickCount=1)

    def close(self) -> None:
        os.close(self._to_browser)
        os.close(self._from_browser)
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture(scope="module")
def server(small_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    with ApiServer(small_model_dir, tmp_path_factory.mktemp("browser-api"), workers=1) as srv:
        yield srv


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Browser]:
    if CHROMIUM is None:
        pytest.fail("chromium is not installed (apt-get install chromium)")
    b = Browser(tmp_path / "profile")
    yield b
    b.close()


@pytest.mark.parametrize(
    ("review", "label"),
    [
        ("A wonderful, moving film with brilliant acting. I loved every minute of it!", "positive"),
        ("Awful. The worst movie I have ever seen: boring, badly acted, a waste of time.", "negative"),
    ],
)
def test_type_a_review_submit_and_see_the_label(
    server: ApiServer, browser: Browser, small_model_dir: Path, review: str, label: str
) -> None:
    assert SentimentModel.load(small_model_dir).predict([review])[0].label == label
    browser.call("Page.navigate", url=f"{server.url}/")
    browser.wait_for_load()
    assert browser.evaluate("document.querySelector('#result') === null")
    browser.click("#text")  # focus the text box as a user would, then type
    browser.call("Input.insertText", text=review)
    assert browser.evaluate("document.querySelector('#text').value") == review
    browser.click("#submit")
    browser.wait_for_load()
    assert browser.evaluate("location.pathname") == "/predict"
    assert browser.evaluate("document.querySelector('#label').textContent") == label
    probability = float(browser.evaluate("document.querySelector('#probability').textContent"))
    assert (probability >= 0.5) == (label == "positive")
    marked = browser.evaluate(f"document.querySelectorAll('#review mark.{label[:3]}').length")
    assert marked > 0  # the words that drove the decision are highlighted in the label's colour
    assert browser.evaluate("document.querySelector('#text').value") == review  # the text box keeps it
