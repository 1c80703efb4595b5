"""``cytogate edit STRATEGY.yaml --fcs FILE ...``: the browser gate editor.

Serves :mod:`cytogate.edit` on 127.0.0.1 with a random token in the URL,
prints the URL as the first line on stdout and opens the browser.  Ctrl-C
stops the server; unsaved edits are lost (the page says when there are any).
"""

from __future__ import annotations

import argparse
import socket
import sys
import threading
import webbrowser

from ..errors import CytogateError

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction, formatter_class: type[argparse.HelpFormatter]) -> None:
    parser = subparsers.add_parser(
        "edit",
        help="draw and edit gates in the browser; saves the YAML strategy in place",
        description="Open a YAML strategy (a missing file starts a new one) over one or more FCS files in a "
                    "local browser editor: the population tree with live counts, each gate drawn over its "
                    "parent's events, drag to edit, draw to add.  Saving rewrites only the edited lines of the "
                    "file (comments and order kept).  The page and its JSON API (docs/edit.md) answer only on "
                    "127.0.0.1 and only with the token in the printed URL.",
        epilog="exit codes: 0 stopped with Ctrl-C; 2 bad input (strategy or FCS file). Needs the 'edit' extra: "
               "pip install 'cytogate[edit]'.",
        formatter_class=formatter_class,
    )
    parser.add_argument("strategy", help="cytogate YAML strategy to edit (created on first save if missing)")
    parser.add_argument("--fcs", action="append", required=True, metavar="FILE",
                        help="FCS file to show (repeat for several; the page switches between them)")
    parser.add_argument("--overrides", metavar="FILE",
                        help="per-sample overrides file (cytogate_overrides: 1; created on first save if missing): "
                             "the page can then correct a gate for the sample on screen only, with reason, author "
                             "and date, as `cytogate run --overrides FILE` applies it")
    parser.add_argument("--port", type=int, default=0, metavar="N", help="port on 127.0.0.1 (0: a free one)")
    parser.add_argument("--no-browser", action="store_true", help="do not open a browser")
    parser.set_defaults(handler=_handle)


def _handle(args: argparse.Namespace) -> int:
    try:
        import uvicorn

        from ..edit.app import create_app, new_token
        from ..edit.session import EditorSession
    except ModuleNotFoundError as exc:
        raise CytogateError(f"cytogate edit needs the 'edit' extra ({exc.name} is missing): "
                            f"pip install 'cytogate[edit]'") from None
    session = EditorSession(args.strategy, args.fcs, overrides_path=args.overrides)
    token = new_token()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", args.port))
    except OSError as exc:
        sock.close()
        raise CytogateError(f"cannot listen on 127.0.0.1:{args.port}: {exc.strerror}") from None
    sock.listen(64)
    url = f"http://127.0.0.1:{sock.getsockname()[1]}/?token={token}"
    print(f"cytogate edit: {url}", flush=True)
    if session.new_file:
        print(f"cytogate edit: {args.strategy} does not exist yet; it is written on the first save",
              file=sys.stderr)
    server = uvicorn.Server(uvicorn.Config(create_app(session, token), log_level="warning", lifespan="off"))
    if not args.no_browser:
        threading.Timer(0.5, webbrowser.open, args=(url,)).start()
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass  # uvicorn has shut down cleanly and passes the Ctrl-C on: stopping is what it asked for
    finally:
        sock.close()
    print("cytogate edit: stopped", file=sys.stderr)
    return 0
