"""etcd for the config-source tests: Debian's etcd-server on free loopback ports, its data in
the test's folder (a restart keeps it), and the v3 JSON gateway for reads and writes."""

import base64
import json
import os
import shutil
import subprocess
import urllib.request
from pathlib import Path

from harness_base import free_port
from harness_peers import require_program, wait_until_ready

ETCD = os.environ.get("ETCD", "/usr/bin/etcd")


def require_etcd():
    """etcd's path (harness_peers.require_program; Debian's etcd-server)."""
    return require_program(ETCD, "etcd")


def _b64(s):
    return base64.b64encode(s.encode()).decode()


class EtcdServer:
    """One etcd member on 127.0.0.1 (client and peer ports free), killed at the group's
    teardown. stop() is SIGKILL; start() again keeps the data (same folder and ports).

        etcd = EtcdServer(procs)
        etcd.put("/sluice/routes/a", {"match": {"path": "/a"}, "upstream": "pool"})
        etcd.get("/sluice/routes/a")  # -> the JSON value, or None
    """

    def __init__(self, procs):
        self.binary = require_etcd()
        self.workdir = Path(procs.workdir) / f"etcd-{id(self):x}"
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.workdir / "etcd.log"
        self.proc = None
        self.log = None
        last = None
        for _ in range(3):  # retried only if a free port got taken
            self.port, self.peer_port = free_port(), free_port()
            try:
                self.start()
                break
            except AssertionError as e:
                last = e
                self.stop()
                shutil.rmtree(self.workdir / "data", ignore_errors=True)
        else:
            raise last
        procs.backends.append(self)

    @property
    def address(self):
        return f"127.0.0.1:{self.port}"

    def start(self, timeout=15.0):
        self.log = open(self.log_path, "ab")
        client = f"http://127.0.0.1:{self.port}"
        peer = f"http://127.0.0.1:{self.peer_port}"
        argv = [self.binary, "--name", "t", "--data-dir", str(self.workdir / "data"),
                "--listen-client-urls", client, "--advertise-client-urls", client,
                "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                "--initial-cluster", f"t={peer}", "--log-level", "error"]
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        wait_until_ready(self.proc, self.log_path, f"etcd on port {self.port}",
                         lambda: self.call("/v3/kv/range", {"key": _b64("/")}, timeout=1) or True,
                         timeout=timeout)

    def stop(self):
        """SIGKILL. Idempotent."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self.log is not None and not self.log.closed:
            self.log.close()

    def call(self, path, body, timeout=5):
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}",
                                     data=json.dumps(body).encode(), method="POST")
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return json.loads(resp.read())

    def put(self, key, value):
        """value: JSON-able (written as JSON) or str (written as it is). Returns the revision."""
        text = value if isinstance(value, str) else json.dumps(value)
        r = self.call("/v3/kv/put", {"key": _b64(key), "value": _b64(text)})
        return int(r["header"]["revision"])

    def delete(self, key):
        return int(self.call("/v3/kv/deleterange", {"key": _b64(key)})["header"]["revision"])

    def get(self, key):
        r = self.call("/v3/kv/range", {"key": _b64(key)})
        kvs = r.get("kvs") or []
        return json.loads(base64.b64decode(kvs[0]["value"])) if kvs else None

    def keys(self, prefix):
        end = prefix[:-1] + chr(ord(prefix[-1]) + 1)
        r = self.call("/v3/kv/range", {"key": _b64(prefix), "range_end": _b64(end),
                                       "keys_only": True})
        return sorted(base64.b64decode(kv["key"]).decode() for kv in r.get("kvs") or [])
