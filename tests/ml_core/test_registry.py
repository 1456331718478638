"""The artifact registry: signed versions with lineage, stages (candidate -> shadow -> champion ->
retired) with their history, rollback, tamper refusal, nothing half-written."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from ml_core.registry import ArtifactRegistry, StageError, TamperedArtifactError
from retail.errors import AisleError, NotFoundError


def _writer(text: str):  # type: ignore[no-untyped-def]
    def write(folder: Path) -> None:
        (folder / "weights.txt").write_text(text)
        (folder / "sub").mkdir()
        (folder / "sub" / "more.bin").write_bytes(text.encode() * 3)

    return write


@pytest.fixture
def registry(tmp_path: Path) -> ArtifactRegistry:
    return ArtifactRegistry(tmp_path / "artifacts")


def test_saved_versions_carry_lineage_and_the_newest_champion_serves(
    registry: ArtifactRegistry,
) -> None:
    first = registry.save(
        name="forecaster",
        kind="forecaster",
        data_hash="abc",
        write=_writer("one"),
        parameters={"lags": 28},
        metrics={"mase": 0.9},
        by="planner:ana",
    )
    second = registry.save(
        name="forecaster", kind="forecaster", data_hash="def", write=_writer("two")
    )
    assert [m.version for m in registry.versions("forecaster")] == [first.version, second.version]
    manifest, folder = registry.active("forecaster")
    assert manifest.version == second.version
    assert (folder / "weights.txt").read_text() == "two"
    loaded = registry.load("forecaster", first.version)[0]
    assert loaded.parameters == {"lags": 28} and loaded.created_by == "planner:ana"
    assert loaded.code_version.startswith(("git:", "aisle=="))
    assert set(loaded.files) == {"weights.txt", "sub/more.bin"}
    ledger = registry.ledger("forecaster")
    assert ledger.stages == {first.version: "retired", second.version: "champion"}
    assert [(c.version, c.stage) for c in ledger.history] == [
        (first.version, "champion"),
        (first.version, "retired"),
        (second.version, "champion"),
    ]
    assert ledger.history[-1].previous == first.version


def test_a_candidate_does_not_serve_until_promoted_and_rollback_restores_the_champion(
    registry: ArtifactRegistry,
) -> None:
    v1 = registry.save(name="m", kind="k", data_hash="a", write=_writer("one"))
    v2 = registry.save(name="m", kind="k", data_hash="b", write=_writer("two"), stage="candidate")
    assert registry.active("m")[0].version == v1.version
    registry.set_stage("m", v2.version, "shadow", by="admin:root", reason="watch it")
    assert registry.active("m")[0].version == v1.version
    registry.set_stage("m", v2.version, "champion", by="admin:root", reason="better WAPE")
    assert registry.active("m")[0].version == v2.version
    assert registry.previous_champion("m") == v1.version

    change = registry.rollback("m", by="admin:root", reason="bad week")
    assert change.version == v1.version and change.previous == v2.version
    assert registry.active("m")[0].version == v1.version
    assert registry.ledger("m").stages == {v1.version: "champion", v2.version: "retired"}
    # A rolled-back version is not brought back by a second rollback.
    with pytest.raises(StageError, match="no earlier 'm' champion"):
        registry.rollback("m", by="admin:root", reason="again")


def test_activate_rolls_back_to_an_earlier_version(registry: ArtifactRegistry) -> None:
    first = registry.save(name="m", kind="k", data_hash="a", write=_writer("one"))
    registry.save(name="m", kind="k", data_hash="b", write=_writer("two"))
    registry.activate("m", first.version)
    manifest, folder = registry.active("m")
    assert manifest.version == first.version
    assert (folder / "weights.txt").read_text() == "one"


@pytest.mark.parametrize("target", ["weights.txt", "sub/more.bin", "manifest.json"])
def test_a_tampered_byte_refuses_to_load(registry: ArtifactRegistry, target: str) -> None:
    saved = registry.save(name="m", kind="k", data_hash="a", write=_writer("one"))
    path = registry.root / "m" / saved.version / target
    data = bytearray(path.read_bytes())
    if target == "manifest.json":  # a parameter changed, the JSON still valid
        data = bytearray(json.dumps({**json.loads(data), "data_hash": "b"}).encode())
    else:
        data[0] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(TamperedArtifactError, match=f"Version {saved.version} of 'm' refuses"):
        registry.active("m")


def test_an_added_file_or_an_edited_ledger_refuses(registry: ArtifactRegistry) -> None:
    v1 = registry.save(name="m", kind="k", data_hash="a", write=_writer("one"))
    v2 = registry.save(name="m", kind="k", data_hash="b", write=_writer("two"), stage="candidate")
    (registry.root / "m" / v1.version / "extra.pkl").write_bytes(b"evil")
    with pytest.raises(TamperedArtifactError, match="files no longer match"):
        registry.load("m", v1.version)
    ledger = registry.root / "m" / "stages.json"
    data = json.loads(ledger.read_text())
    data["stages"][v2.version] = "champion"  # a challenger made champion by hand
    ledger.write_text(json.dumps(data))
    with pytest.raises(TamperedArtifactError, match="stage ledger of 'm'"):
        registry.active("m")


def test_the_key_is_made_once_and_private(registry: ArtifactRegistry, tmp_path: Path) -> None:
    registry.save(name="m", kind="k", data_hash="a", write=_writer("one"))
    key = tmp_path / "keys" / "registry.ed25519"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    pem = key.read_bytes()
    again = ArtifactRegistry(registry.root)  # another process: same key, versions verify
    again.save(name="m", kind="k", data_hash="b", write=_writer("two"))
    assert key.read_bytes() == pem and len(again.versions("m")) == 2
    # Artifacts signed with another key do not verify.
    stranger = ArtifactRegistry(registry.root, key_path=tmp_path / "other.key")
    with pytest.raises(TamperedArtifactError):
        stranger.active("m")


def test_missing_models_and_versions_are_clear_errors(registry: ArtifactRegistry) -> None:
    with pytest.raises(AisleError, match="No trained 'm' model yet"):
        registry.active("m")
    with pytest.raises(NotFoundError, match="No version 'v1'"):
        registry.activate("m", "v1")
    with pytest.raises(StageError, match="no 'm' champion to roll back"):
        registry.rollback("m", by="admin:root", reason="x")
    assert registry.versions("m") == []


def test_a_failed_write_leaves_no_version_behind(registry: ArtifactRegistry) -> None:
    def broken(folder: Path) -> None:
        (folder / "partial.bin").write_bytes(b"\0" * 10)
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        registry.save(name="m", kind="k", data_hash="a", write=broken)
    assert registry.versions("m") == []
    assert [p.name for p in (registry.root / "m").iterdir() if not p.name.startswith(".")] == []
