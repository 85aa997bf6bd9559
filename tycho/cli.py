"""The `tycho` command: the runner's commands and the registry operator's, on one app.

    run post rerun show search cite worker    runner.cli (no server code)
    serve db user                             server.cli (imports the server when run)

Every command's --help says what it does and gives an example.
"""

from __future__ import annotations

import sys


def _warm_up(argv: list[str]) -> None:
    """`tycho run` needs the fork server (torch, the phenomena): start it before anything
    else, so that its imports overlap this process's own."""
    if len(argv) < 2 or argv[1] != "run" or "--help" in argv:
        return
    threads = 1
    for i, word in enumerate(argv):
        if word == "--threads" and i + 1 < len(argv) and argv[i + 1].isdigit():
            threads = int(argv[i + 1])
        elif word.startswith("--threads=") and word[10:].isdigit():
            threads = int(word[10:])
    from runner import forkserver

    forkserver.prestart(threads)


if __name__ == "__main__" or sys.argv and sys.argv[0].endswith("tycho"):
    _warm_up(sys.argv)

import runner.cli  # noqa: E402 - after the warm-up on purpose
import server.cli  # noqa: E402
from runner.cli_common import new_app  # noqa: E402

app = new_app()
runner.cli.register(app)
server.cli.register(app)

if __name__ == "__main__":  # pragma: no cover
    app()
