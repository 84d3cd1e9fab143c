"""Broker processes for the test suites and the bench, shared by all of them.

- `procs`: free ports, readiness probes in raw frames, CPU and RSS from /proc,
  and the rule that no broker outlives the Python process that started it.
- `runnel`: the release `runnel` binary as a child process.
- `kafka`: Apache Kafka itself (the reference broker, issue 12), from the
  jars `make kafka-ref` fetches with Maven.

compat-tests/conftest.py, differential/conftest.py and benches/bench.py
import from here; nothing here imports a Kafka client library.
"""
