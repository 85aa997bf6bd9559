"""The claim language: one-line, machine-checkable statements about metric series.

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
    call       := FUNCTION "(" SERIES ("," sum)* ")" | "first_step" "(" SERIES CMP sum ")"
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from runner.spec import MAX_CLAIM_CHARS, ClaimResult, Series

# Bounds that keep a hostile claim cheap to parse and evaluate.
MAX_NODES = 200
MAX_DEPTH = 32

# name -> (min extra args, max extra args, one-line meaning)
FUNCTIONS: dict[str, tuple[int, int, str]] = {
    "final": (0, 0, "the last value of the series"),
    "initial": (0, 0, "the first value of the series"),
    "max": (0, 0, "the largest value (NaN points skipped)"),
    "min": (0, 0, "the smallest value (NaN points skipped)"),
    "argmax": (0, 0, "the index (x) of the largest value"),
    "argmin": (0, 0, "the index (x) of the smallest value"),
    "at": (1, 1, "at(m, x): the value at the last point with index <= x"),
    "mean": (0, 2, "mean(m[, from[, to]]): mean value over from <= x <= to"),
    "loglog_slope": (0, 2, "loglog_slope(m[, from[, to]]): least-squares slope of log y on log x"),
    "first_step": (0, 0, "first_step(m OP value): first index where the condition holds"),
}
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
    series: str
    op: str
    threshold: Node


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
    def parse(self) -> Claim:
        if self.token.kind == "end":
            raise ClaimSyntaxError(self.claim, 1, "the claim is empty")
        root = self.disjunction()
        if self.token.kind != "end":
            raise self.fail("expected an operator or the end of the claim")
        if not isinstance(root, _BOOLEAN):
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
        if name.text == "first_step":
            if not (self.token.kind == "op" and self.token.text in COMPARISONS):
                raise self.fail(f"expected a comparison such as first_step({series} >= 0.9)")
            op = self.token.text
            self.index += 1
            threshold = self.sum()
            self.value_operand(threshold)
            self.take(")", "')' to close first_step(")
            return self.node(FirstStep, name, series=series, op=op, threshold=threshold)
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


# --- evaluation ----------------------------------------------------------------


@dataclass(frozen=True)
class Missing:
    """A value that could not be had, and why (never reached, empty series, ...)."""

    reason: str


Value = float | Missing


def series_arrays(series: Series | Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """x and y of a series as float64 arrays, null as NaN."""
    xs = series.x if isinstance(series, Series) else series["x"]
    ys = series.y if isinstance(series, Series) else series["y"]
    x = np.asarray(xs, dtype=np.float64)
    y = np.array([np.nan if v is None else v for v in ys], dtype=np.float64)
    return x, y


class _Evaluator:
    def __init__(self, metrics: Mapping[str, Any]) -> None:
        self.metrics = metrics
        self.cache: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def arrays(self, name: str) -> tuple[np.ndarray, np.ndarray] | Missing:
        if name not in self.metrics:
            return Missing(f"this run has no series {name!r}")
        if name not in self.cache:
            self.cache[name] = series_arrays(self.metrics[name])
        return self.cache[name]

    def value(self, node: Node) -> Value:
        if isinstance(node, Number):
            return node.value
        if isinstance(node, Arithmetic):
            values = [self.value(operand) for operand in node.operands]
            for value in values:
                if isinstance(value, Missing):
                    return value
            if node.op == "neg":
                return -values[0]
            left, right = values
            if node.op == "+":
                return left + right
            if node.op == "-":
                return left - right
            if node.op == "*":
                return left * right
            if right == 0:
                return Missing(f"{node.source} divides by zero")
            return left / right
        if isinstance(node, FirstStep):
            return self.first_step(node)
        if isinstance(node, Call):
            return self.call(node)
        raise TypeError(f"not a value: {node!r}")  # the parser rules this out

    def first_step(self, node: FirstStep) -> Value:
        arrays = self.arrays(node.series)
        if isinstance(arrays, Missing):
            return arrays
        threshold = self.value(node.threshold)
        if isinstance(threshold, Missing):
            return threshold
        x, y = arrays
        with np.errstate(invalid="ignore"):  # NaN never satisfies a condition, even !=
            hits = np.flatnonzero(np.isfinite(y) & _COMPARE[node.op](y, threshold))
        if hits.size == 0:
            last = f" (last index {x[-1]:g}, last value {_fmt(y[-1])})" if x.size else ""
            return Missing(f"{node.source} never reached{last}")
        return float(x[hits[0]])

    def call(self, node: Call) -> Value:
        arrays = self.arrays(node.series)
        if isinstance(arrays, Missing):
            return arrays
        x, y = arrays
        args = [self.value(arg) for arg in node.args]
        for arg in args:
            if isinstance(arg, Missing):
                return arg
        if x.size == 0:
            return Missing(f"series {node.series!r} is empty")
        function = node.function
        if function in ("final", "initial"):
            value = y[-1] if function == "final" else y[0]
            return float(value) if math.isfinite(value) else Missing(f"{node.source} is NaN")
        if function == "at":
            position = np.searchsorted(x, args[0], side="right") - 1
            if position < 0:
                return Missing(f"{node.source}: {args[0]:g} is before the first index {x[0]:g}")
            value = y[position]
            return float(value) if math.isfinite(value) else Missing(f"{node.source} is NaN")
        window = np.ones_like(x, dtype=bool)
        if function in ("mean", "loglog_slope") and args:
            window &= x >= args[0]
            if len(args) > 1:
                window &= x <= args[1]
        finite = window & np.isfinite(y)
        if function == "loglog_slope":
            usable = finite & (x > 0) & (y > 0)
            if usable.sum() < 2:
                return Missing(f"{node.source} needs two points with x > 0 and y > 0")
            slope = np.polyfit(np.log(x[usable]), np.log(y[usable]), 1)[0]
            return float(slope)
        if not finite.any():
            return Missing(f"{node.source}: no finite values in range")
        if function == "mean":
            with np.errstate(over="ignore"):  # a mean of huge values is honestly inf
                return float(np.mean(y[finite]))
        masked = np.where(finite, y, np.nan)
        if function in ("max", "min"):
            return float(np.nanmax(masked) if function == "max" else np.nanmin(masked))
        position = int(np.nanargmax(masked) if function == "argmax" else np.nanargmin(masked))
        return float(x[position])

    # Boolean nodes answer (truth, sentence parts, compared values). Truth is
    # three-valued: None when a value could not be had (never reached, NaN,
    # empty), so that `not` of an unknown stays unknown and the claim fails.
    def truth(self, node: Node) -> tuple[bool | None, list[str], list[float | None]]:
        if isinstance(node, Compare):
            values = [self.value(operand) for operand in node.operands]
            truths, parts = [], []
            for i, op in enumerate(node.ops):
                left, right = node.operands[i], node.operands[i + 1]
                truth, sentence = self.compare(op, left, values[i], right, values[i + 1])
                truths.append(truth)
                parts.append(sentence)
            return _all(truths), parts, [_plain(v) for v in values]
        if isinstance(node, Between):
            value, low, high = (self.value(n) for n in (node.value, node.low, node.high))
            missing = next((v for v in (value, low, high) if isinstance(v, Missing)), None)
            if missing is not None:
                return None, [missing.reason], [_plain(v) for v in (value, low, high)]
            sentence = (
                f"{node.value.source} = {_fmt(value)}, "
                f"needed between {_fmt(low)} and {_fmt(high)}"
            )
            return low <= value <= high, [sentence], [value, low, high]
        if isinstance(node, Logic):
            results = [self.truth(operand) for operand in node.operands]
            parts = [p for r in results for p in r[1]]
            values = [v for r in results for v in r[2]]
            truths = [r[0] for r in results]
            if node.op == "not":
                truth = None if truths[0] is None else not truths[0]
                return truth, [f"not ({'; '.join(parts)})"], values
            return (_all(truths) if node.op == "and" else _any(truths)), parts, values
        raise TypeError(f"not a condition: {node!r}")

    def compare(
        self, op: str, left: Node, lv: Value, right: Node, rv: Value
    ) -> tuple[bool | None, str]:
        for value in (lv, rv):
            if isinstance(value, Missing):
                return None, value.reason
        holds = bool(_COMPARE[op](lv, rv))
        if not holds and _fmt(lv) == _fmt(rv):
            # Equal to six digits but not equal: show the digits that differ.
            lv_text, rv_text = repr(lv), repr(rv)
            return holds, f"{left.source} = {lv_text}, needed {op} {right.source} = {rv_text}"
        if isinstance(left, Number):
            return holds, f"{right.source} = {_fmt(rv)}, needed {_flip(op)} {_fmt(lv)}"
        sentence = f"{left.source} = {_fmt(lv)}, needed {op} "
        if _is_constant(right):
            return holds, sentence + _fmt(rv)
        return holds, sentence + f"{right.source} = {_fmt(rv)}"


def _is_constant(node: Node) -> bool:
    if isinstance(node, Number):
        return True
    return isinstance(node, Arithmetic) and all(_is_constant(n) for n in node.operands)


def _all(truths: list[bool | None]) -> bool | None:
    if any(t is False for t in truths):
        return False
    return None if any(t is None for t in truths) else True


def _any(truths: list[bool | None]) -> bool | None:
    if any(t is True for t in truths):
        return True
    return None if any(t is None for t in truths) else False


_COMPARE = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
}


def _flip(op: str) -> str:
    return {"<": ">", "<=": ">=", ">": "<", ">=": "<="}.get(op, op)


def _fmt(value: float) -> str:
    if not math.isfinite(value):
        return "NaN" if math.isnan(value) else str(value)
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.6g}"


def _plain(value: Value) -> float | None:
    return None if isinstance(value, Missing) else value


def check_claim(claim: str | Claim, metrics: Mapping[str, Any]) -> ClaimResult:
    """Evaluate one claim on a run's series; a claim that cannot hold says why."""
    return _check(claim, _Evaluator(metrics))


def check_claims(claims: Iterable[str | Claim], metrics: Mapping[str, Any]) -> list[ClaimResult]:
    """Evaluate every claim on the same series (each series is converted once)."""
    evaluator = _Evaluator(metrics)
    return [_check(claim, evaluator) for claim in claims]


def _check(claim: str | Claim, evaluator: _Evaluator) -> ClaimResult:
    source = claim.source if isinstance(claim, Claim) else claim
    try:
        parsed = claim if isinstance(claim, Claim) else parse_claim(claim)
    except ClaimSyntaxError as exc:
        return ClaimResult(claim=source, holds=False, detail=f"does not parse: {exc.message}")
    truth, parts, values = evaluator.truth(parsed.root)
    return ClaimResult(claim=source, holds=truth is True, detail="; ".join(parts), values=values)
