"""The public data set importers: what lands in the store, idempotency, and refusal of bad files."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import DataError
from sqlalchemy.orm import Session

import retail.importers.common as common
from retail.errors import DataFileError
from retail.importers.dummyjson import import_dummyjson
from retail.importers.tau2 import import_tau2
from retail.importers.walmart import import_walmart
from retail.store.models import (
    Base,
    Customer,
    DatasetLoad,
    DepartmentWeeklySales,
    Order,
    OrderItem,
    PaymentMethod,
    Policy,
    Product,
    Review,
)
from retail.store.stats import store_stats


def counts(engine: Engine) -> dict[str, int]:
    return dict(store_stats(engine)["tables"])


def tau2_copy(
    tmp_path: Path,
    shared_data: Path,
    mutate: Callable[[dict[str, Any]], None] | None = None,
    *,
    db_text: str | None = None,
) -> Path:
    """A tau2 folder in tmp_path: the real files, db.json optionally changed or replaced."""
    folder = tmp_path / "tau2"
    folder.mkdir()
    shutil.copy(shared_data / "tau2_retail" / "policy.md", folder / "policy.md")
    if db_text is None:
        db = json.loads((shared_data / "tau2_retail" / "db.json").read_text())
        if mutate is not None:
            mutate(db)
        db_text = json.dumps(db)
    (folder / "db.json").write_text(db_text)
    return folder


@pytest.fixture
def tau2_dir(shared_data: Path) -> Path:
    return shared_data / "tau2_retail"


@pytest.fixture
def walmart_csv(shared_data: Path) -> Path:
    return shared_data / "walmart" / "walmart_sales_weekly.csv"


@pytest.fixture
def dummyjson_file(shared_data: Path) -> Path:
    return shared_data / "dummyjson" / "products.json"


# --- tau2 -----------------------------------------------------------------------------------


def test_tau2_import_loads_the_whole_domain(engine: Engine, tau2_dir: Path) -> None:
    report = import_tau2(engine, tau2_dir)

    tables = counts(engine)
    assert tables["products"] == 50
    assert tables["variants"] == 591
    assert tables["customers"] == 500
    assert tables["orders"] == 1000
    assert tables["policies"] == 1
    assert tables["categories"] == 51  # one per product type, under one department
    assert tables["dataset_loads"] == 1
    assert report.records_read["products"] == 50
    assert report.records_read["variants"] == 591
    assert report.records_read["customers"] == 500
    assert report.records_read["orders"] == 1000
    assert report.rows_added["orders"] == 1000
    assert report.rows_added["order_items"] == report.records_read["order_items"]
    assert report.changed_anything
    with Session(engine) as session:
        load = session.scalars(select(DatasetLoad)).one()
        assert load.source == "tau2"
        assert load.location == str(tau2_dir.resolve())
        assert len(load.content_hash) == 64
        assert set(load.parameters["files"]) == {"db.json", "policy.md"}
        assert load.counts["orders"] == 1000


def test_tau2_order_keeps_items_payments_fulfilments_and_status(
    engine: Engine, tau2_dir: Path
) -> None:
    import_tau2(engine, tau2_dir)
    source = json.loads((tau2_dir / "db.json").read_text())

    with Session(engine) as session:
        order = session.get(Order, "#W2611340")
        assert order is not None
        assert order.status == "processed"
        assert order.customer_id == "james_li_5688"
        assert order.created_at is None  # tau2 has no timestamps; none is invented
        assert order.shipping_address["city"] == "New York"
        assert order.source == "tau2"
        assert [(i.position, i.variant_id, i.name, i.price) for i in order.items] == [
            (0, "6469567736", "Water Bottle", 47.84),
            (1, "8426249116", "Office Chair", 488.81),
        ]
        assert order.items[0].options == {
            "capacity": "1000ml",
            "material": "glass",
            "color": "blue",
        }
        assert [(p.transaction_type, p.amount, p.payment_method_id) for p in order.payments] == [
            ("payment", 536.65, "gift_card_1725971")
        ]
        assert [(f.tracking_ids, f.variant_ids) for f in order.fulfillments] == [
            (["357962501027"], ["6469567736", "8426249116"])
        ]

        customer = session.get(Customer, "james_li_5688")
        assert customer is not None
        assert [a.id for a in customer.addresses] == ["james_li_5688:default"]
        assert {m.id for m in customer.payment_methods} == set(
            source["users"]["james_li_5688"]["payment_methods"]
        )

        # An order holding the same item twice keeps both lines, told apart by position.
        repeated = next(
            o
            for o in source["orders"].values()
            if len({i["item_id"] for i in o["items"]}) < len(o["items"])
        )
        stored = session.scalars(
            select(OrderItem).where(OrderItem.order_id == repeated["order_id"])
        ).all()
        assert [i.variant_id for i in sorted(stored, key=lambda i: i.position)] == [
            i["item_id"] for i in repeated["items"]
        ]
        total_items = session.scalar(select(func.count()).select_from(OrderItem))
        assert total_items == sum(len(o["items"]) for o in source["orders"].values())

        policy = session.get(Policy, "tau2-retail-policy")
        assert policy is not None
        assert policy.title == "Retail agent policy"
        assert "exchange" in policy.body


def test_tau2_reimport_adds_nothing_and_keeps_what_aisle_changed(
    engine: Engine, tau2_dir: Path
) -> None:
    import_tau2(engine, tau2_dir)
    with Session(engine) as session, session.begin():
        order = session.get(Order, "#W2611340")
        assert order is not None
        order.status = "cancelled"
    before = counts(engine)

    report = import_tau2(engine, tau2_dir)

    assert report.rows_added and not any(report.rows_added.values())
    assert not report.changed_anything
    assert report.records_read["orders"] == 1000
    assert counts(engine) == before
    with Session(engine) as session:
        order = session.get(Order, "#W2611340")
        assert order is not None
        assert order.status == "cancelled"


def test_tau2_order_keys_beyond_the_known_ones_are_kept_in_details(
    engine: Engine, tmp_path: Path, shared_data: Path
) -> None:
    def add_note(db: dict[str, Any]) -> None:
        db["orders"]["#W2611340"]["gift_note"] = {"text": "Happy birthday"}

    import_tau2(engine, tau2_copy(tmp_path, shared_data, add_note))

    with Session(engine) as session:
        noted = session.get(Order, "#W2611340")
        plain = session.get(Order, "#W3400144")
        assert noted is not None and plain is not None
        assert noted.details == {"gift_note": {"text": "Happy birthday"}}
        assert plain.details == {}


def test_a_database_refusal_is_one_sentence(
    engine: Engine, tau2_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(conn: Any, table: Any, rows: Any) -> int:
        raise DataError(
            "INSERT ...", {}, ValueError("value too long for type character varying(64)")
        )

    monkeypatch.setattr(common, "insert_missing", refuse)
    with pytest.raises(DataFileError) as caught:
        import_tau2(engine, tau2_dir)

    assert str(caught.value) == (
        f"{tau2_dir.resolve()}: the database refused a row of categories "
        "(value too long for type character varying(64))."
    )


def test_ids_taken_by_another_source_or_owner_are_refused(engine: Engine, tau2_dir: Path) -> None:
    # A generated shopper whose id and payment method id happen to match tau2's.
    with Session(engine) as session, session.begin():
        session.add(
            Customer(id="someone_1", first_name="Some", last_name="One", source="generated")
        )
        session.add(PaymentMethod(id="paypal_5727330", customer_id="someone_1", kind="paypal"))
    before = counts(engine)

    with pytest.raises(DataFileError) as caught:
        import_tau2(engine, tau2_dir)

    assert str(caught.value) == (
        f"{tau2_dir.resolve()}: payment_methods 'paypal_5727330' already exists with "
        "customer_id 'someone_1' (this file says 'noah_brown_6181'), so nothing was imported."
    )
    assert counts(engine) == before

    with Session(engine) as session, session.begin():
        session.add(
            Customer(id="noah_brown_6181", first_name="N", last_name="B", source="generated")
        )
    with pytest.raises(
        DataFileError, match="customers 'noah_brown_6181' already exists with source"
    ):
        import_tau2(engine, tau2_dir)


def test_a_failure_while_writing_leaves_the_database_unchanged(
    engine: Engine, tau2_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_insert = common.insert_missing
    written: list[str] = []

    def insert_then_fail(conn: Any, table: Any, rows: Any) -> int:
        if table.name == "orders":
            raise RuntimeError("disk full")
        written.append(table.name)
        return real_insert(conn, table, rows)

    monkeypatch.setattr(common, "insert_missing", insert_then_fail)
    with pytest.raises(RuntimeError, match="disk full"):
        import_tau2(engine, tau2_dir)

    assert "products" in written  # the failure came after earlier tables were inserted
    assert not any(counts(engine).values())


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        pytest.param(
            lambda db: db["orders"]["#W2611340"]["items"][0].update(price=-5),
            "db.json: orders['#W2611340'].items[0].price: Input should be greater than 0.",
            id="negative-price",
        ),
        pytest.param(
            lambda db: db["orders"]["#W2611340"].update(status="shipped"),
            "db.json: orders['#W2611340'].status: Input should be one of 'pending', "
            "'processed', 'delivered', 'cancelled', 'return requested', 'exchange requested', "
            "not 'shipped'.",
            id="unknown-status",
        ),
        pytest.param(
            lambda db: db["orders"]["#W2611340"]["items"][1].pop("item_id"),
            "db.json: orders['#W2611340'].items[1].item_id: Field required.",
            id="missing-field",
        ),
        pytest.param(
            lambda db: db["products"]["9523456873"]["variants"]["9612497925"].update(price="50.88"),
            "db.json: products['9523456873'].variants['9612497925'].price: "
            "Input should be a valid number.",
            id="price-as-text",
        ),
        pytest.param(
            lambda db: db["orders"]["#W2611340"]["items"][0].update(item_id="0000000000"),
            "db.json: orders['#W2611340'].items[0].item_id: names no variant in the file "
            "('0000000000').",
            id="unknown-item",
        ),
        pytest.param(
            lambda db: db["orders"]["#W2611340"].update(user_id="nobody_1"),
            "db.json: orders['#W2611340'].user_id: names no user in the file ('nobody_1').",
            id="unknown-user",
        ),
        pytest.param(
            lambda db: db.pop("users"),
            "db.json: users: Field required.",
            id="no-users",
        ),
        pytest.param(
            lambda db: db["orders"]["#W2611340"]["items"][0].update(name="Water\x00Bottle"),
            "db.json: orders['#W2611340'].items[0].name: holds a NUL character, which the "
            "database cannot store.",
            id="nul-character",  # SQLite would keep it, PostgreSQL would not: both refuse it
        ),
        pytest.param(
            lambda db: db["products"]["9523456873"]["variants"]["9612497925"]["options"].update(
                color=["blue"]
            ),
            "db.json: products['9523456873'].variants['9612497925'].options['color']: "
            "Input should be a valid string.",
            id="option-not-a-scalar",
        ),
    ],
)
def test_tau2_malformed_record_is_named_and_nothing_is_written(
    engine: Engine,
    tmp_path: Path,
    shared_data: Path,
    mutate: Callable[[dict[str, Any]], None],
    message: str,
) -> None:
    folder = tau2_copy(tmp_path, shared_data, mutate)

    with pytest.raises(DataFileError) as caught:
        import_tau2(engine, folder)

    assert str(caught.value) == f"{folder / message}"
    assert not any(counts(engine).values())


@pytest.mark.parametrize(
    ("db_text", "message"),
    [
        pytest.param(
            '{"products": {}, "users": {',
            "db.json is not valid JSON (truncated or corrupt at line 1, column 28).",
            id="truncated",
        ),
        pytest.param(
            "[]",
            "db.json: the top level should be an object with products, users and orders, "
            "found a list.",
            id="wrong-shape",
        ),
        pytest.param(
            '{"products": NaN}',
            "db.json is not valid JSON (NaN is not a JSON value).",
            id="nan",
        ),
        pytest.param("", "db.json is empty.", id="empty"),
    ],
)
def test_tau2_unreadable_json_is_refused(
    engine: Engine, tmp_path: Path, shared_data: Path, db_text: str, message: str
) -> None:
    folder = tau2_copy(tmp_path, shared_data, db_text=db_text)

    with pytest.raises(DataFileError) as caught:
        import_tau2(engine, folder)

    assert str(caught.value) == f"{folder / message}"
    assert not any(counts(engine).values())


def test_tau2_missing_paths_are_named(engine: Engine, tmp_path: Path, tau2_dir: Path) -> None:
    with pytest.raises(DataFileError, match="does not exist"):
        import_tau2(engine, tmp_path / "absent")
    with pytest.raises(DataFileError, match="is a file, expected a directory"):
        import_tau2(engine, tau2_dir / "db.json")
    (tmp_path / "only_db").mkdir()
    shutil.copy(tau2_dir / "db.json", tmp_path / "only_db" / "db.json")
    with pytest.raises(DataFileError) as caught:
        import_tau2(engine, tmp_path / "only_db")
    assert str(caught.value) == f"{tmp_path / 'only_db' / 'policy.md'} does not exist."
    assert not any(counts(engine).values())


# --- DummyJSON ------------------------------------------------------------------------------


def test_dummyjson_import_products_with_reviews_and_no_reviewer_emails(
    engine: Engine, dummyjson_file: Path
) -> None:
    raw = json.loads(dummyjson_file.read_text())
    emails = {r["reviewerEmail"] for p in raw for r in p["reviews"]}
    assert emails  # the file has them; the store must not

    report = import_dummyjson(engine, dummyjson_file)

    tables = counts(engine)
    assert tables["products"] == 194
    assert tables["variants"] == 194
    assert tables["reviews"] == 582
    assert report.records_read["products"] == 194
    assert report.rows_added["reviews"] == 582
    with Session(engine) as session:
        product = session.get(Product, "dj-1")
        assert product is not None
        assert product.name == raw[0]["title"]
        assert product.source == "dummyjson"
        assert product.brand_id == "dj-essence"
        assert product.category_id == "dj-beauty"
        assert product.review_count == 3
        # The rating a card shows is the mean of the reviews stored with it; DummyJSON's own
        # overall figure (of reviews it does not ship) is kept apart, never shown as it.
        stored = [r["rating"] for r in raw[0]["reviews"]]
        assert product.rating == round(sum(stored) / 3, 2) != raw[0]["rating"]
        assert product.attributes["source_rating"] == raw[0]["rating"]
        assert product.attributes["sku"] == raw[0]["sku"]
        assert product.attributes["dummyjson_id"] == 1
        assert product.attributes["warranty"] == raw[0]["warrantyInformation"]
        assert product.attributes["return_policy"] == raw[0]["returnPolicy"]
        assert [v.id for v in product.variants] == [raw[0]["sku"]]
        unbranded = next(p for p in raw if "brand" not in p)
        assert session.get(Product, f"dj-{unbranded['id']}").brand_id is None  # type: ignore[union-attr]
        review = session.get(Review, "dj-1:review:0")
        assert review is not None
        assert review.body == raw[0]["reviews"][0]["comment"]
        assert review.author == raw[0]["reviews"][0]["reviewerName"]
        assert review.created_at is not None

        # No column of any table holds a reviewer's address.
        for tbl in Base.metadata.sorted_tables:
            for row in session.execute(select(tbl)):
                text = repr(tuple(row))
                assert "x.dummyjson.com" not in text, tbl.name
                assert not any(email in text for email in emails), tbl.name

    again = import_dummyjson(engine, dummyjson_file)
    assert not any(again.rows_added.values())
    assert counts(engine) == tables


def test_dummyjson_new_content_is_recorded_once_without_changing_rows(
    engine: Engine, dummyjson_file: Path, tmp_path: Path
) -> None:
    import_dummyjson(engine, dummyjson_file)
    reformatted = tmp_path / "products.json"
    reformatted.write_text(json.dumps(json.loads(dummyjson_file.read_text()), indent=1))

    import_dummyjson(engine, reformatted)
    import_dummyjson(engine, reformatted)

    with Session(engine) as session:
        loads = session.scalars(select(DatasetLoad).order_by(DatasetLoad.id)).all()
    assert [load.location for load in loads] == [
        str(dummyjson_file.resolve()),
        str(reformatted.resolve()),
    ]
    assert counts(engine)["products"] == 194


def test_dummyjson_bad_record_is_named(
    engine: Engine, dummyjson_file: Path, tmp_path: Path
) -> None:
    raw = json.loads(dummyjson_file.read_text())
    raw[3]["reviews"][1]["rating"] = 7
    bad = tmp_path / "products.json"
    bad.write_text(json.dumps(raw))

    with pytest.raises(DataFileError) as caught:
        import_dummyjson(engine, bad)

    assert str(caught.value) == (
        f"{bad}: products[3].reviews[1].rating: Input should be less than or equal to 5."
    )
    with pytest.raises(DataFileError, match="is a directory, expected a file"):
        import_dummyjson(engine, tmp_path)
    assert not any(counts(engine).values())


# --- Walmart --------------------------------------------------------------------------------


def test_walmart_import_keeps_na_as_null(engine: Engine, walmart_csv: Path) -> None:
    report = import_walmart(engine, walmart_csv)

    assert report.records_read == {"department_weekly_sales": 1001}
    assert report.rows_added == {"department_weekly_sales": 1001}
    assert counts(engine)["department_weekly_sales"] == 1001
    with Session(engine) as session:
        rows = session.scalars(
            select(DepartmentWeeklySales).where(
                DepartmentWeeklySales.store == "1", DepartmentWeeklySales.department == "1"
            )
        ).all()
        by_week = {row.week.isoformat(): row for row in rows}
        first = by_week["2010-02-05"]
        assert first.sales == 24924.5
        assert first.is_holiday is False
        assert first.source == "walmart"
        assert first.covariates["markdown1"] is None  # "NA" in the file, not 0
        assert first.covariates["cpi"] == pytest.approx(211.0963582)
        assert first.covariates["type"] == "A"
        assert first.covariates["size"] == 151315
        assert by_week["2010-02-12"].is_holiday is True
        assert any(row.covariates["markdown1"] is not None for row in rows)

    again = import_walmart(engine, walmart_csv)
    assert again.rows_added == {"department_weekly_sales": 0}
    assert counts(engine)["department_weekly_sales"] == 1001


def _edit_csv(source: Path, target: Path, edit: Callable[[list[str]], list[str]]) -> Path:
    target.write_text("\n".join(edit(source.read_text().splitlines())) + "\n")
    return target


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        pytest.param(
            lambda lines: [*lines[:5], lines[5].replace("2010-03-05", "2010-13-05"), *lines[6:]],
            ": line 6, column Date: Input '2010-13-05' is not a calendar date.",
            id="impossible-date",
        ),
        pytest.param(
            lambda lines: [*lines[:5], lines[5].replace("2010-03-05", "05/03/2010"), *lines[6:]],
            ": line 6, column Date: Input should be a date in the form YYYY-MM-DD, "
            "not '05/03/2010'.",
            id="other-date-form",
        ),
        pytest.param(
            lambda lines: [*lines[:2], lines[2].replace("46039.49", "4603x"), *lines[3:]],
            ": line 3, column Weekly_Sales: Input should be a valid number, "
            "unable to parse string as a number.",
            id="bad-number",
        ),
        pytest.param(
            lambda lines: [line.rsplit(",", 1)[0] for line in lines],
            " lacks the column Unemployment.",
            id="missing-column",
        ),
        pytest.param(
            lambda lines: [*lines[:3], lines[3].rsplit(",", 1)[0]],
            ": line 4 has 16 fields, the header has 17.",
            id="short-row",
        ),
        pytest.param(
            lambda lines: [*lines, lines[1]],
            ": line 1003: repeats store 1, department 1, week 2010-02-05 of line 2.",
            id="duplicate-week",
        ),
    ],
)
def test_walmart_bad_csv_is_named_and_nothing_is_written(
    engine: Engine,
    walmart_csv: Path,
    tmp_path: Path,
    edit: Callable[[list[str]], list[str]],
    message: str,
) -> None:
    bad = _edit_csv(walmart_csv, tmp_path / "sales.csv", edit)

    with pytest.raises(DataFileError) as caught:
        import_walmart(engine, bad)

    assert str(caught.value) == f"{bad}{message}"
    assert not any(counts(engine).values())


# --- together -------------------------------------------------------------------------------


def test_all_three_sources_live_side_by_side(
    engine: Engine, tau2_dir: Path, dummyjson_file: Path, walmart_csv: Path
) -> None:
    import_dummyjson(engine, dummyjson_file)
    import_walmart(engine, walmart_csv)
    import_tau2(engine, tau2_dir)

    by_source = store_stats(engine)["by_source"]
    assert by_source["tau2"]["products"] == 50
    assert by_source["dummyjson"]["products"] == 194
    assert by_source["walmart"]["department_weekly_sales"] == 1001
    assert counts(engine)["dataset_loads"] == 3
