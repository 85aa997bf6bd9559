"""The claim language: one-line, machine-checkable statements about metric series.

    final(test_acc) >= 0.95
    first_step(test_acc >= 0.95) >= 10 * first_step(train_acc >= 0.99)
    argmax(test_error) between 0.8 * 200 and 1.25 * 200
    loglog_slope(test_loss) < -0.8 and final(train_loss) < 0.01

This module is the language's public face: parse and validate a claim
(runner.claim_syntax holds the tokenizer, the tree and the grammar), and
evaluate claims on a run's series. Evaluation never raises for data reasons:
a condition that is never reached, an empty series or NaN makes the claim fail
with a sentence that says so. The reference for people is docs/claims.md.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from runner.claim_syntax import (
    COMPARISONS,
    FUNCTIONS,
    KEYWORDS,
    Arithmetic,
    Between,
    Call,
    Claim,
    ClaimSyntaxError,
    Compare,
    FirstStep,
    Logic,
    Node,
    Number,
    parse_claim,
    parse_measure,
    validate_claim,
)
from runner.spec import ClaimResult, Series

__all__ = [
    "COMPARISONS", "FUNCTIONS", "KEYWORDS", "Claim", "ClaimSyntaxError", "check_claim",
    "check_claims", "measure", "parse_claim", "parse_measure", "series_arrays", "validate_claim",
]


# --- evaluation ----------------------------------------------------------------


@dataclass(frozen=True)
class Missing:
    """A value that could not be had, and why (never reached, empty series, ...)."""

    reason: str


Value = float | Missing


def series_arrays(series: Series | Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """x and y of a series as float64 arrays, null as NaN."""
    if isinstance(series, Series):
        return series.arrays()
    return Series.model_validate(series).arrays()


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

    def second_axis(self, name: str) -> np.ndarray | None:
        """A grid series' x2 (the second knob), None for a series along one axis."""
        series = self.metrics[name]
        if isinstance(series, Series):
            return series.x2_array()
        return None if series.get("x2") is None else np.asarray(series["x2"], dtype=np.float64)

    def first_step(self, node: FirstStep) -> Value:
        arrays = self.arrays(node.series)
        if isinstance(arrays, Missing):
            return arrays
        threshold = self.value(node.threshold)
        if isinstance(threshold, Missing):
            return threshold
        x, y = arrays
        with np.errstate(invalid="ignore"):  # NaN never satisfies a condition, even !=
            holds = np.isfinite(y) & _COMPARE[node.op](y, threshold)
        if node.function == "fraction":
            if not np.isfinite(y).any():
                return Missing(f"{node.source}: series {node.series!r} has no finite values")
            return float(holds.sum() / np.isfinite(y).sum())
        hits = np.flatnonzero(holds)
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
        x2 = self.second_axis(node.series)
        if function == "at" and (x2 is not None or len(args) == 2):
            return self.at_cell(node, x, x2, y, args)
        if function == "at":
            position = np.searchsorted(x, args[0], side="right") - 1
            if position < 0:
                return Missing(f"{node.source}: {args[0]:g} is before the first index {x[0]:g}")
            value = y[position]
            return float(value) if math.isfinite(value) else Missing(f"{node.source} is NaN")
        window = np.ones_like(x, dtype=bool)
        if function in ("mean", "loglog_slope", "max", "min") and args:
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

    def at_cell(self, node: Call, x: np.ndarray, x2: np.ndarray | None, y: np.ndarray,
                args: list[float]) -> Value:
        """The value at the cell (x, x2) of a grid series."""
        if x2 is None:
            return Missing(f"{node.source}: series {node.series!r} has one axis; "
                           f"use at({node.series}, x)")
        if len(args) != 2:
            return Missing(f"{node.source}: series {node.series!r} is a grid; "
                           f"give both coordinates, at({node.series}, x, x2)")
        cell = np.flatnonzero(np.isclose(x, args[0], rtol=1e-9, atol=1e-12)
                              & np.isclose(x2, args[1], rtol=1e-9, atol=1e-12))
        if cell.size == 0:
            return Missing(f"{node.source}: the grid has no cell ({args[0]:g}, {args[1]:g})")
        value = y[cell[0]]
        return float(value) if math.isfinite(value) else Missing(f"{node.source} is NaN")

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


def measure(expression: str | Claim, metrics: Mapping[str, Any]) -> tuple[float | None, str]:
    """The value of a measure on a run's series, and a sentence: `(value, "")`, or
    `(None, why)` when it cannot be had (never reached, NaN, no such series)."""
    parsed = expression if isinstance(expression, Claim) else parse_measure(expression)
    value = _Evaluator(metrics).value(parsed.root)
    if isinstance(value, Missing):
        return None, value.reason
    return (value, "") if math.isfinite(value) else (None, f"{parsed.source} = {_fmt(value)}")
