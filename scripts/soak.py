#!/usr/bin/env python3
"""Bounded load on a running `vec2prompt serve` over loopback (standard library only).

Phase 1: CONCURRENCY clients, each on its own keep-alive connection, send fast-mode
`/generate_prompt` requests (budget 0: no LLM call) back to back for SECONDS.
Phase 2: a burst of BURST clients that each send one request at the same instant.

Reports, per phase: requests, successes, 429s (with whether Retry-After was set), other
failures (any other status, or a connection error), latency p50/p99 of the successes, and
the server's resident memory (VmRSS of --pid) before, at its peak and after. Exits 1 if
any request failed other than with 429. `--json FILE` also writes the numbers.
"""

import argparse
import http.client
import json
import random
import threading
import time
import urllib.parse

TEXTS = [
    "Eat a balanced diet, exercise regularly and get enough sleep.",
    "Paris is the capital and largest city of France.",
    "Photosynthesis turns light, water and carbon dioxide into sugar and oxygen.",
    "A haiku is a short poem of three lines with five, seven and five syllables.",
    "Use a password manager and turn on two-factor authentication.",
    "The mitochondria produce most of the chemical energy of a cell.",
    "Water boils at 100 degrees Celsius at sea level.",
    "Compound interest grows savings faster than simple interest.",
]


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Client:
    def __init__(self, url, key):
        u = urllib.parse.urlparse(url)
        self.host, self.port = u.hostname, u.port
        self.headers = {"Content-Type": "application/json"}
        if key:
            self.headers["Authorization"] = f"Bearer {key}"
        self.conn = None

    def post(self, path, body, timeout=600):
        if self.conn is None:
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            self.conn.request("POST", path, json.dumps(body), self.headers)
            r = self.conn.getresponse()
            data = r.read()
            if r.getheader("Connection", "").lower() == "close":
                self.close()
            return r.status, data, r.getheader("Retry-After")
        except Exception:
            self.close()
            raise

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def percentile(xs, p):
    if not xs:
        return None
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


class Tally:
    def __init__(self):
        self.lock = threading.Lock()
        self.ok, self.r429, self.r429_no_retry, self.failed = 0, 0, 0, 0
        self.latencies, self.errors = [], {}

    def record(self, status, seconds, retry_after, error=None):
        with self.lock:
            if status == 200:
                self.ok += 1
                self.latencies.append(seconds)
            elif status == 429:
                self.r429 += 1
                if not retry_after:
                    self.r429_no_retry += 1
            else:
                self.failed += 1
                key = error or f"HTTP {status}"
                self.errors[key] = self.errors.get(key, 0) + 1

    def summary(self, name, wall, rss):
        lat = self.latencies
        return {
            "phase": name,
            "requests": self.ok + self.r429 + self.failed,
            "ok": self.ok,
            "429": self.r429,
            "429_without_retry_after": self.r429_no_retry,
            "failed": self.failed,
            "errors": self.errors,
            "p50_ms": None if not lat else round(1000 * percentile(lat, 50), 1),
            "p99_ms": None if not lat else round(1000 * percentile(lat, 99), 1),
            "throughput_rps": round(self.ok / wall, 2) if wall > 0 else None,
            "wall_s": round(wall, 1),
            "rss_mb": {k: round(v / 1024, 1) for k, v in rss.items()},
        }


def one(client, targets, tally, rng):
    body = {"target_embedding": rng.choice(targets), "options": {"budget": 0}}
    t = time.perf_counter()
    try:
        status, _, retry = client.post("/generate_prompt", body)
        tally.record(status, time.perf_counter() - t, retry)
    except Exception as e:  # a dropped or refused connection is a failure
        tally.record(0, time.perf_counter() - t, None, type(e).__name__)


def watch_rss(pid, stop, peak):
    while not stop.is_set():
        peak[0] = max(peak[0], rss_kb(pid))
        stop.wait(0.2)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", required=True)
    ap.add_argument("--pid", type=int, required=True, help="the server's process id (for RSS)")
    ap.add_argument("--key", default=None)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--burst", type=int, default=200)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()

    setup = Client(args.url, args.key)
    status, data, _ = setup.post("/v1/embeddings", {"input": TEXTS})
    if status != 200:
        raise SystemExit(f"/v1/embeddings answered {status}: {data[:200]!r}")
    targets = [d["embedding"] for d in json.loads(data)["data"]]
    setup.close()
    # One warm-up request, so the first-request costs are not in the numbers.
    Client(args.url, args.key).post("/generate_prompt", {"target_embedding": targets[0]})
    results = []

    # Phase 1: sustained load.
    rss = {"before": rss_kb(args.pid)}
    tally, stop, peak = Tally(), threading.Event(), [rss["before"]]
    watcher = threading.Thread(target=watch_rss, args=(args.pid, stop, peak))
    watcher.start()
    deadline = time.monotonic() + args.seconds

    def worker(i):
        c, rng = Client(args.url, args.key), random.Random(i)
        while time.monotonic() < deadline:
            one(c, targets, tally, rng)
        c.close()

    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(args.concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    stop.set()
    watcher.join()
    rss["peak"], rss["after"] = peak[0], rss_kb(args.pid)
    results.append(tally.summary(f"{args.concurrency} concurrent for {args.seconds:g} s", wall, rss))

    # Phase 2: a burst, every client released at once.
    rss = {"before": rss_kb(args.pid)}
    tally, stop, peak = Tally(), threading.Event(), [rss["before"]]
    watcher = threading.Thread(target=watch_rss, args=(args.pid, stop, peak))
    watcher.start()
    gate = threading.Barrier(args.burst)

    def burst(i):
        c = Client(args.url, args.key)
        try:
            c.conn = http.client.HTTPConnection(c.host, c.port, timeout=600)
            c.conn.connect()
        except OSError:
            c.conn = None  # reconnects (and fails, counted) after the gate
        gate.wait()
        one(c, targets, tally, random.Random(1000 + i))
        c.close()

    t0 = time.perf_counter()
    threads = [threading.Thread(target=burst, args=(i,)) for i in range(args.burst)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    stop.set()
    watcher.join()
    time.sleep(2)
    rss["peak"], rss["after"] = peak[0], rss_kb(args.pid)
    results.append(tally.summary(f"burst of {args.burst}", wall, rss))

    for r in results:
        print(
            f"{r['phase']}: {r['requests']} requests, {r['ok']} ok, {r['429']} × 429 "
            f"({r['429_without_retry_after']} without Retry-After), {r['failed']} failed "
            f"{r['errors'] or ''}; p50 {r['p50_ms']} ms, p99 {r['p99_ms']} ms, "
            f"{r['throughput_rps']} ok/s; RSS {r['rss_mb']['before']} → peak "
            f"{r['rss_mb']['peak']} → {r['rss_mb']['after']} MB"
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    if any(r["failed"] or r["429_without_retry_after"] for r in results):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
