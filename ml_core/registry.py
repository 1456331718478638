"""The artifact registry: every trained model is saved with a signed manifest and moves through
stages, candidate -> shadow -> champion -> retired; the champion is what the serving path loads.

Layout under `var/artifacts/<name>/`: one folder per version holding `manifest.json` (kind, name,
version, lineage: data hash, code version, parameters, metrics, who made it, and the SHA-256 of
every file of the version, signed) and the model's own files, plus `stages.json` (each version's
stage and the history of stage changes: who, when, why, forced or not; signed as well).

Signatures are Ed25519 (`cryptography`) with a key generated once under the var dir
(`var/keys/registry.ed25519`, mode 0600). Loading a version whose manifest or any file changed, or
reading a stage ledger that was edited by hand, refuses with one sentence: a model nobody can
vouch for never serves. Answers and proposals cite the version they used, so a decision can be
traced, and `rollback` restores the previous champion in one step.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import functools
import hashlib
import importlib.metadata
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from retail.errors import AisleError, NotFoundError

Stage = Literal["candidate", "shadow", "champion", "retired"]
STAGES: tuple[Stage, ...] = get_args(Stage)
MANIFEST = "manifest.json"
LEDGER = "stages.json"
KEY_FILE = "registry.ed25519"


class RegistryConflict(AisleError):
    """The registry's state refuses what was asked (HTTP 409)."""


class TamperedArtifactError(RegistryConflict):
    """A manifest, a file of a version or a stage ledger does not match its signature."""


class StageError(RegistryConflict):
    """A stage change the registry's state refuses (no earlier champion, a retired version...)."""


@dataclass(frozen=True, slots=True)
class Manifest:
    kind: str
    name: str
    version: str
    data_hash: str
    parameters: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    created_at: str = ""
    code_version: str = ""
    created_by: str = ""
    files: dict[str, str] = field(default_factory=dict)
    """SHA-256 of every file of the version, by path relative to its folder."""


@dataclass(frozen=True, slots=True)
class StageChange:
    version: str
    stage: Stage
    at: str
    by: str
    reason: str
    action: Literal["train", "promote", "rollback", "retire"] = "promote"
    forced: bool = False
    previous: str | None = None
    """The champion this change displaced (for a new champion), if any."""
    evidence: dict[str, Any] = field(default_factory=dict)
    """What the decision rested on: the champion's and challenger's scores, failed gates."""


@dataclass(frozen=True, slots=True)
class Ledger:
    """Each version's stage and every stage change, oldest first."""

    stages: dict[str, Stage]
    history: list[StageChange]

    @property
    def champion(self) -> str | None:
        return next((v for v, s in self.stages.items() if s == "champion"), None)


@functools.cache
def code_version() -> str:
    """The git commit of the source tree (with `+dirty` for uncommitted changes), else the
    installed package's version."""
    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5
        )
        if commit.returncode == 0:
            status = subprocess.run(
                ["git", "status", "--porcelain", "--untracked-files=no"],
                cwd=here,
                capture_output=True,
                text=True,
                timeout=5,
            )
            dirty = "+dirty" if status.returncode == 0 and status.stdout.strip() else ""
            return f"git:{commit.stdout.strip()}{dirty}"
    except (OSError, subprocess.SubprocessError):
        pass
    try:
        return f"aisle=={importlib.metadata.version('aisle')}"
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _canonical(payload: Any) -> bytes:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str).encode()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _file_digests(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): _sha256(p)
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.relative_to(folder).as_posix() != MANIFEST
    }


def _write_atomically(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)  # readers see the old or the new file, never half
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


class Signer:
    """The registry's Ed25519 key: made once (mode 0600), then read by every process."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @functools.cached_property
    def _key(self) -> Ed25519PrivateKey:
        if not self.path.exists():
            self._create()
        key = serialization.load_pem_private_key(self.path.read_bytes(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise AisleError(f"The registry key {self.path} is not an Ed25519 key.")
        return key

    def _create(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        fd, tmp = tempfile.mkstemp(prefix=".key-", dir=self.path.parent)  # mode 0600
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(pem)
            with contextlib.suppress(FileExistsError):  # another process made it first: use it
                os.link(tmp, self.path)
        finally:
            os.unlink(tmp)

    def sign(self, payload: Any) -> str:
        return self._key.sign(_canonical(payload)).hex()

    def verifies(self, payload: Any, signature: str) -> bool:
        try:
            self._key.public_key().verify(bytes.fromhex(signature), _canonical(payload))
        except (InvalidSignature, ValueError):
            return False
        return True


class ArtifactRegistry:
    def __init__(self, root: Path, key_path: Path | None = None) -> None:
        """`root` is `var/artifacts`; the signing key defaults to `var/keys/registry.ed25519`."""
        self.root = root
        self.signer = Signer(key_path or root.parent / "keys" / KEY_FILE)

    # -- versions ------------------------------------------------------------------------------

    def save(
        self,
        *,
        name: str,
        kind: str,
        data_hash: str,
        write: Callable[[Path], None],
        parameters: dict[str, Any] | None = None,
        metrics: dict[str, Any] | None = None,
        stage: Stage = "champion",
        by: str = "system",
        reason: str = "trained",
    ) -> Manifest:
        """Write a new version with `write(folder)`, sign it, publish it atomically and put it in
        `stage` (a new champion displaces the old one, which is retired)."""
        now = dt.datetime.now(dt.UTC)
        digest = hashlib.sha256(f"{data_hash}{now.isoformat()}".encode()).hexdigest()[:8]
        version = f"{now:%Y%m%dT%H%M%S.%f}-{digest}"  # sorts by time
        home = self.root / name
        home.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=home))
        try:
            write(staging)
            manifest = Manifest(
                kind=kind,
                name=name,
                version=version,
                data_hash=data_hash,
                parameters=parameters or {},
                metrics=metrics or {},
                created_at=now.isoformat(),
                code_version=code_version(),
                created_by=by,
                files=_file_digests(staging),
            )
            body = asdict(manifest)
            signed = {**body, "signature": self.signer.sign(body)}
            (staging / MANIFEST).write_text(json.dumps(signed, indent=2, default=str))
            staging.rename(home / version)
        finally:
            if staging.exists():
                shutil.rmtree(staging)
        self._change(name, version, stage, by=by, reason=reason, action="train")
        return manifest

    def load(self, name: str, version: str) -> tuple[Manifest, Path]:
        """A version's manifest and folder, after checking the signature of both."""
        manifest, folder = self.read_manifest(name, version)
        if _file_digests(folder) != manifest.files:
            raise TamperedArtifactError(
                f"Version {version} of {name!r} refuses to load: its files no longer match "
                "its signed manifest (changed, added or removed after it was saved)."
            )
        return manifest, folder

    def read_manifest(self, name: str, version: str) -> tuple[Manifest, Path]:
        """The manifest, its signature checked (not the files: listing stays cheap)."""
        if any(part.startswith(".") or "/" in part or "\\" in part for part in (name, version)):
            raise NotFoundError(f"No version {version!r} of artifact {name!r}.")
        folder = self.root / name / version
        try:
            data = json.loads((folder / MANIFEST).read_text())
        except FileNotFoundError:
            raise NotFoundError(f"No version {version!r} of artifact {name!r}.") from None
        except (OSError, json.JSONDecodeError):
            data = None
        signature = data.pop("signature", None) if isinstance(data, dict) else None
        try:
            manifest = Manifest(**data) if isinstance(data, dict) else None
        except TypeError:
            manifest = None
        if (
            manifest is None
            or not isinstance(signature, str)
            or not self.signer.verifies(data, signature)
            or manifest.version != version
            or manifest.name != name
        ):
            raise TamperedArtifactError(
                f"Version {version} of {name!r} refuses to load: its manifest is unsigned or "
                "does not match its signature."
            )
        return manifest, folder

    def versions(self, name: str) -> list[Manifest]:
        """Every version of `name`, oldest first."""
        return [self.read_manifest(name, version)[0] for version in self.version_ids(name)]

    def version_ids(self, name: str) -> list[str]:
        """The versions of `name` on disk, oldest first, without reading them."""
        home = self.root / name
        if not home.is_dir():
            return []
        return [p.name for p in sorted(home.iterdir()) if p.is_dir() and not p.name.startswith(".")]

    def names(self) -> list[str]:
        """Every artifact with at least one version."""
        if not self.root.is_dir():
            return []
        return sorted(
            p.name for p in self.root.iterdir() if p.is_dir() and self.version_ids(p.name)
        )

    # -- stages --------------------------------------------------------------------------------

    def ledger(self, name: str) -> Ledger:
        path = self.root / name / LEDGER
        if not path.exists():
            return Ledger({}, [])
        try:
            data = json.loads(path.read_text())
            signature = data.pop("signature")
            ledger = Ledger(
                stages=dict(data["stages"]),
                history=[StageChange(**change) for change in data["history"]],
            )
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            ledger, signature = None, None
        if ledger is None or not self.signer.verifies(data, signature):
            raise TamperedArtifactError(
                f"The stage ledger of {name!r} refuses to load: it does not match its signature."
            )
        return ledger

    def ledger_stamp(self, name: str) -> tuple[int, int] | None:
        """When and how big `name`'s stage ledger was last written (None: not yet): one `stat`,
        cheap enough for every request, which changes with every stage change (the ledger is
        replaced whole on each)."""
        try:
            found = (self.root / name / LEDGER).stat()
        except FileNotFoundError:
            return None
        return found.st_mtime_ns, found.st_size

    def champion(self, name: str) -> Manifest | None:
        """The champion's manifest (signature checked), or None before the first one."""
        version = self.ledger(name).champion
        return None if version is None else self.read_manifest(name, version)[0]

    def active(self, name: str) -> tuple[Manifest, Path]:
        """The champion, verified, as the serving path loads it."""
        version = self.ledger(name).champion
        if version is None:
            raise AisleError(f"No trained {name!r} model yet; train one first.")
        return self.load(name, version)

    def activate(self, name: str, version: str, *, by: str = "system", reason: str = "") -> None:
        """Make `version` the champion directly (no gate: the caller decided)."""
        self.read_manifest(name, version)
        self._change(name, version, "champion", by=by, reason=reason or "activated")

    def set_stage(
        self,
        name: str,
        version: str,
        stage: Stage,
        *,
        by: str,
        reason: str,
        forced: bool = False,
        evidence: dict[str, Any] | None = None,
    ) -> StageChange:
        self.read_manifest(name, version)
        return self._change(
            name,
            version,
            stage,
            by=by,
            reason=reason,
            action="retire" if stage == "retired" else "promote",
            forced=forced,
            evidence=evidence,
        )

    def previous_champion(self, name: str) -> str | None:
        """The champion before the current one that has not itself been rolled back."""
        ledger = self.ledger(name)
        rolled_back = {c.previous for c in ledger.history if c.action == "rollback"}
        current = ledger.champion
        for change in reversed(ledger.history):
            if (
                change.stage == "champion"
                and change.version != current
                and change.version not in rolled_back
            ):
                return change.version
        return None

    def rollback(self, name: str, *, by: str, reason: str) -> StageChange:
        """Retire the champion and restore the previous one."""
        with self._locked(name):
            ledger = self.ledger(name)
            previous = self.previous_champion(name)
            if ledger.champion is None:
                raise StageError(f"There is no {name!r} champion to roll back.")
            if previous is None:
                raise StageError(
                    f"There is no earlier {name!r} champion to roll back to than {ledger.champion}."
                )
            self.load(name, previous)  # a tampered earlier champion must not come back
            return self._change_locked(
                name, previous, "champion", by=by, reason=reason, action="rollback"
            )

    def _change(self, name: str, version: str, stage: Stage, **how: Any) -> StageChange:
        with self._locked(name):
            return self._change_locked(name, version, stage, **how)

    def _change_locked(
        self,
        name: str,
        version: str,
        stage: Stage,
        *,
        by: str,
        reason: str,
        action: Literal["train", "promote", "rollback", "retire"] = "promote",
        forced: bool = False,
        evidence: dict[str, Any] | None = None,
    ) -> StageChange:
        if stage not in STAGES:
            raise StageError(f"Unknown stage {stage!r}: choose from {', '.join(STAGES)}.")
        ledger = self.ledger(name)
        stages = dict(ledger.stages)
        history = list(ledger.history)
        now = dt.datetime.now(dt.UTC).isoformat()
        displaced = ledger.champion if stage == "champion" and ledger.champion != version else None
        change = StageChange(
            version=version,
            stage=stage,
            at=now,
            by=by,
            reason=reason,
            action=action,
            forced=forced,
            previous=displaced,
            evidence=evidence or {},
        )
        if displaced is not None:
            stages[displaced] = "retired"
            history.append(
                StageChange(
                    version=displaced,
                    stage="retired",
                    at=now,
                    by=by,
                    reason=f"displaced by {version}",
                    action=action,
                )
            )
        stages[version] = stage
        history.append(change)
        body = {"stages": stages, "history": [asdict(c) for c in history]}
        payload = {**body, "signature": self.signer.sign(body)}
        _write_atomically(
            self.root / name / LEDGER, json.dumps(payload, indent=2, default=str).encode()
        )
        return change

    @contextlib.contextmanager
    def _locked(self, name: str) -> Iterator[None]:
        """One stage change at a time per artifact, across processes."""
        home = self.root / name
        home.mkdir(parents=True, exist_ok=True)
        with (home / ".lock").open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def describe_kind(registry: ArtifactRegistry, name: str) -> dict[str, Any]:
    """An artifact's champion (and its model), challengers and number of versions."""
    ledger = registry.ledger(name)
    champion = registry.champion(name)
    return {
        "kind": name,
        "champion": ledger.champion,
        "model": None if champion is None else champion.parameters.get("model"),
        "challengers": [v for v, s in ledger.stages.items() if s in ("candidate", "shadow")],
        "versions": len(registry.version_ids(name)),
    }


def describe_versions(registry: ArtifactRegistry, name: str) -> list[dict[str, Any]]:
    """Every version of `name` with its stage, oldest first; a version whose manifest does not
    verify is listed as tampered rather than hiding the others."""
    stages = registry.ledger(name).stages
    rows: list[dict[str, Any]] = []
    for version in registry.version_ids(name):
        try:
            manifest = registry.read_manifest(name, version)[0]
        except TamperedArtifactError as exc:
            rows.append({"version": version, "stage": "tampered", "problem": str(exc)})
            continue
        rows.append(
            {
                "version": version,
                "stage": stages.get(version, "candidate"),
                "kind": manifest.kind,
                "model": manifest.parameters.get("model"),
                "created_at": manifest.created_at,
                "created_by": manifest.created_by,
                "data_hash": manifest.data_hash,
                "code_version": manifest.code_version,
                "metrics": manifest.metrics,
            }
        )
    return rows


def describe_version(registry: ArtifactRegistry, name: str, version: str) -> dict[str, Any]:
    """A version's manifest, stage, stage history and whether its files verify."""
    manifest = registry.read_manifest(name, version)[0]
    ledger = registry.ledger(name)
    try:
        registry.load(name, version)
        verified, problem = True, None
    except TamperedArtifactError as exc:
        verified, problem = False, str(exc)
    return {
        **asdict(manifest),
        "stage": ledger.stages.get(version, "candidate"),
        "signature_verified": verified,
        "problem": problem,
        "history": [asdict(c) for c in ledger.history if c.version == version],
    }


def diff_manifests(a: Manifest, b: Manifest) -> list[dict[str, Any]]:
    """Every lineage field, parameter, metric and file digest that differs between `a` and `b`,
    by dotted name."""

    def flat(manifest: Manifest) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": manifest.kind,
            "data_hash": manifest.data_hash,
            "code_version": manifest.code_version,
            "created_at": manifest.created_at,
            "created_by": manifest.created_by,
        }
        for section in ("parameters", "metrics", "files"):
            for key, value in getattr(manifest, section).items():
                out[f"{section}.{key}"] = value
        return out

    left, right = flat(a), flat(b)
    return [
        {"field": key, a.version: left.get(key), b.version: right.get(key)}
        for key in sorted(set(left) | set(right))
        if left.get(key) != right.get(key)
    ]
