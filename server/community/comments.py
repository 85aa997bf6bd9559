"""Comments on observations: threaded by reply, edited with history, deleted as tombstones."""

from __future__ import annotations

from sqlmodel import Session, select

from server.community.schemas import (
    CommentCreate,
    CommentPublic,
    CommentRevisionPublic,
    UserComment,
)
from server.errors import Problem, invalid, not_found
from server.models import (
    Comment,
    CommentRevision,
    MetricSeries,
    Observation,
    ObservationVersion,
    User,
    utcnow,
)
from server.observations.queries import author_run, format_ref
from server.users.accounts import users_by_id

MAX_COMMENT_CHARS = 20_000


def create_comment(
    *, session: Session, observation: Observation, version: ObservationVersion, author: User,
    body: CommentCreate,
) -> Comment:
    if len(body.body) > MAX_COMMENT_CHARS:
        raise invalid(f"body: {len(body.body):,} characters; the limit is {MAX_COMMENT_CHARS:,}")
    if body.parent is not None:
        parent = session.get(Comment, body.parent)
        if parent is None or parent.observation_id != observation.id:
            raise invalid(
                f"parent: there is no comment {body.parent} on {format_ref(observation.id)}"
            )
    if body.x is not None and body.series is None:
        raise invalid("x: a point on a curve needs `series` too")
    if body.series is not None:
        run = author_run(session=session, version=version)
        names = session.exec(select(MetricSeries.name).where(MetricSeries.run_id == run.id)).all()
        if body.series not in names:
            raise invalid(
                f"series: {format_ref(observation.id, version.version)} has no series "
                f"{body.series!r}; it has: {', '.join(sorted(names))}"
            )
    comment = Comment(observation_id=observation.id, version=version.version, author_id=author.id,
                      parent_id=body.parent, body=body.body, series=body.series, x=body.x)
    session.add(comment)
    session.flush()
    return comment


def find_comment(*, session: Session, comment_id: int) -> Comment:
    comment = session.get(Comment, comment_id)
    if comment is None:
        raise not_found("Comment", f"there is no comment {comment_id}")
    return comment


def edit_comment(*, session: Session, comment: Comment, user: User, body: str) -> Comment:
    """Change a comment's body (its author only); the earlier body goes to the history."""
    if comment.author_id != user.id:
        raise Problem(403, "Not allowed", "only a comment's author may edit it")
    if comment.deleted_at is not None:
        raise Problem(409, "Deleted", "this comment was deleted")
    if len(body) > MAX_COMMENT_CHARS:
        raise invalid(f"body: {len(body):,} characters; the limit is {MAX_COMMENT_CHARS:,}")
    # The earlier body, dated when it was written.
    session.add(CommentRevision(comment_id=comment.id, body=comment.body,
                                created_at=comment.edited_at or comment.created_at))
    comment.body = body
    comment.edited_at = utcnow()
    session.add(comment)
    return comment


def delete_comment(*, session: Session, comment: Comment, user: User) -> Comment:
    """Leave a tombstone in the thread (author or admin); replies stay."""
    if comment.author_id != user.id and not user.is_admin:
        raise Problem(403, "Not allowed", "only a comment's author or an admin may delete it")
    comment.deleted_at = utcnow()
    comment.body = ""
    session.add(comment)
    return comment


def comment_public(comment: Comment, authors: dict[int, User]) -> CommentPublic:
    """A comment as the API shows it (a deleted one with no author or body), no replies yet."""
    deleted = comment.deleted_at is not None
    return CommentPublic.of(
        comment,
        observation=format_ref(comment.observation_id, comment.version),
        author=None if deleted else authors[comment.author_id].handle,
        body="" if deleted else comment.body,
        deleted=deleted,
        parent=comment.parent_id,
        replies=[],
    )


def comment_thread(*, session: Session, observation: Observation) -> list[CommentPublic]:
    """Comments as a tree (replies nested), oldest first."""
    rows = session.exec(
        select(Comment).where(Comment.observation_id == observation.id).order_by(Comment.id)
    ).all()
    authors = users_by_id(session=session, ids={c.author_id for c in rows})
    nodes = {c.id: comment_public(c, authors) for c in rows}
    roots = []
    for comment in rows:
        node = nodes[comment.id]
        if comment.parent_id and comment.parent_id in nodes:
            nodes[comment.parent_id].replies.append(node)
        else:
            roots.append(node)
    return roots


def comment_revisions(*, session: Session, comment: Comment) -> list[CommentRevisionPublic]:
    """Earlier bodies of an edited comment, oldest first (none once it is deleted)."""
    if comment.deleted_at is not None:
        return []
    rows = session.exec(
        select(CommentRevision)
        .where(CommentRevision.comment_id == comment.id)
        .order_by(CommentRevision.id)
    ).all()
    author = session.get(User, comment.author_id)
    return [CommentRevisionPublic.of(row, author=author.handle) for row in rows]


def comments_by(*, session: Session, user: User, limit: int) -> list[UserComment]:
    """The user's comments (not deleted), newest first, with the observation they are on."""
    rows = session.exec(
        select(Comment, ObservationVersion.title)
        .join(Observation, Observation.id == Comment.observation_id)
        .join(ObservationVersion, ObservationVersion.id == Observation.latest_version_id)
        .where(Comment.author_id == user.id, Comment.deleted_at.is_(None))
        .order_by(Comment.id.desc())
        .limit(limit)
    ).all()
    return [UserComment.of(comment, observation=format_ref(comment.observation_id, comment.version),
                           title=title)
            for comment, title in rows]
