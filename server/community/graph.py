"""The neighbourhood of an observation in the link graph, for pages, clients and citations.

The walk runs over observations: from the root observation it follows every link
into or out of any of its versions, then from the observations found, up to
`depth` links away. Nodes are the versions the links name (`T-3v1`), plus the
version asked about; phenomena and external works are ends of the walk — going
through `grokking` would pull in every grokking observation. The edges are
exactly the links whose two ends are both in the neighbourhood, once each.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import and_, or_
from sqlmodel import Session, select

from server.community.links import normalise_external
from server.community.schemas import Graph, GraphEdge, GraphNode
from server.errors import invalid
from server.models import Link, Observation, ObservationVersion, Phenomenon, User
from server.observations.queries import format_ref
from server.users.accounts import users_by_id

# Five links away already spans a whole A-to-E chain and its replications;
# further than that a neighbourhood stops being a neighbourhood.
MAX_DEPTH = 5


@dataclass
class Neighbourhood:
    """What a walk of `depth` links from `root` found."""

    root: ObservationVersion
    depth: int
    # observation id -> links from the root observation
    distance: dict[int, int] = field(default_factory=dict)
    versions: dict[int, ObservationVersion] = field(default_factory=dict)  # by version id
    links: dict[int, Link] = field(default_factory=dict)  # by link id

    def ordered_versions(self) -> list[ObservationVersion]:
        """Nearest first, then by number and version."""
        return sorted(
            self.versions.values(),
            key=lambda v: (self.distance[v.observation_id], v.observation_id, v.version),
        )

    def ordered_links(self) -> list[Link]:
        return [self.links[i] for i in sorted(self.links)]


def check_depth(depth: int) -> int:
    if not 1 <= depth <= MAX_DEPTH:
        raise invalid(f"depth: {depth} is out of range; use 1 to {MAX_DEPTH} links")
    return depth


def find_neighbourhood(*, session: Session, root: ObservationVersion, depth: int) -> Neighbourhood:
    """Every observation version and link within `depth` links of `root`'s observation."""
    found = Neighbourhood(root=root, depth=check_depth(depth))
    found.distance[root.observation_id] = 0
    found.versions[root.id] = root
    frontier = {root.observation_id}
    for hop in range(1, depth + 1):
        if not frontier:
            break
        ids = _version_ids(session, frontier)
        rows = session.exec(
            select(Link).where(
                or_(Link.source_version_id.in_(ids), Link.target_version_id.in_(ids))
            )
        ).all()
        _take(session, found, rows)
        reached = {v.observation_id for v in found.versions.values()} - set(found.distance)
        for observation_id in reached:
            found.distance[observation_id] = hop
        frontier = reached
    # Links between two observations on the rim (both `depth` away) were not
    # seen from either end; they belong to the neighbourhood all the same.
    rim = [o for o, d in found.distance.items() if d == depth]
    if rim:
        ids = _version_ids(session, set(rim))
        rows = session.exec(
            select(Link).where(
                and_(Link.source_version_id.in_(ids), Link.target_version_id.in_(ids))
            )
        ).all()
        _take(session, found, rows)
    return found


def _version_ids(session: Session, observation_ids: set[int]) -> list[int]:
    return list(
        session.exec(
            select(ObservationVersion.id).where(
                ObservationVersion.observation_id.in_(observation_ids)
            )
        ).all()
    )


def _take(session: Session, found: Neighbourhood, rows: list[Link]) -> None:
    """Add links and the versions at their ends."""
    wanted = set()
    for link in rows:
        found.links[link.id] = link
        wanted.add(link.source_version_id)
        if link.target_version_id is not None:
            wanted.add(link.target_version_id)
    wanted -= set(found.versions)
    if wanted:
        for version in session.exec(
            select(ObservationVersion).where(ObservationVersion.id.in_(wanted))
        ).all():
            found.versions[version.id] = version


def link_target_id(link: Link, refs: dict[int, str], phenomena: dict[int, Phenomenon]) -> str:
    """The node id of a link's target."""
    if link.target_version_id is not None:
        return refs[link.target_version_id]
    if link.target_phenomenon_id is not None:
        return f"phenomenon:{phenomena[link.target_phenomenon_id].slug}"
    return link.target_external


def graph_public(*, session: Session, found: Neighbourhood, public_url: str) -> Graph:
    """The neighbourhood as nodes and typed edges (the JSON of `/graph`)."""
    base = public_url.rstrip("/")
    versions = found.ordered_versions()
    links = found.ordered_links()
    refs = {v.id: format_ref(v.observation_id, v.version) for v in versions}
    observations = {
        o.id: o
        for o in session.exec(
            select(Observation).where(Observation.id.in_(set(found.distance)))
        ).all()
    }
    people = users_by_id(
        session=session,
        ids={o.author_id for o in observations.values()} | {l.author_id for l in links},
    )
    phenomena = _phenomena(session, links)
    nodes = [
        _version_node(v, observations[v.observation_id], people, found.distance, base)
        for v in versions
    ]
    for link in links:
        if link.target_version_id is not None:
            continue
        target = link_target_id(link, refs, phenomena)
        hops = found.distance[found.versions[link.source_version_id].observation_id] + 1
        if link.target_phenomenon_id is not None:
            phenomenon = phenomena[link.target_phenomenon_id]
            nodes.append(GraphNode(id=target, kind="phenomenon", distance=hops,
                                   slug=phenomenon.slug, title=phenomenon.name,
                                   url=f"{base}/phenomena/{phenomenon.slug}"))
        else:
            _, url = normalise_external(link.target_external)
            nodes.append(GraphNode(id=target, kind="external", distance=hops, title=target,
                                   url=url))
    # A phenomenon or a paper that several links reach is one node, at the nearest distance.
    nodes.sort(key=lambda n: (n.kind != "observation", n.distance))
    nodes = _nearest(nodes)
    edges = [
        GraphEdge(
            id=link.id,
            source=refs[link.source_version_id],
            relation=link.relation,
            target=link_target_id(link, refs, phenomena),
            author=people[link.author_id].handle,
            note=link.note,
            created_at=link.created_at,
        )
        for link in links
    ]
    return Graph(root=refs[found.root.id], depth=found.depth, nodes=nodes, edges=edges)


def _nearest(nodes: list[GraphNode]) -> list[GraphNode]:
    best: dict[str, GraphNode] = {}
    for node in nodes:
        if node.id not in best or node.distance < best[node.id].distance:
            best[node.id] = node
    return [n for n in nodes if best[n.id] is n]


def _version_node(
    version: ObservationVersion,
    observation: Observation,
    people: dict[int, User],
    distance: dict[int, int],
    base: str,
) -> GraphNode:
    ref = format_ref(observation.id, version.version)
    author = people[observation.author_id]
    latest = version.version == observation.latest_version
    return GraphNode(
        id=ref,
        kind="observation",
        distance=distance[observation.id],
        url=f"{base}/{ref}",
        title=version.title,
        observation=format_ref(observation.id),
        author=author.handle,
        author_name=author.display_name or author.handle,
        verdict=version.verdict,
        is_latest=latest,
        newer_version=None if latest else format_ref(observation.id, observation.latest_version),
        withdrawn=observation.withdrawn_at is not None,
    )


def _phenomena(session: Session, links: list[Link]) -> dict[int, Phenomenon]:
    ids = {l.target_phenomenon_id for l in links if l.target_phenomenon_id is not None}
    if not ids:
        return {}
    return {p.id: p for p in session.exec(select(Phenomenon).where(Phenomenon.id.in_(ids)))}
