"""Benchmarks of minimix_core: run them with ``python benchmarks/run.py [--quick]``.

Every figure is a ratio against a baseline measured in the same process run, so that the
numbers stay comparable across machines; absolute times are printed beside them.
"""
