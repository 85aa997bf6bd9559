"""What a fresh registry holds: the phenomena, and (under `tycho serve`) the
canonical observation of every built-in, queued for verification."""

from __future__ import annotations

import json

from phenomena.sweeps import BUILTIN_SWEEPS
from runner.spec import BUILTIN_RECIPES
from server.db import session_for
from server.initial_data import CANONICAL_DIR, seed_canonical


def test_there_is_a_canonical_observation_for_every_builtin_and_builtin_sweep():
    bodies = [json.loads(path.read_text()) for path in sorted(CANONICAL_DIR.glob("*.json"))]
    recipes = [body["recipe"]["builtin"] for body in bodies if "sweep" not in body]
    assert recipes == list(BUILTIN_RECIPES)
    sweeps = [body["title"] for body in bodies if "sweep" in body]
    assert sorted(sweeps) == sorted(preset["title"] for preset in BUILTIN_SWEEPS.values())


def test_seeding_posts_them_once_and_queues_their_verification(client, settings):
    with session_for(settings.resolved_database_url()) as session:
        created = seed_canonical(session=session, settings=settings)
    with session_for(settings.resolved_database_url()) as session:
        assert seed_canonical(session=session, settings=settings) == []  # not twice
    assert len(created) == len(list(CANONICAL_DIR.glob("*.json")))
    for ref in created:
        record = client.get(f"/api/v1/observations/{ref}").json()
        assert record["author"]["handle"] == "tycho" and "canonical" in record["tags"]
        assert record["verification"]["status"] == "queued"
        assert record["phenomena"] == [record["recipe"]["builtin"]]
