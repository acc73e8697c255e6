"""Fault injection: latency, errors, throttling and dropped connections, by operation.

Every request is classified into an operation kind (see OPERATIONS) before it is
handled; rules match on kinds, so a test can break writes ("batch") while connecting
("meta") keeps working. Random rules draw from one seeded RNG so a failing
reliability test replays the same sequence.
"""

from __future__ import annotations

import random
import threading
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

OPERATIONS = (
    "meta",  # meta, ready, live, openid, nodes, gRPC health
    "schema",  # collection create/get/list/delete/update
    "batch",  # gRPC BatchObjects, REST POST /v1/batch/objects
    "delete",  # gRPC BatchDelete, REST DELETE objects and batch delete
    "search",  # gRPC Search, REST GET objects
    "aggregate",  # gRPC Aggregate
    "objects",  # REST single-object writes (POST/PUT/PATCH /v1/objects)
    "backup",  # backups create/status/restore
)

Mode = Literal["error", "throttle", "drop", "latency", "weaviate"]
MODES: tuple[str, ...] = ("error", "throttle", "drop", "latency", "weaviate")

# Errors Weaviate itself raises while it is degraded (its `enterrors.IsTransient`):
# a shard set read-only (disk usage over the limit), memory pressure, a full disk.
WEAVIATE_TRANSIENT_MESSAGES = (
    "store is read-only",
    "not enough memory",
    "no space left on device",
)


@dataclass
class FaultRule:
    """One rule. `count` None means unlimited; `rate` is the chance per matching request."""

    mode: Mode
    ops: tuple[str, ...] | None = None
    count: int | None = None
    rate: float = 1.0
    latency_ms: float = 0.0
    retry_after_s: int = 1
    status: int = 503
    message: str = WEAVIATE_TRANSIENT_MESSAGES[0]

    def applies_to(self, op: str) -> bool:
        return self.ops is None or op in self.ops


@dataclass
class Decision:
    """What to do with one request: sleep first, then maybe fail in one way."""

    latency_s: float = 0.0
    action: Mode | None = None
    retry_after_s: int = 1
    status: int = 503
    message: str = ""


@dataclass
class FaultStats:
    injected: dict[str, int] = field(default_factory=dict)
    requests: dict[str, int] = field(default_factory=dict)


def _ops(ops: str | list[str] | tuple[str, ...] | None) -> tuple[str, ...] | None:
    if ops is None or ops == "all":
        return None
    items = (ops,) if isinstance(ops, str) else tuple(ops)
    unknown = [o for o in items if o not in OPERATIONS]
    if unknown:
        raise ValueError(f"unknown operation kinds {unknown}; known: {', '.join(OPERATIONS)}")
    return items


class Faults:
    """The live fault configuration of one server; safe to change from any thread."""

    def __init__(self, *, seed: int = 0) -> None:
        self._lock = threading.Lock()
        self._rules: list[FaultRule] = []
        self._seed = seed
        self._rng = random.Random(seed)
        self.stats = FaultStats()

    # ---------------------------------------------------------- configuration

    def add(self, rule: FaultRule) -> FaultRule:
        if rule.mode not in MODES:
            raise ValueError(f"unknown fault mode {rule.mode!r}; known: {', '.join(MODES)}")
        if not 0.0 <= rule.rate <= 1.0:
            raise ValueError("rate must be between 0 and 1")
        rule.ops = _ops(rule.ops)
        with self._lock:
            self._rules.append(rule)
        return rule

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def reset_stats(self) -> None:
        with self._lock:
            self.stats = FaultStats()

    def reseed(self, seed: int) -> None:
        with self._lock:
            self._seed = seed
            self._rng = random.Random(seed)

    def latency(self, ms: float, ops: str | list[str] | None = None) -> FaultRule:
        """Add `ms` milliseconds before answering matching requests."""
        return self.add(FaultRule("latency", _ops(ops), latency_ms=ms))

    def fail_rate(self, rate: float, ops: str | list[str] | None = None) -> FaultRule:
        """Fail a fraction of matching requests with 503 / UNAVAILABLE (seeded)."""
        return self.add(FaultRule("error", _ops(ops), rate=rate))

    def fail_next(
        self, n: int, ops: str | list[str] | None = None, *, status: int = 503
    ) -> FaultRule:
        """Fail the next `n` matching requests (a burst) with `status` / UNAVAILABLE."""
        return self.add(FaultRule("error", _ops(ops), count=n, status=status))

    def throttle_next(
        self, n: int, ops: str | list[str] | None = None, *, retry_after_s: int = 1
    ) -> FaultRule:
        """Answer the next `n` matching requests with 429 + Retry-After / RESOURCE_EXHAUSTED."""
        return self.add(FaultRule("throttle", _ops(ops), count=n, retry_after_s=retry_after_s))

    def drop_next(self, n: int, ops: str | list[str] | None = None) -> FaultRule:
        """Close the connection without answering (REST) / abort the call (gRPC), `n` times."""
        return self.add(FaultRule("drop", _ops(ops), count=n))

    def drop_rate(self, rate: float, ops: str | list[str] | None = None) -> FaultRule:
        return self.add(FaultRule("drop", _ops(ops), rate=rate))

    def weaviate_error_next(
        self,
        n: int,
        ops: str | list[str] | None = None,
        *,
        message: str = WEAVIATE_TRANSIENT_MESSAGES[0],
    ) -> FaultRule:
        """Answer the next `n` matching requests with one of Weaviate's own errors.

        As a degraded node answers: a batch (gRPC or REST) gets `message` as the error
        of every object, any other gRPC call status UNKNOWN with `message`, any other
        REST call 500 with `message` in Weaviate's error body.
        """
        return self.add(FaultRule("weaviate", _ops(ops), count=n, message=message))

    def configure(self, spec: dict[str, Any]) -> None:
        """Apply a JSON spec (the control endpoint's body).

        `{"clear": true, "seed": 7, "latency_ms": 50, "fail_rate": 0.2, "ops": ["batch"],
          "fail_next": 3, "throttle_next": 2, "retry_after_s": 1, "drop_next": 1,
          "rules": [{"mode": "error", "ops": ["search"], "count": 2}]}`
        """
        if spec.get("clear"):
            self.clear()
        if "seed" in spec:
            self.reseed(int(spec["seed"]))
        ops = spec.get("ops")
        if spec.get("latency_ms"):
            self.latency(float(spec["latency_ms"]), ops)
        if spec.get("fail_rate"):
            self.fail_rate(float(spec["fail_rate"]), ops)
        if spec.get("fail_next"):
            self.fail_next(int(spec["fail_next"]), ops, status=int(spec.get("status", 503)))
        if spec.get("throttle_next"):
            self.throttle_next(
                int(spec["throttle_next"]), ops, retry_after_s=int(spec.get("retry_after_s", 1))
            )
        if spec.get("drop_next"):
            self.drop_next(int(spec["drop_next"]), ops)
        if spec.get("drop_rate"):
            self.drop_rate(float(spec["drop_rate"]), ops)
        if spec.get("weaviate_error_next"):
            self.weaviate_error_next(
                int(spec["weaviate_error_next"]),
                ops,
                message=str(spec.get("message", WEAVIATE_TRANSIENT_MESSAGES[0])),
            )
        for raw in spec.get("rules") or []:
            allowed = {
                "mode",
                "ops",
                "count",
                "rate",
                "latency_ms",
                "retry_after_s",
                "status",
                "message",
            }
            extra = set(raw) - allowed
            if extra:
                raise ValueError(f"unknown fault rule fields {sorted(extra)}")
            self.add(FaultRule(**raw))

    def describe(self) -> dict[str, Any]:
        with self._lock:
            return {
                "seed": self._seed,
                "rules": [asdict(r) for r in self._rules],
                "injected": dict(self.stats.injected),
                "requests": dict(self.stats.requests),
            }

    @property
    def rules(self) -> list[FaultRule]:
        with self._lock:
            return list(self._rules)

    # ---------------------------------------------------------- decisions

    def decide(self, op: str) -> Decision:
        """Consume matching rules for one request of kind `op`."""
        decision = Decision()
        with self._lock:
            self.stats.requests[op] = self.stats.requests.get(op, 0) + 1
            spent: list[FaultRule] = []
            for rule in self._rules:
                if not rule.applies_to(op):
                    continue
                if rule.mode == "latency":
                    decision.latency_s += rule.latency_ms / 1000.0
                    continue
                if decision.action is not None:
                    continue
                if rule.rate < 1.0 and self._rng.random() >= rule.rate:
                    continue
                decision.action = rule.mode
                decision.retry_after_s = rule.retry_after_s
                decision.status = rule.status
                decision.message = rule.message
                if rule.count is not None:
                    rule.count -= 1
                    if rule.count <= 0:
                        spent.append(rule)
            for rule in spent:
                self._rules.remove(rule)
            if decision.action is not None:
                key = f"{decision.action}:{op}"
                self.stats.injected[key] = self.stats.injected.get(key, 0) + 1
        return decision

    def injected_total(self, mode: str | None = None) -> int:
        with self._lock:
            return sum(
                n
                for key, n in self.stats.injected.items()
                if mode is None or key.startswith(mode + ":")
            )
