"""udaflow benchmarks: ``python -m bench [case ...] [--quick]``; see ``bench/run.py``."""
