"""What the chaos scenarios share (tests/chaos, docs/chaos.md): probes of a process from /proc
(CPU time, RSS, open files), the checks every scenario ends with (crash, hang, spin, leak,
truncated body), a bounded keep-alive load generator that verifies every body, a wrk runner, an
nginx backend for the million-request run, and the figures each scenario prints.

Standard library only, Debian's /usr/bin/python3. The integration harness
(tests/integration/harness*.py) is imported from tests/integration, not copied: this module puts
that folder on sys.path.

The verdicts (each raises AssertionError with this word first, so a failure says what broke):
    CRASH      sluice exited (or was killed by a signal) while it should run
    HANG       a request took longer than its deadline, or SIGTERM did not stop sluice in 20 s
    SPIN       sluice used more than a bound of a core while nothing was sent to it
    LEAK       RSS (or open files) after the load settled grew past a stated bound
    TRUNCATED  a response the client saw as complete (framing satisfied) whose body is not the
               one the backend sent: cut, too long, or another request's
"""

import collections
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
INTEGRATION = HERE.parent / "integration"
if str(INTEGRATION) not in sys.path:
    sys.path.insert(0, str(INTEGRATION))

from harness import (REPO, Client, ConnectionClosed, ReadTimeout, free_port,  # noqa: E402
                     metric_samples, metrics_of, request, vmrss, wait_for)

MiB = 1 << 20
CLK_TCK = os.sysconf("SC_CLK_TCK")


def env_int(name, default):
    v = os.environ.get(name)
    return int(v) if v not in (None, "") else default


def env_float(name, default):
    v = os.environ.get(name)
    return float(v) if v not in (None, "") else default


# ---------------------------------------------------------------------------------------------
# /proc probes


def cpu_seconds(pid):
    """utime + stime of pid (all its threads) in seconds, from /proc/PID/stat fields 14-15."""
    with open(f"/proc/{pid}/stat") as f:
        rest = f.read().rsplit(")", 1)[1].split()
    return (int(rest[11]) + int(rest[12])) / CLK_TCK


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def thread_count(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("Threads:"):
                return int(line.split()[1])
    return 0


class Snap:
    """One look at a process: time, CPU seconds, RSS bytes, open files."""

    def __init__(self, pid):
        self.t = time.monotonic()
        self.cpu = cpu_seconds(pid)
        self.rss = vmrss(pid)
        self.fds = fd_count(pid)

    def cores_since(self, earlier):
        """CPU used between two snaps, in cores (1.0 = one core busy all the time)."""
        dt = self.t - earlier.t
        return (self.cpu - earlier.cpu) / dt if dt > 0 else 0.0


class Sampler:
    """Samples (seconds since start, RSS bytes, CPU seconds, open files) of pid every interval
    in a thread; .series holds them, .peak_rss the highest RSS."""

    def __init__(self, pid, interval=0.5):
        self.pid = pid
        self.interval = interval
        self.series = []
        self.peak_rss = 0
        self._t0 = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self):
        try:
            s = Snap(self.pid)
        except (OSError, AssertionError, IndexError, ValueError):
            return False
        self.series.append((s.t - self._t0, s.rss, s.cpu, s.fds))
        self.peak_rss = max(self.peak_rss, s.rss)
        return True

    def _run(self):
        while not self._stop.is_set():
            if not self._sample():
                return
            self._stop.wait(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self._sample()


def mib(n):
    return f"{n / MiB:.1f} MiB"


# ---------------------------------------------------------------------------------------------
# the verdicts


def signal_name(code):
    if code is not None and code < 0:
        try:
            return signal.Signals(-code).name
        except ValueError:
            return f"signal {-code}"
    return f"exit code {code}"


def check_alive(gw, when=""):
    """CRASH unless the sluice process is still running."""
    code = gw.proc.poll()
    if code is not None:
        raise AssertionError(f"CRASH: sluice (pid {gw.pid}) ended with {signal_name(code)} "
                             f"{when}\n{gw.log_tail()}")


def check_serves(gw, path="/chaos-probe", deadline=3.0, expect=(200,), attempts=1):
    """HANG (or CRASH) unless a fresh connection gets an answer with an expected status within
    deadline seconds; returns the seconds it took."""
    last = None
    for _ in range(attempts):
        check_alive(gw, "before a probe request")
        t0 = time.monotonic()
        try:
            r = request(gw.port, "GET", path, timeout=deadline)
        except (ReadTimeout, socket.timeout) as e:
            check_alive(gw, "during a probe request")
            raise AssertionError(f"HANG: GET {path} on a new connection: no answer within "
                                 f"{deadline}s ({e})") from None
        except (ConnectionClosed, OSError) as e:
            last = f"{type(e).__name__}: {e}"
            time.sleep(0.2)
            continue
        took = time.monotonic() - t0
        if took > deadline:
            raise AssertionError(f"HANG: GET {path} took {took:.2f}s (deadline {deadline}s)")
        if r.status in expect:
            return took
        last = f"status {r.status} {r.body[:200]!r}"
        time.sleep(0.2)
    check_alive(gw, "after probe requests")
    raise AssertionError(f"GET {path}: {last}")


def check_no_spin(gw, seconds=2.0, max_cores=0.2, settle=0.5):
    """SPIN when sluice uses more than max_cores of a core over `seconds` while the caller sends
    it nothing; returns the cores used."""
    time.sleep(settle)
    check_alive(gw, "before the idle CPU check")
    a = Snap(gw.pid)
    time.sleep(seconds)
    b = Snap(gw.pid)
    cores = b.cores_since(a)
    if cores > max_cores:
        raise AssertionError(f"SPIN: sluice used {cores:.0%} of a core over {seconds}s while idle "
                             f"(bound {max_cores:.0%}); threads: {thread_states(gw.pid)}")
    return cores


def thread_states(pid):
    """{thread name: (state, CPU seconds)} of pid's threads, to tell which one spins."""
    out = {}
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                text = f.read()
            name = text[text.index("(") + 1:text.rindex(")")]
            rest = text.rsplit(")", 1)[1].split()
            out[f"{name}/{tid}"] = (rest[0], (int(rest[11]) + int(rest[12])) / CLK_TCK)
    except OSError:
        pass
    return out


def settled_rss(pid, timeout=5.0, interval=0.25, tolerance=64 * 1024):
    """RSS once two samples interval apart agree within tolerance (or after timeout)."""
    deadline = time.monotonic() + timeout
    prev = vmrss(pid)
    while True:
        time.sleep(interval)
        cur = vmrss(pid)
        if abs(cur - prev) <= tolerance or time.monotonic() > deadline:
            return cur
        prev = cur


def check_no_leak(what, before, after, bound):
    """LEAK when after - before > bound (bytes, or a count of files)."""
    growth = after - before
    if growth > bound:
        if what.startswith("RSS"):
            raise AssertionError(f"LEAK: {what} grew {mib(growth)} ({mib(before)} -> "
                                 f"{mib(after)}), bound {mib(bound)}")
        raise AssertionError(f"LEAK: {what} grew by {growth} ({before} -> {after}), bound {bound}")
    return growth


def wait_fds(pid, target, timeout=5.0):
    """Waits until pid has at most target open files; returns the last count."""
    deadline = time.monotonic() + timeout
    while True:
        n = fd_count(pid)
        if n <= target or time.monotonic() > deadline:
            return n
        time.sleep(0.1)


def sigterm_exit(gw, timeout=20.0):
    """SIGTERM and wait; HANG if it did not exit within timeout. Returns (code, seconds)."""
    t0 = time.monotonic()
    code = gw.terminate(timeout)
    took = time.monotonic() - t0
    if code is None:
        raise AssertionError(f"HANG: sluice did not exit within {timeout}s of SIGTERM (killed)"
                             f"\n{gw.log_tail()}")
    return code, took


class Verdicts:
    """Collects failed checks so that a scenario prints all its figures before it fails:
    v.check(fn, ...) runs a check and keeps its AssertionError; v.require(cond, msg);
    v.done() raises them all together."""

    def __init__(self):
        self.errors = []

    def check(self, fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except AssertionError as e:
            self.errors.append(str(e))
            return None

    def require(self, cond, msg):
        if not cond:
            self.errors.append(msg)
        return cond

    def done(self):
        if self.errors:
            raise AssertionError("\n".join(self.errors))


def settle_checks(gw, before, v, rss_bound=16 * MiB, fd_bound=16, spin_bound=0.2,
                  idle_seconds=2.0):
    """The end of every scenario, after its load stopped: CRASH, SPIN (idle CPU), LEAK (RSS
    after it settled vs `before`, a Snap taken once the load was warm; and open files).
    Failures go into v; returns (Snap after, idle cores or None)."""
    v.check(check_alive, gw, "after the scenario")
    if gw.proc.poll() is not None:
        return None, None
    idle = v.check(check_no_spin, gw, idle_seconds, spin_bound)
    settled_rss(gw.pid)
    wait_fds(gw.pid, before.fds + fd_bound, timeout=3.0)
    after = Snap(gw.pid)
    v.check(check_no_leak, "RSS", before.rss, after.rss, rss_bound)
    v.check(check_no_leak, "open files", before.fds, after.fds, fd_bound)
    return after, idle


# ---------------------------------------------------------------------------------------------
# bounded keep-alive load with body checks


class Req:
    """One request of a load: `expect` lists the statuses that are not failures; check(r), called
    for a complete response with one of them, returns None when it is the one meant (for a 2xx:
    the backend's body, whole and for this request), else what is wrong (for a 2xx that is a
    TRUNCATED verdict)."""

    __slots__ = ("method", "target", "headers", "body", "expect", "check")

    def __init__(self, method, target, headers=None, body=None, expect=(200,), check=None):
        self.method, self.target, self.headers, self.body = method, target, headers, body
        self.expect, self.check = expect, check


def echo_check(target, body_length=0):
    """check() for the echo backend's JSON answer to `target` (and a request body of
    body_length bytes); other statuses than 2xx pass."""
    def check(r):
        if not 200 <= r.status < 300:
            return None
        try:
            j = json.loads(r.body)
        except ValueError:
            return f"body is not the echo JSON ({r.body_length} bytes: {r.body[:80]!r})"
        if j.get("target") != target:
            return f"answer for {j.get('target')!r}, not {target!r}"
        if j.get("body_length") != body_length:
            return f"backend got {j.get('body_length')} body bytes, sent {body_length}"
        return None
    return check


def sized_check(n):
    """check() for the echo backend's ?size=n answer: exactly n bytes of 'x' (2xx only)."""
    def check(r):
        if not 200 <= r.status < 300:
            return None
        if r.body_length != n:
            return f"body {r.body_length} bytes, backend sent {n}"
        if r.body.count(b"x") != n:
            return "body bytes differ from what the backend sent"
        return None
    return check


def echo_req(prefix="/chaos"):
    """make() for Load: GETs of the echo backend's JSON with a unique target each."""
    def make(i, loop):
        target = f"{prefix}/{loop}/{i}"
        return Req("GET", target, check=echo_check(target))
    return make


FAILED_KINDS = ("status", "closed", "incomplete", "refused", "error")


class LoadLoop(threading.Thread):
    """Requests make(i, loop) one after another on a keep-alive connection (a new one after a
    close or failure), until stop is set, max_requests are done or max_seconds pass. Each
    outcome is recorded as (end time, latency, kind, status, detail); kind is "ok", "status"
    (an unexpected status), "closed" (no response), "incomplete" (a cut body the client saw as
    cut), "refused" (connect failed), "hang" (over the deadline) or "truncated" (a body that
    looked whole but is not the backend's)."""

    def __init__(self, port, make, loop_id, stop, max_requests, max_seconds, deadline,
                 keep_alive=True):
        super().__init__(daemon=True)
        self.port, self.make, self.loop_id, self.stop = port, make, loop_id, stop
        self.max_requests, self.max_seconds, self.deadline = max_requests, max_seconds, deadline
        self.keep_alive = keep_alive
        self.outcomes = []
        self.count = 0

    def _record(self, t0, kind, status=0, detail=""):
        t = time.monotonic()
        self.outcomes.append((t, t - t0, kind, status, detail))

    def run(self):
        end = time.monotonic() + self.max_seconds
        c = None
        try:
            while not self.stop.is_set() and self.count < self.max_requests \
                    and time.monotonic() < end:
                req = self.make(self.count, self.loop_id)
                self.count += 1
                t0 = time.monotonic()
                if c is None:
                    try:
                        c = Client(self.port, timeout=self.deadline)
                    except OSError as e:
                        self._record(t0, "refused", 0, f"{type(e).__name__}: {e}")
                        time.sleep(0.01)
                        continue
                try:
                    r = c.request(req.method, req.target, req.headers, req.body)
                except (ReadTimeout, socket.timeout) as e:
                    self._record(t0, "hang", 0, f"{req.method} {req.target}: {e}")
                    c.close()
                    c = None
                    continue
                except (ConnectionClosed, OSError) as e:
                    self._record(t0, "closed", 0, f"{req.method} {req.target}: "
                                                  f"{type(e).__name__}: {e}")
                    c.close()
                    c = None
                    continue
                except Exception as e:  # a malformed response: the parser asserted
                    self._record(t0, "error", 0, f"{req.method} {req.target}: "
                                                 f"{type(e).__name__}: {e}")
                    c.close()
                    c = None
                    continue
                took = time.monotonic() - t0
                if took > self.deadline:
                    self._record(t0, "hang", r.status, f"{req.target} took {took:.2f}s")
                elif not r.complete:
                    self._record(t0, "incomplete", r.status,
                                 f"{req.target}: {r.body_length} bytes, {r.framing}")
                elif r.status not in req.expect:
                    self._record(t0, "status", r.status, f"{req.target}: {r.body[:120]!r}")
                elif req.check is not None and (why := req.check(r)) is not None:
                    if 200 <= r.status < 300:
                        self._record(t0, "truncated", r.status,
                                     f"{req.target}: {why} (framing {r.framing}, "
                                     f"content-length {r.header('content-length')})")
                    else:
                        self._record(t0, "status", r.status, f"{req.target}: {why}")
                else:
                    self._record(t0, "ok", r.status)
                if not self.keep_alive or not r.complete or "close" in r.tokens("connection"):
                    c.close()
                    c = None
        finally:
            if c is not None:
                c.close()


class Load:
    """`loops` LoadLoops on port, bounded by max_requests (each) and max_seconds; use as a
    context manager (stops and joins at exit) or start()/finish()."""

    def __init__(self, port, make=None, loops=4, max_requests=200000, max_seconds=30.0,
                 deadline=5.0, keep_alive=True):
        self.stop_event = threading.Event()
        self.make = make or echo_req()
        self.threads = [LoadLoop(port, self.make, i, self.stop_event, max_requests, max_seconds,
                                 deadline, keep_alive) for i in range(loops)]
        self.t0 = None
        self.t1 = None

    def start(self):
        self.t0 = time.monotonic()
        for t in self.threads:
            t.start()
        return self

    def finish(self, join_timeout=60.0):
        self.stop_event.set()
        for t in self.threads:
            t.join(join_timeout)
        self.t1 = time.monotonic()
        return self

    def run_for(self, seconds):
        """start(), sleep `seconds`, finish(); returns self."""
        self.start()
        time.sleep(seconds)
        return self.finish()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.finish()

    @property
    def count(self):
        return sum(t.count for t in self.threads)

    def outcomes(self, since=None, until=None):
        out = [o for t in self.threads for o in t.outcomes]
        if since is not None:
            out = [o for o in out if o[0] >= since]
        if until is not None:
            out = [o for o in out if o[0] < until]
        return out

    def summary(self, since=None, until=None):
        outs = self.outcomes(since, until)
        kinds = collections.Counter(o[2] for o in outs)
        statuses = collections.Counter(o[3] for o in outs if o[3])
        lat = sorted(o[1] for o in outs)
        t0 = since if since is not None else self.t0
        t1 = until if until is not None else (self.t1 or time.monotonic())
        return {
            "requests": len(outs),
            "ok": kinds["ok"],
            "failed": sum(kinds[k] for k in FAILED_KINDS),
            "hang": kinds["hang"],
            "truncated": kinds["truncated"],
            "kinds": dict(kinds),
            "statuses": dict(sorted(statuses.items())),
            "rps": len(outs) / (t1 - t0) if t1 > t0 else 0.0,
            "p50_ms": pct(lat, 50) * 1000,
            "p99_ms": pct(lat, 99) * 1000,
            "max_ms": (lat[-1] if lat else 0.0) * 1000,
        }

    def details(self, kinds, limit=10):
        return [f"{o[2]} {o[3]}: {o[4]}" for o in self.outcomes() if o[2] in kinds][:limit]

    def assert_no_hang_or_truncation(self):
        bad = self.details(("hang", "truncated"))
        if bad:
            kind = "TRUNCATED" if any(b.startswith("truncated") for b in bad) else "HANG"
            raise AssertionError(f"{kind}: {bad}")

    def assert_clean(self):
        """Every request ok: no hang, truncation or failure of any kind."""
        self.assert_no_hang_or_truncation()
        bad = self.details(FAILED_KINDS)
        if bad:
            raise AssertionError(f"{len(self.details(FAILED_KINDS, 10**9))} failed requests: {bad}")


def pct(sorted_values, p):
    if not sorted_values:
        return 0.0
    k = min(len(sorted_values) - 1, max(0, int(round(p / 100 * (len(sorted_values) - 1)))))
    return sorted_values[k]


# ---------------------------------------------------------------------------------------------
# figures


def load_line(s):
    return (f"{s['requests']} requests ({s['rps']:.0f}/s), ok {s['ok']}, failed {s['failed']}, "
            f"hang {s['hang']}, truncated {s['truncated']}, statuses {s['statuses']}; latency "
            f"p50 {s['p50_ms']:.1f} ms, p99 {s['p99_ms']:.1f} ms, max {s['max_ms']:.0f} ms")


def report(title, lines, figures=None):
    """Prints the scenario's figures (run pytest with -s to see them); with CHAOS_REPORT set,
    also appends {"scenario", "figures", "date"} as one JSON line to that file."""
    print(f"\n== chaos: {title}")
    for line in lines:
        print(f"   {line}")
    path = os.environ.get("CHAOS_REPORT")
    if path:
        with open(path, "a") as f:
            f.write(json.dumps({"scenario": title, "lines": lines, "figures": figures or {},
                                "date": time.strftime("%Y-%m-%d %H:%M:%S")}) + "\n")


def proc_line(before, after, peak_rss=None, idle_cores=None, busy_cores=None):
    s = f"sluice RSS {mib(before.rss)} -> {mib(after.rss)}"
    if peak_rss:
        s += f" (peak {mib(peak_rss)})"
    s += f", open files {before.fds} -> {after.fds}"
    if busy_cores is not None:
        s += f", CPU {busy_cores:.2f} core under load"
    if idle_cores is not None:
        s += f", {idle_cores:.2f} core idle after"
    return s


# ---------------------------------------------------------------------------------------------
# metrics


def metric_total(gw, name, **labels):
    return sum(metric_samples(metrics_of(gw), name, **labels))


def codes_of(gw, route=None):
    """{"2xx": n, ...} from sluice_requests_total (of one route, or all)."""
    text = metrics_of(gw)
    out = collections.Counter()
    for code in ("1xx", "2xx", "3xx", "4xx", "5xx"):
        labels = {"code": code}
        if route:
            labels["route"] = route
        out[code] = int(sum(metric_samples(text, "sluice_requests_total", **labels)))
    return dict(out)


# ---------------------------------------------------------------------------------------------
# wrk and an nginx backend (the million-request run)


WRK_REPORT = REPO / "bench" / "configs" / "wrk-report.lua"
NGINX_TEMPLATE = REPO / "bench" / "configs" / "nginx-backend.conf.in"


def which(name, *extra):
    import shutil
    for p in (shutil.which(name), *extra):
        if p and os.access(p, os.X_OK):
            return p
    return None


def require_tool(name, *extra):
    import pytest
    path = which(name, *extra)
    if path is None:
        msg = f"{name} not found (scripts/setup.sh installs it)"
        if os.environ.get("SLUICE_REQUIRE") == "1":
            pytest.fail(msg)
        pytest.skip(msg)
    return path


class NginxBackend:
    """bench/configs/nginx-backend.conf.in: one nginx process (master_process off) answering
    200 "ok\\n" on 127.0.0.1:port; stop() at the end (or add it to a ProcessGroup's backends)."""

    def __init__(self, workdir):
        self.bin = require_tool("nginx", "/usr/sbin/nginx")
        self.dir = Path(workdir) / f"nginx-{os.getpid()}-{id(self):x}"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        conf = NGINX_TEMPLATE.read_text().replace("@DIR@", str(self.dir)) \
            .replace("@BACKEND_PORT@", str(self.port))
        (self.dir / "nginx.conf").write_text(conf)
        self.log = open(self.dir / "stdout.log", "ab")
        self.proc = subprocess.Popen(
            [self.bin, "-p", str(self.dir), "-e", str(self.dir / "error.log"), "-c",
             str(self.dir / "nginx.conf"), "-g", "daemon off; master_process off;"],
            stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                r = request(self.port, "GET", "/ok", timeout=1)
                if r.status == 200:
                    return
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                err = (self.dir / "error.log").read_text() if (self.dir / "error.log").exists() \
                    else ""
                self.stop()
                raise AssertionError(f"nginx backend did not start: {err}")
            time.sleep(0.05)

    @property
    def address(self):
        return f"127.0.0.1:{self.port}"

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if not self.log.closed:
            self.log.close()


def run_wrk(url, seconds, connections, script, threads=1, timeout_pad=20.0):
    """wrk -t threads -c connections -d seconds -s script URL (the script must print the
    WRKRESULT line of bench/configs/wrk-report.lua); returns its fields as ints / floats."""
    wrk = require_tool("wrk")
    argv = [wrk, "-t", str(threads), "-c", str(connections), "-d", f"{max(1, int(seconds))}s",
            "--timeout", "5s", "-s", str(script), url]
    p = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + timeout_pad)
    for line in p.stdout.splitlines():
        if line.startswith("WRKRESULT "):
            out = {}
            for kv in line.split()[1:]:
                k, v = kv.split("=")
                out[k] = float(v) if "." in v else int(v)
            return out
    raise AssertionError(f"wrk printed no result (exit {p.returncode}): {p.stdout[-2000:]}"
                         f"{p.stderr[-2000:]}")


__all__ = [n for n in dir() if not n.startswith("_")] + ["wait_for"]
