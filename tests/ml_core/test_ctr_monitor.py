"""The recommendation CTR monitor on a constructed exposure and click log: a halved CTR on one
placement's day is an alert with its sentence; the same CTR as its reference is none."""

from __future__ import annotations

import datetime as dt
import uuid

import numpy as np
from sqlalchemy import Engine, insert

from ml_core.monitoring.alerts import _ctr_alert
from ml_core.monitoring.ctr import REFERENCE_DAYS, ctr_findings, daily_ctr
from retail.store.models import RecommendationServed, ShopperEvent

AS_OF = dt.date(2026, 11, 20)
LISTS_PER_DAY = 300


def log_exposures(
    engine: Engine, rates: dict[str, tuple[float, float]], as_of: dt.date = AS_OF, seed: int = 7
) -> None:
    """`LISTS_PER_DAY` served lists per placement and day over the reference and `as_of`, each
    clicked with the placement's (reference, as-of day) rate; plus one empty list a day."""
    rng = np.random.default_rng(seed)
    served, events = [], []
    for offset in range(REFERENCE_DAYS, -1, -1):
        day = as_of - dt.timedelta(days=offset)
        at = dt.datetime.combine(day, dt.time(12), dt.UTC)
        for placement, (reference, today) in rates.items():
            rate = today if offset == 0 else reference
            for n in range(LISTS_PER_DAY + 1):
                rid = str(uuid.uuid4())
                items = [] if n == LISTS_PER_DAY else ["P1", "P2", "P3"]
                served.append(
                    {
                        "id": rid,
                        "served_at": at,
                        "placement": placement,
                        "unit_id": f"session:{n}",
                        "model_version": "v1",
                        "items": items,
                        "context": {},
                    }
                )
                if items and rng.random() < rate:
                    for _ in range(2):  # a second click on the same list counts once
                        events.append(
                            {
                                "session_id": str(n),
                                "occurred_at": at,
                                "event_type": "click",
                                "product_id": "P2",
                                "recommendation_id": rid,
                            }
                        )
    with engine.begin() as conn:
        conn.execute(insert(RecommendationServed), served)
        conn.execute(insert(ShopperEvent), events)


def test_a_halved_ctr_is_an_alert_and_a_steady_one_is_not(engine: Engine) -> None:
    log_exposures(engine, {"home": (0.10, 0.04), "product": (0.08, 0.08)})
    panel = daily_ctr(engine, AS_OF, AS_OF).set_index("placement")
    # The empty list a day offered nothing to click: it is no exposure.
    assert panel.loc["home", "exposures"] == LISTS_PER_DAY
    findings = ctr_findings(engine, AS_OF)
    assert [f.placement for f in findings] == ["home"]
    found = findings[0]
    assert found.effect < -0.4 and found.p_value < 0.001
    assert found.clicks == panel.loc["home", "clicks"]
    alert = _ctr_alert(found, dt.datetime.now(dt.UTC))
    assert alert.kind == "ctr" and alert.segment == {"placement": "home"}
    assert alert.message.startswith("Recommendation CTR on the home placement fell to ")
    assert f"({found.clicks} clicks on {LISTS_PER_DAY} lists)" in alert.message
    # The day before the drop: every placement as its reference.
    assert ctr_findings(engine, AS_OF - dt.timedelta(days=1)) == []


def test_a_steady_ctr_raises_nothing(engine: Engine) -> None:
    log_exposures(engine, {"home": (0.10, 0.10), "cart": (0.05, 0.05)}, seed=11)
    assert ctr_findings(engine, AS_OF) == []
