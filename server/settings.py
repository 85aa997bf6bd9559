"""Server settings: one pydantic-settings object, every field from a TYCHO_ variable."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import platformdirs
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("tycho", appauthor=False))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TYCHO_", extra="ignore")

    # Empty means: a SQLite file `tycho.db` in data_dir (created and migrated on start).
    database_url: str = ""
    data_dir: Path = default_data_dir()
    # Anyone may register with POST /users; turn off on a closed registry.
    open_registration: bool = True
    # A request body larger than this is refused with 413. 20 series of 5,000
    # points are ~4 MB of JSON; 32 MB leaves room for long sweeps.
    max_body_bytes: int = 32 * 1024 * 1024
    # The limit of a worker's result (POST /jobs/{id}/complete), which holds a run of
    # every seed: 0 means (verify_seeds + 1) x max_body_bytes. Gzip-compressed bodies
    # (Content-Encoding: gzip, as workers send them) count decompressed.
    max_result_bytes: int = 0
    # Fresh seeds a worker runs besides the original one (docs/design.md, "Verification").
    verify_seeds: int = 4
    # Runs a worker spends verifying a sweep: this many cells, spread over the grid,
    # each re-run on one fresh seed (docs/sweeps.md).
    sweep_verify_runs: int = 6
    # Whether workers run submitted source at all (it always runs sandboxed).
    # On by default for a local `tycho serve`; a public registry may turn it off,
    # and such observations get the verdict `unverifiable`.
    verify_submitted_code: bool = True
    # A worker must heartbeat within this many seconds or its job is requeued.
    lease_seconds: int = 120
    # A job that failed or lost its lease this many times gets verdict `error`.
    max_attempts: int = 3
    # The public base URL, used in citations and feeds.
    public_url: str = "http://127.0.0.1:8000"
    # A worker token agreed in advance (docker-compose gives the same secret to
    # the server and its workers); registered, hashed, at start. Empty: none.
    worker_token: str = ""
    # Whether `tycho serve` fills an empty registry with the canonical
    # observation of each built-in phenomenon (server/canonical/*.json).
    seed_canonical: bool = True
    # How long a request waits for a database connection or, on SQLite, for its turn
    # to write, before it is answered 503 with Retry-After (seconds).
    db_wait_seconds: float = 30.0
    # Items per page of lists, at most.
    max_page_size: int = 200
    # The longest text a person may write, in characters: an observation's notes
    # (Markdown), a comment, a submitted recipe's source. Each is rendered to HTML
    # once, when written; the worst input under these caps renders in about a second.
    max_notes_chars: int = 20_000
    max_comment_chars: int = 20_000
    max_source_chars: int = 100_000

    def result_body_limit(self) -> int:
        return self.max_result_bytes or (self.verify_seeds + 1) * self.max_body_bytes

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'tycho.db'}"


@lru_cache
def get_settings() -> Settings:
    return Settings()
