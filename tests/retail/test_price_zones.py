"""Price zones (`retail.price_zones`): one zone over every store and online unless the setting
says otherwise, and a setting that leaves a location out, names one twice or names an unknown
one is one sentence."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from retail.price_zones import CHAIN, PriceZone, PriceZoneError, price_zones, zone_named
from retail.settings import Settings
from retail.store.db import transaction
from retail.store.models import Location


def _locations(engine: Engine) -> None:
    with transaction(engine) as session:
        for id_, kind in (("S001", "store"), ("S002", "store"), ("ONLINE", "online"), ("DC", "dc")):
            session.add(Location(id=id_, name=f"Aisle {id_.title()}", kind=kind, source="test"))


def _zones(engine: Engine, tmp_path: Path, zones: dict[str, list[str]]) -> list[PriceZone]:
    settings = Settings(var_dir=tmp_path / "var", environment="test", price_zones=zones)
    with Session(engine) as session:
        return price_zones(session, settings)


def test_one_zone_covers_every_store_and_online_by_default(engine: Engine, tmp_path: Path) -> None:
    _locations(engine)
    (chain,) = _zones(engine, tmp_path, {})
    assert (chain.id, chain.location_ids) == (CHAIN, ("ONLINE", "S001", "S002"))
    # A store names its zone; plans made per store before there were zones fall inside it.
    assert zone_named([chain], "S002") == chain and chain.covers("S001") and chain.covers(CHAIN)
    assert not chain.covers("DC")
    # A pricing manager reads where prices apply, not the zone's id.
    assert chain.in_words() == "every store and online"
    with pytest.raises(PriceZoneError, match="no price zone or priced location 'DC'"):
        zone_named([chain], "DC")


def test_configured_zones_cover_each_priced_location_once(engine: Engine, tmp_path: Path) -> None:
    _locations(engine)
    web, west = _zones(engine, tmp_path, {"WEST": ["S002", "S001"], "WEB": ["ONLINE"]})
    assert (web.id, web.location_ids, west.location_ids) == ("WEB", ("ONLINE",), ("S001", "S002"))
    # A configured zone reads as its name and its locations' names.
    assert west.in_words() == "zone WEST (Aisle S001, Aisle S002)"
    with pytest.raises(PriceZoneError, match="ONLINE belong to no price zone"):
        _zones(engine, tmp_path, {"WEST": ["S001", "S002"]})
    with pytest.raises(PriceZoneError, match="S001 is in price zones 'A' and 'B'"):
        _zones(engine, tmp_path, {"A": ["S001", "ONLINE"], "B": ["S001", "S002"]})
    with pytest.raises(PriceZoneError, match="names 'DC', which is not a store"):
        _zones(engine, tmp_path, {"A": ["S001", "S002", "ONLINE", "DC"]})
