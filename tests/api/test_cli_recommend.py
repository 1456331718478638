"""`aisle recommend eval` on small CSVs and `aisle recommend train` on a tiny generated world."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import partialmethod
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner, Result

from api.cli import app
from api.commands.recommend import DEFAULT_MODEL
from ml_core.recommend.ease import EASE
from ml_core.recommend.models import load_recommender
from ml_core.registry import ArtifactRegistry
from retail.settings import get_settings
from retail.world.seed import ScaleSpec
from tests.factories import seed_configured_world

Aisle = Callable[..., Result]  # the `aisle` fixture of tests/conftest.py


def _eval(*args: str) -> Result:
    """`aisle recommend eval` needs no database, so it runs once, not per backend."""
    return CliRunner().invoke(app, ["recommend", "eval", *args])


@pytest.fixture(scope="module")
def csvs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Three taste groups of users over 30 items; the last 20 days are the test; a rating column
    the models must ignore, a user only in TEST and an item only in TEST."""
    rng = np.random.default_rng(11)
    rows = []
    for u in range(90):
        group = u % 3
        for _ in range(int(rng.integers(4, 12))):
            day = pd.Timestamp("2026-08-01") + pd.Timedelta(days=int(rng.integers(0, 80)))
            item = f"{group}{int(rng.integers(0, 10)):02d}"  # text ids such as "007"
            rows.append((f"user{u}", item, day.strftime("%Y-%m-%d"), int(rng.integers(1, 6))))
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp", "rating"])
    is_test = frame["timestamp"] >= "2026-10-01"
    extra = pd.DataFrame(
        [("newbie", "001", "2026-10-05", 5), ("user1", "new-item", "2026-10-06", 4)],
        columns=frame.columns,
    )
    folder = tmp_path_factory.mktemp("interactions")
    frame[~is_test].to_csv(folder / "train.csv", index=False)
    pd.concat([frame[is_test], extra]).to_csv(folder / "test.csv", index=False)
    return folder / "train.csv", folder / "test.csv"


def test_eval_without_a_model_runs_the_default_and_writes_ranked_lists_and_metrics(
    csvs: tuple[Path, Path], tmp_path: Path
) -> None:
    train, test = csvs
    out = tmp_path / "out"
    result = _eval("--train", str(train), "--test", str(test), "--k", "5", "--output-dir", str(out))
    assert result.exit_code == 0, result.output
    assert DEFAULT_MODEL in result.stdout and "R@5" in result.stdout
    assert "note:" not in result.stderr, "30 items are far below EASE's cap"
    recs = pd.read_csv(out / "recommendations.csv", dtype={"item_id": str})
    assert list(recs.columns) == ["user_id", "item_id", "rank"]
    test_users = pd.read_csv(test)["user_id"].unique()
    assert set(recs["user_id"]) == set(test_users)
    assert (
        recs.groupby("user_id")["rank"].apply(list) == [[1, 2, 3, 4, 5]] * len(test_users)
    ).all()
    seen = pd.read_csv(train, dtype={"item_id": str})[["user_id", "item_id"]]
    assert recs.merge(seen, on=["user_id", "item_id"]).empty, "no TRAIN item comes back"
    assert recs["item_id"].str.len().eq(3).all(), "ids stay text: '007' is not 7"
    metrics = json.loads((out / "metrics.json").read_text())
    best = metrics["models"][DEFAULT_MODEL]
    assert metrics["k"] == 5 and set(metrics["models"]) == {DEFAULT_MODEL}
    for key in ("precision", "recall", "ndcg", "map", "catalog_coverage"):
        assert 0 <= best[key] <= 1
    assert best["recall"] > 0.3, "three clean taste groups are easy to learn"
    assert best["cold_start_users"]["users"] == 1
    assert best["cold_start_items"]["interactions"] == 1
    assert best["cold_start_items"]["recall"] == 0.0
    assert metrics["data"]["test_pairs_in_train"] > 0


def test_eval_compares_several_models_with_a_model_column(
    csvs: tuple[Path, Path], tmp_path: Path
) -> None:
    train, test = csvs
    out = tmp_path / "out"
    out.mkdir()
    (out / "recommendations.csv").write_text("stale\n")
    result = _eval(
        "--train", str(train), "--test", str(test), "--k", "3",
        "--model", "popularity, item_item,trending", "--weight-col", "rating",
        "--output-dir", str(out),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    recs = pd.read_csv(out / "recommendations.csv")
    assert list(recs.columns) == ["model", "user_id", "item_id", "rank"]
    assert list(recs["model"].unique()) == ["popularity", "item_item", "trending"]
    metrics = json.loads((out / "metrics.json").read_text())["models"]
    assert list(metrics) == ["popularity", "item_item", "trending"]
    assert metrics["item_item"]["recall"] > metrics["popularity"]["recall"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "no staging left"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("--k", "0"), "K must be at least 1, not 0."),
        (("--model", "svd"), "Unknown model 'svd': choose from popularity"),
        (("--user-col", "customer"), "train.csv has no column 'customer'; it has: user_id"),
        (("--time-col", "when"), "train.csv has no column 'when'"),
        (("--weight-col", "user_id"), "Column 'user_id' is named for two roles."),
        (("--weight-col", "timestamp"), "'2026-08-11' in column 'timestamp' is not a weight"),
        (("--train", "missing.csv"), "Data file missing.csv does not exist."),
    ],
)
def test_eval_refuses_bad_settings_in_one_sentence(
    csvs: tuple[Path, Path], tmp_path: Path, change: tuple[str, str], message: str
) -> None:
    train, test = csvs
    out = tmp_path / "out"
    args = {"--train": str(train), "--test": str(test), "--k": "5", "--output-dir": str(out)}
    args[change[0]] = change[1]
    result = _eval(*[part for pair in args.items() for part in pair])
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: ") and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not out.exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "is empty."),
        ("user_id,item_id,timestamp\n", "has a header but no rows."),
        ("user_id,item_id,timestamp\nu1,i1,2026-01-01\nu2,i2,soon\n", "row 3: 'soon' in column"),
        ("user_id,item_id\nu1,i1\n,i2\n", "row 3: column 'user_id' is empty."),
        ("user_id,item_id,weight\nu1,i1,-2\n", "'-2' in column 'weight' is not a weight"),
    ],
)
def test_eval_refuses_bad_files_in_one_sentence(
    csvs: tuple[Path, Path], tmp_path: Path, content: str, message: str
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(content)
    out = tmp_path / "out"
    weight = ["--weight-col", "weight"] if "weight" in content else []
    result = _eval("--train", str(bad), "--test", str(csvs[1]), "--k", "5", *weight,
                   "--output-dir", str(out))  # fmt: skip
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: ") and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not out.exists()


def test_a_model_failing_midway_leaves_no_output(csvs: tuple[Path, Path], tmp_path: Path) -> None:
    train, test = csvs
    untimed = tmp_path / "untimed.csv"
    pd.read_csv(train).drop(columns="timestamp").to_csv(untimed, index=False)
    out = tmp_path / "out"
    result = _eval("--train", str(untimed), "--test", str(test), "--k", "5",
                   "--model", "ease,trending", "--output-dir", str(out))  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "The trending model needs the time of each interaction." in result.stderr
    assert not out.exists() and list(tmp_path.iterdir()) == [untimed]


def test_eval_says_when_ease_scores_only_the_most_popular_items(
    csvs: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """EASE's cap lowered below the 30 items, as a catalogue larger than 10,000 items would be."""
    monkeypatch.setattr(EASE, "__init__", partialmethod(EASE.__init__, max_items=20))
    train, test = csvs
    out = tmp_path / "out"
    result = _eval("--train", str(train), "--test", str(test), "--k", "5", "--model", "ease",
                   "--output-dir", str(out))  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "note: EASE scores the 20 most popular of the 30 items" in result.stderr
    recs = pd.read_csv(out / "recommendations.csv", dtype={"item_id": str})
    assert len(recs) == 5 * recs["user_id"].nunique(), "the others still fill the lists"


def _tiny_world() -> None:
    seed_configured_world(ScaleSpec(20, 2, 60, 120, 0.8, 40, 2.0))


def test_train_registers_a_loadable_model(aisle: Aisle) -> None:
    _tiny_world()
    result = aisle("recommend", "train", "--json")
    assert result.exit_code == 0, result.output
    trained = json.loads(result.stdout)
    assert trained["model"] == DEFAULT_MODEL and trained["users"] > 0 and trained["items"] > 0
    assert trained["holdout"]["k"] == 20 and 0 <= trained["holdout"]["recall"] <= 1
    registry = ArtifactRegistry(get_settings().var_dir / "artifacts")
    home = registry.root / "recommender"
    assert registry.ledger("recommender").champion == trained["model_version"]
    folder = home / trained["model_version"]
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["kind"] == "recommender" and manifest["parameters"]["model"] == DEFAULT_MODEL
    assert not list(folder.glob("*.pkl"))
    model = load_recommender(folder)
    customer = str(model.user_ids_[0])
    assert len(model.recommend([customer, "someone-new"], 5).item_ids(1)) == 5

    again = aisle("recommend", "train", "--model", "popularity")
    assert again.exit_code == 0, again.output
    assert again.stdout.startswith("recommender popularity version ")
    assert load_recommender(registry.active("recommender")[1]).name == "popularity"


def test_train_refuses_an_empty_store_and_unknown_models(aisle: Aisle) -> None:
    empty = aisle("recommend", "train")
    assert empty.exit_code == 2
    assert empty.stderr == (
        "error: There are no shopper events or orders to learn from; seed or import data first.\n"
    )
    unknown = aisle("recommend", "train", "--model", "als")
    assert unknown.exit_code == 2 and "Unknown model 'als'" in unknown.stderr


def test_numeric_times_are_unix_seconds(tmp_path: Path) -> None:
    # Item "hot" is bought by three users in the last day, "old" by four users a year earlier.
    now = 1_790_000_000
    rows = [(f"o{u}", "old", now - 365 * 86_400) for u in range(4)]
    rows += [(f"h{u}", "hot", now - 3_600 * u) for u in range(3)]
    pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"]).to_csv(
        tmp_path / "train.csv", index=False
    )
    pd.DataFrame([("someone", "old", now)], columns=["user_id", "item_id", "timestamp"]).to_csv(
        tmp_path / "test.csv", index=False
    )
    out = tmp_path / "out"
    result = _eval("--train", str(tmp_path / "train.csv"), "--test", str(tmp_path / "test.csv"),
                   "--k", "1", "--model", "trending", "--output-dir", str(out))  # fmt: skip
    assert result.exit_code == 0, result.output
    assert pd.read_csv(out / "recommendations.csv")["item_id"].tolist() == ["hot"]
