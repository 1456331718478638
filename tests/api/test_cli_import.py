"""`aisle data import ...` and `aisle data stats` end to end: results, idempotency, bad input."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import Result

Aisle = Callable[..., Result]  # the `aisle` fixture of tests/conftest.py


def stats(aisle: Aisle) -> dict[str, Any]:
    result = aisle("data", "stats", "--json")
    assert result.exit_code == 0, result.output
    payload: dict[str, Any] = json.loads(result.stdout)
    return payload


def tau2_with(tmp_path: Path, shared_data: Path, db_text: str) -> Path:
    folder = tmp_path / "tau2"
    folder.mkdir()
    shutil.copy(shared_data / "tau2_retail" / "policy.md", folder / "policy.md")
    (folder / "db.json").write_text(db_text)
    return folder


def _missing_file(tmp_path: Path, shared_data: Path) -> list[str]:
    return ["dummyjson", str(tmp_path / "no_such_products.json")]


def _directory_without_db(tmp_path: Path, shared_data: Path) -> list[str]:
    folder = tmp_path / "empty_tau2"
    folder.mkdir()
    shutil.copy(shared_data / "tau2_retail" / "policy.md", folder / "policy.md")
    return ["tau2", str(folder)]


def _truncated_json(tmp_path: Path, shared_data: Path) -> list[str]:
    text = (shared_data / "tau2_retail" / "db.json").read_text()
    return ["tau2", str(tau2_with(tmp_path, shared_data, text[: len(text) // 2]))]


def _negative_price(tmp_path: Path, shared_data: Path) -> list[str]:
    # Only the very last record is bad: everything before it would be writable.
    db = json.loads((shared_data / "tau2_retail" / "db.json").read_text())
    last_order = list(db["orders"].values())[-1]
    last_order["items"][-1]["price"] = -12.5
    return ["tau2", str(tau2_with(tmp_path, shared_data, json.dumps(db)))]


def _bad_csv_date(tmp_path: Path, shared_data: Path) -> list[str]:
    lines = (shared_data / "walmart" / "walmart_sales_weekly.csv").read_text().splitlines()
    lines[10] = lines[10].replace("2010-", "2010/", 1)
    bad = tmp_path / "sales.csv"
    bad.write_text("\n".join(lines) + "\n")
    return ["walmart", str(bad)]


def test_tau2_import_is_counted_and_idempotent(aisle: Aisle, shared_data: Path) -> None:
    folder = str(shared_data / "tau2_retail")

    first = aisle("data", "import", "tau2", folder, "--json")
    assert first.exit_code == 0, first.output
    report = json.loads(first.stdout)
    assert report["records_read"]["products"] == 50
    assert report["rows_added"]["orders"] == 1000
    assert report["changed_anything"] is True
    after_first = stats(aisle)
    assert (after_first["products"], after_first["users"], after_first["orders"]) == (50, 500, 1000)

    second = aisle("data", "import", "tau2", folder, "--json")
    assert second.exit_code == 0, second.output
    again = json.loads(second.stdout)
    assert not any(again["rows_added"].values())
    assert again["changed_anything"] is False
    assert stats(aisle) == after_first

    third = aisle("data", "import", "tau2", folder)
    assert third.exit_code == 0, third.output
    assert "already imported: nothing changed" in third.stdout
    assert stats(aisle) == after_first


@pytest.mark.parametrize(
    ("make_args", "expected"),
    [
        pytest.param(_missing_file, "no_such_products.json does not exist.", id="missing-file"),
        pytest.param(_directory_without_db, "db.json does not exist.", id="dir-without-db"),
        pytest.param(_truncated_json, "is not valid JSON (truncated or corrupt", id="truncated"),
        pytest.param(
            _negative_price, "price: Input should be greater than 0.", id="negative-price"
        ),
        pytest.param(_bad_csv_date, "column Date: Input should be a date", id="bad-csv-date"),
    ],
)
def test_bad_input_is_one_sentence_exit_2_and_no_change(
    aisle: Aisle,
    tmp_path: Path,
    shared_data: Path,
    make_args: Callable[[Path, Path], list[str]],
    expected: str,
) -> None:
    before = stats(aisle)

    result = aisle("data", "import", *make_args(tmp_path, shared_data))

    assert result.exit_code == 2, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert expected in lines[0]
    assert "Traceback" not in result.output
    assert result.stdout == ""
    assert stats(aisle) == before
    assert not any(before["tables"].values())


def test_a_refused_file_leaves_nothing_half_written(
    aisle: Aisle, tmp_path: Path, shared_data: Path
) -> None:
    refused = aisle("data", "import", *_negative_price(tmp_path, shared_data))
    assert refused.exit_code == 2, refused.output
    assert not any(stats(aisle)["tables"].values())

    loaded = aisle("data", "import", "tau2", str(shared_data / "tau2_retail"), "--json")

    assert loaded.exit_code == 0, loaded.output
    added = json.loads(loaded.stdout)["rows_added"]
    # Everything is new: the refused run wrote none of the records before its bad one.
    assert (added["products"], added["customers"], added["orders"]) == (50, 500, 1000)
    counted = stats(aisle)
    assert (counted["products"], counted["users"], counted["orders"]) == (50, 500, 1000)
    assert counted["tables"]["dataset_loads"] == 1
