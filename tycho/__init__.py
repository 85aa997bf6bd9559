"""Tycho, a registry for AI phenomenology: the package that puts its parts together.

`runner` (run and verify recipes, talk to a registry), `server` (the registry
itself) and `phenomena` (the built-in toy models) never import this package; it
may import all of them. `tycho.cli` is the `tycho` command. See docs/design.md.
"""
