"""The elasticity model, the intent classifier and the RAG index as registry kinds: trained (or
ingested) into the registry with a signed manifest and lineage, listed, shown, promoted and
rolled back by `aisle models` like the forecaster, and served from their champion: a rollback
restores what is served, bit for bit.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from sqlalchemy import delete, update
from typer.testing import Result

from agents.nlu.intents import load_utterances, served_intent_classifier
from agents.nlu.parser import Nlu
from ml_core.pricing.planning import load_pricing_data
from ml_core.recommend.features import TEXT_MODEL, embed_texts
from ml_core.registry import ArtifactRegistry
from rag.index import QdrantRagStore, open_backend
from rag.retrieve import Retriever
from retail.settings import get_settings
from retail.store.models import DailySales, Policy
from retail.store.open import open_store
from retail.world.seed import PINNED_END, ScaleSpec
from tests.agents.test_nlu import VOCABULARY
from tests.factories import seed_configured_world

Aisle = Callable[..., Result]  # the `aisle` fixture of tests/conftest.py
# Messages whose intent probabilities show which classifier serves.
PROBES = ["do you have waterproof boots", "cancel my order please", "what is your return policy"]


def _json(result: Result) -> object:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _ok(result: Result) -> str:
    assert result.exit_code == 0, result.output
    return result.stdout


def _artifacts() -> Path:
    return get_settings().var_dir / "artifacts"


def _served_elasticities() -> tuple[pd.DataFrame, str]:
    engine = open_store()
    try:
        data = load_pricing_data(engine, artifacts=_artifacts())
    finally:
        engine.dispose()
    return data.elasticity, data.elasticity_version


def test_an_elasticity_rollback_restores_the_served_elasticities(aisle: Aisle) -> None:
    seed_configured_world(ScaleSpec(20, 2, 30, 240, 0.8, 20, 1.0))
    first = _json(aisle("pricing", "train", "--json"))
    assert isinstance(first, dict)
    assert first["kind"] == "elasticity" and first["created_by"] == "admin:cli"
    assert first["parameters"]["data_through"] == PINNED_END.isoformat()
    served, version = _served_elasticities()
    assert version == first["version"]
    before = served.copy()

    # The fit on less data differs: the last 60 days of sales are gone when it is trained.
    engine = open_store()
    try:
        with engine.begin() as conn:
            conn.execute(delete(DailySales).where(DailySales.day > PINNED_END - dt.timedelta(60)))
    finally:
        engine.dispose()
    second = _json(aisle("pricing", "train", "--candidate", "--json"))
    assert isinstance(second, dict) and second["data_hash"] != first["data_hash"]
    # A candidate serves nothing.
    assert _served_elasticities()[1] == first["version"]

    listed = _json(aisle("models", "list", "elasticity", "--json"))
    assert [(r["version"], r["stage"]) for r in listed] == [  # type: ignore[union-attr]
        (first["version"], "champion"),
        (second["version"], "candidate"),
    ]
    shown = _json(aisle("models", "show", "elasticity", second["version"], "--json"))
    assert shown["signature_verified"] is True  # type: ignore[index]
    assert shown["parameters"]["data_through"] < first["parameters"]["data_through"]  # type: ignore[index]

    _ok(aisle("models", "promote", "elasticity", second["version"], "--reason", "refit"))
    promoted, version = _served_elasticities()
    assert version == second["version"]
    assert not np.allclose(promoted["elasticity"], before["elasticity"].reindex(promoted.index))

    out = _ok(aisle("models", "rollback", "elasticity", "--reason", "the refit is worse"))
    assert f"elasticity {first['version']} is champion again" in out
    restored, version = _served_elasticities()
    assert version == first["version"]
    pd.testing.assert_frame_equal(restored, before, check_exact=True)


def _probabilities(artifacts: Path) -> tuple[list[dict[str, float]], str]:
    served = served_intent_classifier(artifacts, embed_texts)
    assert served is not None
    classifier, version = served
    return [classifier.probabilities(p) for p in PROBES], version


def test_an_intent_classifier_rollback_restores_what_the_assistant_understands(
    aisle: Aisle, tmp_path: Path
) -> None:
    first = _json(aisle("nlu", "train", "--json"))
    assert isinstance(first, dict) and first["kind"] == "intent-classifier"
    assert first["parameters"]["encoder"] == TEXT_MODEL
    assert first["metrics"]["training_accuracy"] >= 0.9
    before, version = _probabilities(_artifacts())
    assert version == first["version"]

    # A second version from other utterances: every intent keeps only its first half.
    halved = {k: v[: max(2, len(v) // 2)] for k, v in load_utterances().items()}
    fewer = tmp_path / "fewer.yaml"
    fewer.write_text(yaml.safe_dump(halved))
    second = _json(aisle("nlu", "train", "--utterances", str(fewer), "--candidate", "--json"))
    assert isinstance(second, dict) and second["data_hash"] != first["data_hash"]
    assert _probabilities(_artifacts())[1] == first["version"]

    _ok(aisle("models", "promote", "intent-classifier", second["version"], "--reason", "fewer"))
    after, version = _probabilities(_artifacts())
    assert version == second["version"] and after != before
    # The assistant's NLU, built at start-up, serves the champion.
    assert (
        Nlu.build(VOCABULARY, embed_texts, artifacts=_artifacts()).intent_version
        == (second["version"])
    )

    _ok(aisle("models", "rollback", "intent-classifier", "--reason", "fewer is worse"))
    restored, version = _probabilities(_artifacts())
    assert version == first["version"] and restored == before
    assert (
        Nlu.build(VOCABULARY, embed_texts, artifacts=_artifacts()).intent_version
        == (first["version"])
    )
    # A registry version verifies its files like any other.
    registry = ArtifactRegistry(_artifacts())
    (registry.root / "intent-classifier" / first["version"] / "classes.json").write_text("[]")
    broken = aisle("nlu", "train", "--utterances", str(tmp_path / "missing.yaml"))
    assert broken.exit_code == 2 and "No utterances file" in broken.stderr
    assert served_intent_classifier_refuses(_artifacts())


def served_intent_classifier_refuses(artifacts: Path) -> bool:
    from ml_core.registry import TamperedArtifactError

    try:
        served_intent_classifier(artifacts, embed_texts)
    except TamperedArtifactError:
        return True
    return False


QUESTION = "can I return an opened item"


def _retrieved() -> list[tuple[str, float, str]]:
    vectors = QdrantRagStore(open_backend(get_settings()))
    try:
        hits = Retriever(vectors).search(QUESTION, k=5)
    finally:
        vectors.client.close()
    return [(h.doc_id, h.score, h.text) for h in hits]


def test_a_rag_index_rollback_restores_what_is_retrieved(aisle: Aisle) -> None:
    seed_configured_world(ScaleSpec(6, 2, 10, 30, 0.8, 10, 1.0))
    first = _json(aisle("rag", "ingest", "--json"))
    assert isinstance(first, dict) and first["version"]
    before = _retrieved()
    assert before

    # The store's policies change: the next ingest embeds them again.
    engine = open_store()
    try:
        with engine.begin() as conn:
            conn.execute(
                update(Policy).values(body=Policy.body + "\n\nOpened items are final sale.")
            )
    finally:
        engine.dispose()
    second = _json(aisle("rag", "ingest", "--candidate", "--json"))
    assert isinstance(second, dict) and second["updated"] > 0
    # The candidate is on disk but not served.
    assert _retrieved() == before
    shown = _json(aisle("models", "show", "rag-index", second["version"], "--json"))
    assert shown["signature_verified"] and shown["stage"] == "candidate"  # type: ignore[index]
    assert shown["data_hash"] != first_manifest_hash(first["version"])  # type: ignore[index]

    _ok(aisle("models", "promote", "rag-index", second["version"], "--reason", "new policies"))
    promoted = _retrieved()
    assert promoted != before and any("final sale" in text for _, _, text in promoted)

    _ok(aisle("models", "rollback", "rag-index", "--reason", "the policy change was withdrawn"))
    assert _retrieved() == before

    # A served version whose files changed refuses to open: a model nobody vouches for.
    shard = _artifacts() / "rag-index" / first["version"] / "shard"
    victim = next(p for p in sorted(shard.rglob("*")) if p.is_file() and p.stat().st_size)
    victim.write_bytes(victim.read_bytes()[:-1])
    refused = aisle("rag", "query", QUESTION)
    assert refused.exit_code == 2 and "refuses to load" in refused.stderr


def first_manifest_hash(version: str) -> str:
    return ArtifactRegistry(_artifacts()).read_manifest("rag-index", version)[0].data_hash
