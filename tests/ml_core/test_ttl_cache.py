"""The expiring cache the placements reuse answers with."""

from __future__ import annotations

from ml_core.ttl_cache import TtlCache


def test_values_are_reused_until_they_expire_and_the_oldest_go_first() -> None:
    now = [0.0]
    computed: list[str] = []
    cache: TtlCache[str] = TtlCache(10.0, max_entries=2, clock=lambda: now[0])

    def compute(key: str) -> str:
        computed.append(key)
        return key.upper()

    assert cache.get("a", lambda: compute("a")) == "A"
    now[0] = 9.9
    assert cache.get("a", lambda: compute("a")) == "A"
    assert computed == ["a"]
    now[0] = 10.0
    assert cache.get("a", lambda: compute("a")) == "A"
    assert computed == ["a", "a"], "expired after ttl_s"
    cache.get("b", lambda: compute("b"))
    cache.get("a", lambda: compute("a"))  # a is now the most recently used
    cache.get("c", lambda: compute("c"))  # over max_entries: b goes
    cache.get("a", lambda: compute("a"))
    cache.get("b", lambda: compute("b"))
    assert computed == ["a", "a", "b", "c", "b"]
    now[0] = 11.0
    cache.get("b", lambda: compute("b"), max_age_s=0.0)  # a caller that wants it fresh
    assert computed[-1] == "b" and len(computed) == 6
    cache.get("b", lambda: compute("b"), max_age_s=5.0)  # ...and one that accepts it as is
    assert len(computed) == 6
