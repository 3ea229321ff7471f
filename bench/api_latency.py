"""API latency benchmark (not a test): p50/p99 of create, get and list at 100 concurrent clients
with 1,000 endpoints stored, SQLite and PostgreSQL side by side.

    .venv/bin/python bench/api_latency.py [--clients 100] [--stored 1000] [--requests 3000]
                                          [--rate 0] [--list-limit 50]

For each backend the bench starts the real service, ``workerplane serve --no-controller`` (one
process, as users run it), in a subprocess on loopback: SQLite in a fresh file, PostgreSQL in a
fresh database of a local PostgreSQL 15 (``scripts/setup.d/30-postgresql.sh``). It stores
``--stored`` endpoints, then runs three timed phases, one operation each: ``get`` (one stored
endpoint by name), ``list`` (one page of ``--list-limit`` at a random offset), then ``create``
(new endpoints, from ``--stored`` upwards).

Load: ``--clients`` clients, each with its own keep-alive HTTP/1.1 connection.

* ``--rate 0`` (default), closed loop: every client sends its next request the moment the
  previous answer arrives, i.e. 100 requests are in flight at every instant. This is the
  server's saturation point; by Little's law latency = clients / throughput there.
* ``--rate R`` (requests/s in total), open loop: requests are sent on a fixed schedule spread
  over the clients (a client whose previous request is still running waits; the wait counts
  in the latency, so slow answers are not hidden).

The load generator is a minimal asyncio HTTP/1.1 client rather than httpx so that its own CPU
cost (the machine has 2 cores) does not dominate the figures. Every error (status >= 400,
dropped connection) is counted and printed; a dropped connection is reported, not retried.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from workerplane.security.tokens import generate_token
from workerplane.store.localpg import start_local_postgres
from workerplane.temporal.devserver import free_port

REPO = Path(__file__).resolve().parents[1]


def body(name: str) -> bytes:
    doc = {
        "name": name, "endpoint_type": "temporal", "temporal_task_queue": f"{name}-q",
        "command": ["python", "-m", "examples.worker"], "min_workers": 0, "max_workers": 3,
        "labels": {"team": "bench"},
    }  # fmt: skip
    return json.dumps(doc).encode()


@dataclass
class Phase:
    latencies: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    wall_s: float = 0.0

    def error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1


class Connection:
    """One keep-alive HTTP/1.1 connection (the bench's own client; answers have Content-Length)."""

    def __init__(self, port: int, token: str) -> None:
        self.port = port
        self.auth = f"Authorization: Bearer {token}\r\n".encode()
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, payload: bytes = b"") -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        assert self.reader is not None
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(payload)}\r\n"
        ).encode()
        self.writer.write(head + self.auth + b"\r\n" + payload)
        try:
            raw = await self.reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            self.close()
            raise
        lines = raw.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        length = 0
        closing = False
        for line in lines[1:]:
            key, _, value = line.partition(":")
            key = key.strip().lower()
            if key == "content-length":
                length = int(value)
            elif key == "connection" and value.strip().lower() == "close":
                closing = True
        if length:
            await self.reader.readexactly(length)
        if closing:
            self.close()
        return status

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def run_phase(
    port: int, token: str, clients: int, requests: list[tuple[str, str, bytes]], rate: float
) -> Phase:
    phase = Phase()
    queue: asyncio.Queue[tuple[int, tuple[str, str, bytes]]] = asyncio.Queue()
    for item in enumerate(requests):
        queue.put_nowait(item)
    start = time.perf_counter()

    async def client() -> None:
        conn = Connection(port, token)
        while True:
            try:
                index, (method, path, payload) = queue.get_nowait()
            except asyncio.QueueEmpty:
                break
            sent = time.perf_counter()
            if rate > 0:
                # Open loop: the request is due at its slot; lateness counts in its latency.
                due = start + index / rate
                if due > sent:
                    await asyncio.sleep(due - sent)
                sent = due
            try:
                status = await conn.request(method, path, payload)
            except (asyncio.IncompleteReadError, ConnectionError) as err:
                phase.error(f"connection dropped ({type(err).__name__})")
                continue
            phase.latencies.append(time.perf_counter() - sent)
            if status >= 400:
                phase.error(f"HTTP {status}")
        conn.close()

    await asyncio.gather(*(client() for _ in range(clients)))
    phase.wall_s = time.perf_counter() - start
    return phase


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))] * 1000


def start_serve(db_url: str, state_dir: Path, token: str) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    log = open(state_dir / "serve.log", "ab")  # noqa: SIM115 - the process owns it
    process = subprocess.Popen(
        [sys.executable, "-m", "workerplane.cli.main", "serve", "--no-controller",
         "--port", str(port), "--db", db_url, "--state-dir", str(state_dir), "--token", token],
        stdout=log, stderr=subprocess.STDOUT, cwd=REPO,
        env={**os.environ, "WORKERPLANE_TOKEN": ""},
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"workerplane serve exited; see {state_dir / 'serve.log'}")
        try:
            asyncio.run(Connection(port, token).request("GET", "/healthz"))
            return process, port
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise TimeoutError("workerplane serve did not start")


def run_backend(
    label: str, db_url: str, args: argparse.Namespace, state_dir: Path
) -> dict[str, Phase]:
    token = generate_token()
    process, port = start_serve(db_url, state_dir, token)
    rng = random.Random(7)
    try:
        seed = [("POST", "/v1/endpoints", body(f"seed-{i:05d}")) for i in range(args.stored)]
        seeded = asyncio.run(run_phase(port, token, args.clients, seed, 0))
        if seeded.errors:
            print(f"{label}: errors while storing endpoints: {seeded.errors}", file=sys.stderr)
        n = args.requests
        creates = [("POST", "/v1/endpoints", body(f"new-{i:05d}")) for i in range(n // 3)]
        gets = [
            ("GET", f"/v1/endpoints/seed-{rng.randrange(args.stored):05d}", b"") for _ in range(n)
        ]
        lim = args.list_limit
        lists = [
            ("GET", f"/v1/endpoints?limit={lim}&offset={rng.randrange(args.stored - lim)}", b"")
            for _ in range(n)
        ]
        results = {}
        # get and list first, so they run with exactly --stored endpoints; create last.
        for op, reqs in (("get", gets), ("list", lists), ("create", creates)):
            if op != "create" and args.warmup:
                # Untimed: the first requests of a kind fill SQLAlchemy's statement cache.
                asyncio.run(run_phase(port, token, args.clients, reqs[: args.warmup], 0))
            results[op] = asyncio.run(run_phase(port, token, args.clients, reqs, args.rate))
        return results
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--stored", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=3000, help="per get/list phase")
    parser.add_argument("--rate", type=float, default=0.0, help="0: closed loop; else req/s")
    parser.add_argument("--list-limit", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=200, help="untimed gets/lists first")
    parser.add_argument("--only", choices=("sqlite", "postgresql"), default=None)
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    tmp = Path(tempfile.mkdtemp(prefix="wp-bench-"))
    table: dict[str, dict[str, Phase]] = {}
    pg = start_local_postgres() if args.only != "sqlite" else None
    try:
        backends = [("sqlite", f"sqlite:///{tmp / 'bench.db'}")]
        if pg is not None:
            backends.append(("postgresql", pg.create_database()))
        for label, url in backends:
            if args.only and label != args.only:
                continue
            state = tmp / label
            state.mkdir()
            table[label] = run_backend(label, url, args, state)
    finally:
        if pg is not None:
            pg.stop()
    mode = f"open loop at {args.rate:g} req/s" if args.rate else "closed loop"
    # Other work on the machine shows up in the tails: say how busy it was.
    print(
        f"machine: {os.cpu_count()} CPUs, load average {load_before:.1f} before, "
        f"{os.getloadavg()[0]:.1f} after"
    )
    print(
        f"{args.clients} concurrent clients ({mode}), {args.stored} endpoints stored, "
        f"list page {args.list_limit}; latency in ms"
    )
    labels = list(table)
    header = f"{'op':7}" + "".join(
        f" {lab[:6] + ' p50':>11} {lab[:6] + ' p99':>11} {lab[:6] + ' rps':>11}" for lab in labels
    )
    print(header + "      n")
    for op in ("create", "get", "list"):
        cells = []
        for lab in labels:
            ph = table[lab][op]
            rps = len(ph.latencies) / ph.wall_s if ph.wall_s else 0.0
            p50, p99 = pct(ph.latencies, 50), pct(ph.latencies, 99)
            cells.append(f" {p50:11.1f} {p99:11.1f} {rps:11.0f}")
        count = len(table[labels[0]][op].latencies) if labels else 0
        print(f"{op:7}" + "".join(cells) + f"  {count:5d}")
    for lab in labels:
        for op, ph in table[lab].items():
            if ph.errors:
                print(f"ERRORS {lab} {op}: {ph.errors}")
    sys.stdout.flush()
    shutil.rmtree(tmp, ignore_errors=True)
    os._exit(0)


if __name__ == "__main__":
    main()
