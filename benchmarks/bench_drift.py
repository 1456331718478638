"""Benchmark: drift detection against a planted truth, and false alarms over two quiet years.

(a) Detection delay: for each `--shift` case (CATEGORY:DAY), a small world (`--seed`) is seeded
with `category=CATEGORY,from=DAY,demand=+PCT%` (`retail.world.shocks`) and the monitor is run on
every as-of day from DAY to DAY + `--follow` days, each seeing only the sales up to it
(`ml_core.monitoring.drift.scan`). The delay is the first as-of day with a demand alert on the
shifted category (at any level: chain, channel or store) whose effect has the shift's sign,
minus DAY; "missed" when none comes within the follow-up. Alerts on other categories in those
days are counted too.

(b) False alarms: the same world without shocks is replayed day by day through the monitor from
the first day with a reference year behind it to the world's last day (about two years, two
Black Fridays and two Decembers). An alarm episode is a segment's run of alert days with gaps of
at most a week; the count of demand-drift episodes per segment level is reported, and apart from
them the supply alerts' (sales that empty shelves cut: real trouble in the world's replenishment,
not demand drift).

    .venv/bin/python benchmarks/bench_drift.py [--seed 42] [--pct 30]
        [--shift Tents:2025-06-02 --shift Socks:2026-03-02 ...] [--follow 21] [--no-replay]

Prints one JSON document on stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import time
from collections import defaultdict
from pathlib import Path
from tempfile import TemporaryDirectory

from rich.console import Console

from benchmarks.worlds import machine
from ml_core.monitoring.drift import FIT_DAYS, WINDOW, DriftFinding, scan
from ml_core.monitoring.segments import load_segment_panel
from retail.store.db import make_engine
from retail.store.schema import upgrade
from retail.world.seed import PINNED_END, seed_world
from retail.world.shocks import parse_shock

DEFAULT_SHIFTS = (
    "Tents:2025-06-02",
    "Jackets:2025-10-13",
    "Socks:2026-03-02",
    "Cookware:2026-08-03",
    "Water Bottles:2025-12-01",
    "Resistance Bands:2026-05-04",
)


def _world(
    folder: Path, seed: int, shocks: tuple[str, ...], console: Console
) -> tuple[object, float]:
    engine = make_engine(f"sqlite:///{folder / 'aisle.db'}")
    upgrade(engine)
    started = time.perf_counter()
    seed_world(
        engine,
        scale="small",
        seed=seed,
        end=PINNED_END,
        world_dir=folder / "world",
        show_progress=False,
        shocks=tuple(parse_shock(s) for s in shocks),
    )
    seconds = time.perf_counter() - started
    console.print(f"seeded small world seed {seed} {shocks or ''} in {seconds:.0f} s")
    return engine, seconds


def detection(seed: int, shift: str, pct: int, follow: int, console: Console) -> dict[str, object]:
    category, day_text = shift.rsplit(":", 1)
    day = dt.date.fromisoformat(day_text)
    with TemporaryDirectory(prefix="aisle-drift-") as tmp:
        engine, _ = _world(
            Path(tmp), seed, (f"category={category},from={day},demand=+{pct}%",), console
        )
        panel = load_segment_panel(engine)
        engine.dispose()  # type: ignore[attr-defined]
    started = time.perf_counter()
    found = scan(panel, day, day + dt.timedelta(days=follow))
    seconds = time.perf_counter() - started
    findings = [f for f in found if f.feature == "demand"]
    hits = sorted(
        (f for f in findings if f.segment.get("category") == category and f.effect * pct > 0),
        key=lambda f: (f.as_of, f.p_value),
    )
    first = hits[0] if hits else None
    return {
        "category": category,
        "shift_from": day.isoformat(),
        "delay_days": None if first is None else (first.as_of - day).days,
        "first_alert": None if first is None else first.message,
        "first_alert_level": None if first is None else first.level,
        "other_category_alert_days": len(
            {
                (f.as_of, f.segment.get("category"))
                for f in findings
                if f.segment.get("category") != category
            }
        ),
        "scan_seconds": round(seconds, 1),
    }


def episodes(findings: list[DriftFinding]) -> dict[str, list[dict[str, object]]]:
    """Alarm episodes per level: a segment's alert days with gaps of at most a week."""
    runs: dict[tuple[str, str], list[list[DriftFinding]]] = defaultdict(list)
    for f in sorted(findings, key=lambda f: f.as_of):
        key = (f.level, json.dumps(f.segment, sort_keys=True))
        if runs[key] and (f.as_of - runs[key][-1][-1].as_of).days <= WINDOW:
            runs[key][-1].append(f)
        else:
            runs[key].append([f])
    out: dict[str, list[dict[str, object]]] = defaultdict(list)
    for (level, _), lists in runs.items():
        for run in lists:
            out[level].append(
                {"first_day": run[0].as_of.isoformat(), "days": len(run), "message": run[0].message}
            )
    return out


def replay(seed: int, console: Console) -> dict[str, object]:
    with TemporaryDirectory(prefix="aisle-drift-") as tmp:
        engine, _ = _world(Path(tmp), seed, (), console)
        started = time.perf_counter()
        panel = load_segment_panel(engine)
        load_seconds = time.perf_counter() - started
        engine.dispose()  # type: ignore[attr-defined]
    first = panel.days[0].date() + dt.timedelta(days=FIT_DAYS + WINDOW - 1)
    last = panel.days[-1].date()
    started = time.perf_counter()
    every = scan(panel, first, last)
    seconds = time.perf_counter() - started
    findings = [f for f in every if f.feature == "demand"]
    found = episodes(findings)
    supply = episodes([f for f in every if f.feature == "supply"])
    return {
        "seed": seed,
        "first_as_of": first.isoformat(),
        "last_as_of": last.isoformat(),
        "as_of_days": (last - first).days + 1,
        "finest_segments": len(panel.category),
        "alert_days": len(findings),
        "episodes_by_level": {level: len(runs) for level, runs in sorted(found.items())},
        "episodes": found,
        "supply_episodes_by_level": {level: len(runs) for level, runs in sorted(supply.items())},
        "supply_episodes": supply,
        "panel_seconds": round(load_seconds, 1),
        "scan_seconds": round(seconds, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--pct", type=int, default=30)
    parser.add_argument("--shift", action="append", help="CATEGORY:YYYY-MM-DD (repeatable)")
    parser.add_argument("--follow", type=int, default=21)
    parser.add_argument("--no-replay", action="store_true")
    args = parser.parse_args()
    console = Console(stderr=True)
    cases = [
        detection(args.seed, s, args.pct, args.follow, console)
        for s in args.shift or DEFAULT_SHIFTS
    ]
    for case in cases:
        console.print(case)
    report: dict[str, object] = {
        "benchmark": "drift",
        "date": dt.date.today().isoformat(),
        "machine": machine(),
        "world": {"scale": "small", "seed": args.seed, "end": PINNED_END.isoformat()},
        "shift_pct": args.pct,
        "detection": cases,
        "detected_within_7_days": sum(
            1 for c in cases if c["delay_days"] is not None and c["delay_days"] <= 7
        ),
        "cases": len(cases),
    }
    if not args.no_replay:
        replayed = replay(args.seed, console)
        report["replay"] = replayed
        console.print({k: v for k, v in replayed.items() if not k.endswith("episodes")})
    print(json.dumps(report, indent=2))  # noqa: T201


if __name__ == "__main__":
    main()
