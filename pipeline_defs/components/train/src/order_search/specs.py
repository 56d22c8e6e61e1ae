"""Model specifications, the order limits and auto.arima's start models and moves."""

from __future__ import annotations

from dataclasses import dataclass

from .constants import MAX_ORDER, MAX_P, MAX_Q, MAX_SP, MAX_SQ
from .records import _label


@dataclass(frozen=True, order=True)
class _Spec:
    p: int
    d: int
    q: int
    sp: int
    sd: int
    sq: int
    m: int
    constant: bool

    @property
    def order(self) -> tuple[int, int, int]:
        return (self.p, self.d, self.q)

    @property
    def seasonal_order(self) -> tuple[int, int, int, int]:
        if self.m <= 1:
            return (0, 0, 0, 0)
        return (self.sp, self.sd, self.sq, self.m)

    @property
    def trend(self) -> str | None:
        return "c" if self.constant else None

    @property
    def drift(self) -> bool:
        """A constant with exactly one difference (``d + D = 1``): a drift."""
        return self.constant and self.d + self.sd == 1

    @property
    def n_coef(self) -> int:
        return self.p + self.q + self.sp + self.sq + int(self.constant)

    def label(self) -> str:
        return _label(self.order, self.seasonal_order, self.trend)


@dataclass(frozen=True)
class _Bounds:
    max_p: int
    max_q: int
    max_sp: int
    max_sq: int
    allow_constant: bool

    def valid(self, spec: _Spec) -> bool:
        return (
            0 <= spec.p <= self.max_p
            and 0 <= spec.q <= self.max_q
            and 0 <= spec.sp <= self.max_sp
            and 0 <= spec.sq <= self.max_sq
            and spec.p + spec.q + spec.sp + spec.sq <= MAX_ORDER
            and (self.allow_constant or not spec.constant)
        )


def _bounds(d: int, sd: int, m: int, n: int) -> _Bounds:
    """Order limits as in auto.arima: at most a third of the series per lag polynomial."""
    return _Bounds(
        max_p=min(MAX_P, n // 3),
        max_q=min(MAX_Q, n // 3),
        max_sp=min(MAX_SP, n // 3 // m) if m > 1 else 0,
        max_sq=min(MAX_SQ, n // 3 // m) if m > 1 else 0,
        allow_constant=d + sd <= 1,
    )


def _start_specs(d: int, sd: int, m: int, bounds: _Bounds) -> list[_Spec]:
    """auto.arima's start models: (2,d,2)(1,D,1), null, AR(1)(1), MA(1)(1), null w/o constant."""
    c = bounds.allow_constant
    sp1 = min(1, bounds.max_sp)
    sq1 = min(1, bounds.max_sq)
    specs = [
        _Spec(min(2, bounds.max_p), d, min(2, bounds.max_q), sp1, sd, sq1, m, c),
        _Spec(0, d, 0, 0, sd, 0, m, c),
        _Spec(min(1, bounds.max_p), d, 0, sp1, sd, 0, m, c),
        _Spec(0, d, min(1, bounds.max_q), 0, sd, sq1, m, c),
        _Spec(0, d, 0, 0, sd, 0, m, False),
    ]
    unique: list[_Spec] = []
    for s in specs:
        if s not in unique and bounds.valid(s):
            unique.append(s)
    return unique


_SEASONAL_MOVES = [(0, 0, dp, dq) for dp, dq in ((-1, 0), (0, -1), (1, 0), (0, 1))] + [
    (0, 0, dp, dq) for dp in (-1, 1) for dq in (-1, 1)
]
_MOVES = [(dp, dq, 0, 0) for dp, dq in ((-1, 0), (0, -1), (1, 0), (0, 1))] + [
    (dp, dq, 0, 0) for dp in (-1, 1) for dq in (-1, 1)
]


def _neighbours(s: _Spec, bounds: _Bounds) -> list[_Spec]:
    """auto.arima's moves: P, Q, p, q by +-1 alone and in pairs, and the constant toggled."""
    moves = (_SEASONAL_MOVES if s.m > 1 else []) + _MOVES
    out = [
        _Spec(s.p + dp, s.d, s.q + dq, s.sp + dsp, s.sd, s.sq + dsq, s.m, s.constant)
        for dp, dq, dsp, dsq in moves
    ]
    if bounds.allow_constant:
        out.append(_Spec(s.p, s.d, s.q, s.sp, s.sd, s.sq, s.m, not s.constant))
    return [o for o in out if bounds.valid(o)]
