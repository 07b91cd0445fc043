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


def chromium_command(binary: str, url: str, user_dir: str, screenshot: str | None = None, size=(1280, 800),
                     budget_ms: int = 15000) -> list[str]:
    """Headless Chromium arguments that only talk to ``url`` (software WebGL, no background traffic)."""
    cmd = [
        binary, "--headless", "--no-sandbox", "--disable-gpu", "--use-angle=swiftshader", "--enable-unsafe-swiftshader",
        "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--disable-default-apps", "--disable-extensions", "--no-default-browser-check",
        "--hide-scrollbars", "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
        f"--user-data-dir={user_dir}", f"--window-size={size[0]},{size[1]}",
        f"--virtual-time-budget={budget_ms}",
    ]
    cmd += [f"--screenshot={screenshot}"] if screenshot else ["--dump-dom"]
    return cmd + [url]


def main(argv: list[str] | None = None) -> int:
    root = Path(__file__).resolve().parent.parent
    sys.path.insert(0, str(root))
    from omniseg3d_mesh.viewer.app import ViewerApp
    from omniseg3d_mesh.viewer.demo import make_demo_workspace
    from omniseg3d_mesh.viewer.state import ViewerState

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=root / "docs" / "images" / "viewer.png")
    p.add_argument("--mode", default="selection", help="display mode to show")
    p.add_argument("--budget-ms", type=int, default=15000, help="Chromium virtual time budget")
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
            cmd = chromium_command(chromium, f"http://127.0.0.1:{app.port}/", str(Path(tmp) / "chrome"),
                                   screenshot=str(args.out), budget_ms=args.budget_ms)
            res = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
            if res.returncode != 0 or not args.out.is_file():
                print(res.stderr[-2000:], file=sys.stderr)
                return 1
        finally:
            app.stop()
    print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.0f} KB)")
    print("command: python tools/screenshot_viewer.py --out", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
