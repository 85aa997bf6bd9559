"""The claim language's syntax: tokenizer, syntax tree and parser (see runner.claims).

    final(test_acc) >= 0.95
    first_step(test_acc >= 0.95) >= 10 * first_step(train_acc >= 0.99)
    argmax(test_error) between 0.8 * 200 and 1.25 * 200
    loglog_slope(test_loss) < -0.8 and final(train_loss) < 0.01

A hand-written tokenizer and recursive-descent parser (never `eval`): only the
functions in FUNCTIONS, numbers, arithmetic, comparisons, `between`, `and`,
`or`, `not`. A parse error names the column and what was expected. Evaluation
never raises for data reasons: a condition that is never reached, an empty
series or NaN makes the claim fail with a sentence that says so. The reference
for people is docs/claims.md.

Grammar (lowest precedence first):

    claim      := disjunct ("or" disjunct)*
    disjunct   := conjunct ("and" conjunct)*
    conjunct   := "not" conjunct | comparison
    comparison := sum ((CMP sum)+ | "between" sum "and" sum)?
    sum        := product (("+" | "-") product)*
    product    := unary (("*" | "/") unary)*
    unary      := ("-" | "+") unary | atom
    atom       := NUMBER | call | "(" claim ")"
    call       := FUNCTION "(" SERIES ("," sum)* ")" | CONDITION "(" SERIES CMP sum ")"
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from runner.spec import MAX_CLAIM_CHARS

# Bounds that keep a hostile claim cheap to parse and evaluate.
MAX_NODES = 200
MAX_DEPTH = 32

# name -> (min extra args, max extra args, one-line meaning)
FUNCTIONS: dict[str, tuple[int, int, str]] = {
    "final": (0, 0, "the last value of the series"),
    "initial": (0, 0, "the first value of the series"),
    "max": (0, 2, "max(m[, from[, to]]): the largest value over from <= x <= to (NaN skipped)"),
    "min": (0, 2, "min(m[, from[, to]]): the smallest value over from <= x <= to (NaN skipped)"),
    "argmax": (0, 0, "the index (x) of the largest value"),
    "argmin": (0, 0, "the index (x) of the smallest value"),
    "at": (1, 2, "at(m, x): the value at the last point with index <= x; at(m, x, x2): the "
           "value at the cell (x, x2) of a grid series"),
    "mean": (0, 2, "mean(m[, from[, to]]): mean value over from <= x <= to"),
    "loglog_slope": (0, 2, "loglog_slope(m[, from[, to]]): least-squares slope of log y on log x"),
    "first_step": (0, 0, "first_step(m OP value): first index where the condition holds"),
    "fraction": (0, 0, "fraction(m OP value): the share of points (cells) where it holds"),
}
# Functions that take a condition on a series rather than the series and values.
CONDITION_FUNCTIONS = ("first_step", "fraction")
COMPARISONS = ("<=", ">=", "==", "!=", "<", ">")
KEYWORDS = {"and", "or", "not", "between"}

_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op><=|>=|==|!=|<|>|\+|-|\*|/|\(|\)|,)
    """,
    re.VERBOSE,
)


class ClaimSyntaxError(ValueError):
    """A claim that does not parse or names something unknown; says where."""

    def __init__(self, claim: str, column: int, message: str) -> None:
        self.claim = claim
        self.column = column  # 1-based, as a person counts
        self.message = message
        super().__init__(str(self))

    def __str__(self) -> str:
        pointer = " " * (self.column - 1) + "^"
        return f"column {self.column}: {self.message}\n    {self.claim}\n    {pointer}"


@dataclass(frozen=True)
class _Token:
    kind: str  # number | name | op | end
    text: str
    column: int


def _tokenize(claim: str) -> list[_Token]:
    tokens: list[_Token] = []
    position = 0
    while position < len(claim):
        match = _TOKEN.match(claim, position)
        if match is None:
            raise ClaimSyntaxError(
                claim, position + 1, f"unexpected character {claim[position]!r}"
            )
        kind = match.lastgroup or ""
        if kind != "space":
            tokens.append(_Token(kind, match.group(), position + 1))
        position = match.end()
    tokens.append(_Token("end", "", len(claim) + 1))
    return tokens


# --- syntax tree -------------------------------------------------------------


@dataclass(frozen=True)
class Node:
    source: str  # the exact text this node was parsed from
    column: int


@dataclass(frozen=True)
class Number(Node):
    value: float


@dataclass(frozen=True)
class Call(Node):
    function: str
    series: str
    args: tuple[Node, ...] = ()


@dataclass(frozen=True)
class FirstStep(Node):
    """A condition on a series, `series OP threshold`, as first_step or fraction reads it."""

    series: str
    op: str
    threshold: Node
    function: str = "first_step"


@dataclass(frozen=True)
class Arithmetic(Node):
    op: str  # + - * / or "neg"
    operands: tuple[Node, ...]


@dataclass(frozen=True)
class Compare(Node):
    ops: tuple[str, ...]
    operands: tuple[Node, ...]


@dataclass(frozen=True)
class Between(Node):
    value: Node
    low: Node
    high: Node


@dataclass(frozen=True)
class Logic(Node):
    op: str  # and | or | not
    operands: tuple[Node, ...]


_BOOLEAN = (Compare, Between, Logic)


@dataclass(frozen=True)
class Claim:
    """A parsed claim: its source text, tree, and the series it reads."""

    source: str
    root: Node
    series: frozenset[str] = field(default_factory=frozenset)


# --- parser ------------------------------------------------------------------


class _Parser:
    def __init__(self, claim: str) -> None:
        if len(claim) > MAX_CLAIM_CHARS:  # before any work, and without echoing it all
            raise ClaimSyntaxError(
                claim[:MAX_CLAIM_CHARS] + "...", MAX_CLAIM_CHARS + 1,
                f"claim is longer than {MAX_CLAIM_CHARS} characters",
            )
        self.claim = claim
        self.tokens = _tokenize(claim)
        self.index = 0
        self.nodes = 0
        self.depth = 0
        self.series: set[str] = set()

    # helpers
    @property
    def token(self) -> _Token:
        return self.tokens[self.index]

    def fail(self, message: str, token: _Token | None = None) -> ClaimSyntaxError:
        token = token or self.token
        found = "the end of the claim" if token.kind == "end" else repr(token.text)
        return ClaimSyntaxError(self.claim, token.column, f"{message}, found {found}")

    def take(self, text: str, expected: str) -> _Token:
        if self.token.text != text or self.token.kind == "end":
            raise self.fail(f"expected {expected}")
        token = self.token
        self.index += 1
        return token

    def is_keyword(self, word: str) -> bool:
        return self.token.kind == "name" and self.token.text == word

    def node(self, cls: type, start: _Token, **kw: Any) -> Any:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise ClaimSyntaxError(
                self.claim, start.column, f"claim is too complex (over {MAX_NODES} parts); split it"
            )
        end = self.tokens[self.index - 1]
        source = self.claim[start.column - 1 : end.column - 1 + len(end.text)]
        return cls(source=source, column=start.column, **kw)

    def nested(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.fail(f"claim nests deeper than {MAX_DEPTH} levels")

    # grammar
    def parse(self, *, value: bool = False) -> Claim:
        """The whole text as a claim (a comparison), or with `value` as a value."""
        if self.token.kind == "end":
            raise ClaimSyntaxError(self.claim, 1, "the claim is empty")
        root = self.disjunction()
        if self.token.kind != "end":
            raise self.fail("expected an operator or the end of the claim")
        if value and isinstance(root, _BOOLEAN):
            raise ClaimSyntaxError(
                self.claim, 1,
                "a measure is a value (e.g. 'first_step(test_acc >= 0.95)'), not a comparison",
            )
        if not value and not isinstance(root, _BOOLEAN):
            raise ClaimSyntaxError(
                self.claim,
                1,
                "a claim must be a comparison (e.g. 'final(test_acc) >= 0.95'), "
                "not just a value",
            )
        return Claim(source=self.claim, root=root, series=frozenset(self.series))

    def disjunction(self) -> Node:
        start = self.token
        parts = [self.conjunction()]
        while self.is_keyword("or"):
            self.index += 1
            parts.append(self.conjunction())
        return parts[0] if len(parts) == 1 else self.logic("or", start, parts)

    def conjunction(self) -> Node:
        start = self.token
        parts = [self.negation()]
        while self.is_keyword("and"):
            self.index += 1
            parts.append(self.negation())
        return parts[0] if len(parts) == 1 else self.logic("and", start, parts)

    def negation(self) -> Node:
        if self.is_keyword("not"):
            start = self.token
            self.index += 1
            self.nested()
            operand = self.negation()
            self.depth -= 1
            return self.logic("not", start, [operand])
        return self.comparison()

    def logic(self, op: str, start: _Token, parts: list[Node]) -> Node:
        for part in parts:
            if not isinstance(part, _BOOLEAN):
                raise ClaimSyntaxError(
                    self.claim, part.column, f"'{op}' joins comparisons, but {part.source!r} is a value"
                )
        return self.node(Logic, start, op=op, operands=tuple(parts))

    def comparison(self) -> Node:
        start = self.token
        left = self.sum()
        if self.is_keyword("between"):
            self.index += 1
            low = self.sum()
            if not self.is_keyword("and"):
                raise self.fail("expected 'and' in 'x between low and high'")
            self.index += 1
            high = self.sum()
            self.value_operand(left, low, high)
            return self.node(Between, start, value=left, low=low, high=high)
        ops, operands = [], [left]
        while self.token.kind == "op" and self.token.text in COMPARISONS:
            ops.append(self.token.text)
            self.index += 1
            operands.append(self.sum())
        if not ops:
            return left
        self.value_operand(*operands)
        return self.node(Compare, start, ops=tuple(ops), operands=tuple(operands))

    def value_operand(self, *operands: Node) -> None:
        for operand in operands:
            if isinstance(operand, _BOOLEAN):
                raise ClaimSyntaxError(
                    self.claim,
                    operand.column,
                    f"{operand.source!r} is a comparison and cannot be compared again; "
                    "join comparisons with 'and'",
                )

    def sum(self) -> Node:
        start = self.token
        left = self.product()
        while self.token.kind == "op" and self.token.text in "+-":
            op = self.token.text
            self.index += 1
            right = self.product()
            self.value_operand(left, right)
            left = self.node(Arithmetic, start, op=op, operands=(left, right))
        return left

    def product(self) -> Node:
        start = self.token
        left = self.unary()
        while self.token.kind == "op" and self.token.text in "*/":
            op = self.token.text
            self.index += 1
            right = self.unary()
            self.value_operand(left, right)
            left = self.node(Arithmetic, start, op=op, operands=(left, right))
        return left

    def unary(self) -> Node:
        if self.token.kind == "op" and self.token.text in "+-":
            start = self.token
            self.index += 1
            self.nested()
            operand = self.unary()
            self.depth -= 1
            self.value_operand(operand)
            if start.text == "+":
                return operand
            return self.node(Arithmetic, start, op="neg", operands=(operand,))
        return self.atom()

    def atom(self) -> Node:
        token = self.token
        if token.kind == "number":
            value = float(token.text)
            if not math.isfinite(value):
                raise ClaimSyntaxError(self.claim, token.column,
                                       f"{token.text} is too large to be a number")
            self.index += 1
            return self.node(Number, token, value=value)
        if token.kind == "op" and token.text == "(":
            self.index += 1
            self.nested()
            inner = self.disjunction()
            self.depth -= 1
            self.take(")", "')' to close the '(' at column %d" % token.column)
            return inner
        if token.kind == "name" and token.text not in KEYWORDS:
            return self.call()
        raise self.fail("expected a number, a function such as final(m), or '('")

    def call(self) -> Node:
        name = self.token
        if name.text not in FUNCTIONS:
            if self.tokens[self.index + 1].text == "(":
                raise ClaimSyntaxError(
                    self.claim,
                    name.column,
                    f"unknown function {name.text!r}; known: {', '.join(FUNCTIONS)}",
                )
            raise ClaimSyntaxError(
                self.claim,
                name.column,
                f"{name.text!r} is not a number or a function call; "
                f"name a series inside a function, e.g. final({name.text})",
            )
        self.index += 1
        self.take("(", f"'(' after {name.text}")
        series = self.series_name(name.text)
        if name.text in CONDITION_FUNCTIONS:
            if not (self.token.kind == "op" and self.token.text in COMPARISONS):
                raise self.fail(f"expected a comparison such as {name.text}({series} >= 0.9)")
            op = self.token.text
            self.index += 1
            threshold = self.sum()
            self.value_operand(threshold)
            self.take(")", f"')' to close {name.text}(")
            return self.node(FirstStep, name, series=series, op=op, threshold=threshold,
                             function=name.text)
        low, high, _ = FUNCTIONS[name.text]
        args: list[Node] = []
        while self.token.text == "," and self.token.kind == "op":
            self.index += 1
            argument = self.sum()
            self.value_operand(argument)
            args.append(argument)
        if not low <= len(args) <= high:
            wanted = f"{low}" if low == high else f"{low} to {high}"
            raise ClaimSyntaxError(
                self.claim,
                name.column,
                f"{name.text} takes a series and {wanted} more argument(s), got {len(args)}",
            )
        self.take(")", f"')' or ',' in {name.text}(")
        return self.node(Call, name, function=name.text, series=series, args=tuple(args))

    def series_name(self, function: str) -> str:
        token = self.token
        # A function's first argument is always a series, so a series may share a
        # function's name (`final(mean)`); only the keywords are reserved.
        if token.kind != "name" or token.text in KEYWORDS:
            raise self.fail(f"expected the name of a metric series inside {function}(")
        self.index += 1
        self.series.add(token.text)
        return token.text


def parse_claim(claim: str) -> Claim:
    """Parse one claim, raising ClaimSyntaxError with the column of the fault."""
    if not isinstance(claim, str):
        raise ClaimSyntaxError(str(claim), 1, "a claim must be a string")
    return _Parser(claim).parse()


def parse_measure(expression: str) -> Claim:
    """Parse a value expression, such as a sweep's reducer
    `first_step(test_acc >= 0.95) / first_step(train_acc >= 0.99)`."""
    if not isinstance(expression, str):
        raise ClaimSyntaxError(str(expression), 1, "a measure must be a string")
    return _Parser(expression).parse(value=True)


def validate_claim(claim: str, series_names: Iterable[str]) -> Claim:
    """Parse a claim and check that every series it names is among `series_names`."""
    parsed = parse_claim(claim)
    known = set(series_names)
    for name in sorted(parsed.series - known):
        column = re.search(rf"\b{re.escape(name)}\b", claim)
        raise ClaimSyntaxError(
            claim,
            (column.start() + 1) if column else 1,
            f"no series named {name!r} in this observation's metrics"
            + (f"; it has: {', '.join(sorted(known))}" if known else " (it has none)"),
        )
    return parsed
