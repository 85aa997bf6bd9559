"""The API's edge is typed: every route documents what it answers, and the OpenAPI
document lists the allowed values of verdicts, run kinds and statuses, job statuses
and link relations."""

from __future__ import annotations

import pytest

from runner.spec import Relation, RunKind, RunStatus, Verdict
from server.models import JobStatus


@pytest.fixture
def openapi(client) -> dict:
    return client.get("/openapi.json").json()


def test_every_route_documents_the_shape_of_its_answer(openapi):
    for path, operations in openapi["paths"].items():
        for method, operation in operations.items():
            success = min(code for code in operation["responses"] if code.startswith("2"))
            content = operation["responses"][success].get("content", {})
            assert content, (method, path)
            assert all(media.get("schema") for media in content.values()), (method, path)


def _refers_to(schema: dict, name: str) -> bool:
    target = f"#/components/schemas/{name}"
    return schema.get("$ref") == target or any(_refers_to(s, name) for s in schema.get("anyOf", []))


@pytest.mark.parametrize("record, field, enum", [
    ("ObservationSummary", "verdict", Verdict),
    ("ObservationPublic", "verdict", Verdict),
    ("VersionInfo", "verdict", Verdict),
    ("GraphNode", "verdict", Verdict),
    ("JobCompleted", "verdict", Verdict),
    ("RunSummary", "kind", RunKind),
    ("RunSummary", "status", RunStatus),
    ("VerificationStatus", "status", JobStatus),
    ("JobFailed", "status", JobStatus),
    ("LinkPublic", "relation", Relation),
    ("GraphEdge", "relation", Relation),
])
def test_verdicts_kinds_statuses_and_relations_are_enums(openapi, record, field, enum):
    schemas = openapi["components"]["schemas"]
    assert schemas[enum.__name__]["enum"] == [member.value for member in enum]
    assert _refers_to(schemas[record]["properties"][field], enum.__name__), (record, field)


def test_the_verdict_filter_lists_the_verdicts(openapi):
    parameters = openapi["paths"]["/api/v1/observations"]["get"]["parameters"]
    [verdict] = [p for p in parameters if p["name"] == "verdict"]
    schema = verdict["schema"]
    listed = [schema.get("enum")] + [branch.get("enum") for branch in schema.get("anyOf", [])]
    assert [v.value for v in Verdict] in listed
