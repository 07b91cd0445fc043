"""``omniseg-mesh view``: serve the interactive web viewer of a fitted workspace."""

from __future__ import annotations

import argparse

from ._args import add_path_argument, add_workspace_argument

HELP = "serve the interactive web viewer"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_workspace_argument(parser)
    add_path_argument(
        parser,
        "--parts",
        "DIR",
        "the parts to show (default: where `discretize` last wrote for this workspace, else <workspace>/parts)",
    )
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        metavar="ADDRESS",
        help="address to bind (default: 127.0.0.1, this machine only; others need --allow-remote)",
    )
    parser.add_argument(
        "--port", type=int, default=8080, metavar="PORT", help="TCP port (default: 8080; 0 = any free port)"
    )
    parser.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow binding a non-local address such as 0.0.0.0 (the viewer has no authentication)",
    )
    parser.add_argument(
        "--transport",
        choices=["auto", "glb", "points"],
        default="auto",
        help="how vertex colours reach the browser: glb (mesh re-sent per update), points (colours "
        "only, on a point overlay), auto (glb up to 300k vertices; default)",
    )
    add_path_argument(
        parser, "--demo", "DIR", "write a small synthetic demo workspace to DIR and view it (no fitting needed)"
    )


def run(args: argparse.Namespace) -> int:
    from omniseg3d_mesh.cli._ui import UsageError, console, next_hint
    from omniseg3d_mesh.viewer.app import is_loopback, serve
    from omniseg3d_mesh.viewer.state import ViewerState
    from omniseg3d_mesh.workspace import Workspace

    if not is_loopback(args.host) and not args.allow_remote:
        raise UsageError(
            f"refusing to bind {args.host}: the viewer has no authentication; keep the default 127.0.0.1 and use an "
            "SSH tunnel (ssh -L 8080:localhost:8080 HOST), or pass --allow-remote to serve on a non-local address"
        )
    if args.demo is not None:
        from omniseg3d_mesh.viewer.demo import make_demo_workspace

        ws = make_demo_workspace(args.demo)
    else:
        ws = Workspace.find(args.workspace)
    with console.status(f"loading {ws.root} ..."):
        state = ViewerState.from_workspace(ws, parts_dir=args.parts)
        state.warm_up()
    if state.parts is not None:
        console.print(f"parts: from {state.parts_info.get('source')} (the Parts display mode)", highlight=False)
    else:
        console.print(
            "parts: none exported yet (run `omniseg-mesh discretize`, or the viewer's Discretize panel)",
            highlight=False,
        )
    if not is_loopback(args.host):
        console.print(
            f"[bold yellow]warning:[/] serving on {args.host}: anyone who can reach port {args.port} can "
            "use this viewer and write exports into the workspace"
        )
    app = serve(
        state, host=args.host, port=args.port, allow_remote=args.allow_remote, transport=args.transport, block=False
    )
    console.print(f"[bold green]viewer:[/] {app.url}   ({state.num_vertices:,} vertices; Ctrl-C to stop)")
    if is_loopback(args.host):
        console.print(
            f"remote machine? tunnel it: ssh -L {app.port}:localhost:{app.port} THIS_HOST, then open "
            f"http://localhost:{app.port}"
        )
    app.wait()
    next_hint(f"omniseg-mesh render --workspace {ws.root} --out views/   (the viewer's exports are in {ws.root})")
    return 0
