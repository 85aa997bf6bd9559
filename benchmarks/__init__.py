"""Benchmarks that print figures (nothing asserts on time). Run each from the repository
as a module:

    python -m benchmarks.api                  API latency over loopback (SQLite, Postgres)
    python -m benchmarks.pages                every web page at 10,000 observations
    python -m benchmarks.verification_queue   queue throughput and one verification end to end
    python -m benchmarks.phenomena            every built-in phenomenon's default run and claims
"""
