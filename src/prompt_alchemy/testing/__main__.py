"""Run a development server in the foreground: ``python -m prompt_alchemy.testing nats|redis``.

Used by ``just nats``, ``just redis`` and ``just cluster``; stops cleanly on Ctrl-C / SIGTERM.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from prompt_alchemy.testing.servers import NatsServer, RedisServer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m prompt_alchemy.testing", description=__doc__)
    parser.add_argument("server", choices=["nats", "redis"])
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: 4222 / 6379)")
    parser.add_argument("--data-dir", type=Path, default=None, help="where the server keeps its data")
    args = parser.parse_args(argv)
    server: NatsServer | RedisServer
    if args.server == "nats":
        server = NatsServer(args.data_dir)
        server.port = args.port or 4222
    else:
        server = RedisServer(args.data_dir, appendonly=True)
        server.port = args.port or 6379
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    server.start()
    print(f"{args.server} listening on {server.url} (data in {server.data_dir}); Ctrl-C stops it", flush=True)
    try:
        while not stop.wait(1.0):
            if not server.running:
                print(f"{args.server} exited", file=sys.stderr)
                return 1
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
