"""Pronto."""
