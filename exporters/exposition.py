"""Prometheus text format 0.0.4 for /metrics, fast where a collector renders its own text.

``prometheus_client.generate_latest`` builds a ``Sample`` per line and formats
each one; at 1 000 targets × 3 locations (~87 000 lines) that is over a second.
A collector may instead yield :class:`TextFamily`: a family that carries its own
exposition text, rendered by the collector from its state (and cached per series
where the state says nothing changed).  :func:`render` writes those as they are
and every other family exactly as ``generate_latest`` would, so the output is
the same bytes ``generate_latest`` gives for the same registry (tests assert it).

A ``TextFamily`` still has ``samples`` — built only when something asks, such as
``generate_latest`` itself or ``CollectorRegistry.get_sample_value`` — so
prometheus_client's own tools keep working on the registry.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable, Iterable
from functools import cache

from prometheus_client import generate_latest
from prometheus_client.core import Metric
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample
from prometheus_client.utils import floatToGoString

# Level 1: 1 000 targets × 3 locations (10.9 MB of text) compress ~20× in ~25 ms;
# level 6 saves a fifth more bytes for 2.5× the time, on a scrape meant to cost
# ≤ 100 ms (bench/metrics_scrape.py).
GZIP_LEVEL = 1


class TextFamily(Metric):
    """A metric family that renders its own sample lines.

    ``body`` returns the sample lines (each ending in a newline, in pieces) exactly as
    ``generate_latest`` would write them; ``build`` returns the samples for
    callers that want objects (built once, on first use)."""

    def __init__(self, name: str, documentation: str, typ: str, body: Callable[[], Iterable[str]],
                 build: Callable[[], list[Sample]]):
        super().__init__(name, documentation, typ)
        self._body, self._build = body, build
        self._built: list[Sample] | None = None

    @property
    def samples(self) -> list[Sample]:
        if self._built is None:
            self._built = self._build()
        return self._built

    @samples.setter
    def samples(self, given: list[Sample]) -> None:
        # Metric.__init__ assigns an empty list; the samples come from ``build``.
        if given:
            raise AttributeError("a TextFamily's samples come from its collector")

    def text(self) -> list[str]:
        """The family's lines as pieces, joined once with every other family's."""
        return [header(self.name, self.documentation, self.type), *self._body()]


class _One(Collector):
    def __init__(self, metric: Metric):
        self.metric = metric

    def collect(self) -> Iterable[Metric]:
        return [self.metric]


@cache
def header(name: str, documentation: str, typ: str) -> str:
    """The ``# HELP`` and ``# TYPE`` lines as ``generate_latest`` writes them (its own
    code writes them: the counter's ``_total``, the escaping)."""
    return generate_latest(_One(Metric(name, documentation, typ))).decode()


def render(registry: Collector) -> bytes:
    """The registry in text format 0.0.4: the bytes ``generate_latest`` gives, faster."""
    out: list[str] = []
    for metric in registry.collect():
        if isinstance(metric, TextFamily):
            out.extend(metric.text())
        else:
            out.append(generate_latest(_One(metric)).decode())
    return "".join(out).encode()


def compress(body: bytes) -> bytes:
    # mtime=0: the same body gives the same bytes (and no clock read).
    return gzip.compress(body, compresslevel=GZIP_LEVEL, mtime=0)


def label_value(v: str) -> str:
    """A label value escaped as the text format wants it (backslash, newline, quote)."""
    return v.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def labels(pairs: Iterable[tuple[str, str]]) -> str:
    """``a="x",b="y"`` for pairs already in label-name order."""
    return ",".join(f'{k}="{label_value(v)}"' for k, v in pairs)


def value(x: float) -> str:
    """``floatToGoString(x)``: Python's repr where that is what Go prints (a plain
    decimal with at most 6 digits before the point), else prometheus_client's own."""
    s = repr(x)
    dot = s.find(".")
    if "e" in s or dot < 0:  # inf, nan, or already in exponent form
        return floatToGoString(x)
    if dot <= 6 or x < 0:
        return s
    # Go's exponent form for large values (unix timestamps), as floatToGoString.
    return f"{s[0]}.{s[1:dot]}{s[dot + 1:]}".rstrip("0.") + f"e+{dot - 1:02d}"


def count(n: int) -> str:
    """``floatToGoString(float(n))`` for a count n ≥ 0, without the float."""
    return f"{n}.0" if 0 <= n < 1_000_000 else value(float(n))


def accepts_gzip(accept_encoding: str) -> bool:
    """Whether an ``Accept-Encoding`` header admits gzip (RFC 9110 §12.5.3): listed, or
    covered by ``*``, with a q-value above 0 (``gzip;q=0`` refuses it)."""
    q: dict[str, float] = {}
    for item in accept_encoding.split(","):
        coding, _, params = item.partition(";")
        weight = 1.0
        for param in params.split(";"):
            name, _, val = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    weight = float(val)
                except ValueError:
                    weight = 0.0
        q[coding.strip().lower()] = weight
    return q.get("gzip", q.get("x-gzip", q.get("*", 0.0))) > 0
