"""`aisle simulate traffic`: simulated shoppers visit the storefront of the generated world.

Visitors are the world's customers (and anonymous visitors with the population's taste); they
click and buy by their true utility (`evals/market.py`). Without `--experiment` one policy
serves every visit and nothing is written. With it, each unit gets the arm the experiment's
deterministic assignment gives it, the arm's policy serves it, and the visits are written to the
store as the storefront would (`recommendations_served` plus click, add-to-cart and purchase
events naming the recommendation), so `aisle experiments report` reads them like real traffic.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from api.commands.common import JsonFlag, print_json, print_table, store
from retail.errors import AisleError

simulate_app = typer.Typer(
    help="Simulated shoppers whose taste is known, for experiments and bandits.",
    no_args_is_help=True,
)

POLICIES = ("recommender", "popularity", "random", "oracle")


@simulate_app.command("traffic")
def traffic_cmd(
    visits: Annotated[int, typer.Option("--visits", help="How many visits to simulate.")],
    experiment: Annotated[
        str | None,
        typer.Option(
            "--experiment",
            help="A running experiment (id or name): its arms serve the units it holds, and the "
            "visits are written to the store.",
        ),
    ] = None,
    policy: Annotated[
        str,
        typer.Option(
            "--policy",
            help="What serves the visits (those outside the experiment, with one): "
            + ", ".join(POLICIES)
            + ".",
        ),
    ] = "recommender",
    k: Annotated[int, typer.Option("--k", help="Items shown per visit.")] = 8,
    placement: Annotated[
        str, typer.Option("--placement", help="home, product, cart or post_purchase.")
    ] = "home",
    anonymous_share: Annotated[
        float, typer.Option("--anonymous-share", help="Share of visits by anonymous visitors.")
    ] = 0.4,
    seed: Annotated[int, typer.Option("--seed", help="The same seed gives the same visits.")] = 0,
    as_json: JsonFlag = False,
) -> None:
    """Simulate VISITS visits; print observed and true CTR, add-to-cart rate, conversion and
    revenue per visit per arm (true: the expectation over the whole population)."""
    import numpy as np

    from evals.market import (
        ArmsPolicy,
        ClickModel,
        Market,
        Policy,
        PopularityPolicy,
        RandomPolicy,
        record_visits,
        unit_chooser,
    )
    from retail.settings import get_settings

    if visits < 1:
        raise AisleError(f"--visits must be at least 1, not {visits}.")
    model = ClickModel(k=k, anonymous_share=anonymous_share)
    market = Market.from_world(get_settings().world_dir, model, seed=seed)
    recommender = _LazyRecommender()

    def make(config: Mapping[str, Any], label: str, *, arm: bool = False) -> Policy:
        from evals.market import OraclePolicy, RecommenderPolicy

        name = str(config.get("policy", label))
        if name == "recommender":
            return RecommenderPolicy(market, recommender.model(), name=label)
        if name == "popularity":
            return PopularityPolicy(market, name=label)
        if name == "random":
            return RandomPolicy(market, name=label)
        if name == "oracle":
            return OraclePolicy(market, noise=float(config.get("noise", 0.0)), name=label)
        if arm:
            raise AisleError(
                f"Arm {label!r} names no simulated policy; give it a config "
                f'{{"policy": ...}} with one of {", ".join(POLICIES)}.'
            )
        raise AisleError(f"Unknown policy {name!r}: choose one of {', '.join(POLICIES)}.")

    default = make({}, policy)
    served: Policy = default
    versions: dict[str, str] = {}
    experiment_id = None
    if experiment is not None:
        with store() as engine:
            experiment_id, arms, assign = _experiment(engine, experiment)
        served = ArmsPolicy(
            {name: make(config, name, arm=True) for name, config in arms.items()},
            unit_chooser(list(arms), assign),
            fallback=default,
        )
        for name, config in arms.items():
            versions[name] = recommender.version_for(str(config.get("policy", name)))
    rng = np.random.default_rng(seed)
    run = uuid.uuid4().hex[:8]
    visitors = market.visitors(visits, rng, placement=placement, session_prefix=f"sim-{run}")
    progress = Progress(
        TextColumn("simulated visits"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    with progress:
        task = progress.add_task("visits", total=visits)
        log = market.simulate(served, visitors, rng, on_batch=lambda n: progress.advance(task, n))
    events = 0
    if experiment_id is not None:
        with store() as engine:
            events = record_visits(
                engine,
                market,
                log,
                experiment_id=experiment_id,
                model_versions=versions,
                default_version=recommender.version_for(policy),
            )
    outside = default.name if experiment_id is None else f"{default.name} (not in the experiment)"
    rows = _summary(market, log, served, default, outside)
    if as_json:
        print_json(
            {"visits": visits, "experiment_id": experiment_id, "events": events, "arms": rows}
        )
        return
    _print(rows, visits, experiment_id, events)


class _LazyRecommender:
    """The active trained recommender, loaded the first time a policy needs it."""

    def __init__(self) -> None:
        self._loaded: tuple[str, Any] | None = None

    def model(self) -> Any:
        return self._load()[1]

    def version_for(self, policy: str) -> str:
        return self._load()[0] if policy == "recommender" else f"simulated:{policy}"

    def _load(self) -> tuple[str, Any]:
        if self._loaded is None:
            from ml_core.recommend.models import load_recommender
            from ml_core.recommend.train import ARTIFACT
            from ml_core.registry import ArtifactRegistry
            from retail.settings import get_settings

            registry = ArtifactRegistry(get_settings().var_dir / "artifacts")
            try:
                manifest, folder = registry.active(ARTIFACT)
            except AisleError:
                raise AisleError(
                    "There is no trained recommender; run `aisle recommend train` or pick "
                    "another --policy."
                ) from None
            self._loaded = (manifest.version, load_recommender(folder))
        return self._loaded


def _experiment(
    engine: Any, key: str
) -> tuple[str, dict[str, dict[str, Any]], Callable[[str], tuple[str, float] | None]]:
    """The running experiment's id, its arms' configs, and its assignment of a unit."""
    from ml_core.experiments.assignment import assign, get_experiment, running_experiments

    found = get_experiment(engine, key)
    if found.status != "running":
        raise AisleError(
            f"Experiment {found.name!r} is {found.status}; only a running experiment gets traffic."
        )
    if found.audience != "simulated":
        # Simulated visits in a live experiment would be read as real shoppers' by its report.
        raise AisleError(
            f"Experiment {found.name!r} enrols the storefront's visitors; simulate traffic for "
            "an experiment created with audience simulated."
        )
    specs = [s for s in running_experiments(engine, "simulated") if s.id == found.id]

    def assign_unit(unit_id: str) -> tuple[str, float] | None:
        assignment = assign(specs, unit_id)
        return None if assignment is None else (assignment.arm, assignment.propensity)

    arms = {str(a["name"]): dict(a.get("config") or {}) for a in found.arms}
    return found.id, arms, assign_unit


def _summary(
    market: Any, log: Any, served: Any, default: Any, outside: str
) -> list[dict[str, Any]]:
    """Observed rates per arm (the visits without an arm under `outside`) beside the true
    expected ones of the policy that served them."""
    import numpy as np

    from evals.market import ArmsPolicy

    policies = dict(served.arms) if isinstance(served, ArmsPolicy) else {}
    labels = np.array([outside if a is None else a for a in log.arm], dtype=object)
    rows = []
    for label in dict.fromkeys(labels.tolist()):
        part = log.take(np.flatnonzero(labels == label))
        truth = market.expected(policies.get(label, default))
        rows.append(
            {
                "arm": label,
                "units": int(len(set(part.visitors.unit_id.tolist()))),
                "observed": part.summary(),
                "true": {
                    "ctr": truth.ctr,
                    "add_to_cart_rate": truth.add_to_cart_rate,
                    "conversion": truth.conversion,
                    "revenue_per_visit": truth.revenue_per_visit,
                },
            }
        )
    return rows


def _print(rows: list[dict[str, Any]], visits: int, experiment_id: str | None, events: int) -> None:
    table = Table(title=f"{visits:,} simulated visits (observed / true)")
    for heading in ("arm", "visits", "units", "CTR", "add-to-cart", "conversion", "revenue/visit"):
        table.add_column(heading, justify="left" if heading == "arm" else "right")
    for row in rows:
        seen, true = row["observed"], row["true"]
        table.add_row(
            str(row["arm"]),
            f"{int(seen['visits']):,}",
            f"{row['units']:,}",
            f"{seen['ctr']:.2%} / {true['ctr']:.2%}",
            f"{seen['add_to_cart_rate']:.2%} / {true['add_to_cart_rate']:.2%}",
            f"{seen['conversion']:.2%} / {true['conversion']:.2%}",
            f"{seen['revenue_per_visit']:.2f} / {true['revenue_per_visit']:.2f}",
        )
    print_table(table)
    if experiment_id is not None:
        typer.echo(
            f"wrote {visits:,} recommendations served and {events:,} events for experiment "
            f"{experiment_id}"
        )
