"""The artifact registry: every trained model is saved with a manifest, and one version is active.

Layout under `var/artifacts/<name>/`: one folder per version holding `manifest.json` (kind, name,
version, data hash, parameters, metrics, created at) and the model's own files, plus `ACTIVE`
naming the version the serving path loads. Answers and proposals cite the version they used, so
a decision can be traced, and `activate` rolls back to an earlier version.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from retail.errors import AisleError, NotFoundError


@dataclass(frozen=True, slots=True)
class Manifest:
    kind: str
    name: str
    version: str
    data_hash: str
    parameters: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    created_at: str = ""


class ArtifactRegistry:
    def __init__(self, root: Path) -> None:
        self.root = root

    def save(
        self,
        *,
        name: str,
        kind: str,
        data_hash: str,
        write: Callable[[Path], None],
        parameters: dict[str, Any] | None = None,
        metrics: dict[str, Any] | None = None,
        activate: bool = True,
    ) -> Manifest:
        """Write a new version with `write(folder)`, then publish it atomically."""
        now = dt.datetime.now(dt.UTC)
        digest = hashlib.sha256(f"{data_hash}{now.isoformat()}".encode()).hexdigest()[:8]
        version = f"{now:%Y%m%dT%H%M%S.%f}-{digest}"  # sorts by time
        manifest = Manifest(
            kind=kind,
            name=name,
            version=version,
            data_hash=data_hash,
            parameters=parameters or {},
            metrics=metrics or {},
            created_at=now.isoformat(),
        )
        home = self.root / name
        home.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=home))
        try:
            write(staging)
            (staging / "manifest.json").write_text(json.dumps(asdict(manifest), indent=2))
            staging.rename(home / version)
        finally:
            if staging.exists():
                shutil.rmtree(staging)
        if activate:
            self.activate(name, version)
        return manifest

    def activate(self, name: str, version: str) -> None:
        if not (self.root / name / version / "manifest.json").exists():
            raise NotFoundError(f"No version {version!r} of artifact {name!r}.")
        pointer = self.root / name / "ACTIVE"
        tmp = pointer.with_suffix(".tmp")
        tmp.write_text(version)
        os.replace(tmp, pointer)  # atomic: readers see the old or the new version, never half

    def active(self, name: str) -> tuple[Manifest, Path]:
        pointer = self.root / name / "ACTIVE"
        if not pointer.exists():
            raise AisleError(f"No trained {name!r} model yet; train one first.")
        version = pointer.read_text().strip()
        return self.load(name, version)

    def load(self, name: str, version: str) -> tuple[Manifest, Path]:
        folder = self.root / name / version
        try:
            data = json.loads((folder / "manifest.json").read_text())
        except FileNotFoundError:
            raise NotFoundError(f"No version {version!r} of artifact {name!r}.") from None
        return Manifest(**data), folder

    def versions(self, name: str) -> list[Manifest]:
        home = self.root / name
        if not home.is_dir():
            return []
        found = [
            self.load(name, p.name)[0]
            for p in sorted(home.iterdir())
            if p.is_dir() and not p.name.startswith(".")
        ]
        return found
