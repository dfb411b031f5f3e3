"""Headless Chromium driven over the DevTools protocol, with the standard library only.

Chromium's ``--remote-debugging-pipe`` speaks the protocol on file descriptors 3 (commands
in) and 4 (replies and events out), one JSON message per NUL-terminated record, so no
websocket client is needed. ``HeadlessChromium`` opens a page, collects console messages,
exceptions and log entries, evaluates expressions and takes screenshots; the report tests
(``tests/reconstruct/test_report_html.py``) and ``report_bench.py`` use it.
"""
from __future__ import annotations

import base64
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, Optional

#: Where the Debian package puts it; ``chromium`` on the PATH otherwise.
CHROMIUM = "/usr/bin/chromium"

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-extensions",
         "--remote-debugging-pipe")


def chromium_path() -> Optional[str]:
    """The Chromium executable, or None when it is not installed."""
    return CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")


class ChromiumError(RuntimeError):
    """Chromium did not start, did not answer in time, or answered a command with an error."""


class HeadlessChromium:
    """One headless Chromium and one page in it. Use as a context manager.

    ``console`` collects ``(level, text)`` of console calls, uncaught exceptions and browser
    log entries (a resource that failed to load, a blocked request) of the page.
    """

    def __init__(self, width: int = 1500, height: int = 2000, timeout_s: float = 60.0):
        self.width, self.height, self.timeout_s = width, height, timeout_s
        self.console: list[tuple[str, str]] = []
        self._events: list[dict] = []
        self._next_id = 0
        self._buffer = b""
        self._session: Optional[str] = None

    def __enter__(self) -> "HeadlessChromium":
        executable = chromium_path()
        if executable is None:
            raise ChromiumError("chromium is not installed (apt-get install chromium)")
        self._profile = tempfile.mkdtemp(prefix="chromium-profile-")
        to_child_r, self._to_child = os.pipe()
        self._from_child, from_child_w = os.pipe()

        def fds() -> None:  # the child reads commands on fd 3 and writes replies on fd 4
            # via fresh copies: a pipe may already be fd 3 or 4, and dup2 onto itself keeps close-on-exec
            commands, replies = os.dup(to_child_r), os.dup(from_child_w)
            os.dup2(commands, 3)
            os.dup2(replies, 4)
            os.set_inheritable(3, True)
            os.set_inheritable(4, True)

        self._process = subprocess.Popen(
            [executable, *FLAGS, f"--user-data-dir={self._profile}",
             f"--window-size={self.width},{self.height}", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=fds, close_fds=False)  # fds 3 and 4 are made after close_fds would run
        os.close(to_child_r)
        os.close(from_child_w)
        try:
            targets = self.send("Target.getTargets")["targetInfos"]
            page = next(t for t in targets if t["type"] == "page")
            attached = self.send("Target.attachToTarget", targetId=page["targetId"], flatten=True)
            self._session = attached["sessionId"]
            for domain in ("Page", "Runtime", "Log"):
                self.send(f"{domain}.enable")
            self.send("Emulation.setDeviceMetricsOverride", width=self.width, height=self.height,
                      deviceScaleFactor=1, mobile=False)
        except Exception:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc) -> None:
        try:
            if self._process.poll() is None:
                self._write({"id": 10 ** 9, "method": "Browser.close"})
                self._process.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired, ChromiumError):
            self._process.kill()
            self._process.wait()
        for fd in (self._to_child, self._from_child):
            try:
                os.close(fd)
            except OSError:
                pass
        shutil.rmtree(self._profile, ignore_errors=True)

    # ------------------------------------------------------------------ protocol

    def _write(self, message: dict) -> None:
        os.write(self._to_child, json.dumps(message).encode("utf-8") + b"\0")

    def _read(self, deadline: float) -> dict:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._from_child], [], [], left)[0]:
                raise ChromiumError("chromium did not answer in time")
            chunk = os.read(self._from_child, 1 << 20)
            if not chunk:
                raise ChromiumError("chromium closed the pipe (crashed or exited)")
            self._buffer += chunk
        record, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(record)

    def _note(self, message: dict) -> None:
        """Keep an event; console calls, exceptions and log entries also go to ``console``."""
        self._events.append(message)
        method, params = message.get("method"), message.get("params", {})
        if method == "Runtime.consoleAPICalled":
            text = " ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", []))
            self.console.append((params.get("type", "log"), text))
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            text = details.get("exception", {}).get("description", details.get("text", ""))
            self.console.append(("error", text))
        elif method == "Log.entryAdded":
            entry = params.get("entry", {})
            text = f"{entry.get('text', '')} {entry.get('url', '')}".strip()
            self.console.append((entry.get("level", "info"), text))

    def send(self, method: str, **params: Any) -> dict:
        """Send one command (to the page once attached) and return its result."""
        self._next_id += 1
        message: dict = {"id": self._next_id, "method": method, "params": params}
        if self._session and not method.startswith(("Target.", "Browser.")):
            message["sessionId"] = self._session
        self._write(message)
        deadline = time.monotonic() + self.timeout_s
        while True:
            reply = self._read(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise ChromiumError(f"{method}: {reply['error'].get('message')}")
                return reply.get("result", {})
            self._note(reply)

    def wait_for(self, method: str) -> dict:
        """Wait for an event (one already received counts), return its params."""
        deadline = time.monotonic() + self.timeout_s
        while True:
            for k, event in enumerate(self._events):
                if event.get("method") == method:
                    return self._events.pop(k).get("params", {})
            self._note(self._read(deadline))

    # ------------------------------------------------------------------ page

    def open(self, url: str) -> float:
        """Load ``url`` and wait for its load event; returns the seconds from navigation to load."""
        self._events.clear()
        started = time.perf_counter()
        self.send("Page.navigate", url=url)
        self.wait_for("Page.loadEventFired")
        return time.perf_counter() - started

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (JSON-serialisable results)."""
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise ChromiumError(f"{expression[:60]}: {result['exceptionDetails'].get('text')}")
        return result["result"].get("value")

    def screenshot(self, path: str | Path, full_page: bool = True) -> Path:
        """A PNG of the page (the whole document height when ``full_page``)."""
        params: dict = {"format": "png"}
        if full_page:
            root = "document.documentElement"
            size = self.evaluate(f"[{root}.scrollWidth, {root}.scrollHeight]")
            params.update(captureBeyondViewport=True,
                          clip={"x": 0, "y": 0, "width": size[0], "height": min(size[1], 16000), "scale": 1})
        data = self.send("Page.captureScreenshot", **params)["data"]
        path = Path(path)
        path.write_bytes(base64.b64decode(data))
        return path
