"""Who sees which arm: deterministic salted hashing, traffic allocation and mutually exclusive
layers, plus the experiments' life cycle in SQL (create, start, stop).

A unit (a customer id, or `session:<id>` for an anonymous visitor) hashes with its layer's name
into one of `BUCKETS` buckets. An experiment owns a set of its layer's buckets, as many as its
traffic share asks for, taken when it starts from the buckets no running experiment holds; so two
experiments of one layer never share a unit, while experiments in different layers are
independent (each layer hashes with its own name). A unit in an experiment's buckets gets an arm
by a second hash, salted with the experiment's own salt, in proportion to the arms' weights; the
arm's weight share is the propensity the exposure log records.

The buckets an experiment owns are not stored: they are replayed from the layer's start and stop
times (`allocate_buckets`), which gives every process the same answer from the same rows. A
stopped experiment's buckets go back to the layer; the experiment started next may reuse them.

The exposure itself is the `recommendations_served` row the placements API writes with the
assignment's experiment id, arm and propensity.

An experiment's audience says whose visits it enrols: `live`, the storefront's visitors (the
placements serve the recommender with the arm's ranking rules); `simulated`, only the visits of
`aisle simulate traffic` (whose arms name a simulated policy the storefront cannot serve). Neither
enrols the other's units, so every exposure records the arm that really served it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import re
import secrets
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from ml_core.experiments.stats import NUMERATORS
from ml_core.recommend.ranking import RankingRules
from retail.errors import AisleError, NotFoundError
from retail.store.db import transaction
from retail.store.models import Experiment

# 10,000 buckets: traffic can be allocated in steps of 0.01%.
BUCKETS = 10_000
METRICS = tuple(NUMERATORS)
# How long `LiveExperiments` serves what it read before reading the experiments table again: a
# start or stop reaches every process within this many seconds.
CACHE_SECONDS = 5.0
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.:-]{0,63}$")
_LAYER = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
AUDIENCES = ("live", "simulated")


class ExperimentStateError(AisleError):
    """A request the experiment's state refuses: a name taken, a start of an experiment that is
    not a draft, a layer without enough free traffic."""


@dataclass(frozen=True)
class Arm:
    name: str
    weight: float
    config: Mapping[str, Any] = field(default_factory=dict)
    # The config's "rules", parsed once (`parse_rules`); None: the placement's defaults.
    rules: RankingRules | None = None


@dataclass(frozen=True)
class ExperimentSpec:
    """A running experiment as assignment needs it: its arms and the layer buckets it owns."""

    id: str
    layer: str
    salt: str
    arms: tuple[Arm, ...]
    buckets: frozenset[int]


@dataclass(frozen=True)
class Assignment:
    experiment_id: str
    arm: str
    config: dict[str, Any]
    propensity: float  # the probability this arm had of being chosen for the unit
    rules: RankingRules | None = None


def unit_hash(salt: str, unit_id: str) -> float:
    """SHA-256 of salt and unit id as a number uniform in [0, 1)."""
    digest = hashlib.sha256(f"{salt}\x00{unit_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def layer_bucket(layer: str, unit_id: str) -> int:
    return int(unit_hash(f"layer:{layer}", unit_id) * BUCKETS)


def choose_arm(arms: Sequence[Arm], salt: str, unit_id: str) -> tuple[Arm, float]:
    """The unit's arm by weight, and the arm's weight share (its propensity)."""
    total = sum(arm.weight for arm in arms)
    point = unit_hash(salt, unit_id) * total
    reached = 0.0
    for arm in arms:
        reached += arm.weight
        if point < reached:
            return arm, arm.weight / total
    # Only rounding in the running sum can leave the point past it: the last arm's range.
    return arms[-1], arms[-1].weight / total


def assign_all(experiments: Sequence[ExperimentSpec], unit_id: str) -> list[Assignment]:
    """The unit's arm in each layer where one of `experiments` owns its bucket, by layer name."""
    found = []
    for spec in sorted(experiments, key=lambda s: (s.layer, s.id)):
        if layer_bucket(spec.layer, unit_id) in spec.buckets:
            arm, propensity = choose_arm(spec.arms, spec.salt, unit_id)
            found.append(Assignment(spec.id, arm.name, dict(arm.config), propensity, arm.rules))
    return found


def assign(experiments: Sequence[ExperimentSpec], unit_id: str) -> Assignment | None:
    """The unit's assignment, or None when no experiment owns its bucket. Where running
    experiments in several layers hold the unit, the first layer by name decides (a served
    recommendation logs one experiment)."""
    found = assign_all(experiments, unit_id)
    return found[0] if found else None


# --- buckets from the start and stop times ----------------------------------------------------


def bucket_count(traffic: float) -> int:
    return max(1, round(traffic * BUCKETS))


def _utc(moment: dt.datetime) -> dt.datetime:
    # SQLite hands back naive datetimes; every time stored here is UTC.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def allocate_buckets(experiments: Iterable[Experiment]) -> dict[str, frozenset[int]]:
    """The buckets each started experiment owns (owned while running, or last owned when
    stopped), replaying each layer's starts and stops in time order: a start takes the lowest
    free buckets, a stop frees them. Stops go before starts at the same instant."""
    events: list[tuple[dt.datetime, int, str, Experiment]] = []
    for e in experiments:
        if e.started_at is None:
            continue
        events.append((_utc(e.started_at), 1, e.id, e))
        if e.stopped_at is not None:
            events.append((_utc(e.stopped_at), 0, e.id, e))
    free: dict[str, list[int]] = {}
    owned: dict[str, frozenset[int]] = {}
    for _, is_start, _, e in sorted(events, key=lambda event: event[:3]):
        layer_free = free.setdefault(e.layer, list(range(BUCKETS)))
        if is_start:
            # Two starts racing past the capacity check would leave the later one short: it gets
            # what is left rather than a bucket another experiment holds.
            taken = layer_free[: bucket_count(e.traffic)]
            del layer_free[: len(taken)]
            owned[e.id] = frozenset(taken)
        else:
            layer_free.extend(owned[e.id])
            layer_free.sort()
    return owned


def experiment_arms(e: Experiment) -> tuple[Arm, ...]:
    """The experiment's arms with their rules parsed."""
    arms = []
    for a in e.arms:
        config = a.get("config") or {}
        arms.append(Arm(a["name"], float(a["weight"]), config, parse_rules(a["name"], config)))
    return tuple(arms)


def running_experiments(
    engine: Engine, audience: str, arms: dict[str, tuple[Arm, ...]] | None = None
) -> list[ExperimentSpec]:
    """Every running experiment of `audience` with the buckets it owns, read from SQL now.
    `arms` caches each experiment's parsed arms by id across reads (an experiment's arms never
    change once created); it keeps the running experiments' only."""
    with Session(engine) as session:
        started = session.scalars(select(Experiment).where(Experiment.started_at.is_not(None)))
        rows = list(started)
    owned = allocate_buckets(rows)
    cache = {} if arms is None else arms
    running = [e for e in rows if e.status == "running" and e.audience == audience]
    parsed = {e.id: cache.get(e.id) or experiment_arms(e) for e in running}
    cache.clear()
    cache.update(parsed)
    return [ExperimentSpec(e.id, e.layer, e.salt, parsed[e.id], owned[e.id]) for e in running]


class LiveExperiments:
    """The running experiments of one store's live audience, read again at most every `ttl_s`
    seconds, so a request path can call `assign` on every request without a query each time."""

    def __init__(self, engine: Engine, ttl_s: float = CACHE_SECONDS) -> None:
        self._engine = engine
        self._ttl_s = ttl_s
        self._lock = threading.Lock()
        self._specs: list[ExperimentSpec] = []
        self._arms: dict[str, tuple[Arm, ...]] = {}
        self._read_at = -math.inf

    def specs(self) -> list[ExperimentSpec]:
        with self._lock:
            if time.monotonic() - self._read_at >= self._ttl_s:
                self._specs = running_experiments(self._engine, "live", self._arms)
                self._read_at = time.monotonic()
            return self._specs

    def assign(self, unit_id: str) -> Assignment | None:
        return assign(self.specs(), unit_id)


# --- life cycle ---------------------------------------------------------------------------------


def parse_arm(text: str) -> dict[str, Any]:
    """`name=weight` or `name=weight:{json config}` (the CLI's --arm) as an arm dict."""
    name, sep, rest = text.partition("=")
    weight_text, _, config_text = rest.partition(":")
    if not sep or not name.strip():
        raise AisleError(
            f"An arm is NAME=WEIGHT[:JSON], e.g. control=1 or new=1:{{}}, not {text!r}."
        )
    try:
        weight = float(weight_text)
    except ValueError:
        raise AisleError(
            f"Arm {name.strip()!r} has weight {weight_text!r}, not a number."
        ) from None
    config: Any = {}
    if config_text:
        try:
            config = json.loads(config_text)
        except json.JSONDecodeError as exc:
            raise AisleError(
                f"Arm {name.strip()!r} has a config that is not JSON: {exc.msg}."
            ) from None
    return {"name": name.strip(), "weight": weight, "config": config}


def parse_rules(arm: str, config: Mapping[str, Any]) -> RankingRules | None:
    """The ranking rules an arm's config sets (`{"rules": {...}}`), or None; AisleError with
    the first problem when they do not hold."""
    if "rules" not in config:
        return None
    try:
        return RankingRules.model_validate(config["rules"])
    except ValidationError as error:
        problem = error.errors()[0]
        where = ".".join(str(part) for part in problem["loc"]) or "rules"
        raise AisleError(
            f"Arm {arm!r} has ranking rules that do not hold: {where}: {problem['msg']}."
        ) from None


def _checked_arms(arms: Sequence[Mapping[str, Any]], audience: str) -> list[dict[str, Any]]:
    if len(arms) < 2:
        raise AisleError(f"An experiment needs at least two arms; {len(arms)} given.")
    names = [str(a.get("name", "")).strip() for a in arms]
    for name in names:
        if not _NAME.match(name):
            raise AisleError(
                f"Arm name {name!r} must be 1-64 letters, digits, spaces or _.:- characters."
            )
    if len(set(names)) != len(names):
        raise AisleError(f"Arm names must differ; given {', '.join(names)}.")
    checked = []
    for name, arm in zip(names, arms, strict=True):
        weight = arm.get("weight")
        if not isinstance(weight, (int, float)) or isinstance(weight, bool):
            raise AisleError(f"Arm {name!r} needs a numeric weight.")
        if not math.isfinite(weight) or weight <= 0:
            raise AisleError(f"Arm {name!r} has weight {weight}; weights must be above 0.")
        config = arm.get("config") or {}
        if not isinstance(config, dict):
            raise AisleError(f"Arm {name!r} has a config that is not a JSON object.")
        parse_rules(name, config)
        if "policy" in config and audience == "live":
            raise AisleError(
                f"Arm {name!r} names a simulated policy, which the storefront cannot serve; "
                "create the experiment with audience simulated."
            )
        checked.append({"name": name, "weight": float(weight), "config": config})
    return checked


def create_experiment(
    engine: Engine,
    *,
    name: str,
    layer: str,
    arms: Sequence[Mapping[str, Any]],
    traffic: float = 1.0,
    primary_metric: str = "conversion",
    created_by: str,
    planned_units: int | None = None,
    audience: str = "live",
) -> Experiment:
    """A new draft experiment; raises AisleError with the reason when the input is not valid.
    `planned_units` is the visits over all arms it is planned for
    (`report.plan_before_start`); `audience` is whose visits it enrols (`AUDIENCES`)."""
    name = name.strip()
    if not _NAME.match(name):
        raise AisleError(
            f"Experiment name {name!r} must be 1-64 letters, digits, spaces or _.:- characters."
        )
    if not _LAYER.match(layer):
        raise AisleError(
            f"Layer {layer!r} must be 1-64 lowercase letters, digits or _.- characters."
        )
    if not (isinstance(traffic, (int, float)) and 0 < traffic <= 1):
        raise AisleError(
            f"Traffic is a share of the layer's units above 0 and at most 1, not {traffic}."
        )
    if primary_metric not in METRICS:
        raise AisleError(f"Unknown metric {primary_metric!r}; choose one of {', '.join(METRICS)}.")
    if audience not in AUDIENCES:
        raise AisleError(f"Unknown audience {audience!r}; choose one of {', '.join(AUDIENCES)}.")
    checked = _checked_arms(arms, audience)
    with transaction(engine) as session:
        if session.scalar(select(Experiment.id).where(Experiment.name == name)) is not None:
            raise ExperimentStateError(f"An experiment named {name!r} already exists.")
        row = Experiment(
            id=f"exp-{secrets.token_hex(6)}",
            name=name,
            layer=layer,
            salt=secrets.token_hex(8),
            status="draft",
            audience=audience,
            traffic=float(traffic),
            arms=checked,
            primary_metric=primary_metric,
            planned_units=planned_units,
            created_by=created_by,
            created_at=dt.datetime.now(dt.UTC),
        )
        session.add(row)
        session.flush()
        session.expunge(row)
    return row


def _find(session: Session, key: str) -> Experiment:
    row = session.get(Experiment, key) or session.scalar(
        select(Experiment).where(Experiment.name == key)
    )
    if row is None:
        raise NotFoundError(f"No experiment with id or name {key!r}.")
    return row


def get_experiment(engine: Engine, key: str) -> Experiment:
    """The experiment with this id, or else this name."""
    with Session(engine, expire_on_commit=False) as session:
        row = _find(session, key)
        session.expunge(row)
        return row


def list_experiments(engine: Engine) -> list[Experiment]:
    """Every experiment, newest first."""
    with Session(engine) as session:
        rows = list(session.scalars(select(Experiment).order_by(Experiment.created_at.desc())))
        session.expunge_all()
        return rows


def start_experiment(engine: Engine, key: str) -> Experiment:
    """Start a draft experiment: it takes its share of its layer's free buckets now, or is
    refused when the layer's running experiments leave too few."""
    with transaction(engine) as session:
        row = _find(session, key)
        if row.status != "draft":
            raise ExperimentStateError(
                f"Experiment {row.name!r} is {row.status}; only a draft experiment can start."
            )
        in_layer = session.scalars(
            select(Experiment).where(Experiment.layer == row.layer, Experiment.status == "running")
        )
        held = sum(bucket_count(e.traffic) for e in in_layer)
        if held + bucket_count(row.traffic) > BUCKETS:
            raise ExperimentStateError(
                f"Layer {row.layer!r} has {(BUCKETS - held) / BUCKETS:.2%} of its traffic free; "
                f"experiment {row.name!r} needs {row.traffic:.2%}: stop an experiment in the "
                "layer or use another layer."
            )
        row.status = "running"
        row.started_at = dt.datetime.now(dt.UTC)
        session.flush()
        session.expunge(row)
    return row


def stop_experiment(engine: Engine, key: str) -> Experiment:
    """Stop a running experiment; its buckets go back to its layer."""
    with transaction(engine) as session:
        row = _find(session, key)
        if row.status != "running":
            raise ExperimentStateError(
                f"Experiment {row.name!r} is {row.status}; only a running one can stop."
            )
        row.status = "stopped"
        row.stopped_at = dt.datetime.now(dt.UTC)
        session.flush()
        session.expunge(row)
    return row
