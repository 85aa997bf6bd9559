"""A citation written as BibTeX, CSL-JSON or CITATION.cff (what to cite: server.citations.works).

CFF is YAML, written with PyYAML. BibTeX is written here (bibtexparser is only a
test dependency, with which the tests parse every entry back).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import date
from urllib.parse import quote

import yaml

from server.citations.works import Citation, CitedWork, Person
from server.errors import invalid

# --- BibTeX ----------------------------------------------------------------------

# Characters LaTeX treats as commands, and what prints each one as itself.
LATEX_SPECIALS = {
    "\\": r"\textbackslash{}",
    "$": r"\$",
    "&": r"\&",
    "%": r"\%",
    "#": r"\#",
    "_": r"\_",
    "^": r"\textasciicircum{}",
    "~": r"\textasciitilde{}",
}
# BibTeX counts every brace, escaped or not: `\{` is only safe while the braces
# of the text nest. Otherwise these print a brace without being one.
LOOSE_BRACES = {"{": r"\textbraceleft{}", "}": r"\textbraceright{}"}
# A name part holding the word "and" or a comma must be braced, or BibTeX splits it.
SPLITS_A_NAME = re.compile(r"\band\b|,", re.IGNORECASE)


def _braces_nest(text: str) -> bool:
    depth = 0
    for char in text:
        depth += {"{": 1, "}": -1}.get(char, 0)
        if depth < 0:
            return False
    return depth == 0


def latex_escape(text: str) -> str:
    """Text that LaTeX prints as written, inside a BibTeX field (whitespace collapsed)."""
    text = " ".join(text.split())
    nested = _braces_nest(text)
    out = []
    for char in text:
        if char in "{}":
            out.append("\\" + char if nested else LOOSE_BRACES[char])
        else:
            out.append(LATEX_SPECIALS.get(char, char))
    return "".join(out)


def _bibtex_url(url: str) -> str:
    """A URL for a BibTeX field: braces, backslashes and spaces percent-encoded."""
    return quote(url, safe=":/?#[]@!$&'()*+,;=%~-._")


def _bibtex_name(person: Person) -> str:
    def part(text: str) -> str:
        escaped = latex_escape(text)
        return "{" + escaped + "}" if SPLITS_A_NAME.search(text) else escaped

    if person.organisation:  # one name, never split: {{Tycho built-in phenomena}}
        return "{" + latex_escape(person.name) + "}"
    if person.given:
        return f"{part(person.family)}, {part(person.given)}"
    return part(person.family)


def _bibtex_entry(key: str, fields: list[tuple[str, str]]) -> str:
    fields = [(name, value) for name, value in fields if value]
    width = max(len(name) for name, _ in fields)
    lines = [f"@misc{{{key},"]
    lines += [f"  {name.ljust(width)} = {{{value}}}," for name, value in fields]
    lines.append("}")
    return "\n".join(lines)


def _orcids(people: tuple[Person, ...]) -> str:
    """BibTeX has no ORCID field; a non-standard `orcid` one is ignored by styles."""
    return "; ".join(f"{latex_escape(p.name)}: {p.orcid}" for p in people if p.orcid)


def _work_fields(work: CitedWork, cited_on: date) -> list[tuple[str, str]]:
    return [
        ("author", " and ".join(_bibtex_name(p) for p in work.authors)),
        ("title", "{" + latex_escape(work.title) + "}"),  # inner braces keep its capitals
        ("year", str(work.issued.year)),
        ("date", work.issued.isoformat()),
        ("version", str(work.version)),
        ("howpublished", "Tycho registry"),
        ("url", _bibtex_url(work.url)),
        ("urldate", cited_on.isoformat()),
        ("note", latex_escape(work.verdict_note(cited_on))),
        ("keywords", latex_escape(", ".join(work.phenomena))),
        ("orcid", _orcids(work.authors)),
    ]


def _comment_text(text: str) -> str:
    """Text that cannot end an @comment early or open an entry inside it."""
    return text.replace("{", "(").replace("}", ")").replace("@", "(at)")


def bibtex(citation: Citation) -> str:
    """One @misc per observation version; a chain adds a leading @comment and a joint entry."""
    blocks = []
    chain = citation.chain
    if chain is not None:
        lines = [
            f"Tycho chain citation: {chain.root.ref} and the observations linked to it "
            f"within {chain.depth} links ({len(citation.works)} in all), "
            f"cited {citation.cited_on.isoformat()}.",
            "Joint authors, in order of first contribution:",
        ]
        for i, person in enumerate(chain.contributors, 1):
            orcid = f", ORCID {person.orcid}" if person.orcid else ""
            since = chain.first_contribution[person.handle].date().isoformat()
            lines.append(f"  {i}. {person.name} ({person.handle}{orcid}), from {since}")
        if chain.externals:
            lines.append("Linked works outside Tycho (cite them from their source): "
                         + ", ".join(chain.externals))
        blocks.append("@comment{" + _comment_text("\n".join(lines)) + "}")
        blocks.append(_bibtex_entry(chain.key, [
            ("author", " and ".join(_bibtex_name(p) for p in chain.contributors)),
            ("title", "{" + latex_escape(chain.title) + "}"),
            ("year", str(max(w.issued for w in citation.works).year)),
            ("howpublished", "Tycho registry"),
            ("url", _bibtex_url(chain.root.url)),
            ("urldate", citation.cited_on.isoformat()),
            ("note", latex_escape(_chain_note(citation))),
            ("orcid", _orcids(chain.contributors)),
        ]))
    for work in citation.works:
        blocks.append(_bibtex_entry(work.key, _work_fields(work, citation.cited_on)))
    return "\n\n".join(blocks) + "\n"


def _chain_note(citation: Citation) -> str:
    chain = citation.chain
    members = ", ".join(w.ref for w in citation.works)
    return (
        f"Tycho observations within {chain.depth} links of {chain.root.ref}: {members}; "
        f"cited {citation.cited_on.isoformat()}"
    )


# --- CSL-JSON --------------------------------------------------------------------


def _csl_name(person: Person) -> dict:
    if person.organisation:
        return {"literal": person.name}
    name = {"family": person.family}
    if person.given:
        name["given"] = person.given
    return name


def _csl_date(day: date) -> dict:
    return {"date-parts": [[day.year, day.month, day.day]]}


def _csl_people(people: tuple[Person, ...]) -> list[dict]:
    """Handles and ORCIDs (CSL names have no place for them): for `custom`."""
    return [
        {"name": p.name, "handle": p.handle, **({"orcid": p.orcid_url} if p.orcid else {})}
        for p in people
    ]


def _csl_work(work: CitedWork, cited_on: date) -> dict:
    item = {
        "id": work.key,
        "type": "dataset",
        "title": work.title,
        "author": [_csl_name(p) for p in work.authors],
        "issued": _csl_date(work.issued),
        "accessed": _csl_date(cited_on),
        "version": str(work.version),
        "publisher": "Tycho",
        "genre": "Observation",
        "URL": work.url,
        "note": work.verdict_note(cited_on),
        "custom": {"tycho": work.ref, "verdict": work.verdict,
                   "authors": _csl_people(work.authors)},
    }
    if work.phenomena:
        item["keyword"] = ", ".join(work.phenomena)
    return item


def csl_json(citation: Citation) -> list[dict]:
    """A list of CSL items: the chain's joint item first (if any), then each version."""
    items = []
    chain = citation.chain
    if chain is not None:
        items.append({
            "id": chain.key,
            "type": "dataset",
            "title": chain.title,
            "author": [_csl_name(p) for p in chain.contributors],
            "issued": _csl_date(max(w.issued for w in citation.works)),
            "accessed": _csl_date(citation.cited_on),
            "publisher": "Tycho",
            "genre": "Chain of observations",
            "URL": chain.root.url,
            "note": _chain_note(citation),
            "custom": {"members": [w.key for w in citation.works],
                       "authors": _csl_people(chain.contributors),
                       "external": list(chain.externals)},
        })
    items += [_csl_work(w, citation.cited_on) for w in citation.works]
    return items


# --- CITATION.cff ----------------------------------------------------------------

CFF_VERSION = "1.2.0"
# Text YAML would fold or refuse unless escaped: line breaks (including U+0085, U+2028,
# U+2029), control characters, the byte-order mark and non-characters.
NEEDS_ESCAPES = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff\ud800-\udfff]")


class _CffDumper(yaml.SafeDumper):
    """PyYAML's safe dumper, with text that needs escapes written double-quoted (PyYAML
    would single-quote a U+0085, which loads back as a space)."""


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = '"' if NEEDS_ESCAPES.search(value) else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_CffDumper.add_representer(str, _text)


def cff_yaml(document: dict) -> str:
    """`document` as block-style YAML, keys in the order given, any text loading back as is."""
    return yaml.dump(document, Dumper=_CffDumper, sort_keys=False, allow_unicode=True,
                     width=float("inf"))


def _cff_person(person: Person) -> dict:
    if person.organisation:  # a CFF entity
        entry = {"name": person.name}
    else:
        entry = {"family-names": person.family}
    if person.given:
        entry["given-names"] = person.given
    entry["alias"] = person.handle  # two people may share a name; never a handle
    if person.orcid:
        entry["orcid"] = person.orcid_url
    if person.affiliation:
        entry["affiliation"] = person.affiliation
    return entry


def _cff_reference(work: CitedWork, cited_on: date) -> dict:
    return {
        "type": "data",
        "title": work.title,
        "authors": [_cff_person(p) for p in work.authors],
        "date-released": work.issued.isoformat(),
        "version": str(work.version),
        "url": work.url,
        "notes": work.verdict_note(cited_on),
    }


def cff(citation: Citation) -> str:
    """CITATION.cff (1.2.0): the version, or the chain with every version as a reference."""
    chain = citation.chain
    work = citation.works[0]
    if chain is None:
        document = {
            "cff-version": CFF_VERSION,
            "message": f"If you use this observation, please cite it using these metadata. "
            f"{work.verdict_note(citation.cited_on)}.",
            "type": "dataset",
            "title": work.title,
            "authors": [_cff_person(p) for p in work.authors],
            "version": str(work.version),
            "date-released": work.issued.isoformat(),
            "url": work.url,
            "identifiers": [{"type": "url", "value": work.url,
                             "description": f"Tycho observation {work.ref}"}],
        }
        if work.phenomena:
            document["keywords"] = list(work.phenomena)
    else:
        document = {
            "cff-version": CFF_VERSION,
            "message": "If you use these observations, please cite them using these metadata. "
            f"{_chain_note(citation)}.",
            "type": "dataset",
            "title": chain.title,
            "authors": [_cff_person(p) for p in chain.contributors],
            "date-released": max(w.issued for w in citation.works).isoformat(),
            "url": chain.root.url,
            "references": [_cff_reference(w, citation.cited_on) for w in citation.works],
        }
    return cff_yaml(document)


# --- choosing a format -----------------------------------------------------------

FORMATS: dict[str, tuple[str, str, Callable[[Citation], str]]] = {
    # name: (media type, file suffix, writer)
    "bibtex": ("text/x-bibtex; charset=utf-8", "bib", bibtex),
    "csl-json": ("application/vnd.citationstyles.csl+json", "json",
                 lambda c: json.dumps(csl_json(c), indent=2, ensure_ascii=False) + "\n"),
    "cff": ("text/plain; charset=utf-8", "cff", cff),
}


def check_format(format: str) -> str:
    if format not in FORMATS:
        raise invalid(
            f"format: {format!r} is not a citation format; use one of {', '.join(FORMATS)}"
        )
    return format


def render_citation(citation: Citation, format: str) -> tuple[str, str, str]:
    """(text, media type, file name) of `citation` in `format`."""
    media_type, suffix, writer = FORMATS[check_format(format)]
    name = "CITATION.cff" if format == "cff" else f"{citation.works[0].ref}.{suffix}"
    if citation.chain is not None and format != "cff":
        name = f"{citation.works[0].ref}-chain.{suffix}"
    return writer(citation), media_type, name
