"""Benchmarks: side-by-side comparisons with FAISS and numpy (not part of the test run)."""
