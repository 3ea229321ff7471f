"""API latency and throughput with 10,000 endpoints, one and N ``serve`` processes on one
PostgreSQL, side by side with the code of a baseline commit (not a test).

    .venv/bin/python bench/api_latency.py [--stored 10000] [--processes 2] [--clients 100]
                                          [--requests 3000] [--list-rate 100] [--page 50]
                                          [--baseline 922e0da]

For each code (the baseline commit, checked out into a temporary git worktree, and this
checkout) the bench starts ``workerplane serve --no-controller`` from that code on a fresh
database of a local PostgreSQL (``scripts/setup.d/30-postgresql.sh``), stores ``--stored``
endpoints through the API, then measures with 1 and with ``--processes`` serve processes on the
same database (the load generator spreads its connections over their ports, as a Service does).
The codes are measured in turn (each code with 1 process, then each with N), so a change in the
machine's load between runs biases neither:

* ``get``: one stored endpoint by name, closed loop (``--clients`` connections, each sending
  its next request as soon as the answer arrives): the throughput a process sustains;
* ``list``: one page of ``--page`` endpoints at a random place in the table, closed loop. The
  baseline can only ask ``?limit=&offset=`` (a count and an OFFSET scan per request); this code
  asks ``?page_size=&page_token=`` (keyset, no count);
* ``list@R``: the same lists open loop at ``--list-rate`` requests/s in total: p50 and p99
  latency at a moderate, steady rate (lateness counts in the latency).

The load generator is a minimal asyncio HTTP/1.1 client rather than httpx so that its own CPU
cost (the machine has 2 cores) does not dominate the figures. Every error (status >= 400,
dropped connection) is counted and printed.
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

from workerplane.api.pagination import encode_page_token
from workerplane.security.tokens import generate_token
from workerplane.store.localpg import start_local_postgres
from workerplane.temporal.devserver import free_port

REPO = Path(__file__).resolve().parents[1]
OPS = ("get", "list", "list@R")


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
    ports: list[int], token: str, clients: int, requests: list[tuple[str, str, bytes]], rate: float
) -> Phase:
    """Send ``requests`` from ``clients`` connections, spread round-robin over ``ports`` (as a
    Service spreads connections over its pods)."""
    phase = Phase()
    queue: asyncio.Queue[tuple[int, tuple[str, str, bytes]]] = asyncio.Queue()
    for item in enumerate(requests):
        queue.put_nowait(item)
    start = time.perf_counter()

    async def client(port: int) -> None:
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

    await asyncio.gather(*(client(ports[i % len(ports)]) for i in range(clients)))
    phase.wall_s = time.perf_counter() - start
    return phase


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))] * 1000


def start_serve(
    src: Path, db_url: str, state_dir: Path, token: str
) -> tuple[subprocess.Popen[bytes], int]:
    """``workerplane serve --no-controller`` from the sources under ``src``."""
    port = free_port()
    log = open(state_dir / f"serve-{port}.log", "ab")  # noqa: SIM115 - the process owns it
    process = subprocess.Popen(
        [sys.executable, "-m", "workerplane.cli.main", "serve", "--no-controller",
         "--port", str(port), "--db", db_url, "--state-dir", str(state_dir), "--token", token],
        stdout=log, stderr=subprocess.STDOUT, cwd=src.parent,
        env={**os.environ, "WORKERPLANE_TOKEN": "", "PYTHONPATH": str(src)},
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"workerplane serve exited; see {state_dir}")
        try:
            asyncio.run(Connection(port, token).request("GET", "/healthz"))
            return process, port
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise TimeoutError("workerplane serve did not start")


def stop_all(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def list_path(keyset: bool, page: int, stored: int, rng: random.Random) -> str:
    """A page at a random place: by page token (keyset) or by offset (the baseline's only way)."""
    start = rng.randrange(stored - page)
    if keyset:
        token = encode_page_token("endpoints", f"seed-{start:05d}")
        return f"/v1/endpoints?page_size={page}&page_token={token}"
    return f"/v1/endpoints?limit={page}&offset={start}"


def measure(
    ports: list[int], token: str, args: argparse.Namespace, keyset: bool
) -> dict[str, Phase]:
    rng = random.Random(7)
    n, stored = args.requests, args.stored
    gets = [("GET", f"/v1/endpoints/seed-{rng.randrange(stored):05d}", b"") for _ in range(n)]
    lists = [("GET", list_path(keyset, args.page, stored, rng), b"") for _ in range(n)]
    paced = lists[: max(100, int(args.list_rate * args.paced_s))]
    results: dict[str, Phase] = {}
    for op, reqs, rate in (
        ("get", gets, 0.0),
        ("list", lists, 0.0),
        ("list@R", paced, args.list_rate),
    ):
        # Untimed first: the first requests of a kind fill SQLAlchemy's statement cache.
        asyncio.run(run_phase(ports, token, args.clients, reqs[: args.warmup], 0))
        results[op] = asyncio.run(run_phase(ports, token, args.clients, reqs, rate))
    return results


@dataclass
class Code:
    """One code under test: its sources, its database and its running serve processes."""

    label: str
    src: Path
    keyset: bool
    db_url: str
    state: Path
    token: str = field(default_factory=generate_token)
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    ports: list[int] = field(default_factory=list)

    def grow_to(self, count: int) -> None:
        """Run ``count`` serve processes on the database."""
        while len(self.ports) < count:
            process, port = start_serve(self.src, self.db_url, self.state, self.token)
            self.processes.append(process)
            self.ports.append(port)

    def seed(self, args: argparse.Namespace) -> None:
        """Store ``--stored`` endpoints through this code's API."""
        seed = [("POST", "/v1/endpoints", body(f"seed-{i:05d}")) for i in range(args.stored)]
        seeded = asyncio.run(run_phase(self.ports, self.token, args.clients, seed, 0))
        if seeded.errors:
            print(f"{self.label}: errors while storing endpoints: {seeded.errors}", file=sys.stderr)


def run_codes(
    codes: list[Code], args: argparse.Namespace
) -> dict[str, dict[int, dict[str, Phase]]]:
    """Seed each code's database, then measure the codes in turn with 1, then N processes (in
    turn, so that a change in the machine's load between runs biases no code more than another)."""
    table: dict[str, dict[int, dict[str, Phase]]] = {code.label: {} for code in codes}
    try:
        for code in codes:
            code.state.mkdir()
            code.grow_to(1)
            code.seed(args)
        for count in sorted({1, args.processes}):
            for code in codes:
                code.grow_to(count)
                table[code.label][count] = measure(code.ports, code.token, args, code.keyset)
        return table
    finally:
        for code in codes:
            stop_all(code.processes)


def baseline_checkout(commit: str, tmp: Path) -> Path:
    """The baseline's sources, from a temporary git worktree (removed at the end)."""
    path = tmp / "baseline"
    subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(path), commit],
                   check=True, capture_output=True)  # fmt: skip
    return path / "src"


def print_table(table: dict[str, dict[int, dict[str, Phase]]], args: argparse.Namespace) -> None:
    print(
        f"{args.stored} endpoints on PostgreSQL; {args.clients} connections; list page "
        f"{args.page}; get/list closed loop, list@R open loop at {args.list_rate:g} req/s; "
        "latency in ms, throughput in req/s"
    )
    print(f"{'code':10} {'procs':>5} {'op':7} {'p50':>8} {'p99':>8} {'req/s':>8} {'n':>6}")
    for label, by_procs in table.items():
        for procs, phases in by_procs.items():
            for op in OPS:
                ph = phases[op]
                rps = len(ph.latencies) / ph.wall_s if ph.wall_s else 0.0
                p50, p99 = pct(ph.latencies, 50), pct(ph.latencies, 99)
                print(
                    f"{label:10} {procs:5d} {op:7} {p50:8.1f} {p99:8.1f} {rps:8.0f} "
                    f"{len(ph.latencies):6d}"
                )
                if ph.errors:
                    print(f"  ERRORS {label} x{procs} {op}: {ph.errors}")
    if len(table) == 2:
        base, new = table.values()
        print("ratios (this code / baseline): throughput for get and list, p99 for list@R")
        for procs in sorted(set(base) & set(new)):
            cells = []
            for op in OPS:
                b, n = base[procs][op], new[procs][op]
                if op == "list@R":
                    ratio = pct(n.latencies, 99) / pct(b.latencies, 99)
                else:
                    ratio = (len(n.latencies) / n.wall_s) / (len(b.latencies) / b.wall_s)
                cells.append(f"{op} x{ratio:.2f}")
            print(f"  {procs} process(es): " + ", ".join(cells))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stored", type=int, default=10_000)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--requests", type=int, default=3000, help="per closed-loop phase")
    parser.add_argument("--list-rate", type=float, default=100.0)
    parser.add_argument("--paced-s", type=float, default=20.0, help="length of list@R")
    parser.add_argument("--page", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=200, help="untimed requests first")
    parser.add_argument("--baseline", default="922e0da", help="commit to compare with ('' none)")
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    tmp = Path(tempfile.mkdtemp(prefix="wp-bench-"))
    pg = start_local_postgres()
    try:
        codes = [Code("this", REPO / "src", True, pg.create_database(), tmp / "this")]
        if args.baseline:
            base = baseline_checkout(args.baseline, tmp)
            label = args.baseline
            codes.insert(0, Code(label, base, False, pg.create_database(), tmp / label))
        table = run_codes(codes, args)
    finally:
        pg.stop()
        if args.baseline:
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force",
                            str(tmp / "baseline")], capture_output=True)  # fmt: skip
    # Other work on the machine shows up in the tails: say how busy it was.
    print(
        f"machine: {os.cpu_count()} CPUs, load average {load_before:.1f} before, "
        f"{os.getloadavg()[0]:.1f} after"
    )
    print_table(table, args)
    sys.stdout.flush()
    shutil.rmtree(tmp, ignore_errors=True)
    os._exit(0)


if __name__ == "__main__":
    main()
