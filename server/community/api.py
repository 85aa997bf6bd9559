"""Links, comments and the link graph of observations."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from runner.spec import Id
from server.community.comments import (
    comment_public,
    comment_revisions,
    comment_thread,
    create_comment,
    delete_comment,
    edit_comment,
    find_comment,
)
from server.community.graph import MAX_DEPTH, find_neighbourhood, graph_public
from server.community.links import create_links, links_of, links_public
from server.community.schemas import (
    CommentCreate,
    CommentEdit,
    CommentPublic,
    CommentRevisionPublic,
    Graph,
    LinkCreate,
    LinkPublic,
    LinksOf,
)
from server.deps import CurrentUser, SessionDep, SettingsDep
from server.observations.queries import find_version

router = APIRouter(tags=["community"])

CommentId = Annotated[Id, Path(description="a comment's number")]


@router.post("/observations/{ref}/links", status_code=201, response_model=list[LinkPublic])
def post_link(ref: str, body: LinkCreate, session: SessionDep,
              user: CurrentUser) -> list[LinkPublic]:
    """Link this version to another (or several, for `unifies`), a phenomenon or a paper."""
    _, version = find_version(session=session, ref=ref)
    rows = create_links(session=session, source=version, author=user, body=body)
    session.commit()
    return links_public(session=session, links=rows)


@router.get("/observations/{ref}/links", response_model=LinksOf)
def get_links(ref: str, session: SessionDep) -> LinksOf:
    """Links out of and into the observation, each naming the versions it joins."""
    observation, _ = find_version(session=session, ref=ref)
    return links_of(session=session, observation=observation)


@router.post("/observations/{ref}/comments", status_code=201, response_model=CommentPublic)
def post_comment(ref: str, body: CommentCreate, session: SessionDep, user: CurrentUser,
                 settings: SettingsDep) -> CommentPublic:
    """Comment (Markdown) on a version; reply with `parent`; anchor on a curve: `series`, `x`."""
    observation, version = find_version(session=session, ref=ref)
    comment = create_comment(
        session=session, observation=observation, version=version, author=user, body=body,
        settings=settings,
    )
    session.commit()
    return comment_public(comment, {user.id: user})


@router.get("/observations/{ref}/comments", response_model=list[CommentPublic])
def get_comments(ref: str, session: SessionDep) -> list[CommentPublic]:
    """The comment thread, replies nested under their parents."""
    observation, _ = find_version(session=session, ref=ref)
    return comment_thread(session=session, observation=observation)


@router.patch("/comments/{comment_id}", response_model=CommentPublic)
def patch_comment(
    comment_id: CommentId, body: CommentEdit, session: SessionDep, user: CurrentUser,
    settings: SettingsDep,
) -> CommentPublic:
    """Edit your comment; the earlier text is kept in its history."""
    comment = find_comment(session=session, comment_id=comment_id)
    edit_comment(session=session, comment=comment, user=user, body=body.body, settings=settings)
    session.commit()
    return comment_public(comment, {user.id: user})


@router.delete("/comments/{comment_id}", response_model=CommentPublic)
def remove_comment(comment_id: CommentId, session: SessionDep, user: CurrentUser) -> CommentPublic:
    """Delete a comment (author or admin), leaving a tombstone in the thread."""
    comment = find_comment(session=session, comment_id=comment_id)
    delete_comment(session=session, comment=comment, user=user)
    session.commit()
    return comment_public(comment, {user.id: user})


@router.get("/comments/{comment_id}/history", response_model=list[CommentRevisionPublic])
def comment_history(comment_id: CommentId, session: SessionDep) -> list[CommentRevisionPublic]:
    """Earlier bodies of an edited comment, oldest first."""
    comment = find_comment(session=session, comment_id=comment_id)
    return comment_revisions(session=session, comment=comment)


@router.get("/observations/{ref}/graph", response_model=Graph)
def get_graph(
    ref: str,
    session: SessionDep,
    settings: SettingsDep,
    depth: Annotated[int, Query(description=f"links to follow, 1 to {MAX_DEPTH}")] = 1,
) -> Graph:
    """The observations, phenomena and papers within `depth` links, and the links between them."""
    _, version = find_version(session=session, ref=ref)
    found = find_neighbourhood(session=session, root=version, depth=depth)
    return graph_public(session=session, found=found, public_url=settings.public_url)
