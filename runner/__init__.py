"""The part of Tycho that lives on a researcher's laptop: run a recipe safely and
deterministically, check claims on the result, and talk to a registry.

`runner` never imports `server`.
"""

__version__ = "0.1.0"
