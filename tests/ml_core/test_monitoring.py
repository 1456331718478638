"""The drift monitor on small generated worlds: a planted demand shift in one category is flagged
with a sentence and a retrain target; the same world without it (Black Friday's run-up and the
season included) raises nothing; a supplier that stops delivering empties the shelves, and the
sales it cuts are reported as supply trouble, not as a drop in demand; alerts are stored once
per day and refused days say why."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine

from ml_core.monitoring.alerts import MonitorResult, list_alerts, retrain_target, run_monitor
from ml_core.monitoring.performance import forecast_findings
from retail.errors import AisleError
from retail.store.bulk import table
from retail.world.seed import PINNED_END, ScaleSpec
from tests.ml_core.test_ctr_monitor import log_exposures
from tests.ml_core.tiny_world import seed_world_file

SPEC = ScaleSpec(80, 4, 30, 400, 0.9, 20, 1.0)
SHIFT_FROM = PINNED_END - dt.timedelta(days=8)


def _seed(folder: Path, *shocks: str) -> Engine:
    return seed_world_file(folder, SPEC, seed=5, shocks=shocks)


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    return _seed(tmp_path_factory.mktemp("plain"))


@pytest.fixture(scope="module")
def busiest(plain: Engine) -> str:
    """The category that sells most: a shift in it is one a monitor must see in a week."""
    sales = pd.read_sql(
        "select c.name, sum(d.units) as units from daily_sales d "
        "join variants v on v.id = d.variant_id join products p on p.id = v.product_id "
        "join categories c on c.id = p.category_id group by c.name order by units desc",
        plain,
    )
    return str(sales["name"].iloc[0])


@pytest.fixture(scope="module")
def shocked(tmp_path_factory: pytest.TempPathFactory, busiest: str) -> Engine:
    return _seed(
        tmp_path_factory.mktemp("shocked"), f"category={busiest},from={SHIFT_FROM},demand=+60%"
    )


@pytest.fixture(scope="module")
def shocked_run(shocked: Engine) -> MonitorResult:
    return run_monitor(shocked)


def test_a_category_shift_is_flagged_with_a_sentence_and_a_retrain_target(
    shocked_run: MonitorResult, busiest: str
) -> None:
    result = shocked_run
    assert result.as_of == PINNED_END
    flagged = [a for a in result.alerts if a.level == "category"]
    assert [a.segment for a in flagged] == [{"category": busiest}]
    alert = flagged[0]
    assert alert.kind == "drift" and alert.feature == "demand" and alert.effect > 0.2
    # The CUSUM dates the shift to within a few days of the truth.
    assert abs((alert.since - SHIFT_FROM).days) <= 3
    assert alert.message.startswith(f"{busiest} demand across the chain is ")
    assert "above its seasonal reference" in alert.message
    target = retrain_target(alert)
    assert target is not None and target.kind == "forecaster"
    assert target.segment == {"category": busiest}
    # Every alert is about the shifted category: its peers were not dragged along.
    assert {a.segment["category"] for a in result.alerts if "category" in a.segment} == {busiest}


def _category_days(engine: Engine, categories: list[str], since: dt.date) -> pd.DataFrame:
    """Units sold and stock-out SKU-days per day of these categories from `since` on."""
    names = ", ".join(f"'{c}'" for c in categories)
    return pd.read_sql(
        "select d.day, sum(d.units) as units, sum(d.stockout) as stockouts from daily_sales d "
        "join variants v on v.id = d.variant_id join products p on p.id = v.product_id "
        "join categories c on c.id = p.category_id "
        f"where c.name in ({names}) and d.day >= '{since}' group by d.day",
        engine,
    )


@pytest.fixture(scope="module")
def stalled(tmp_path_factory: pytest.TempPathFactory, plain: Engine) -> tuple[Engine, list[str]]:
    """The world with its biggest supplier delivering nothing for the last five weeks, and the
    categories that supplier stocks."""
    supplier = pd.read_sql(
        "select s.name, sum(d.units) as units from daily_sales d "
        "join supplier_items i on i.variant_id = d.variant_id and i.is_primary "
        "join suppliers s on s.id = i.supplier_id group by s.name order by units desc",
        plain,
    )["name"].iloc[0]
    categories = pd.read_sql(
        "select distinct c.name from supplier_items i join suppliers s on s.id = i.supplier_id "
        "join variants v on v.id = i.variant_id join products p on p.id = v.product_id "
        f"join categories c on c.id = p.category_id where s.name = '{supplier}' and i.is_primary",
        plain,
    )["name"].tolist()
    start = PINNED_END - dt.timedelta(days=35)
    engine = _seed(tmp_path_factory.mktemp("stalled"), f"supplier={supplier},from={start},supply=0")
    return engine, categories


def test_a_drop_in_sales_from_empty_shelves_is_not_demand_drift(
    stalled: tuple[Engine, list[str]], plain: Engine
) -> None:
    engine, categories = stalled
    week = PINNED_END - dt.timedelta(days=6)
    before = _category_days(plain, categories, week)
    after = _category_days(engine, categories, week)
    # The shelves did empty and the week's sales did fall: a monitor of raw sales sees a drop.
    assert after["stockouts"].sum() > 3 * before["stockouts"].sum()
    assert after["units"].sum() < 0.8 * before["units"].sum()
    alerts = run_monitor(engine).alerts
    drops = [a.message for a in alerts if a.kind == "drift" and a.effect < 0]
    assert drops == []
    # The same drop is reported for what it is: supply trouble in the supplier's categories.
    supply = [a for a in alerts if a.kind == "supply"]
    assert supply, "the stalled supplier's empty shelves raised no supply alert"
    assert {a.segment.get("category") for a in supply} <= {*categories, None}
    for alert in supply:
        assert alert.effect <= -0.2 and alert.retrain_kind is None
        assert " of its usual volume) were out of stock on an average day: a supply problem, " in (
            alert.message
        )
        # Empty shelves explain at least half the shortfall.
        assert alert.details["volume_out_of_stock"] >= -alert.effect / 2
        assert alert.details["skus_out_of_stock"] > 0


def test_alerts_are_stored_once_per_day(shocked: Engine, shocked_run: MonitorResult) -> None:
    first = shocked_run
    again = run_monitor(shocked)
    stored = list_alerts(shocked, as_of=PINNED_END)
    assert sorted(a.id for a in stored) == sorted(a.id for a in again.alerts)
    assert sorted(a.id for a in first.alerts) == sorted(a.id for a in again.alerts)
    earlier = run_monitor(shocked, SHIFT_FROM - dt.timedelta(days=1))
    assert earlier.alerts == []  # before the shift nothing was wrong
    assert len(list_alerts(shocked)) == len(stored)


def test_the_same_world_without_the_shift_raises_nothing(plain: Engine) -> None:
    # Late November: the December run-up's first days and Black Friday's eve are in the window.
    for day in (PINNED_END, dt.date(2026, 11, 26) - dt.timedelta(days=20)):
        assert run_monitor(plain, day).alerts == []


def test_days_the_monitor_cannot_judge_are_refused(plain: Engine) -> None:
    with pytest.raises(AisleError, match="days of history before the first as-of day"):
        run_monitor(plain, PINNED_END - dt.timedelta(days=100))
    with pytest.raises(AisleError, match="monitor a day up to it"):
        run_monitor(plain, PINNED_END + dt.timedelta(days=1))


def test_a_forecast_that_no_longer_covers_its_category_is_flagged(
    plain: Engine, busiest: str
) -> None:
    """A stored run whose forecasts of one category are half of what then sold: that category's
    series fall out of their P10-P90 far more often than the backtest's 80%; the rest fit."""
    first_day = PINNED_END - dt.timedelta(days=13)
    sales = pd.read_sql(
        "select d.variant_id, d.location_id, d.day, d.units, c.name as category "
        "from daily_sales d join variants v on v.id = d.variant_id "
        "join products p on p.id = v.product_id join categories c on c.id = p.category_id "
        f"where d.day >= '{first_day}'",
        plain,
    )
    sales["day"] = pd.to_datetime(sales["day"]).dt.date
    keys = sales[["variant_id", "location_id", "category"]].drop_duplicates()
    grid = keys.merge(
        pd.DataFrame({"day": [first_day + dt.timedelta(days=i) for i in range(28)]}), how="cross"
    )
    rows = grid.merge(sales, on=["variant_id", "location_id", "category", "day"], how="left")
    actual = rows["units"].fillna(0.0) + 0.2  # what sold, as a good forecast would have it
    mean = actual.where(rows["category"] != busiest, actual / 2)
    run_id = "run-under-test"
    with plain.begin() as conn:
        conn.execute(
            table("forecast_runs").insert(),
            {
                "id": run_id,
                "model": "seasonal_naive",
                "model_version": "v-test",
                "created_at": dt.datetime.now(dt.UTC),
                "first_day": first_day,
                "horizon": 28,
                "parameters": {},
                "metrics": {"horizon_total": {"level_cv": 0.05, "coverage_80": 0.8}},
            },
        )
        conn.execute(
            table("forecasts").insert(),
            [
                {
                    "run_id": run_id,
                    "variant_id": r.variant_id,
                    "location_id": r.location_id,
                    "day": r.day,
                    "mean": m,
                    "p10": 0.7 * m,
                    "p50": m,
                    "p90": 1.3 * m,
                    "p95": 1.4 * m,
                }
                for r, m in zip(rows.itertuples(index=False), mean, strict=True)
            ],
        )
    try:
        found = forecast_findings(plain, PINNED_END)
        assert {f.segment["category"] for f in found} == {busiest}
        chain = next(f for f in found if f.level == "category")
        assert chain.since == first_day and chain.model_version == "v-test"
        assert chain.inside < 0.5 * chain.series and chain.effect > 0.5
        assert chain.message.startswith(f"{busiest} forecasts across the chain miss: ")
        assert "(backtest: 80%)" in chain.message
        # Before a week of actuals a run is not judged.
        assert forecast_findings(plain, first_day + dt.timedelta(days=5)) == []
    finally:
        with plain.begin() as conn:
            conn.execute(table("forecasts").delete())
            conn.execute(table("forecast_runs").delete())


def test_a_recommendation_ctr_drop_is_stored_as_an_alert(plain: Engine) -> None:
    # A day no other test monitors: its 28-day reference holds only these exposures.
    day = PINNED_END - dt.timedelta(days=20)
    log_exposures(plain, {"cart": (0.12, 0.03)}, as_of=day)
    result = run_monitor(plain, day)
    ctr = [a for a in result.alerts if a.kind == "ctr"]
    assert [a.segment for a in ctr] == [{"placement": "cart"}]
    stored = [a for a in list_alerts(plain, as_of=day) if a.kind == "ctr"]
    assert [a.message for a in stored] == [ctr[0].message]
    assert stored[0].message.startswith("Recommendation CTR on the cart placement fell to ")
    assert retrain_target(stored[0]) is None
