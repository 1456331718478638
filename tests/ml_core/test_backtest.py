"""The generic backtest: CSV loading, cutoff arithmetic, metrics, per-series choice and the CLI.

Metrics are checked against values worked out by hand on tiny examples; the CLI runs end to end
on a CSV written here and on the real Walmart file.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import Result

from ml_core.forecasting.backtest import (
    FORECAST_COLUMNS,
    BacktestError,
    BacktestSpec,
    backtest,
    cutoffs,
    select_per_series,
    selection_metrics,
)
from ml_core.forecasting.base import DS, ID, SeriesData, Y
from ml_core.forecasting.baselines import SeasonalNaive
from ml_core.forecasting.data import load_series_csv
from ml_core.forecasting.metrics import (
    evaluate,
    interval_coverage,
    mae,
    mape,
    pinball_loss,
    seasonal_scale,
    share_below,
    smape,
    wape,
)
from retail.errors import DataFileError

Aisle = Callable[..., Result]  # the `aisle` fixture of tests/conftest.py
DAY = pd.Timedelta(days=1)


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    # Backtests never open the store, so running them on PostgreSQL too would only repeat them.
    return f"sqlite:///{tmp_path / 'aisle.db'}"


def _one_error_line(result: Result) -> str:
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.output
    assert lines[0].startswith("error: ")
    return lines[0]


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def _series(values: dict[str, list[float]], start: str = "2024-01-01") -> SeriesData:
    """A daily panel; every series starts on `start` unless its values begin with NaN."""
    rows = []
    for uid, ys in values.items():
        ds = pd.Timestamp(start) + np.arange(len(ys)) * DAY
        frame = pd.DataFrame({ID: uid, DS: ds, Y: np.asarray(ys, dtype=float)})
        rows.append(frame[frame[Y].notna()])
    frame = pd.concat(rows, ignore_index=True).astype({DS: "datetime64[ns]"})
    return SeriesData(frame=frame, freq="D")


# --- loading CSV -------------------------------------------------------------------------------


def test_load_renames_fills_gaps_with_zero_and_carries_exog_forward(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "sales.csv",
        "store,item,when,qty,price,colour\n"
        "1,b,2024-01-01,3,2.5,red\n"
        "1,b,2024-01-03,,2.0,red\n"
        "1,b,2024-01-04,4,,red\n"
        "1,b,2024-01-05,,9.0,red\n"
        "1,a,2024-01-02,1,1.0,blue\n"
        "1,a,2024-01-03,2,1.5,blue\n",
    )
    data = load_series_csv(
        path,
        freq="D",
        id_col="item",
        time_col="when",
        target_col="qty",
        future_exog=["price"],
        static_cols=["colour"],
    )
    assert list(data.frame.columns) == [ID, DS, Y, "price", "colour"]
    b = data.frame[data.frame[ID] == "b"]
    assert b[DS].dt.strftime("%m-%d").tolist() == ["01-01", "01-02", "01-03", "01-04"]
    assert b[Y].tolist() == [3.0, 0.0, 0.0, 4.0]
    # 01-02 is missing: carried forward; 01-03 has no target but its price; 01-04 is blank;
    # 01-05 has no target and lies after the last one, so it is not a period of the series.
    assert b["price"].tolist() == [2.5, 2.5, 2.0, 2.0]
    assert b["colour"].tolist() == ["red"] * 4
    assert data.frame[ID].tolist()[:2] == ["a", "a"]  # sorted by series, then date
    assert data.statics()["colour"].to_dict() == {"a": "blue", "b": "red"}


def test_weekly_data_keeps_its_weekday_and_steps_seven_days(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "weekly.csv",
        "unique_id,ds,y,holiday\nx,2012-01-06,5,FALSE\nx,2012-01-20,7,TRUE\n",
    )
    data = load_series_csv(path, freq="W", future_exog=["holiday"])
    assert data.frame[DS].dt.strftime("%Y-%m-%d %a").tolist() == [
        "2012-01-06 Fri",
        "2012-01-13 Fri",
        "2012-01-20 Fri",
    ]
    assert data.frame[Y].tolist() == [5.0, 0.0, 7.0]
    assert data.frame["holiday"].tolist() == [0.0, 0.0, 1.0]


@pytest.mark.parametrize(
    ("text", "kwargs", "message"),
    [
        ("unique_id,ds,y\na,2024-01-01,1\n", {"target_col": "sales"}, "has no column 'sales'"),
        ("unique_id,ds,y\na,2024-01-01,1\na,someday,2\n", {}, "row 3: 'someday' in column 'ds'"),
        ("unique_id,ds,y\na,soon,1\na,2024-01-02,2\n", {}, "row 2: 'soon' in column 'ds'"),
        ("unique_id,ds,y\na,2024-01-01,1\na,2024-01-02,lots\n", {}, "row 3: 'lots' in column"),
        ("unique_id,ds,y\na,2024-01-01,1\n", {"freq": "M"}, "Unknown frequency 'M'"),
        ("", {}, "is empty"),
        ("unique_id,ds,y\n", {}, "has a header but no rows"),
        ("unique_id,ds,y\na,2024-01-01,1\na,2024-01-01,2\n", {}, "row 3: series 'a' already"),
        ("unique_id,ds,y\na,2024-01-05,1\na,2024-01-09,2\n", {"freq": "W"}, "not a whole 7-day"),
        ("unique_id,ds,y,p\na,2024-01-01,1,x\n", {"future_exog": ["p"]}, "'x' in column 'p'"),
        (
            "unique_id,ds,y,c\na,2024-01-01,1,u\na,2024-01-02,1,v\n",
            {"static_cols": ["c"]},
            "static",
        ),
        ("unique_id,ds,y\n,2024-01-01,1\n", {}, "row 2: column 'unique_id' is empty"),
    ],
)
def test_bad_files_are_one_sentence_naming_the_problem(
    tmp_path: Path, text: str, kwargs: dict[str, object], message: str
) -> None:
    path = _write(tmp_path / "bad.csv", text)
    with pytest.raises(DataFileError) as caught:
        load_series_csv(path, **{"freq": "D", **kwargs})  # type: ignore[arg-type]
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(DataFileError, match="does not exist"):
        load_series_csv(tmp_path / "nope.csv", freq="D")


# --- cutoffs and windows -----------------------------------------------------------------------


def test_cutoffs_step_back_from_the_last_date_minus_the_horizon() -> None:
    last = pd.Timestamp("2024-03-31")
    got = cutoffs(last, "D", BacktestSpec(horizon=7, step=3, windows=3))
    assert got == [pd.Timestamp(d) for d in ("2024-03-18", "2024-03-21", "2024-03-24")]
    weekly = cutoffs(pd.Timestamp("2012-10-26"), "W", BacktestSpec(horizon=8, step=8, windows=2))
    assert weekly == [pd.Timestamp("2012-07-06"), pd.Timestamp("2012-08-31")]
    assert {c.day_name() for c in weekly} == {"Friday"}


def test_each_window_trains_up_to_its_cutoff_and_scores_steps_after_the_gap() -> None:
    # y is the day number, so a lag-1 naive forecast reveals the last value it was trained on.
    data = _series({"a": list(range(30)), "b": list(range(100, 130))})
    spec = BacktestSpec(horizon=5, step=4, windows=3, gap=2)
    result = backtest(
        data, {"naive": lambda: SeasonalNaive(season_length=1)}, spec, show_progress=False
    )
    fc = result.forecasts
    assert list(fc.columns) == list(FORECAST_COLUMNS)
    last = data.frame[DS].max()
    assert result.cutoffs == [last - 13 * DAY, last - 9 * DAY, last - 5 * DAY]
    for cutoff, window in fc.groupby("cutoff"):
        for uid, rows in window.groupby(ID):
            steps = ((rows[DS] - cutoff) / DAY).astype(int).tolist()
            assert steps == [3, 4, 5]  # G+1..H
            at_cutoff = data.frame[(data.frame[ID] == uid) & (data.frame[DS] == cutoff)][Y]
            assert (rows["y_hat"] == at_cutoff.item()).all()
            actual = data.frame.set_index([ID, DS]).loc[[(uid, d) for d in rows[DS]], Y]
            assert rows[Y].tolist() == actual.tolist()
    assert len(fc) == 3 * 2 * 3


def test_series_without_data_at_a_cutoff_sit_the_window_out() -> None:
    nan = float("nan")
    data = _series(
        {
            "full": [float(i) for i in range(30)],
            "late": [nan] * 22 + [5.0] * 8,  # starts after the first two cutoffs
            "ended": [1.0] * 18,  # ends before the last two cutoffs
        }
    )
    spec = BacktestSpec(horizon=4, step=3, windows=3)
    result = backtest(data, {"naive": SeasonalNaive}, spec, show_progress=False)
    seen = result.forecasts.groupby("cutoff")[ID].unique().map(sorted).tolist()
    # cutoffs: day 19, 22, 25 (0-based): "ended" (days 0-17) is out of all three,
    # "late" (from day 22) joins at the last two.
    assert seen == [["full"], ["full", "late"], ["full", "late"]]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (BacktestSpec(horizon=0, step=1, windows=1), "horizon must be at least 1"),
        (BacktestSpec(horizon=3, step=0, windows=1), "step must be at least 1"),
        (BacktestSpec(horizon=3, step=1, windows=0), "windows must be at least 1"),
        (BacktestSpec(horizon=3, step=1, windows=1, gap=3), "gap must be at least 0 and less"),
        (BacktestSpec(horizon=7, step=7, windows=5), "spans 30 periods but 5 windows"),
    ],
)
def test_impossible_settings_are_refused(spec: BacktestSpec, message: str) -> None:
    data = _series({"a": [1.0] * 30})
    with pytest.raises(BacktestError, match=message):
        backtest(data, {"naive": SeasonalNaive}, spec, show_progress=False)


# --- metrics -----------------------------------------------------------------------------------


def test_point_metrics_match_hand_computed_values() -> None:
    y, f = [1.0, 0.0, 3.0], [2.0, 1.0, 1.0]
    assert mae(y, f) == pytest.approx(4 / 3)
    assert wape(y, f) == pytest.approx(4 / 4)
    assert mape(y, f) == pytest.approx((1 / 1 + 2 / 3) / 2)  # the zero actual is skipped
    assert smape(y, f) == pytest.approx((2 * 1 / 3 + 2 * 1 / 1 + 2 * 2 / 4) / 3)
    assert smape([0.0], [0.0]) == 0.0
    assert math.isnan(wape([0.0, 0.0], [1.0, 2.0]))


def test_probabilistic_metrics_match_hand_computed_values() -> None:
    y = [1.0, 0.0, 3.0, 5.0]
    # errors y - q: -1, -1, 2, 4 -> losses at 0.9: 0.1, 0.1, 1.8, 3.6
    assert pinball_loss(y, [2.0, 1.0, 1.0, 1.0], 0.9) == pytest.approx(5.6 / 4)
    assert interval_coverage(y, [0.5, 0.5, 0.5, 0.5], [3.0, 3.0, 3.0, 3.0]) == 0.5
    assert share_below(y, [1.0, 1.0, 1.0, 1.0]) == 0.5


def test_mase_scales_by_the_in_sample_seasonal_naive_error() -> None:
    train = pd.DataFrame(
        {
            ID: ["a"] * 4 + ["b"] * 2,
            DS: [*pd.date_range("2024-01-01", periods=4), *pd.date_range("2024-01-03", periods=2)],
            Y: [1.0, 3.0, 2.0, 6.0, 4.0, 1.0],
        }
    )
    scale = seasonal_scale(train, season_length=2)
    assert scale["a"] == pytest.approx((1 + 3) / 2)  # |2-1|, |6-3|
    assert scale["b"] == pytest.approx(3.0)  # too short for lag 2: lag 1, |1-4|

    cutoff = pd.Timestamp("2024-01-04")
    forecasts = pd.DataFrame(
        {
            ID: ["a", "a", "b", "b"],
            DS: pd.to_datetime(["2024-01-05", "2024-01-06"] * 2),
            "cutoff": cutoff,
            "model": "m",
            Y: [4.0, 6.0, 2.0, 2.0],
            "y_hat": [5.0, 3.0, 2.0, 5.0],
            "p10": [3.0, 2.0, 1.0, 1.0],
            "p50": [5.0, 3.0, 2.0, 5.0],
            "p90": [6.0, 4.0, 3.0, 6.0],
            "p95": [7.0, 5.0, 4.0, 7.0],
        }
    )
    scales = scale.reset_index().assign(cutoff=cutoff)
    table = evaluate(forecasts, scales)
    row = table.loc["m"]
    # a: MAE (1 + 3) / 2 = 2, scaled 2 / 2 = 1; b: MAE (0 + 3) / 2 = 1.5, scaled 1.5 / 3 = 0.5
    assert row["mase"] == pytest.approx(0.75)
    assert row["mae"] == pytest.approx(7 / 4)
    assert row["wape"] == pytest.approx(7 / 14)
    # [p10, p90]: 4 in [3, 6] yes, 6 in [2, 4] no, 2 in [1, 3] yes, 2 in [1, 6] yes
    assert row["coverage_80"] == pytest.approx(3 / 4)
    assert row["coverage_p90"] == pytest.approx(3 / 4)
    assert row["coverage_p10"] == pytest.approx(0.0)  # no actual at or below its p10
    assert row["rows"] == 4 and row["series"] == 2


def test_best_model_per_series_is_chosen_from_earlier_windows_only() -> None:
    t = np.arange(60, dtype=float)
    data = _series({"weekly": (10 + 5 * (t % 7 == 0)).tolist(), "trend": t.tolist()})
    models = {
        "seasonal": lambda: SeasonalNaive(season_length=7),
        "naive": lambda: SeasonalNaive(season_length=1),
    }
    result = backtest(data, models, BacktestSpec(7, 7, 3), show_progress=False)
    best = select_per_series(result)
    assert set(best["cutoff"]) == set(result.cutoffs[1:])
    chosen = best.groupby(ID)["chosen"].unique().map(list).to_dict()
    assert chosen == {"trend": ["naive"], "weekly": ["seasonal"]}
    assert (best["model"] == "best").all()

    table = selection_metrics(result)
    assert table is not None
    assert list(table.index) == ["seasonal", "naive", "best"]
    # Each model and the choice are scored on the same rows: windows 2 and 3 of both series.
    assert set(table["rows"]) == {2 * 2 * 7}
    assert table.loc["best", "mae"] < min(table.loc["seasonal", "mae"], table.loc["naive", "mae"])
    assert table.loc["seasonal", "chosen"] + table.loc["naive", "chosen"] == 2 * 2


def test_nothing_to_choose_with_one_model() -> None:
    data = _series({"flat": [3.0] * 40})
    models = {"seasonal": lambda: SeasonalNaive(season_length=7)}
    result = backtest(data, models, BacktestSpec(7, 7, 3), show_progress=False)
    assert selection_metrics(result) is None


# --- the CLI -----------------------------------------------------------------------------------


def _small_csv(path: Path) -> Path:
    rng = np.random.default_rng(3)
    rows = []
    for k, uid in enumerate(["s1", "s2", "s3"]):
        start = 0 if uid != "s3" else 20  # s3 starts late
        for day in range(start, 70):
            if uid == "s2" and 30 <= day < 33:
                continue  # a gap
            y = rng.poisson(10 + 6 * (day % 7 == 5) + 3 * k)
            date = (pd.Timestamp("2024-01-01") + day * DAY).strftime("%Y-%m-%d")
            rows.append(f"{uid},{date},{y},{day % 10 == 0},cat{k},junk")
    path.write_text("sku,date,units,promo,cat,extra\n" + "\n".join(rows) + "\n")
    return path


def _cli_args(data: Path, out: Path, *extra: str) -> list[str]:
    return [
        "forecast",
        "backtest",
        "--data",
        str(data),
        "--freq",
        "D",
        "--horizon",
        "7",
        "--step",
        "7",
        "--windows",
        "2",
        "--id-col",
        "sku",
        "--time-col",
        "date",
        "--target-col",
        "units",
        "--output-dir",
        str(out),
        *extra,
    ]


def test_the_cli_writes_forecasts_metrics_and_a_self_contained_report(
    aisle: Aisle, tmp_path: Path
) -> None:
    data = _small_csv(tmp_path / "small.csv")
    out = tmp_path / "bt"
    result = aisle(
        *_cli_args(data, out, "--gap", "1", "--future-exog", "promo", "--static-cols", "cat"),
        "--models",
        "seasonal_naive,tsb",
    )
    assert result.exit_code == 0, result.output
    assert "seasonal_naive" in result.stdout and "WAPE" in result.stdout

    forecasts = pd.read_csv(out / "forecasts.csv")
    assert list(forecasts.columns) == list(FORECAST_COLUMNS)
    assert set(forecasts["model"]) == {"seasonal_naive", "tsb"}
    assert set(forecasts["cutoff"]) == {"2024-02-25", "2024-03-03"}
    steps = (pd.to_datetime(forecasts["ds"]) - pd.to_datetime(forecasts["cutoff"])) / DAY
    assert set(steps) == set(range(2, 8))  # gap 1: steps 2..7
    assert len(forecasts) == 2 * 2 * 3 * 6
    assert forecasts[["y_hat", "p10", "p50", "p90", "p95"]].ge(0).all().all()

    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["models"]) == {"seasonal_naive", "tsb"}
    for values in metrics["models"].values():
        for key in ("mae", "wape", "mape", "smape", "mase", "pinball", "coverage_80"):
            assert math.isfinite(values[key])
    assert metrics["backtest"]["cutoffs"] == ["2024-02-25", "2024-03-03"]
    selection = metrics["selection"]
    assert selection["scored_cutoffs"] == ["2024-03-03"]
    assert set(selection["models"]) == {"seasonal_naive", "tsb", "best"}
    assert sum(selection["models"][m]["chosen"] for m in ("seasonal_naive", "tsb")) == 3
    assert "per-series choice" in result.stdout

    report = (out / "report.html").read_text()
    assert report.count("data:image/png;base64,") >= 3
    assert "http://" not in report and "https://" not in report


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--target-col", "sales"], "has no column 'sales'"),
        (["--time-col", "extra"], "'junk' in column 'extra' is not a date"),
        (["--models", "prophet"], "Unknown model 'prophet': choose from"),
        (["--horizon", "0"], "horizon must be at least 1"),
        (["--windows", "0"], "windows must be at least 1"),
        (["--step", "0"], "step must be at least 1"),
        (["--gap", "7"], "gap must be at least 0 and less than the horizon (7)"),
        (["--refit-every", "0"], "Refit at least every 1 window, not every 0"),
        (["--windows", "40"], "need at least"),
        (["--freq", "M"], "Unknown frequency 'M'"),
        (["--future-exog", "cat"], "'cat0' in column 'cat' is not a number"),
    ],
)
def test_bad_cli_input_is_one_sentence_and_exit_2(
    aisle: Aisle, tmp_path: Path, extra: list[str], message: str
) -> None:
    data = _small_csv(tmp_path / "small.csv")
    out = tmp_path / "bt"
    line = _one_error_line(aisle(*_cli_args(data, out), "--models", "seasonal_naive", *extra))
    assert message in line
    assert not (out / "forecasts.csv").exists()


def test_a_missing_data_file_is_one_sentence(aisle: Aisle, tmp_path: Path) -> None:
    line = _one_error_line(aisle(*_cli_args(tmp_path / "none.csv", tmp_path / "bt")))
    assert "does not exist" in line


def test_walmart_weekly_backtest_end_to_end(
    aisle: Aisle, shared_data: Path, tmp_path: Path
) -> None:
    out = tmp_path / "walmart"
    result = aisle(
        "forecast",
        "backtest",
        "--data",
        str(shared_data / "walmart" / "walmart_sales_weekly.csv"),
        "--freq",
        "W",
        "--horizon",
        "8",
        "--step",
        "8",
        "--windows",
        "2",
        "--id-col",
        "id",
        "--time-col",
        "Date",
        "--target-col",
        "Weekly_Sales",
        "--future-exog",
        "IsHoliday,MarkDown1",
        "--static-cols",
        "Type,Size",
        "--models",
        "seasonal_naive,theta",
        "--output-dir",
        str(out),
    )
    assert result.exit_code == 0, result.output
    forecasts = pd.read_csv(out / "forecasts.csv")
    assert forecasts["unique_id"].nunique() == 7
    assert len(forecasts) == 2 * 2 * 7 * 8
    assert set(pd.to_datetime(forecasts["ds"]).dt.day_name()) == {"Friday"}
    metrics = json.loads((out / "metrics.json").read_text())["models"]
    for values in metrics.values():
        assert all(math.isfinite(v) for v in values.values() if v is not None)
        assert 0 < values["wape"] < 1
    assert (out / "report.html").stat().st_size > 10_000
