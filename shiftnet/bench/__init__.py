"""Benchmarks behind ``shiftnet bench``: every speed claim of the project is measured here."""
