"""`aisle models ...` on a tiny generated world: a challenger forecaster scored against the champion
on the same backtest, promoted through the gate (or refused, or forced with a reason), and
rolled back so that the served forecasts are the champion's again, byte for byte."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from typer.testing import Result

from evals.promotion import served_forecasts
from ml_core.registry import ArtifactRegistry
from retail.identity import Principal
from retail.settings import get_settings
from retail.store.open import open_store
from retail.world.seed import ScaleSpec
from tests.factories import seed_configured_world
from tools.base import Services, ToolContext

Aisle = Callable[..., Result]  # the `aisle` fixture of tests/conftest.py
STORE = "S001"


def _served() -> bytes:
    settings = get_settings()
    engine = open_store(settings)
    services = Services(engine, settings)
    try:
        ctx = ToolContext(principal=Principal.parse("planner:ana"), services=services)
        return served_forecasts(ctx, STORE, skus=12)
    finally:
        services.close()
        engine.dispose()


def _train(aisle: Aisle, *args: str) -> str:
    result = aisle("forecast", "run", "--store", STORE, "--horizon", "7", "--json", *args)
    assert result.exit_code == 0, result.output
    return str(json.loads(result.stdout)["model_version"])


def _one_sentence(result: Result, *fragments: str) -> None:
    assert result.exit_code == 2, result.output
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr


def test_promote_and_rollback_serve_the_champions_forecasts_bit_for_bit(
    aisle: Aisle, tmp_path: Path
) -> None:
    seed_configured_world(ScaleSpec(20, 2, 30, 120, 0.8, 20, 1.0))
    v1 = _train(aisle)
    before = _served()
    assert v1.encode() in before

    # A challenger's forecast is stored but not served.
    v2 = _train(aisle, "--model", "tsb", "--candidate")
    assert _served() == before
    listed = json.loads(aisle("models", "list", "forecaster", "--json").stdout)
    assert [(r["version"], r["stage"]) for r in listed] == [(v1, "champion"), (v2, "candidate")]

    # A gate the challenger cannot pass refuses it in one sentence, naming the figure.
    strict = tmp_path / "strict.yaml"
    strict.write_text(
        "version: 1\nkinds:\n  forecaster:\n    backtest: {windows: 1, step: 7}\n"
        "    gates:\n      - {metric: wape, max: 0.0}\n"
    )
    refused = aisle("models", "promote", "forecaster", "--rules", str(strict))
    _one_sentence(refused, f"Promotion of forecaster {v2} refused", "wape is")
    assert _served() == before

    # An admin's override with a reason is recorded with the scores it overrode.
    report = tmp_path / "compare.html"
    promoted = aisle(
        "models", "promote", "forecaster", v2, "--rules", str(strict), "--force",
        "--reason", "planner asked for TSB", "--as", "admin:root", "--report", str(report),
        "--json",
    )  # fmt: skip
    assert promoted.exit_code == 0, promoted.output
    outcome = json.loads(promoted.stdout)
    assert outcome["previous"] == v1 and outcome["forced"] is True
    assert {"wape", "mase", "coverage_80"} <= set(outcome["scores"]["challenger"])
    assert "Per backtest window" in report.read_text() and "data:image/png" in report.read_text()
    after = _served()
    assert after != before and v2.encode() in after and v1.encode() not in after
    shown = json.loads(aisle("models", "show", "forecaster", v2, "--json").stdout)
    assert shown["stage"] == "champion" and shown["signature_verified"] is True
    forced = shown["history"][-1]
    assert forced["by"] == "admin:root" and forced["forced"] is True
    assert forced["reason"] == "planner asked for TSB"
    assert forced["evidence"]["failed_gates"][0]["metric"] == "wape"

    # One command brings back the previous champion's forecasts, bit for bit.
    rolled = aisle("models", "rollback", "forecaster", "--reason", "bad week", "--as", "admin:root")
    assert rolled.exit_code == 0, rolled.output
    assert _served() == before
    again = aisle("models", "rollback", "forecaster")
    _one_sentence(again, "no earlier 'forecaster' champion")


def test_the_gate_promotes_an_equal_challenger_and_refuses_bad_requests(aisle: Aisle) -> None:
    seed_configured_world(ScaleSpec(20, 2, 30, 120, 0.8, 20, 1.0))
    v1 = _train(aisle)
    v2 = _train(aisle, "--candidate")  # the same model on the same data: scores equal
    diff = json.loads(aisle("models", "diff", "forecaster", v2, "--json").stdout)
    assert {row["field"] for row in diff} >= {"created_at"}
    assert "data_hash" not in {row["field"] for row in diff}

    _one_sentence(aisle("models", "promote", "forecaster", "--as", "planner:ana"), "Only an admin")
    _one_sentence(aisle("models", "promote", "forecaster", "--force"), "needs a reason")
    _one_sentence(aisle("models", "show", "pricer"), "No model kind 'pricer'")
    _one_sentence(aisle("models", "promote", "forecaster", v1), f"{v1} of 'forecaster' is already")

    promoted = aisle("models", "promote", "forecaster", "--json")
    assert promoted.exit_code == 0, promoted.output
    outcome = json.loads(promoted.stdout)
    assert outcome["version"] == v2 and outcome["forced"] is False
    assert outcome["gates"] and all(g["passed"] for g in outcome["gates"])
    registry = ArtifactRegistry(get_settings().var_dir / "artifacts")
    assert registry.active("forecaster")[0].version == v2

    # A tampered champion refuses to serve, in one sentence.
    model = get_settings().var_dir / "artifacts" / "forecaster" / v2 / "model.pkl"
    data = bytearray(model.read_bytes())
    data[-2] ^= 1
    model.write_bytes(bytes(data))
    _one_sentence(aisle("models", "compare", "forecaster", v1), f"Version {v2} of 'forecaster'")
