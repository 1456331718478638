"""Price zones: the groups of locations that share one price per product.

The pricing model, in one place: a product has one price per price zone, the same for each of
its sizes and colours (a size listed at a premium keeps its premium: a markdown takes every
size to the same fraction of its own list price); the markdown planner plans a product once per
zone from the pooled sales and stock of the zone's locations, and a zone has at most one open
price-change proposal per product (`approvals.price_changes`).

The zones come from the `price_zones` setting (zone id -> location ids, each store and the
online channel in exactly one zone); without it there is one zone, `CHAIN`, covering every store
and online. The store keeps one price per SKU, chain-wide, so only a zone that covers every
priced location can have its prices applied (`approvals.price_changes.apply_price_change` says
so when asked otherwise); several zones can be planned and compared, not yet applied.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from retail.errors import AisleError
from retail.settings import Settings, get_settings
from retail.store.models import Location

CHAIN = "CHAIN"
CHAIN_NAME = "every store and online"
PRICED_KINDS = ("store", "online")


class PriceZoneError(AisleError):
    """The price zones are configured wrongly, or one asked for does not exist."""


@dataclass(frozen=True, slots=True)
class PriceZone:
    """A zone and the locations its prices apply at."""

    id: str
    name: str
    location_ids: tuple[str, ...]
    location_names: tuple[str, ...] = ()

    def covers(self, location_or_zone_id: str | None) -> bool:
        """Whether a proposal made for `location_or_zone_id` (this zone, or one of its locations,
        as proposals planned per location were) prices within this zone."""
        return location_or_zone_id == self.id or location_or_zone_id in self.location_ids

    def in_words(self) -> str:
        return zone_in_words(self.id, self.name, self.location_names)


def zone_in_words(zone_id: str, name: str, location_names: Sequence[str]) -> str:
    """Where a zone's prices apply, as a pricing manager reads it: the default zone by its name
    ("every store and online"), a configured one by its name and its locations' names."""
    if zone_id == CHAIN or not location_names:
        return name
    return f"{name} ({', '.join(location_names)})"


def location_names(session: Session, location_ids: Sequence[str]) -> tuple[str, ...]:
    """The locations' names in the order given (the id where a location has no name)."""
    names = dict(
        session.execute(
            select(Location.id, Location.name).where(Location.id.in_(location_ids))
        ).all()
    )
    return tuple(names.get(location_id) or location_id for location_id in location_ids)


def price_zones(session: Session, settings: Settings | None = None) -> list[PriceZone]:
    """The zones, each with its locations in id order; PriceZoneError (one sentence) when the
    setting names a location that is not a store or online, or leaves one out or in two zones."""
    settings = settings or get_settings()
    priced = list(
        session.scalars(
            select(Location.id).where(Location.kind.in_(PRICED_KINDS)).order_by(Location.id)
        )
    )
    if not settings.price_zones:
        return [PriceZone(CHAIN, CHAIN_NAME, tuple(priced), location_names(session, priced))]
    seen: dict[str, str] = {}
    for zone_id, members in settings.price_zones.items():
        for location_id in members:
            if location_id not in priced:
                raise PriceZoneError(
                    f"Price zone {zone_id!r} names {location_id!r}, which is not a store or the "
                    f"online channel; the priced locations are {', '.join(priced)}."
                )
            if location_id in seen:
                raise PriceZoneError(
                    f"{location_id} is in price zones {seen[location_id]!r} and {zone_id!r}; "
                    "each location belongs to one zone."
                )
            seen[location_id] = zone_id
    missing = [location_id for location_id in priced if location_id not in seen]
    if missing:
        raise PriceZoneError(
            f"{', '.join(missing)} belong to no price zone; add them to AISLE_PRICE_ZONES."
        )
    return [
        PriceZone(
            zone_id,
            f"zone {zone_id}",
            tuple(sorted(members)),
            location_names(session, sorted(members)),
        )
        for zone_id, members in sorted(settings.price_zones.items())
    ]


def zone_named(zones: list[PriceZone], zone_or_location_id: str) -> PriceZone:
    """The zone with this id, or the zone a location belongs to; PriceZoneError otherwise."""
    for zone in zones:
        if zone.covers(zone_or_location_id):
            return zone
    known = ", ".join(z.id for z in zones)
    raise PriceZoneError(
        f"There is no price zone or priced location {zone_or_location_id!r}; the zones are: "
        f"{known}."
    )
