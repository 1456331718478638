"""`aisle monitor run`: run the drift and forecast checks on one as-of day and store their alerts;
and what a retraining job reads off an alert.

An alert is stored once per check, feature, segment and as-of day (a re-run of the day replaces
it), with the sentence a planner reads.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, Select, delete, func, select
from sqlalchemy.orm import Session

from ml_core.monitoring.ctr import CtrFinding, ctr_findings
from ml_core.monitoring.drift import HISTORY_DAYS, DriftFinding, check_history, scan
from ml_core.monitoring.elasticity import ElasticityFinding, elasticity_findings
from ml_core.monitoring.performance import ForecastFinding, forecast_findings
from ml_core.monitoring.segments import load_segment_panel
from retail.errors import AisleError
from retail.store.bulk import table
from retail.store.models import DailySales, MonitorAlert


@dataclass(frozen=True, slots=True)
class RetrainTarget:
    """What a retraining job should train a challenger of, and on which series."""

    kind: str  # the artifact kind: "forecaster"
    segment: dict[str, str]  # the series partition: {"category": ..., "location": ...}
    reason: str


def retrain_target(alert: MonitorAlert) -> RetrainTarget | None:
    """The model kind and segment to retrain for an alert; None when a retrained model would not
    help (no alert kind maps elsewhere yet)."""
    if alert.retrain_kind is None:
        return None
    return RetrainTarget(alert.retrain_kind, dict(alert.segment), alert.message)


@dataclass(frozen=True, slots=True)
class MonitorResult:
    as_of: dt.date
    segments: int
    alerts: list[MonitorAlert]


def sales_days(engine: Engine) -> tuple[dt.date, dt.date]:
    """The first and last day with sales."""
    with engine.connect() as conn:
        first, last = conn.execute(select(func.min(DailySales.day), func.max(DailySales.day))).one()
    if last is None:
        raise AisleError("There are no daily sales to monitor; seed or import data first.")
    return _as_date(first), _as_date(last)


def _as_date(value: object) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))


def run_monitor(engine: Engine, as_of: dt.date | None = None) -> MonitorResult:
    """Check demand drift per segment, the latest forecast against its band, each placement's
    recommendation CTR and each approved price change's sales against its elasticity model on
    `as_of` (default: the last day with sales), and store the alerts."""
    first, last = sales_days(engine)
    as_of = last if as_of is None else as_of
    if as_of > last:
        raise AisleError(f"The sales end {last.isoformat()}; monitor a day up to it, not {as_of}.")
    check_history(first, as_of)  # before the panel is read: a refusal is immediate
    panel = load_segment_panel(engine, as_of=as_of, history_days=HISTORY_DAYS)
    drift = scan(panel, as_of, as_of)
    forecast = forecast_findings(engine, as_of)
    ctr = ctr_findings(engine, as_of)
    elasticity = elasticity_findings(engine, as_of)
    now = dt.datetime.now(dt.UTC)
    alerts = (
        [_drift_alert(f, now) for f in drift]
        + [_forecast_alert(f, now) for f in forecast]
        + [_ctr_alert(f, now) for f in ctr]
        + [_elasticity_alert(f, now) for f in elasticity]
    )
    with engine.begin() as conn:
        # Re-running a day replaces its alerts: the latest data and code decide what it shows.
        conn.execute(
            delete(table("monitor_alerts")).where(table("monitor_alerts").c.as_of == as_of)
        )
        if alerts:
            conn.execute(table("monitor_alerts").insert(), [_row(a) for a in alerts])
    return MonitorResult(as_of, len(panel.category), alerts)


def alerts_query(as_of: dt.date | None = None) -> Select[MonitorAlert]:
    """The stored alerts (of one as-of day), newest day first, the strongest first within it."""
    query = select(MonitorAlert)
    if as_of is not None:
        query = query.where(MonitorAlert.as_of == as_of)
    return query.order_by(MonitorAlert.as_of.desc(), MonitorAlert.p_value, MonitorAlert.id)


def list_alerts(
    engine: Engine, *, as_of: dt.date | None = None, limit: int = 100
) -> list[MonitorAlert]:
    with Session(engine) as session:
        return list(session.scalars(alerts_query(as_of).limit(limit)))


def _alert_id(check: str, feature: str, segment: dict[str, str], as_of: dt.date) -> str:
    key = json.dumps([check, feature, segment, as_of.isoformat()], sort_keys=True)
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def _drift_alert(f: DriftFinding, now: dt.datetime) -> MonitorAlert:
    # Sales that empty shelves cut are supply trouble for the planner, not demand drift.
    check = "supply" if f.feature == "supply" else "drift"
    return MonitorAlert(
        id=_alert_id(check, f.feature, f.segment, f.as_of),
        kind=check,
        feature=f.feature,
        level=f.level,
        segment=f.segment,
        as_of=f.as_of,
        since=f.since,
        effect=round(f.effect, 4),
        p_value=f.p_value,
        message=f.message,
        # A shift in demand makes the forecaster of those series stale; supply trouble does not.
        retrain_kind="forecaster" if f.feature == "demand" else None,
        details={
            "z": round(f.z, 2),
            "days_beyond": f.days_beyond,
            "actual": round(f.actual, 1),
            "expected": round(f.expected, 1),
            "skus_out_of_stock": round(f.off_shelf, 1),
            "skus_on_sale": round(f.listed, 1),
            "volume_out_of_stock": round(f.volume_out, 3),
        },
        created_at=now,
    )


def _forecast_alert(f: ForecastFinding, now: dt.datetime) -> MonitorAlert:
    return MonitorAlert(
        id=_alert_id("forecast", "coverage", f.segment, f.as_of),
        kind="forecast",
        feature="coverage",
        level=f.level,
        segment=f.segment,
        as_of=f.as_of,
        since=f.since,
        effect=round(f.effect, 4),
        p_value=f.p_value,
        message=f.message,
        retrain_kind="forecaster",
        details={
            "run_id": f.run_id,
            "model_version": f.model_version,
            "inside": f.inside,
            "series": f.series,
            "expected_coverage": f.expected_coverage,
        },
        created_at=now,
    )


def _ctr_alert(f: CtrFinding, now: dt.datetime) -> MonitorAlert:
    return MonitorAlert(
        id=_alert_id("ctr", "ctr", {"placement": f.placement}, f.as_of),
        kind="ctr",
        feature="ctr",
        level="placement",
        segment={"placement": f.placement},
        as_of=f.as_of,
        since=f.since,
        effect=round(f.effect, 4),
        p_value=f.p_value,
        message=f.message,
        # A CTR drop may be the page as much as the model: a person looks before a retrain.
        retrain_kind=None,
        details={
            "exposures": f.exposures,
            "clicks": f.clicks,
            "reference_exposures": f.reference_exposures,
            "reference_clicks": f.reference_clicks,
        },
        created_at=now,
    )


def _elasticity_alert(f: ElasticityFinding, now: dt.datetime) -> MonitorAlert:
    segment = {"product": f.product_id, "zone": f.zone}
    return MonitorAlert(
        id=_alert_id("elasticity", "elasticity", segment, f.as_of),
        kind="elasticity",
        feature="elasticity",
        level="product",
        segment=segment,
        as_of=f.as_of,
        since=f.since,
        effect=round(f.effect, 4),
        p_value=f.p_value,
        message=f.message,
        # The price response is the elasticity model's to re-estimate, with these sales in.
        retrain_kind="elasticity",
        details={
            "proposal_id": f.proposal_id,
            "z": round(f.z, 2),
            "days": f.days,
            "days_out_of_stock": f.days_out_of_stock,
            "sold": round(f.sold, 1),
            "predicted": round(f.predicted, 1),
            "predicted_low": round(f.predicted_low, 1),
            "predicted_high": round(f.predicted_high, 1),
            "elasticity": f.elasticity,
            "elasticity_se": f.elasticity_se,
            "implied": round(f.implied, 3),
            "implied_se": round(f.implied_se, 3),
        },
        created_at=now,
    )


def _row(alert: MonitorAlert) -> dict[str, Any]:
    return {c.name: getattr(alert, c.name) for c in MonitorAlert.__table__.columns}


def alert_public(alert: MonitorAlert) -> dict[str, Any]:
    """An alert as the CLI's --json and the API show it."""
    out = _row(alert)
    for name in ("as_of", "since", "created_at"):
        out[name] = out[name].isoformat()
    return out
