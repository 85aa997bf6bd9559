"""Phenomena: the named kinds of behaviour observations are filed under, and the home page."""
