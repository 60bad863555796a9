"""Benchmarks of the running system: Lambda latency, the stack end to end, the test suite.

``tapstack bench lambda``, ``tapstack bench stack`` and ``tapstack bench suite`` are
registered by :mod:`tapstack.bench.cli` next to ``tapstack bench runtime``. Each prints a
table of medians (and p95 where it matters) that starts with a description of the
machine, or the same as JSON with ``--json``. Each is bounded by an overall deadline and
talks only to a LocalStack on the loopback interface.
"""
