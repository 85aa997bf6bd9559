"""Citing an observation version, alone or as a chain with joint credit."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query, Response
from fastapi.responses import PlainTextResponse

from server.citations.formats import FORMATS, check_format, render_citation
from server.citations.works import cite_chain, cite_version
from server.community.graph import MAX_DEPTH
from server.deps import SessionDep, SettingsDep
from server.observations.queries import find_version

router = APIRouter(tags=["community"])


@router.get(
    "/observations/{ref}/cite",
    response_model=str,
    response_class=PlainTextResponse,
    responses={200: {"description": "the citation as text, in the format asked for",
                     "content": {media_type: {"schema": {"type": "string"}}
                                 for media_type, _, _ in FORMATS.values()}}},
)
def cite(
    ref: str,
    session: SessionDep,
    settings: SettingsDep,
    format: Annotated[str, Query(description=", ".join(FORMATS))] = "bibtex",
    chain: Annotated[bool, Query(description="cite it with everything linked to it")] = False,
    depth: Annotated[int, Query(description=f"for a chain: links to follow, 1 to {MAX_DEPTH}")] = 2,
) -> Response:
    """Cite a version (BibTeX, CSL-JSON or CITATION.cff), alone or as a chain with joint credit."""
    check_format(format)
    _, version = find_version(session=session, ref=ref)
    cited_on = datetime.now(UTC).date()
    if chain:
        citation = cite_chain(session=session, version=version, depth=depth,
                              public_url=settings.public_url, cited_on=cited_on)
    else:
        citation = cite_version(session=session, version=version,
                                public_url=settings.public_url, cited_on=cited_on)
    text, media_type, filename = render_citation(citation, format)
    return Response(text, media_type=media_type,
                    headers={"Content-Disposition": f'inline; filename="{filename}"'})
