"""Evaluation: reading layouts back into the categories the benchmarks score."""
