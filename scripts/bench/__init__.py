"""What the benchmarks share: their own stack (``common``), the scoring world and load generator,
the echo job (the floor), the decoder prototypes. The entry points are ``scripts/bench_*.py``."""
