"""Where batch work runs: in this process, or as Ray tasks when `AISLE_RAY_ADDRESS` is set.

Callers hand `Executor.map` a module-level function and its inputs; the same function runs on
every input either here, one after another, or on a Ray cluster, one task per input, and the
results come back in input order. Nothing else changes between the two, so a batch gives the same
answer wherever it ran. Ray is an optional extra (`pip install 'aisle[ray]'`), imported only when
an address is set.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

from retail.errors import AisleError

T = TypeVar("T")
R = TypeVar("R")


class Executor(Protocol):
    workers: int
    """How many inputs it can work on at once."""

    def map(self, fn: Callable[[T], R], items: Sequence[T]) -> list[R]: ...


class InProcess:
    """Runs every input here, in order."""

    workers = 1

    def map(self, fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
        return [fn(item) for item in items]


class RayCluster:
    """Runs each input as a Ray task on the cluster at `address` (`local` starts one in this
    process; a Ray instance this process already started, as a test's, is used as it is)."""

    def __init__(self, address: str) -> None:
        try:
            import ray
        except ImportError:
            raise AisleError(
                "AISLE_RAY_ADDRESS is set but Ray is not installed; install it with "
                "pip install 'aisle[ray]' or unset AISLE_RAY_ADDRESS."
            ) from None
        if not ray.is_initialized():
            try:
                ray.init(
                    address=None if address == "local" else address,
                    include_dashboard=False,
                    log_to_driver=False,
                )
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise AisleError(f"Cannot reach the Ray cluster at {address!r}: {exc}") from None
        self._ray = ray
        self.workers = max(1, int(ray.cluster_resources().get("CPU", 1)))

    def map(self, fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
        task = self._ray.remote(fn)
        results: list[Any] = self._ray.get([task.remote(item) for item in items])
        return results


def executor() -> Executor:
    """The configured executor: Ray when `AISLE_RAY_ADDRESS` is set, else in process."""
    from retail.settings import get_settings

    address = get_settings().ray_address
    return InProcess() if not address else RayCluster(address)
