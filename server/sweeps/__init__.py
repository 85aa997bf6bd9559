"""Sweeps run on the registry's workers before they are posted (`tycho sweep --server`)."""
