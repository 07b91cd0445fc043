"""Screenshot of the web viewer in headless Chromium (for docs/images/viewer.png).

Starts the viewer on a demo workspace (127.0.0.1, a free port), selects an object
with a click (so the picture shows a selection), takes a Chromium screenshot, stops
the server.

    python tools/screenshot_viewer.py [--out docs/images/viewer.png] [--mode selection]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np


def find_chromium() -> str | None:
    """The path of a Chromium / Chrome binary, or None."""
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--no-default-browser-check",
    "--hide-scrollbars",
    "--mute-audio",
    # resolve no host name but 127.0.0.1: the browser can only ever talk to the local viewer
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
]


def capture(
    binary: str,
    url: str,
    out: str | Path | None,
    size=(1280, 800),
    wait_text: str = "Threshold",
    settle_s: float = 3.0,
    timeout_s: float = 120.0,
    clicks: list[tuple[float, float]] = (),
) -> str:
    """Load ``url`` in headless Chromium, wait (real time) until the page shows ``wait_text``
    and then ``settle_s`` more seconds, left-click at each ``clicks`` (x, y) page position
    (``settle_s`` after each), save a PNG screenshot to ``out``; returns the page text.

    Drives Chromium over its DevTools protocol (on 127.0.0.1, a free port) rather than
    ``--screenshot --virtual-time-budget``: virtual time races ahead of the viewer's
    websocket on a busy machine, real-time waiting does not.

    Raises:
        TimeoutError: the page did not show ``wait_text`` within ``timeout_s``.
    """
    import base64
    import contextlib
    import json
    import os
    import signal
    import time
    import urllib.request

    from websockets.sync.client import connect

    user_dir = tempfile.mkdtemp(prefix="viewer-chromium-")
    cmd = [
        binary,
        *CHROMIUM_FLAGS,
        f"--user-data-dir={user_dir}",
        f"--window-size={size[0]},{size[1]}",
        "--remote-debugging-address=127.0.0.1",
        "--remote-debugging-port=0",
        "about:blank",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.time() + timeout_s
    try:
        port = None
        while port is None:
            line = proc.stderr.readline()
            if not line:
                raise RuntimeError(f"chromium exited (code {proc.poll()}) before opening its DevTools port")
            if "DevTools listening on ws://" in line:
                port = int(line.split("ws://", 1)[1].split("/", 1)[0].rsplit(":", 1)[1])
        pages = []
        while not pages:
            targets = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10).read())
            pages = [t for t in targets if t.get("type") == "page"]
            if not pages:
                time.sleep(0.2)
        with connect(pages[0]["webSocketDebuggerUrl"], max_size=None, open_timeout=30) as ws:
            counter = [0]

            def call(method: str, **params):
                counter[0] += 1
                ws.send(json.dumps({"id": counter[0], "method": method, "params": params}))
                while True:
                    msg = json.loads(ws.recv(timeout=max(deadline - time.time(), 1.0)))
                    if msg.get("id") == counter[0]:
                        if "error" in msg:
                            raise RuntimeError(f"{method}: {msg['error']}")
                        return msg.get("result", {})

            call("Emulation.setDeviceMetricsOverride", width=size[0], height=size[1], deviceScaleFactor=1, mobile=False)
            call("Page.navigate", url=url)
            text = ""
            while wait_text not in text:
                if time.time() > deadline:
                    raise TimeoutError(f"{url} did not show {wait_text!r} within {timeout_s:.0f} s")
                time.sleep(0.5)
                res = call(
                    "Runtime.evaluate", expression="document.body ? document.body.innerText : ''", returnByValue=True
                )
                text = str(res.get("result", {}).get("value", ""))
            time.sleep(settle_s)
            # close notifications (e.g. "software WebGL") so they do not cover the scene
            call(
                "Runtime.evaluate",
                expression="document.querySelectorAll('.mantine-Notification-closeButton, "
                "[class*=Notification] button').forEach(b => b.click())",
            )
            for x, y in clicks:
                for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
                    call(
                        "Input.dispatchMouseEvent",
                        type=kind,
                        x=float(x),
                        y=float(y),
                        button="left",
                        buttons=1 if kind == "mousePressed" else 0,
                        clickCount=0 if kind == "mouseMoved" else 1,
                    )
                time.sleep(settle_s)
            time.sleep(0.5)
            if out is not None:
                png = call("Page.captureScreenshot", format="png")["data"]
                Path(out).write_bytes(base64.b64decode(png))
            return text
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)  # chromium and the helpers it started (own session)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        for _ in range(100):  # until every helper of that session is gone
            try:
                os.killpg(proc.pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        else:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
        if proc.stderr:
            proc.stderr.close()
        shutil.rmtree(user_dir, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    root = Path(__file__).resolve().parent.parent
    sys.path.insert(0, str(root))
    from omniseg3d_mesh.viewer.app import ViewerApp
    from omniseg3d_mesh.viewer.demo import make_demo_workspace
    from omniseg3d_mesh.viewer.state import ViewerState

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=root / "docs" / "images" / "viewer.png")
    p.add_argument("--mode", default="selection", help="display mode to show")
    p.add_argument("--settle", type=float, default=4.0, help="seconds to wait after the GUI appeared")
    args = p.parse_args(argv)

    chromium = find_chromium()
    if chromium is None:
        print("no chromium binary found: apt-get install chromium", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        ws = make_demo_workspace(Path(tmp) / "ws", resolution=2)
        state = ViewerState.from_workspace(ws)
        if not state.cameras:  # workspace without cameras.json: show the demo's ring of cameras
            from omniseg3d_mesh.viewer.demo import make_demo_scene

            state.cameras = make_demo_scene(2).cameras
        labels = np.load(ws.root / "labels_gt.npz")
        # multi-selection: two objects, the second one walked up to its object step
        state.click(int(np.flatnonzero(labels["part"] == 1)[0]))
        state.step_bigger()
        state.click(int(np.flatnonzero(labels["part"] == 5)[0]), add_group=True)
        state.step_bigger()
        state.click(int(np.flatnonzero(labels["part"] == 8)[0]), add_group=True)
        state.set_mode(args.mode)
        app = ViewerApp(state, host="127.0.0.1", port=0)
        try:
            app.g_cameras.value = True
            app.push_colors()
            args.out.parent.mkdir(parents=True, exist_ok=True)
            capture(chromium, f"http://127.0.0.1:{app.port}/", args.out, settle_s=args.settle)
        finally:
            app.stop()
    print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.0f} KB)")
    print("command: python tools/screenshot_viewer.py --out", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
