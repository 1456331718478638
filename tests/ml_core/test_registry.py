"""The artifact registry: versions with manifests, one active, rollback, nothing half-written."""

from __future__ import annotations

from pathlib import Path

import pytest

from ml_core.registry import ArtifactRegistry
from retail.errors import AisleError, NotFoundError


def _writer(text: str):  # type: ignore[no-untyped-def]
    def write(folder: Path) -> None:
        (folder / "weights.txt").write_text(text)

    return write


def test_saved_versions_are_listed_and_the_newest_is_active(tmp_path: Path) -> None:
    registry = ArtifactRegistry(tmp_path)
    first = registry.save(
        name="forecaster",
        kind="forecaster",
        data_hash="abc",
        write=_writer("one"),
        parameters={"lags": 28},
        metrics={"mase": 0.9},
    )
    second = registry.save(
        name="forecaster", kind="forecaster", data_hash="def", write=_writer("two")
    )
    assert [m.version for m in registry.versions("forecaster")] == [first.version, second.version]
    manifest, folder = registry.active("forecaster")
    assert manifest.version == second.version
    assert (folder / "weights.txt").read_text() == "two"
    assert registry.load("forecaster", first.version)[0].parameters == {"lags": 28}


def test_activate_rolls_back_to_an_earlier_version(tmp_path: Path) -> None:
    registry = ArtifactRegistry(tmp_path)
    first = registry.save(name="m", kind="k", data_hash="a", write=_writer("one"))
    registry.save(name="m", kind="k", data_hash="b", write=_writer("two"))
    registry.activate("m", first.version)
    manifest, folder = registry.active("m")
    assert manifest.version == first.version
    assert (folder / "weights.txt").read_text() == "one"


def test_missing_models_and_versions_are_clear_errors(tmp_path: Path) -> None:
    registry = ArtifactRegistry(tmp_path)
    with pytest.raises(AisleError, match="No trained 'm' model yet"):
        registry.active("m")
    with pytest.raises(NotFoundError, match="No version 'v1'"):
        registry.activate("m", "v1")
    assert registry.versions("m") == []


def test_a_failed_write_leaves_no_version_behind(tmp_path: Path) -> None:
    registry = ArtifactRegistry(tmp_path)

    def broken(folder: Path) -> None:
        (folder / "partial.bin").write_bytes(b"\0" * 10)
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        registry.save(name="m", kind="k", data_hash="a", write=broken)
    assert registry.versions("m") == []
    assert list((tmp_path / "m").iterdir()) == []
