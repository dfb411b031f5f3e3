"""Benchmarks and scoring of reconstruction against ground truth (not part of the page -> score pipeline)."""
