"""Three clustered nats-servers with JetStream on 127.0.0.1: the HA topology of tests and ``cluster --ha``.

Each node has a ``server_name``, a client port, a route port and a monitoring port (all fixed when
the cluster is first started, so a node restarted after a SIGKILL rejoins under the same address
with its JetStream store), and routes to the other two. A node is ready when its ``/healthz``
says JetStream is current, which in a cluster means the meta group has a leader and this node
has caught up with it; the cluster is ready when every node is.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from prompt_alchemy.testing.servers import STALE_CLIENT_DETECTION, NatsServer, _find_executable, free_port

__all__ = ["ClusterNode", "NatsCluster"]

CLUSTER_NAME = "alchemy"


class ClusterNode(NatsServer):
    """One member of a ``NatsCluster``: ``routes`` are the other members' route ports."""

    def __init__(self, data_dir: Path, *, server_name: str, routes: list[int]) -> None:
        super().__init__(data_dir)
        self.name = server_name
        self.server_name = server_name
        self.port = free_port()
        self.route_port = free_port()
        self.monitor_port = free_port()
        self.routes = routes

    def config(self) -> str:
        routes = ", ".join(f"nats-route://127.0.0.1:{port}" for port in self.routes)
        store = json.dumps(str(self.data_dir / "js"))
        return (
            f"server_name: {self.server_name}\n"
            f"listen: 127.0.0.1:{self.port}\n"
            f"http: 127.0.0.1:{self.monitor_port}\n"
            f"{STALE_CLIENT_DETECTION}"
            f"jetstream {{ store_dir: {store} }}\n"
            f"cluster {{\n  name: {CLUSTER_NAME}\n  listen: 127.0.0.1:{self.route_port}\n  routes: [{routes}]\n}}\n"
        )

    def start(self) -> Self:
        config = self.data_dir / "nats.conf"
        config.write_text(self.config())
        self._spawn([_find_executable("nats-server"), "-c", str(config), "-l", str(self.data_dir / "nats.log")])
        return self

    def wait_ready(self) -> None:
        self._wait_until(self.healthy)

    def healthy(self) -> bool:
        """``/healthz``: the client port listens and JetStream is current with the meta leader."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.monitor_port}/healthz", timeout=1.0) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def jsz(self) -> dict[str, Any]:
        """This node's JetStream report (``/jsz``); empty while it does not answer."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.monitor_port}/jsz", timeout=1.0) as page:
                report: dict[str, Any] = json.load(page)
        except (urllib.error.URLError, OSError, ValueError):
            return {}
        return report

    def client_names(self) -> list[str]:
        """The names of the clients connected to this node now (``/connz``)."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.monitor_port}/connz?limit=1024", timeout=1.0) as page:
                connections = json.load(page).get("connections") or []
        except (urllib.error.URLError, OSError, ValueError):
            return []
        return [str(connection.get("name", "")) for connection in connections]

    def restart(self) -> None:
        self.stop()
        self.start()
        self.wait_ready()


class NatsCluster:
    """``with NatsCluster() as cluster:`` three nodes, ``cluster.url`` the comma list clients take."""

    def __init__(self, data_dir: str | os.PathLike[str] | None = None, *, size: int = 3) -> None:
        if size < 1:
            raise ValueError("a cluster has at least one node")
        self._owns_dir = data_dir is None
        self.data_dir = Path(data_dir or tempfile.mkdtemp(prefix="alchemy-nats-cluster-"))
        self.nodes: list[ClusterNode] = []
        for index in range(size):
            node_dir = self.data_dir / f"n{index + 1}"
            node_dir.mkdir(parents=True, exist_ok=True)
            self.nodes.append(ClusterNode(node_dir, server_name=f"n{index + 1}", routes=[]))
        for node in self.nodes:
            node.routes = [other.route_port for other in self.nodes if other is not node]

    @property
    def urls(self) -> list[str]:
        return [node.url for node in self.nodes]

    @property
    def url(self) -> str:
        """Every node, comma-separated: the form ``NATS_URL`` takes."""
        return ",".join(self.urls)

    def node(self, server_name: str) -> ClusterNode:
        for node in self.nodes:
            if node.server_name == server_name:
                return node
        raise KeyError(f"no node named {server_name!r}")

    def nodes_serving(self, client_name: str) -> list[ClusterNode]:
        """The running nodes a client named ``client_name`` is connected to."""
        return [node for node in self.nodes if node.running and client_name in node.client_names()]

    def node_on_port(self, port: int) -> ClusterNode:
        for node in self.nodes:
            if node.port == port:
                return node
        raise KeyError(f"no node listens on {port}")

    def start(self) -> Self:
        for node in self.nodes:
            node.start()
        try:
            for node in self.nodes:
                node.wait_ready()
            self.nodes[0]._wait_until(self.formed)
        except BaseException:
            self.stop()
            raise
        return self

    def formed(self) -> bool:
        """The meta leader sees every other running node as a current peer: replicas can be placed
        on all of them (before that, creating an R3 stream may fail with "no suitable peers")."""
        running = [node for node in self.nodes if node.running]
        for node in running:
            meta = node.jsz().get("meta_cluster") or {}
            if meta.get("leader") == node.server_name:
                peers = [peer for peer in meta.get("replicas") or [] if peer.get("current") and not peer.get("offline")]
                return len(peers) >= len(running) - 1
        return False

    def stop(self, *, remove_data: bool = False) -> None:
        for node in self.nodes:
            node.stop()
        if remove_data and self._owns_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop(remove_data=True)
