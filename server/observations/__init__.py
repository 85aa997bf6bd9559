"""Observations: post and version them, store their runs and series, find, list and show them."""
