"""The model registry over HTTP, for admins: versions and stages, a gated promotion refused with a
409 and its reason, an admin's forced override with a reason, rollback, tamper detection; other
roles are refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from api.auth import issue_key
from ml_core.registry import ArtifactRegistry
from retail.identity import Principal

HOLDOUT = {"k": 20, "cutoff": "2026-11-01T00:00:00", "users": 50}


@pytest.fixture
def keys(engine: Engine) -> dict[str, dict[str, str]]:
    return {
        spec: {"X-API-Key": issue_key(engine, Principal.parse(spec), label="test")}
        for spec in ("planner:pat", "admin:root")
    }


def _recommenders(var_dir: Path) -> tuple[str, str]:
    """A champion and a weaker challenger scored on the same holdout at training."""
    registry = ArtifactRegistry(var_dir / "artifacts")
    versions = []
    for ndcg, stage in ((0.30, "champion"), (0.25, "candidate")):

        def write(folder: Path, ndcg: float = ndcg) -> None:
            (folder / "model.npz").write_bytes(str(ndcg).encode())

        saved = registry.save(
            name="recommender",
            kind="recommender",
            data_hash="same-data",
            write=write,
            parameters={"model": "ease"},
            metrics={**HOLDOUT, "ndcg": ndcg, "recall": 0.2},
            stage=stage,  # type: ignore[arg-type]
        )
        versions.append(saved.version)
    return versions[0], versions[1]


def test_an_admin_promotes_through_the_gate_overrides_it_and_rolls_back(
    client: TestClient, keys: dict[str, dict[str, str]], tmp_path: Path
) -> None:
    v1, v2 = _recommenders(tmp_path)
    root = keys["admin:root"]
    kinds = client.get("/v1/models", headers=root).json()
    assert kinds == [
        {"kind": "recommender", "champion": v1, "model": "ease", "challengers": [v2], "versions": 2}
    ]
    versions = client.get("/v1/models/recommender", headers=root).json()
    assert [(v["version"], v["stage"]) for v in versions] == [(v1, "champion"), (v2, "candidate")]

    refused = client.post("/v1/models/recommender/promote", json={}, headers=root)
    assert refused.status_code == 409
    detail = refused.json()["detail"]
    assert detail.startswith(f"Promotion of recommender {v2} refused on the time-split holdout")
    assert "ndcg is 0.25" in detail and detail.count(".") >= 1

    no_reason = client.post("/v1/models/recommender/promote", json={"force": True}, headers=root)
    assert no_reason.status_code == 400 and "needs a reason" in no_reason.json()["detail"]

    forced = client.post(
        "/v1/models/recommender/promote",
        json={"version": v2, "force": True, "reason": "fresher catalogue"},
        headers=root,
    )
    assert forced.status_code == 200, forced.text
    outcome: dict[str, Any] = forced.json()
    assert outcome["previous"] == v1 and outcome["forced"] is True
    assert [g["metric"] for g in outcome["gates"] if not g["passed"]] == ["ndcg"]
    shown = client.get(f"/v1/models/recommender/versions/{v2}", headers=root).json()
    assert shown["stage"] == "champion" and shown["history"][-1]["by"] == "admin:root"
    assert shown["history"][-1]["reason"] == "fresher catalogue"
    diff = client.get(f"/v1/models/recommender/diff?version={v2}&against={v1}", headers=root)
    assert {"metrics.ndcg", "files.model.npz"} <= {row["field"] for row in diff.json()}

    rolled = client.post(
        "/v1/models/recommender/rollback", json={"reason": "CTR fell"}, headers=root
    )
    assert rolled.status_code == 200
    assert rolled.json()["version"] == v1 and rolled.json()["previous"] == v2
    changes = client.get("/v1/models/recommender/history", headers=root).json()
    assert [(c["action"], c["version"], c["stage"], c["forced"]) for c in changes[-3:]] == [
        ("promote", v2, "champion", True),
        ("rollback", v2, "retired", False),
        ("rollback", v1, "champion", False),
    ]
    assert changes[-1]["reason"] == "CTR fell" and changes[-3]["by"] == "admin:root"
    again = client.post("/v1/models/recommender/rollback", json={}, headers=root)
    assert (
        again.status_code == 409 and "no earlier 'recommender' champion" in again.json()["detail"]
    )


def test_tampering_unknown_kinds_and_other_roles(
    client: TestClient, keys: dict[str, dict[str, str]], tmp_path: Path
) -> None:
    v1, v2 = _recommenders(tmp_path)
    root = keys["admin:root"]
    assert client.get("/v1/models", headers=keys["planner:pat"]).status_code == 403
    assert client.get("/v1/models").status_code == 401
    assert (
        client.get("/v1/models/recommender/history", headers=keys["planner:pat"]).status_code == 403
    )
    missing = client.get("/v1/models/pricer", headers=root)
    assert missing.status_code == 404 and "No model kind 'pricer'" in missing.json()["detail"]

    (tmp_path / "artifacts" / "recommender" / v2 / "model.npz").write_bytes(b"0.99")
    shown = client.get(f"/v1/models/recommender/versions/{v2}", headers=root).json()
    assert shown["signature_verified"] is False and "refuses to load" in shown["problem"]
    promoted = client.post(
        "/v1/models/recommender/promote",
        json={"version": v2, "force": True, "reason": "trust me"},
        headers=root,
    )
    assert promoted.status_code == 409
    assert promoted.json()["detail"].startswith(f"Version {v2} of 'recommender' refuses to load")
