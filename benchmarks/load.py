"""Load: 16 and 64 concurrent clients reading and writing a real Tycho server, on
SQLite and on Postgres, then a read-back of every write the server acknowledged.

What is measured, per backend and per number of clients, against `tycho serve
--no-worker` started as a subprocess on a fresh, migrated database (one uvicorn
process, as `tycho serve` runs it):

- N client threads (`--clients`, default 16 and 64), each with its own HTTP
  connection and its own author's token, for `--seconds` (default 20). Each
  request is a write with probability `--writes` (default 0.5): POST
  /observations of a small realistic observation (3 series of 40 points, as
  benchmarks/api.py writes them); otherwise a read: alternately a page of the
  list (GET /observations?limit=50) and the record of an observation this
  client posted (GET /observations/T-n).
- A 503 is the server saying "busy, nothing stored, retry after Retry-After
  seconds" (issue 11, item 8): the client waits as told and sends the same
  request again, as tycho's own client would; each 503 is counted. Any other
  status that is not 2xx is an error, counted by status; a 5xx is a server
  error. A request that fails in transport (no answer) is counted as "no
  answer": its write may or may not have been stored, so it is not counted lost.
- Afterwards, every acknowledged write (201 with its reference) is read back:
  GET /observations/T-n must answer 200 with the title that was posted. One that
  does not is lost.

Target (issue 11): 0 server errors and 0 lost writes at 64 clients on both
backends. The machine's load average is printed with the figures: on a busy
machine throughput falls (processes wait for a CPU), errors must not appear.

Run (Postgres is skipped with a note unless a URL is given; the benchmark
DROPS AND RECREATES that database, so never point it at the test database):

    su postgres -c "createdb -O tycho tycho_bench"     # once
    python -m benchmarks.load \\
        --postgres-url postgresql://tycho:tycho@127.0.0.1:5432/tycho_bench

or set TYCHO_BENCH_POSTGRES_URL. Takes about 4 x (--seconds + 20 s); the
servers and temporary files are removed at the end.
"""

from __future__ import annotations

import random
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from benchmarks import _support as bench
from benchmarks.api import small_body

CLIENTS = (16, 64)
COLUMNS = ["db", "clients", "requests", "writes ok", "reads ok", "503 (retried)",
           "errors by status", "server errors", "no answer", "lost writes", "obs/s", "reads/s",
           "p50 ms", "p90 ms"]
EXPLANATION = """
requests: answered requests (a retried 503 counts once per answer); writes ok: 201s, each
read back afterwards; 503 (retried): "busy" answers, each followed by the same request after
Retry-After; errors by status: answers that are neither 2xx nor 503; server errors: the 5xx
among them besides 503; no answer: transport failures; lost writes: acknowledged writes that
did not read back with their title; obs/s and reads/s: successful writes and reads per second
of the run; p50/p90: round trips of all answered requests."""


@dataclass
class Tally:
    """What one client saw; merged after the run."""

    statuses: Counter = field(default_factory=Counter)
    busy: int = 0
    no_answer: int = 0
    writes: list[tuple[str, str]] = field(default_factory=list)  # (ref, title)
    reads: int = 0
    seconds: list[float] = field(default_factory=list)

    def merge(self, other: "Tally") -> None:
        self.statuses.update(other.statuses)
        self.busy += other.busy
        self.no_answer += other.no_answer
        self.writes += other.writes
        self.reads += other.reads
        self.seconds += other.seconds


def _send(http: httpx.Client, tally: Tally, method: str, url: str, stop_at: float,
          **kwargs) -> httpx.Response | None:
    """One request, sent again after each 503's Retry-After while the run lasts."""
    while True:
        start = time.perf_counter()
        try:
            response = http.request(method, url, **kwargs)
        except httpx.TransportError:
            tally.no_answer += 1
            return None
        tally.seconds.append(time.perf_counter() - start)
        if response.status_code != 503:
            tally.statuses[response.status_code] += 1
            return response
        tally.busy += 1
        wait = float(response.headers.get("retry-after", "1"))
        if time.monotonic() + wait > stop_at:
            return None
        time.sleep(wait)


def client_loop(api: str, token: str, seed: int, writes: float, stop_at: float,
                start: threading.Event, tally: Tally) -> None:
    rng = random.Random(seed)
    mine: list[str] = []
    read_list = True
    with httpx.Client(base_url=api, timeout=120,
                      headers={"Authorization": f"Bearer {token}"}) as http:
        start.wait()
        n = 0
        while time.monotonic() < stop_at:
            if rng.random() < writes or not mine:
                body, _ = small_body(rng, seed * 1_000_000 + n)
                n += 1
                response = _send(http, tally, "POST", "/observations", stop_at, json=body)
                if response is not None and response.status_code == 201:
                    ref = response.json()["id"]
                    mine.append(ref)
                    tally.writes.append((ref, body["title"]))
            else:
                url = "/observations?limit=50" if read_list else f"/observations/{rng.choice(mine)}"
                read_list = not read_list
                response = _send(http, tally, "GET", url, stop_at)
                if response is not None and response.status_code == 200:
                    tally.reads += 1


def read_back(api: str, writes: list[tuple[str, str]]) -> int:
    """How many acknowledged writes do not read back with their title."""
    lost = 0
    with httpx.Client(base_url=api, timeout=120) as http:
        for ref, title in writes:
            for _ in range(5):
                try:
                    response = http.get(f"/observations/{ref}")
                except httpx.TransportError:
                    time.sleep(1)
                    continue
                if response.status_code != 503:
                    break
                time.sleep(float(response.headers.get("retry-after", "1")))
            else:
                lost += 1
                continue
            if response.status_code != 200 or response.json().get("title") != title:
                lost += 1
    return lost


def run_once(label: str, make_db, workdir: Path, clients: int, seconds: float,
             writes: float) -> list[object]:
    database_url = make_db()
    from server.users.accounts import create_user_with_token

    tokens = [create_user_with_token(database_url, handle=f"load{i}") for i in range(clients)]
    with bench.live_server(database_url, workdir, label=f"{label}-{clients}-server") as server:
        bench.note(f"{label}, {clients} clients: server {server.url}; {bench.load_line()}")
        start = threading.Event()
        tallies = [Tally() for _ in range(clients)]
        began = time.monotonic()
        stop_at = began + seconds
        threads = [threading.Thread(target=client_loop, daemon=True, args=(
            server.api, tokens[i], i + 1, writes, stop_at, start, tallies[i]))
            for i in range(clients)]
        for thread in threads:
            thread.start()
        start.set()
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - began
        total = Tally()
        for tally in tallies:
            total.merge(tally)
        lost = read_back(server.api, total.writes)
    errors = {status: n for status, n in total.statuses.items() if not 200 <= status < 300}
    server_errors = sum(n for status, n in errors.items() if status >= 500)
    seconds_sorted = total.seconds or [0.0]
    return [label, clients, sum(total.statuses.values()) + total.busy, len(total.writes),
            total.reads, total.busy,
            " ".join(f"{s}:{n}" for s, n in sorted(errors.items())) or "none", server_errors,
            total.no_answer, lost, f"{len(total.writes) / elapsed:.1f}",
            f"{total.reads / elapsed:.1f}", f"{bench.median_ms(seconds_sorted):.0f}",
            f"{bench.p90_ms(seconds_sorted):.0f}"]


def main(argv: list[str] | None = None) -> int:
    parser = bench.database_arguments(
        "Load: concurrent clients reading and writing a real Tycho server on SQLite and "
        "Postgres, then a read-back of every acknowledged write.",
        server_dir_help="unused by this benchmark")
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--clients", type=int, nargs="+", default=list(CLIENTS),
                        help="numbers of concurrent clients (default 16 64)")
    parser.add_argument("--seconds", type=float, default=20.0,
                        help="how long each run lasts (default 20)")
    parser.add_argument("--writes", type=float, default=0.5,
                        help="the share of requests that are writes (default 0.5)")
    args = parser.parse_args(argv)

    pg_url = bench.begin("Tycho load benchmark", args, args.backend in ("postgres", "both"))
    rows: list[list[object]] = []
    with tempfile.TemporaryDirectory(prefix="tycho-bench-load-", ignore_cleanup_errors=True) as tmp:
        for label, make_db in bench.backends(pg_url, args.force, Path(tmp)):
            if args.backend not in (label, "both"):
                continue
            for clients in args.clients:
                rows.append(run_once(label, make_db, Path(tmp), clients, args.seconds,
                                     args.writes))
    bench.results(f"load: {args.seconds:.0f} s per run, {args.writes:.0%} writes; then every "
                  "acknowledged write read back", COLUMNS, rows, EXPLANATION)
    targets = all(row[7] == 0 and row[9] == 0 for row in rows)
    print(f"\ntarget: 0 server errors and 0 lost writes in every run: "
          f"{'ok' if targets else 'MISS'}")
    return bench.done()


if __name__ == "__main__":
    sys.exit(main())
