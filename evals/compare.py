"""`aisle eval compare`: a champion run against a challenger, gated.

Both runs' `summary.json` are flattened into dotted metric names
(`brains.local.tool_selection_accuracy`, `models.forecast.global_over_oracle_mase`, ...), the
differences are listed, and each gate of a gates file (`evals/gates.yaml` by default) is checked:
a gate names metrics by pattern (`brains.*.hallucination_rate`: `*` is one dotted part, `**` any
number of them, so per-suite and per-intent figures are gated only when asked for), says which
direction is better
and how much worse the challenger may be (absolute `tolerance`, or `tolerance_ratio` of the
champion's value), and may bound the challenger's value outright (`max`, `min`).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from retail.errors import AisleError

GATES_FILE = Path(__file__).with_name("gates.yaml")
# Per-turn detail, not figures.
_SKIPPED = {"failing_turns", "breaches"}


class CompareError(AisleError):
    """A run or a gates file cannot be read."""


class Gate(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    metric: str = Field(
        description="A dotted metric name; `*` matches one part, `**` any number of parts."
    )

    def matches(self, name: str) -> bool:
        parts = (
            "(?:[^.]+(?:\\.[^.]+)*)" if p == "**" else re.escape(p).replace("\\*", "[^.]*")
            for p in self.metric.split(".")
        )
        return re.fullmatch("\\.".join(parts), name) is not None

    better: Literal["higher", "lower"] | None = None
    tolerance: float = Field(default=0.0, ge=0.0)
    tolerance_ratio: float = Field(default=0.0, ge=0.0)
    max: float | None = None
    min: float | None = None


class Gates(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int
    gates: list[Gate]


Versioned = TypeVar("Versioned", bound=BaseModel)


class GateResult(BaseModel):
    metric: str
    champion: float | None
    challenger: float | None
    rule: str
    passed: bool


def load_summary(run: Path) -> dict[str, Any]:
    """A run's summary: `run` is its output folder or its summary.json."""
    path = run / "summary.json" if run.is_dir() else run
    if not path.is_file():
        raise CompareError(f"No evaluation summary at {path}; pass a run's output folder.")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise CompareError(f"The summary {path} cannot be read: {exc}.") from None
    if not isinstance(data, dict) or "brains" not in data or "models" not in data:
        raise CompareError(f"{path} is not an evaluation summary (no brains and models).")
    return data


def load_versioned_yaml(path: Path, model: type[Versioned], what: str) -> Versioned:
    """`path` read as `model` (a YAML file with `version: 1`); one sentence when it is missing,
    malformed or of another version."""
    if not path.is_file():
        raise CompareError(f"No {what} at {path}.")
    try:
        loaded = model.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    except (yaml.YAMLError, ValidationError) as exc:
        first = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
        raise CompareError(f"The {what} {path} is not valid: {first}.") from None
    version = getattr(loaded, "version", None)
    if version != 1:
        raise CompareError(f"The {what} {path} has version {version}; this reads 1.")
    return loaded


def load_gates(path: Path = GATES_FILE) -> Gates:
    return load_versioned_yaml(path, Gates, "gates file")


def flatten(summary: dict[str, Any]) -> dict[str, float]:
    """Every numeric figure of the brains, model suites, operations and dev sets, by dotted
    name."""
    out: dict[str, float] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                if key not in _SKIPPED:
                    walk(f"{prefix}.{key}" if prefix else str(key), item)
        elif isinstance(value, int | float):  # booleans too: True is 1
            out[prefix] = float(value)

    walk("brains", summary.get("brains", {}))
    walk("models", summary.get("models", {}))
    walk("operations", summary.get("operations") or {})
    walk("devsets", summary.get("devsets") or {})
    return out


def differences(
    champion: dict[str, float], challenger: dict[str, float]
) -> list[tuple[str, float | None, float | None]]:
    """(metric, champion, challenger) for every metric whose value differs or is only in one."""
    names = sorted(set(champion) | set(challenger))
    return [
        (n, champion.get(n), challenger.get(n))
        for n in names
        if champion.get(n) != challenger.get(n)
    ]


def check_gates(
    gates: Gates, champion: dict[str, float], challenger: dict[str, float]
) -> list[GateResult]:
    """One result per gate and matching metric; a metric the challenger lost fails its gate."""
    results = []
    for gate in gates.gates:
        names = sorted(n for n in set(champion) | set(challenger) if gate.matches(n))
        for name in names:
            results.append(_check(gate, name, champion.get(name), challenger.get(name)))
    return results


def _check(gate: Gate, name: str, a: float | None, b: float | None) -> GateResult:
    rules: list[str] = []
    passed = True
    if b is None:
        return GateResult(
            metric=name, champion=a, challenger=b, rule="missing in the challenger", passed=False
        )
    if gate.max is not None:
        rules.append(f"<= {gate.max:g}")
        passed &= b <= gate.max
    if gate.min is not None:
        rules.append(f">= {gate.min:g}")
        passed &= b >= gate.min
    if gate.better is not None and a is not None:
        allowed = max(gate.tolerance, abs(a) * gate.tolerance_ratio)
        if gate.better == "higher":
            rules.append(f">= {a - allowed:g} (champion - {allowed:g})")
            passed &= b >= a - allowed - 1e-12
        else:
            rules.append(f"<= {a + allowed:g} (champion + {allowed:g})")
            passed &= b <= a + allowed + 1e-12
    return GateResult(
        metric=name, champion=a, challenger=b, rule=" and ".join(rules) or "-", passed=passed
    )
