"""Aisle's own store policies: returns, exchanges, order changes, shipping, price match,
warranty, loyalty, privacy and a sizing FAQ.

`aisle data seed` writes these to the `policies` table; the RAG index answers policy questions
from them, and the tools that enforce a rule (return windows, shipping fees, loyalty tiers) read
the constants below, so the text a shopper is shown and the rule a tool applies cannot drift
apart. The sizing FAQ quotes the same size charts the catalogue's size guides are built from.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from retail.world.catalog import (
    APPAREL_SIZE_CHART,
    APPAREL_SIZES,
    PACK_SIZE_CHART,
    SLEEPING_BAG_LENGTHS,
    SOCK_SIZE_CHART,
    footwear_size_row,
)

__all__ = [
    "ELECTRONICS_RETURN_DAYS",
    "EXPRESS_SHIPPING_FEE",
    "FREE_SHIPPING_THRESHOLD",
    "HEAVY_ITEM_SURCHARGE",
    "LOYALTY_TIERS",
    "MEMBER_RETURN_SHIPPING_FEE",
    "PRICE_MATCH_DAYS",
    "RETURN_WINDOW_DAYS",
    "STANDARD_SHIPPING_FEE",
    "STORE_POLICIES",
    "LoyaltyTier",
    "FREE_RETURN_REASONS",
    "RETURN_REASONS",
    "PolicySpec",
    "ReturnReason",
    "policy_by_id",
    "return_label_fee",
    "return_terms",
]


@dataclass(frozen=True, slots=True)
class PolicySpec:
    """One store policy page: a stable id, a title and a markdown body."""

    id: str
    title: str
    body: str


@dataclass(frozen=True, slots=True)
class LoyaltyTier:
    """An Aisle Rewards tier and what it earns."""

    name: str
    min_annual_spend: float  # qualifying spend in a calendar year, USD
    points_per_dollar: float
    return_days: int
    free_standard_shipping: bool  # on every order, not only over the threshold
    free_express_shipping: bool
    free_return_shipping: bool


LOYALTY_TIERS: tuple[LoyaltyTier, ...] = (
    LoyaltyTier("Member", 0.0, 1.0, 30, False, False, False),
    LoyaltyTier("Silver", 500.0, 1.25, 45, True, False, True),
    LoyaltyTier("Gold", 1000.0, 1.5, 60, True, True, True),
)
RETURN_WINDOW_DAYS: dict[str, int] = {t.name: t.return_days for t in LOYALTY_TIERS}
ELECTRONICS_RETURN_DAYS = 30  # the same for every tier
HOLIDAY_RETURN_DEADLINE = "January 31"  # for purchases made November 1 - December 24
MEMBER_RETURN_SHIPPING_FEE = 6.95
FREE_SHIPPING_THRESHOLD = 75.0
STANDARD_SHIPPING_FEE = 6.95
EXPRESS_SHIPPING_FEE = 14.95
HEAVY_ITEM_SURCHARGE = 19.95
PRICE_MATCH_DAYS = 14
POINTS_PER_REWARD = 200
REWARD_VALUE = 10.0


# Why an item goes back; "How to return": defective or wrong items always ship back free.
ReturnReason = Literal["unwanted", "defective", "wrong item"]
RETURN_REASONS: tuple[str, ...] = get_args(ReturnReason)
FREE_RETURN_REASONS = frozenset({"defective", "wrong item"})


def _tier(loyalty_tier: str | None) -> LoyaltyTier | None:
    return next((t for t in LOYALTY_TIERS if t.name.lower() == (loyalty_tier or "").lower()), None)


def return_label_fee(loyalty_tier: str | None, reason: str = "unwanted") -> float:
    """What the prepaid label of a return by mail costs a customer of `loyalty_tier` (None: not
    enrolled, a guest), deducted from the refund as "How to return" says: nothing for a
    defective or wrong item, nothing for the tiers with free return shipping, the Member fee
    for Members and guests."""
    if reason in FREE_RETURN_REASONS:
        return 0.0
    tier = _tier(loyalty_tier)
    return 0.0 if tier is not None and tier.free_return_shipping else MEMBER_RETURN_SHIPPING_FEE


def return_terms(loyalty_tier: str | None, *, label: bool = True) -> str:
    """A return's window and (with `label`) its cost by mail for a customer of `loyalty_tier`
    (None: a guest), in one sentence from the Returns policy's own figures: what a shopper is
    told before a return as well as in its confirmation (which states the fee with the
    refund)."""
    tier = _tier(loyalty_tier)
    days = (tier or LOYALTY_TIERS[0]).return_days
    who = f"{tier.name} members" if tier is not None else "guests"
    window = (
        f"Returns are accepted within {days} days of delivery for {who} "
        f"({ELECTRONICS_RETURN_DAYS} days for electronics)"
    )
    if not label:
        return window + "."
    fee = return_label_fee(loyalty_tier)
    by_mail = (
        "the prepaid label is free"
        if fee == 0
        else f"{_money(fee)} is deducted from the refund for the prepaid label (defective or "
        "wrong items ship back free)"
    )
    return f"{window}; in store they are free, and by mail {by_mail}."


def _money(x: float) -> str:
    return f"${x:,.2f}" if x != int(x) else f"${x:,.0f}"


def _tier_table() -> str:
    rows = [
        "| Tier | Qualifying spend per calendar year | Points per $1 | Return window |",
        "|---|---|---|---|",
    ]
    for i, t in enumerate(LOYALTY_TIERS):
        upper = LOYALTY_TIERS[i + 1].min_annual_spend - 0.01 if i + 1 < len(LOYALTY_TIERS) else None
        spend = (
            f"{_money(t.min_annual_spend)} - {_money(upper)}"
            if upper is not None
            else f"{_money(t.min_annual_spend)} or more"
        )
        rows.append(f"| {t.name} | {spend} | {t.points_per_dollar:g} | {t.return_days} days |")
    return "\n".join(rows)


_M, _S, _G = (t.return_days for t in LOYALTY_TIERS)

_RETURNS = f"""\
# Returns and refunds

We want you to love what you buy at Aisle. If something is not right, you can return it within
the return window for your Aisle Rewards tier.

See also: Return windows.

## Return windows

- **Members (and guests): {_M} days** from the delivery date (online orders) or the purchase
  date (in-store purchases).
- **Silver members: {_S} days.**
- **Gold members: {_G} days.**
- **Electronics** (headphones, earbuds, Bluetooth speakers, GPS watches and trackers, power
  banks and chargers): **{ELECTRONICS_RETURN_DAYS} days for everyone**, whatever your tier.
- **Holiday purchases** made from November 1 to December 24 can be returned until
  {HOLIDAY_RETURN_DEADLINE} of the following year, or within your normal window if that is later.

Your tier on the day of purchase sets the window.

## Condition

- Apparel, swimwear and footwear must be unworn and unwashed, with the original tags attached.
  Shoes and boots should only have been tried on indoors, with clean soles.
- Gear and home items must be unused, complete, and in the original packaging.
- Gear that has been used in the field (a tent that has been pitched outdoors, a stove that has
  been lit) cannot be returned as unwanted. If it is defective, our Warranty policy covers it.

See also: Final sale (not returnable).

## Final sale (not returnable)

- Items marked **Clearance** or **Final Sale** at the time of purchase.
- Gift cards.
- Opened coffee and tea.
- Earbuds and in-ear headphones once the hygiene seal is opened, unless they are defective.
- Swimwear without its hygienic liner in place.

Everything else can be returned within its window if it meets the conditions above.

See also: Condition.

## Refunds

- Refunds go back to the **original payment method within 5-7 business days** after we receive
  and inspect the return (inspection takes up to 2 business days after it arrives).
- The part of an order paid with an Aisle gift card is refunded to a new gift card
  **immediately** once the return is processed.
- You can choose **store credit** instead: it is issued right away as an Aisle gift card.
- Original shipping charges are refunded only if the item was defective or we sent the wrong
  item.
- Returns without an order number or receipt get store credit at the lowest selling price in the
  last 90 days; a photo ID is required.
- If a promotion included a free gift, return the gift with the qualifying item or its value is
  deducted from the refund.

## How to return

- **In store:** free at any Aisle store. Bring the item and your order number or receipt.
- **By mail:** start a return from your order page or ask the Aisle assistant. Only delivered
  orders can be returned. Each return needs the order number, the items, the reason, and the
  refund method. Silver and Gold members get a free prepaid label; for Members and guests,
  {_money(MEMBER_RETURN_SHIPPING_FEE)} is deducted from the refund for the label.
- Defective or wrong items always ship back free.
"""

_EXCHANGES = f"""\
# Exchanges

## Size and colour exchanges

- You can exchange an item for a **different size or colour of the same product** within your
  return window ({_M} days for Members, {_S} days for Silver, {_G} days for Gold;
  {ELECTRONICS_RETURN_DAYS} days for electronics for everyone).
- Size and colour exchanges are **free**, including shipping both ways, once per item.
- The item must meet the same condition rules as a return: unworn, unwashed, tags attached, or
  unused and complete.
- In store, exchanges happen on the spot if the new size or colour is in stock.

## Exchanging for a different product

- Exchange it for any other product, and we settle the price difference. If the new item costs
  more, you pay the difference; if it costs less, the difference is refunded to the original
  payment method within 5-7 business days.
- Shipping for the new item follows the Shipping policy.

## Other rules

- Only delivered orders can be exchanged. If your order is still pending, change it instead (see
  Cancelling or changing an order).
- If the size or colour you want is out of stock, we offer a refund or store credit instead.
- Clearance and Final Sale items cannot be exchanged unless they are defective.
- Electronics can be exchanged for the same model (for example, a different colour) within
  {ELECTRONICS_RETURN_DAYS} days.
"""

_ORDER_CHANGES = """\
# Cancelling or changing an order

## Order statuses

An online order moves through these statuses: **pending** (just placed), **processed** (picked
and packed), **shipped**, **delivered**. A cancelled order shows **cancelled**.

## Cancelling

- You can cancel an order, or individual items in it, **while it is pending**. Orders usually
  stay pending for about 60 minutes after they are placed; orders placed by 1 pm ET on a
  business day are packed the same day.
- Cancelled orders are refunded in full to the original payment method within 5-7 business
  days; any part paid with an Aisle gift card is refunded to a gift card immediately.
- Once an order is processed or shipped it can no longer be cancelled. After it is delivered,
  you can return it under the Returns policy.
- Ship-to-store orders can be cancelled until they are ready for pickup.

## Changing a pending order

While an order is pending you can:

- change the shipping address;
- swap an item for a different size or colour of the same product (the price difference, if
  any, is charged or refunded);
- change the payment method.

The Aisle assistant always shows you the change and asks for your confirmation before it
cancels or changes anything.
"""

_SHIPPING = f"""\
# Shipping and store pickup

## Costs and speeds

| Option | Delivery time | Cost |
|---|---|---|
| Standard | 3-5 business days | Free on orders of {_money(FREE_SHIPPING_THRESHOLD)} or more; \
{_money(STANDARD_SHIPPING_FEE)} under {_money(FREE_SHIPPING_THRESHOLD)} |
| Express | 1-2 business days | {_money(EXPRESS_SHIPPING_FEE)} |
| Ship to store | 5-7 business days | Free |
| Buy online, pick up in store | Ready within 2 hours | Free |

- The {_money(FREE_SHIPPING_THRESHOLD)} threshold is the merchandise subtotal after discounts
  and before tax; gift card purchases do not count toward it.
- **Silver** members get free standard shipping on every order. **Gold** members get free
  express shipping on every order.
- Orders placed by 1 pm ET Monday to Friday ship the same business day; orders placed later, on
  weekends or on holidays ship the next business day.

## Store pickup

- **Buy online, pick up in store:** when the items are in stock at your store, the order is
  ready within 2 hours during store hours. We hold it for 7 days.
- **Ship to store:** free for any order, arriving in 5-7 business days. We hold it for 14 days.
- We email or text you when the order is ready. Bring a photo ID and your order number.

## Where we ship

- All 50 US states, APO/FPO addresses and PO boxes. Alaska, Hawaii, APO/FPO and PO boxes
  receive standard shipping only (7-10 business days to Alaska and Hawaii).
- We do not ship internationally.

## Heavy items

Items over 50 lb (such as hex dumbbell sets) carry a {_money(HEAVY_ITEM_SURCHARGE)} heavy-item
surcharge and ship by standard delivery only. The surcharge applies even when standard shipping
is otherwise free.

## Tracking and missing parcels

Every order gets a tracking number by email when it ships. If tracking shows a parcel as
delivered but you do not have it, contact us within 7 days and we will investigate with the
carrier and replace or refund it.
"""

_PRICE_MATCH = f"""\
# Price match and price adjustments

## Competitor price match

We match a lower price on an **identical item** (same brand, model, size and colour) when:

- it is sold by a major US retailer (national sporting goods and outdoor chains, department
  stores and big-box retailers) on that retailer's own website or in its stores;
- it is in stock there when you ask;
- you ask before you buy, or **within {PRICE_MATCH_DAYS} days of your purchase**.

Show the competitor's current price (a link or the ad) to an associate or to the Aisle
assistant. The competitor's shipping cost is added to its price for the comparison. We match
up to 4 units of an item per order.

## What we do not match

- Marketplace and third-party sellers, including third-party listings on a retailer's site.
- Auction sites, membership warehouse clubs, and outlet stores.
- Clearance, closeout, refurbished or open-box prices.
- Bundles, coupons and promo codes, loyalty discounts and mail-in rebates.
- Doorbuster deals from Thanksgiving Day through Cyber Monday.
- Obvious pricing errors.

Aisle Clearance and Final Sale items are not eligible for price matching.

## Our own price drops

If Aisle lowers the price of an item **within {PRICE_MATCH_DAYS} days of your purchase**, we
refund the difference to your original payment method (price adjustment), once per item.
Price adjustments do not apply to Clearance items or to limited-time flash sales.
"""

_WARRANTY = """\
# Warranty

## What is covered

Everything Aisle sells carries at least a **1-year limited warranty** from the date of
purchase (or delivery, for online orders) against defects in materials and workmanship. Some
brands go further:

| Products | Warranty |
|---|---|
| Fjellvik and Northpeak backpacks | Lifetime (the usable life of the pack) |
| Ember & Oak cookware | Lifetime |
| Trailpulse watches and Sonora Audio headphones and speakers | 2 years |
| Everything else | 1 year |

Lifetime warranties cover defects for the original purchaser for as long as the product lasts;
they do not cover normal wear.

## What is not covered

- Normal wear and tear, such as worn soles, faded colours, pilling, or scratches.
- Damage from accidents, misuse, improper care, or unauthorised repair or modification.
- Water damage to products that are not rated waterproof.
- Gradual loss of battery capacity.
- Clearance items sold "as is".

## How to make a claim

1. Start a claim from **Help > Warranty claim**, through the Aisle assistant, or at any Aisle
   store.
2. Provide your order number or receipt, photos of the defect, and a short description.
3. We review claims within **5 business days**. For approved claims we send a free prepaid
   shipping label if we need the item back.

If a claim is approved we repair the item, replace it with the same or an equivalent product,
or, if neither is possible, give store credit for the price you paid. A replacement is covered
for the rest of the original warranty or 90 days, whichever is longer. Warranties are not
transferable and require proof of purchase.
"""

_gold, _silver = LOYALTY_TIERS[2], LOYALTY_TIERS[1]
_LOYALTY = f"""\
# Aisle Rewards

Aisle Rewards is free to join online, in the app, or at any store.

## Tiers

{_tier_table()}

- Qualifying spend is merchandise spend after discounts and returns, excluding tax, shipping
  and gift card purchases, counted per calendar year.
- You move up as soon as you reach a threshold, and you keep the tier for the rest of that
  calendar year and all of the next one.

## Tier benefits

- **Member:** {_M}-day returns, free standard shipping on orders of
  {_money(FREE_SHIPPING_THRESHOLD)} or more, birthday bonus.
- **Silver:** {_S}-day returns, free standard shipping on every order, free return shipping.
- **Gold:** {_G}-day returns, free express shipping on every order, free return shipping, and
  48-hour early access to seasonal sales.

## Points and rewards

- Every **{POINTS_PER_REWARD} points** become a **{_money(REWARD_VALUE)} reward**, issued
  automatically.
- Rewards expire **60 days** after they are issued. Points expire after **12 months** without a
  purchase.
- You get a **100-point birthday bonus** in your birthday month.
- Points are removed when you return the items that earned them.
- Rewards can be used with sale prices, but not to buy gift cards.
"""

_PRIVACY = """\
# Privacy and marketing preferences

## What we collect

- Contact details, shipping addresses, order and return history, and your Aisle Rewards
  activity.
- What you browse and search on our site, and your conversations with the Aisle assistant.
- In-store purchases when you scan your Aisle Rewards ID.

## How we use it

- To fulfil orders, process returns and warranty claims, and run Aisle Rewards.
- To recommend products, if you allow personalisation in your account settings.
- We share data with service providers (payment processors, carriers) only to complete your
  orders. **We do not sell your personal data.**
- Aisle never stores full payment card numbers; cards are tokenised by our payment processor.

## Marketing consent

- We send marketing emails only if you opt in; the consent box is never pre-ticked.
- Text messages need a separate opt-in.
- Unsubscribe at any time with the link in any email or by replying STOP to a text. We process
  opt-outs within **10 business days**. Order and shipping messages still arrive after you
  unsubscribe.

## The Aisle assistant

- Chat transcripts are kept for **90 days** for quality and safety, then deleted.
- The assistant never asks for your password or your full card number.
- Store associates see your Aisle Rewards profile only when you show your Rewards ID or agree
  at the counter.

## Your rights

- Request a copy of your data; we provide it within **30 days**.
- Correct your details in your account at any time.
- Delete your account: we do this within **30 days**, keeping only the order records that tax
  law requires us to keep for 7 years.
- Contact privacy@aisle.example with any privacy request.
"""


def _apparel_table(chart_name: str) -> str:
    chart = APPAREL_SIZE_CHART[chart_name]
    cols = list(chart["M"])
    head = "| Size | " + " | ".join(f"{c.capitalize()} (in)" for c in cols) + " |"
    sep = "|---" * (len(cols) + 1) + "|"
    rows = [f"| {s} | " + " | ".join(chart[s][c] for c in cols) + " |" for s in APPAREL_SIZES]
    return "\n".join([head, sep, *rows])


def _footwear_table(gender: str, sizes: range) -> str:
    rows = ["| US | EU | Foot length (cm) |", "|---|---|---|"]
    for s in sizes:
        us, eu, cm = footwear_size_row(float(s), gender)
        rows.append(f"| {us} | {eu} | {cm} |")
    return "\n".join(rows)


_PACK_SIZES = ", ".join(f"{size} fits torsos of {torso}" for size, torso in PACK_SIZE_CHART.items())

_SIZING = (
    f"""\
# Sizing FAQ

Every apparel and footwear product page has a size guide with the sizes that product comes in
and a fit note (true to size, runs small, or runs large). The charts below are Aisle's
standard charts that those guides are based on.

## Apparel

Men's and unisex (body measurements):

{_apparel_table("men's")}

Women's (body measurements):

{_apparel_table("women's")}

- **How to measure:** chest or bust at the fullest point, waist at the natural waistline, hip
  at the widest point, keeping the tape level and snug.
- **Unisex** styles follow the men's chart; women usually order one size down from their usual
  women's size.
- **Between sizes?** Size up for layering pieces and for styles marked "runs small"; size down
  for styles marked "runs large".

## Footwear

Men's:

{_footwear_table("men's", range(7, 14))}

Women's:

{_footwear_table("women's", range(6, 12))}

- Half sizes sit halfway between the rows above.
- To convert, a women's size is 1.5 larger than the men's size (men's 8 = women's 9.5).
- Measure your foot in the afternoon, and for hiking boots allow a thumb's width of room so your
  toes do not hit the front on descents.
- Styles marked "runs small" need a half size up (a full size up when the style comes in whole
  sizes only).

## Socks

| Size | Fits |
|---|---|
"""
    + "\n".join(f"| {s} | {fits} |" for s, fits in SOCK_SIZE_CHART.items())
    + f"""

## Backpacks

Backpacking packs come in torso sizes: {_PACK_SIZES}.
Measure from the bony bump at the base of your neck (C7) to the top of your hip bones.

## Sleeping bags

{" ".join(f"{s} {t}." for s, t in SLEEPING_BAG_LENGTHS.items())}

## Wrong size?

Size and colour exchanges are free within your return window ({_M} days for Members, {_S} for
Silver, {_G} for Gold). See the Exchanges policy.
"""
)

STORE_POLICIES: tuple[PolicySpec, ...] = (
    PolicySpec("returns", "Returns and refunds", _RETURNS),
    PolicySpec("exchanges", "Exchanges", _EXCHANGES),
    PolicySpec("order-changes", "Cancelling or changing an order", _ORDER_CHANGES),
    PolicySpec("shipping", "Shipping and store pickup", _SHIPPING),
    PolicySpec("price-match", "Price match and price adjustments", _PRICE_MATCH),
    PolicySpec("warranty", "Warranty", _WARRANTY),
    PolicySpec("loyalty", "Aisle Rewards loyalty program", _LOYALTY),
    PolicySpec("privacy", "Privacy and marketing preferences", _PRIVACY),
    PolicySpec("faq-sizing", "Sizing FAQ", _SIZING),
)


def policy_by_id(policy_id: str) -> PolicySpec:
    """The policy with this id; KeyError names the known ids when there is none."""
    for policy in STORE_POLICIES:
        if policy.id == policy_id:
            return policy
    known = ", ".join(p.id for p in STORE_POLICIES)
    raise KeyError(f"no policy {policy_id!r}; known: {known}")
