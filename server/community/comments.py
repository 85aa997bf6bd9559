"""Comments on observations: threaded by reply, edited with history, deleted as tombstones."""

from __future__ import annotations

from dataclasses import dataclass

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
from server.settings import Settings
from server.users.accounts import users_by_id
from server.web.markup import render_markdown

# Replies nest at most this many levels below a top-level comment. A reply to a
# comment this deep is placed beside it (under the same parent), where the thread
# can still show it indented: nothing is refused and nothing is lost, and no chain
# of replies can make a thread too deep to draw (issue 11).
MAX_REPLY_DEPTH = 8


def _check_length(body: str, settings: Settings) -> None:
    if len(body) > settings.max_comment_chars:
        raise invalid(f"body: {len(body):,} characters; the limit is "
                      f"{settings.max_comment_chars:,} (TYCHO_MAX_COMMENT_CHARS)",
                      errors=[{"location": "body", "message": "too long"}])


def create_comment(
    *, session: Session, observation: Observation, version: ObservationVersion, author: User,
    body: CommentCreate, settings: Settings,
) -> Comment:
    _check_length(body.body, settings)
    parent_id = body.parent
    if parent_id is not None:
        parent = session.get(Comment, parent_id)
        if parent is None or parent.observation_id != observation.id:
            raise invalid(
                f"parent: there is no comment {body.parent} on {format_ref(observation.id)}"
            )
        parent_id = _reply_parent(session=session, observation=observation, parent=parent)
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
    body_html = str(render_markdown(body.body))
    comment = Comment(observation_id=observation.id, version=version.version, author_id=author.id,
                      parent_id=parent_id, body=body.body, body_html=body_html,
                      series=body.series, x=body.x)
    session.add(comment)
    session.flush()
    return comment


def _reply_parent(*, session: Session, observation: Observation, parent: Comment) -> int:
    """The comment a reply to `parent` hangs under: `parent`, or, when `parent` is
    MAX_REPLY_DEPTH deep already, its ancestor one level up (so the reply sits beside it).
    Reads the thread's (id, parent) pairs once; walks them without recursion."""
    parents = dict(session.exec(
        select(Comment.id, Comment.parent_id).where(Comment.observation_id == observation.id)
    ).all())
    chain = [parent.id]  # parent, its parent, ..., the top-level comment
    while parents.get(chain[-1]) is not None and len(chain) <= len(parents):
        chain.append(parents[chain[-1]])
    if len(chain) <= MAX_REPLY_DEPTH:
        return parent.id
    return chain[len(chain) - MAX_REPLY_DEPTH]


def find_comment(*, session: Session, comment_id: int) -> Comment:
    comment = session.get(Comment, comment_id)
    if comment is None:
        raise not_found("Comment", f"there is no comment {comment_id}")
    return comment


def edit_comment(*, session: Session, comment: Comment, user: User, body: str,
                 settings: Settings) -> Comment:
    """Change a comment's body (its author only); the earlier body goes to the history."""
    if comment.author_id != user.id:
        raise Problem(403, "Not allowed", "only a comment's author may edit it")
    if comment.deleted_at is not None:
        raise Problem(409, "Deleted", "this comment was deleted")
    _check_length(body, settings)
    body_html = str(render_markdown(body))  # before the first write, which takes SQLite's lock
    # The earlier body, dated when it was written.
    session.add(CommentRevision(comment_id=comment.id, body=comment.body,
                                created_at=comment.edited_at or comment.created_at))
    comment.body = body
    comment.body_html = body_html
    comment.edited_at = utcnow()
    session.add(comment)
    return comment


def delete_comment(*, session: Session, comment: Comment, user: User) -> Comment:
    """Leave a tombstone in the thread (author or admin); replies stay."""
    if comment.author_id != user.id and not user.is_admin:
        raise Problem(403, "Not allowed", "only a comment's author or an admin may delete it")
    comment.deleted_at = utcnow()
    comment.body = ""
    comment.body_html = ""
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
        body_html="" if deleted else comment.body_html,
        deleted=deleted,
        parent=comment.parent_id,
        replies=[],
    )


def comment_thread(*, session: Session, observation: Observation) -> list[CommentPublic]:
    """Comments as a tree (replies nested), oldest first, at most MAX_REPLY_DEPTH replies
    deep: a deeper one (stored before the limit) is shown beside its parent, as a new
    reply to it would be placed. Built in one pass, without recursion."""
    rows = session.exec(
        select(Comment).where(Comment.observation_id == observation.id).order_by(Comment.id)
    ).all()
    authors = users_by_id(session=session, ids={c.author_id for c in rows})
    nodes = {c.id: comment_public(c, authors) for c in rows}
    depth: dict[int, int] = {}
    shown_under: dict[int, int | None] = {}  # the node each one is nested in
    roots = []
    for comment in rows:  # by id: a parent comes before its replies
        node = nodes[comment.id]
        parent = comment.parent_id if comment.parent_id in nodes else None
        if parent is not None and depth[parent] >= MAX_REPLY_DEPTH:
            parent = shown_under[parent]
        shown_under[comment.id] = parent
        depth[comment.id] = 0 if parent is None else depth[parent] + 1
        if parent is None:
            roots.append(node)
        else:
            nodes[parent].replies.append(node)
    return roots


@dataclass(frozen=True)
class ThreadRow:
    """One comment of a thread drawn as a flat list: how deep it is, whether a list of
    replies opens after it, and how many enclosing lists close after it."""

    node: CommentPublic
    depth: int
    opens: bool
    closes: int


def thread_rows(roots: list[CommentPublic]) -> list[ThreadRow]:
    """The thread in reading order (each comment, then its replies), for a template to
    draw with a loop rather than a recursive macro."""
    order: list[tuple[CommentPublic, int]] = []
    stack = [(node, 0) for node in reversed(roots)]
    while stack:
        node, depth = stack.pop()
        order.append((node, depth))
        stack.extend((reply, depth + 1) for reply in reversed(node.replies))
    rows = []
    for i, (node, depth) in enumerate(order):
        after = order[i + 1][1] if i + 1 < len(order) else 0
        rows.append(ThreadRow(node=node, depth=depth, opens=bool(node.replies),
                              closes=0 if node.replies else depth - after))
    return rows


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
