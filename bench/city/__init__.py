"""Benchmarks of the reference city endpoint."""
