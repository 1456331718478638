"""A shadow recommender on live requests, and how it compares with the served one.

When a recommender version is in the `shadow` stage, `ShadowRunner.run` answers each placement
request a second time with it, after the response has gone out (a FastAPI background task: the
served path waits for nothing), for a deterministic `Settings.shadow_sample` share of requests,
and logs the list in `recommendations_shadow` under the served `recommendation_id`. It is never
served, and kept out of the exposure log so experiments and attribution never count it.

`live_comparison` reads, for the requests a version shadowed, the items their served list got
clicked or bought, and where each stood in the served and in the shadow list: hit rate (in the
list at all) and mean reciprocal rank. Clicks can only land on served items, so the served hit
rate is 1 by construction; the shadow's says how many of what shoppers chose it would have shown
at all, and the MRRs compare how high each put them. The paired reciprocal ranks are tested with
the Wilcoxon signed-rank test.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import threading
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy.stats import wilcoxon
from sqlalchemy import Engine, select

from ml_core.recommend.live import BatchWriter, LiveStore
from ml_core.recommend.placements import Context, PlacementName, Placements, Visitor
from ml_core.recommend.ranking import RankingRules
from ml_core.recommend.serving import RecommendationService
from ml_core.recommend.train import ARTIFACT
from ml_core.registry import ArtifactRegistry
from retail.settings import Settings
from retail.store.models import RecommendationServed, RecommendationShadow, ShopperEvent

logger = logging.getLogger(__name__)

# The events that say a shopper chose a recommended item.
CHOICES = ("click", "purchase")


def shadow_version(registry: ArtifactRegistry) -> str | None:
    """The newest recommender version in the `shadow` stage, if any."""
    stages = registry.ledger(ARTIFACT).stages
    shadows = [v for v in registry.version_ids(ARTIFACT) if stages.get(v) == "shadow"]
    return shadows[-1] if shadows else None


def sampled(recommendation_id: str, share: float) -> bool:
    """Whether the request is in the shadowed share: by its id's hash, so a re-run agrees."""
    digest = hashlib.sha256(recommendation_id.encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < share


class ShadowRunner:
    """The shadow version's placements in this process, loaded when a version enters shadow
    (one `stat` of the stage ledger per request otherwise) and dropped when it leaves it."""

    def __init__(
        self, engine: Engine, settings: Settings, live: LiveStore, writer: BatchWriter
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.live = live
        self.writer = writer
        self._registry = ArtifactRegistry(settings.var_dir / "artifacts")
        self._lock = threading.Lock()
        self._stamp: Any = None
        self._placements: Placements | None = None

    def placements(self) -> Placements | None:
        """The shadow version's placements, or None while no version is in shadow."""
        stamp = self._registry.ledger_stamp(ARTIFACT)
        with self._lock:
            if stamp != self._stamp:
                self._stamp = stamp
                version = shadow_version(self._registry) if stamp is not None else None
                current = self._placements
                if current is None or current.service.model_version != version:
                    if current is not None:
                        current.service.close()
                    self._placements = (
                        None
                        if version is None
                        else Placements(
                            RecommendationService(self.engine, self.settings, version=version),
                            self.live,
                            self.engine,
                        )
                    )
            shadow = self._placements
        if shadow is not None:
            shadow.service.follow_catalog()  # ranked from the same catalogue as the served list
        return shadow

    def wanted(self, recommendation_id: str) -> bool:
        """Whether `run` has anything to do for this request: it is in the sampled share, and a
        version is in shadow or the stage ledger moved since it was last read (`run` then
        loads what it says). The caller schedules `run` only then: a background task per
        request costs a worker thread's hop even when nothing is in shadow."""
        if not sampled(recommendation_id, self.settings.shadow_sample):
            return False
        return self._placements is not None or self._registry.ledger_stamp(ARTIFACT) != self._stamp

    def run(
        self,
        recommendation_id: str,
        visitor: Visitor,
        placement: PlacementName,
        context: Context,
        *,
        product_id: str | None,
        k: int,
        rules: RankingRules | None,
    ) -> None:
        """Answer the request with the shadow version and log its list; a failure is logged and
        goes no further (the shadow must never disturb serving)."""
        if not sampled(recommendation_id, self.settings.shadow_sample):
            return
        try:
            shadow = self.placements()
            if shadow is None:
                return
            ranked = shadow.recommend(
                visitor, placement, context, product_id=product_id, k=k, rules=rules
            )
        except Exception:
            logger.exception("shadow recommender failed on %s", recommendation_id)
            return
        self.writer.add(
            {
                "recommendation_id": recommendation_id,
                "model_version": shadow.service.model_version,
                "computed_at": dt.datetime.now(dt.UTC),
                "placement": placement,
                "items": [r.item_id for r in ranked],
            }
        )

    def close(self) -> None:
        if self._placements is not None:
            self._placements.service.close()


@dataclass(frozen=True, slots=True)
class ListScore:
    hit_rate: float
    mrr: float


@dataclass(frozen=True, slots=True)
class LiveComparison:
    """The served and the shadow lists on the items shoppers chose from the served one."""

    shadow_version: str
    served_versions: list[str]
    requests: int
    """Requests the version shadowed."""
    chosen_requests: int
    """Of those, the ones whose served list got a click or purchase."""
    chosen_items: int
    served: ListScore
    shadow: ListScore
    p_value: float | None
    """Wilcoxon signed-rank on the paired reciprocal ranks; None without a difference."""

    def figures(self) -> tuple[dict[str, float], dict[str, float]]:
        """The served and the shadow scores as promotion figures (`live_mrr`, `live_hit_rate`)."""
        return (
            {"live_mrr": self.served.mrr, "live_hit_rate": self.served.hit_rate},
            {"live_mrr": self.shadow.mrr, "live_hit_rate": self.shadow.hit_rate},
        )

    def sentence(self) -> str:
        if not self.chosen_items:
            return (
                f"Shadow {self.shadow_version} answered {self.requests} live requests; none of "
                "their served lists got a click or purchase yet."
            )
        p = "" if self.p_value is None else f" (Wilcoxon p={self.p_value:.3g})"
        return (
            f"On {self.chosen_items} items shoppers chose from {self.chosen_requests} of "
            f"{self.requests} shadowed requests, shadow {self.shadow_version} had "
            f"{self.shadow.hit_rate:.0%} in its list with MRR {self.shadow.mrr:.3f} against the "
            f"served list's {self.served.mrr:.3f}{p}."
        )

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["sentence"] = self.sentence()
        return out


def live_comparison(engine: Engine, version: str) -> LiveComparison:
    """The served against the shadow lists of the requests `version` shadowed."""
    with engine.connect() as conn:
        pairs = conn.execute(
            select(
                RecommendationShadow.recommendation_id,
                RecommendationShadow.items,
                RecommendationServed.items,
                RecommendationServed.model_version,
            )
            .join(
                RecommendationServed,
                RecommendationServed.id == RecommendationShadow.recommendation_id,
            )
            .where(RecommendationShadow.model_version == version)
        ).all()
        chosen = conn.execute(
            select(ShopperEvent.recommendation_id, ShopperEvent.product_id)
            .join(
                RecommendationShadow,
                RecommendationShadow.recommendation_id == ShopperEvent.recommendation_id,
            )
            .where(
                RecommendationShadow.model_version == version,
                ShopperEvent.event_type.in_(CHOICES),
            )
            .distinct()
        ).all()
    lists = {rid: (list(shadow), list(served)) for rid, shadow, served, _ in pairs}
    served_rr: list[float] = []
    shadow_rr: list[float] = []
    requests = set()
    for rid, product in chosen:
        # An event that names no product (a page-level click) says nothing about either list.
        if rid not in lists or product is None:
            continue
        shadow_items, served_items = lists[rid]
        requests.add(rid)
        served_rr.append(_reciprocal_rank(served_items, product))
        shadow_rr.append(_reciprocal_rank(shadow_items, product))
    return LiveComparison(
        shadow_version=version,
        served_versions=sorted({v for *_, v in pairs}),
        requests=len(lists),
        chosen_requests=len(requests),
        chosen_items=len(served_rr),
        served=_score(served_rr),
        shadow=_score(shadow_rr),
        p_value=_paired_p(served_rr, shadow_rr),
    )


def _reciprocal_rank(items: Sequence[str], product: str) -> float:
    return 1.0 / (items.index(product) + 1) if product in items else 0.0


def _score(ranks: Sequence[float]) -> ListScore:
    if not ranks:
        return ListScore(0.0, 0.0)
    values = np.asarray(ranks)
    return ListScore(float((values > 0).mean()), float(values.mean()))


def _paired_p(served: Sequence[float], shadow: Sequence[float]) -> float | None:
    differences = np.asarray(served) - np.asarray(shadow)
    if not np.any(differences):
        return None  # identical ranks (or none): nothing to test
    return float(wilcoxon(served, shadow).pvalue)
