"""Readers of recorded demonstrations and generators of synthetic ones."""
