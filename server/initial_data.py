"""What a fresh registry holds: the built-in phenomena and, under `tycho serve`, the
canonical observation of each (docs/design.md, "Domain model")."""

from __future__ import annotations

import json
from pathlib import Path

from sqlmodel import Session, select

from runner.spec import ObservationCreate
from server.models import Observation, Phenomenon
from server.settings import Settings
from server.web.markup import render_markdown

CANONICAL_DIR = Path(__file__).resolve().parent / "canonical"
CANONICAL_AUTHOR = ("tycho", "Tycho built-in phenomena")

# slug -> (name, description). Short on purpose: the docs/phenomena pages go deeper.
PHENOMENA: dict[str, tuple[str, str]] = {
    "grokking": (
        "Grokking",
        "A network fits its training set long before it generalises; test accuracy "
        "jumps to near-perfect much later, often as weight norm falls and a sparse "
        "(e.g. Fourier) algorithm forms. Power et al. 2022; Nanda et al. 2023.",
    ),
    "double-descent": (
        "Double descent",
        "Test error rises as model size approaches the number of training points "
        "(the interpolation threshold), then falls again beyond it; regularisation "
        "flattens the peak. Belkin et al. 2019; Nakkiran et al. 2019.",
    ),
    "edge-of-stability": (
        "Edge of stability",
        "Under full-batch gradient descent the sharpness (top Hessian eigenvalue) rises "
        "to about 2/lr and hovers there while the loss keeps falling, non-monotonically. "
        "Cohen et al. 2021.",
    ),
    "superposition": (
        "Superposition",
        "Networks represent more features than they have dimensions when features are "
        "sparse, arranging them in antipodal pairs and polygons. Elhage et al. 2022.",
    ),
    "neural-scaling": (
        "Neural scaling laws",
        "Loss falls as a power law in model size, data or compute; in the superposition "
        "toy, strong superposition gives loss ∝ 1/width. Kaplan et al. 2020; "
        "Liu, Liu & Gore 2025.",
    ),
    "emergence": (
        "Emergence",
        "A capability appears abruptly after a long plateau, while hidden progress "
        "accumulates; sub-tasks are learned in order of frequency. Barak et al. 2022; "
        "Michaud et al. 2023.",
    ),
    "loss-parameterization": (
        "Loss parameterization",
        "What a denoiser predicts (clean data x, noise ε, or velocity v) decides whether "
        "it can learn low-dimensional data embedded in high dimensions. Li & He 2025.",
    ),
    "feature-learning": (
        "Feature learning",
        "Networks move through distinct phases as hidden neurons turn linear, dead or "
        "nonlinear; loss plateaus near the linear fit until nonlinear features grow. "
        "Liu 2026 (Physics of AI blog).",
    ),
}


def ensure_phenomena(*, session: Session) -> int:
    """Add the built-in phenomena that are missing; returns how many were added."""
    existing = set(session.exec(select(Phenomenon.slug)).all())
    added = 0
    for slug, (name, description) in PHENOMENA.items():
        if slug not in existing:
            session.add(Phenomenon(slug=slug, name=name, description=description,
                                   description_html=str(render_markdown(description))))
            added += 1
    return added


def seed_canonical(*, session: Session, settings: Settings,
                   directory: Path = CANONICAL_DIR) -> list[str]:
    """Post the canonical observations into an empty registry and queue their verification.

    Each file in `directory` is an observation body made by
    scripts/make_canonical.py from a sandboxed run of the default config.
    Returns the ids created (none when the registry already has observations).
    """
    from server.observations.queries import format_ref
    from server.observations.store import create_observation
    from server.users.accounts import ensure_user
    from server.verification.queue import PRIORITY_BACKGROUND, enqueue_verification

    if session.exec(select(Observation.id).limit(1)).first() is not None:
        return []
    ensure_phenomena(session=session)
    author = ensure_user(session=session, handle=CANONICAL_AUTHOR[0],
                         display_name=CANONICAL_AUTHOR[1])
    created = []
    for path in sorted(directory.glob("*.json")):
        body = ObservationCreate.model_validate(json.loads(path.read_text(encoding="utf-8")))
        observation, version = create_observation(session=session, author=author, body=body,
                                                  settings=settings)
        # Background work: a person's first post goes before these.
        enqueue_verification(session=session, version=version, settings=settings,
                             priority=PRIORITY_BACKGROUND)
        created.append(format_ref(observation.id))
    return created
