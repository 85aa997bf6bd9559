"""Citing an observation version, or a chain of linked ones, as BibTeX, CSL-JSON or CFF."""
