"""The `tycho` command: the runner's commands and the registry operator's, on one app.

    run post rerun show search cite worker    runner.cli (no server code)
    serve db user                             server.cli (imports the server when run)

Every command's --help says what it does and gives an example.
"""

from __future__ import annotations

import runner.cli
import server.cli
from runner.cli_common import new_app

app = new_app()
runner.cli.register(app)
server.cli.register(app)

if __name__ == "__main__":  # pragma: no cover
    app()
