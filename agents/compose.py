"""Grounded composition: the answer written from the turn's tool outputs and nothing else.

Every price, count, name, id and policy sentence in a composed answer is copied from a tool
output of this turn, so the grounding guard passes it by construction; it is also what the guard
puts in place of an LLM answer that states something the outputs do not support. The dialogue
state learns what was shown (ids, names, prices) so that the next turn can say "the second one"
or "cheaper".
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping, Sequence
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

from agents.nlu.query import singular
from agents.state import Answer, Citation, ConversationState, DialogueState, Step
from retail.product_query import ProductQuery, size_order
from tools.base import ToolOutcome

if TYPE_CHECKING:
    import inflect

Composer = Callable[[Mapping[str, Any], DialogueState], tuple[str, DialogueState]]
_MAX_PASSAGE = 360
# A stock table lists up to this many SKUs (a size run in two colours), and says when it stops.
STOCK_LINES = 12
# Store text (descriptions, reviews) is written by others and may carry instructions planted for
# an assistant to follow. A sentence that addresses the assistant, names a tool or asks to ignore
# rules is not quoted to the person: it is never a fact about the product.
_PLANTED = re.compile(
    r"\bassistant\s*:|\b(?:to|for) the (?:ai )?assistant\b|\bsystem prompt\b|"
    r"\bignore (?:all |any |your |previous |the )*(?:instructions|rules|policies)\b|"
    r"\b(?:call|run|use) [a-z]+_[a-z_]+|\btell (?:the (?:user|shopper|customer)|them) ",
    re.I,
)
_LIST_ITEM = re.compile(r"^\s*(?:[-*]|\d+\.)\s")
# A row of a Markdown table: its own line, never a wrapped part of the line above.
_TABLE_ROW = re.compile(r"^\s*\|")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")
_CANNED = {
    "greeting": "Hi! I can find products, answer product and policy questions, check stock and "
    "help with your orders. What are you looking for?",
    "thanks": "You're welcome. Anything else I can help with?",
    "deny": "OK, I won't do that. Nothing was changed.",
    "compare": "Which products should I compare? After a search, say for example 'compare the "
    "first two'.",
    "confirm": "There is nothing waiting for your confirmation.",
    "account_change": "Nothing was changed: I can't change your name, e-mail address, phone "
    "number or password from this chat. What I can change here is your default address, and "
    "the shipping address or payment method of an order that has not shipped yet.",
    "out_of_scope": "Sorry, I can't help with that here. I can find products, answer product "
    "and policy questions, check stock and help with your orders.",
    # Prices and purchase orders change only through a proposal that a person approves in the
    # approval queue, never on a chat message, whoever sends it.
    "staff_action": "Sorry, I can't change prices or approve purchase orders from a chat. "
    "Price changes and reorders are proposed by Aisle's agents and take effect only when a "
    "pricing manager or planner approves them in the approval queue.",
}


def _money(value: Any) -> str:
    return f"${float(value):,.2f}"


def _rating(value: Any) -> str:
    """A rating to one decimal, half up as people round: 4.55 is "4.6" (a float's `:.1f`
    rounds 4.55 down and 2.95 up, since neither is exact in binary)."""
    return str(Decimal(str(value)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


def _price_range(low: Any, high: Any) -> str:
    if low is None:
        return "price not listed"
    if high is None or abs(float(high) - float(low)) < 0.005:
        return _money(low)
    return f"{_money(low)}-{_money(high)}"


def _shown(dialogue: DialogueState, items: Sequence[Mapping[str, Any]]) -> DialogueState:
    ids = [str(i["product_id"]) for i in items]
    names = {str(i["product_id"]): str(i["name"]) for i in items}
    prices = [float(i["price"]) for i in items if i.get("price") is not None]
    slots = {**dialogue.slots, "shown_prices": prices}
    return dialogue.model_copy(
        update={
            "shown_products": ids,
            "product_names": {**dialogue.product_names, **names},
            "focus_product": ids[0] if len(ids) == 1 else dialogue.focus_product,
            "slots": slots,
        }
    )


def _listing(items: Sequence[Mapping[str, Any]]) -> str:
    lines = []
    for n, item in enumerate(items, 1):
        line = f"{n}. {item['name']}"
        if item.get("brand"):
            line += f" by {item['brand']}"
        line += f" - {item['price_text']}"
        if item.get("note"):
            line += f" ({item['note']})"
        if item.get("reason"):
            line += f": {item['reason']}"
        lines.append(line)
    return "\n".join(lines)


_SORTED = {
    "price_asc": "cheapest",
    "price_desc": "most expensive",
    "rating": "best rated",
    "newest": "newest",
}
_RELAXED = {
    "colours": "in other colours",
    "sizes": "in other sizes",
    "features": "that aren't {features}",
    "exclude": "including {exclude}",
    "gender": "{gender}",
    "brands": "from other brands",
    "price": "at other prices",
    "in_stock_only": "out of stock right now",
}
# A colour or size left out, said of a product that has no such option.
_UNLISTED = {"colours": "with no colour listed", "sizes": "with no sizes listed"}
# What a listed product's `stock_status` adds to its line; in stock, or stock nobody records,
# adds nothing.
_STOCK_NOTES = {"out_of_stock": "out of stock", "not_carried": "not carried at this store"}


# A gender as it reads before the product ("kids' rain jackets"), and what relaxing it shows.
_GENDER_WORDS = {"men's": "men's", "women's": "women's", "kids": "kids'"}
_GENDER_RELAXED = {
    "men's": "not only for men",
    "women's": "not only for women",
    "kids": "for adults",
}


def _bound(value: Any) -> str:
    """A price the shopper set, as they would write it: "$200", "$125.98"."""
    amount = float(value)
    return f"${amount:,.0f}" if amount.is_integer() else _money(amount)


@functools.cache
def _inflect() -> inflect.engine:
    """inflect's engine, made on first use: importing inflect costs ~1.7 s (typeguard instruments
    each of its functions), which a process that never words a plural should not pay."""
    import inflect

    return inflect.engine()


def plural_label(label: str) -> str:
    """The shopper's product words for more than one ("backpack" -> "backpacks", "rain jacket or
    parka" -> "rain jackets or parkas"); words already plural stay as they are."""
    parts = []
    for part in label.split(" or "):
        head, _, last = part.rpartition(" ")
        if last and _inflect().singular_noun(last) is False:
            last = _inflect().plural_noun(last)
        parts.append(f"{head} {last}".strip())
    return " or ".join(parts)


# A capacity as the catalogue abbreviates it ("4p" of a "4P" tent), said as a person would.
_CAPACITY = re.compile(r"\b(\d+)\s?p\b", re.I)


def said_feature(feature: str) -> str:
    """A feature in the shopper's words: "4p" is "4-person"."""
    return _CAPACITY.sub(r"\1-person", feature)


def describe_query(query: Mapping[str, Any], label: str) -> str:
    """The query in a shopper's words: "blue women's waterproof rain jackets in size M under
    $150"."""
    words = [*query.get("colours", [])[:1]]
    if query.get("gender"):
        words.append(_GENDER_WORDS.get(str(query["gender"]), str(query["gender"])))
    # A feature the label already says ("hoodie" of "grey hoodies") is not said twice.
    # Both spellings of a plural: "hoodies" is a hoodie, "eskies" an esky.
    label_words = {form for w in label.lower().split() for form in (w.rstrip("s"), singular(w))}
    words += [
        said_feature(f)
        for f in query.get("features", [])
        if not all({w.rstrip("s"), singular(w)} & label_words for w in f.lower().split())
    ]
    words.append(said_feature(label) if label else "products")
    text = " ".join(words)
    if query.get("sizes"):
        text += f" in size {' or '.join(query['sizes'])}"
    if query.get("brands"):
        text += f" from {' or '.join(query['brands'])}"
    low, high = query.get("min_price"), query.get("max_price")
    beyond = query.get("beyond") or {}
    if beyond.get("measure") == "price" and beyond.get("bound") is not None:
        text += f" {beyond['word']} than {_money(beyond['bound'])}"  # "cheaper than $55.99"
    elif beyond.get("bound_text"):
        than = said_feature(str(beyond["bound_text"]))
        if not any(ch.isdigit() for ch in than):
            than = f"{than} {beyond.get('measure')}"  # "more cushioned than heavy cushion"
        text += (
            f" rated above {than}"
            if beyond.get("measure") == "rating"
            else (f" {beyond['word']} than {than}")
        )
    if low is not None and high is not None:
        text += f" between {_bound(low)} and {_bound(high)}"
    elif high is not None:
        text += f" under {_bound(high)}"
    elif low is not None:
        text += f" over {_bound(low)}"
    if query.get("exclude"):
        text += f" without {' or '.join(query['exclude'])}"
    return text


# Colours named beside a product in a list of results; the rest are counted.
COLOURS_NAMED = 4


def _some_of(values: Sequence[str], most: int) -> str:
    """The first `most` values, and how many more there are ("red, blue and 3 more")."""
    if len(values) <= most:
        return ", ".join(values)
    return f"{', '.join(values[:most])} and {len(values) - most} more"


def _search(output: Mapping[str, Any], dialogue: DialogueState) -> tuple[str, DialogueState]:
    text, dialogue = _search_results(output, dialogue)
    left_out = dialogue.slots.get("negative_prices") or []
    if left_out:
        said = " and ".join(f"“{words}”" for words in left_out)
        text = f"A price can't be below zero, so I left {said} out of the search. {text}"
    return text, dialogue


def _search_results(
    output: Mapping[str, Any], dialogue: DialogueState
) -> tuple[str, DialogueState]:
    products = output.get("products", [])
    query = output.get("query", {})
    first_type = str(products[0].get("category") or "").lower() if products else ""
    # The shopper's words for the type, unless the search found the message meant another.
    said = "" if output.get("retyped") else dialogue.query_label
    label = said or first_type
    # The shopper's words read as one product ("tent"); a count above one and "no ..." want the
    # plural. A category's own name (the fallback) is written as the catalogue writes it.
    many = plural_label(label) if said else label
    wanted = describe_query(query, many)
    dialogue = dialogue.model_copy(
        update={"query": ProductQuery.model_validate(query) if query else None}
    )
    relaxed = output.get("relaxed", [])
    if not products:
        nearest = [k.lower() for k in output.get("nearest_kinds", [])]
        # What the shopper may have meant, when the request was near no kind enough to search.
        offer = (
            f" The nearest kinds of thing we have are {_inflect().join(nearest)}: say which, or"
            " tell me more about what it's for."
            if nearest
            else ""
        )
        if not query.get("categories") and not label:
            return "Sorry, I couldn't find anything like that in our catalogue." + offer, dialogue
        return f"Sorry, we have no {wanted}." + offer, dialogue
    if output.get("uncompared"):
        # "Lighter?" of products whose weights the catalogue does not state: said, not guessed.
        unsaid = (
            f"I can't tell which {plural_label(label) if said else label} are "
            f"{output['uncompared']}: the catalogue doesn't state it for the ones shown."
        )
    else:
        unsaid = ""
    items = []
    for p in products:
        notes = []
        if p.get("colours"):
            notes.append(_some_of(p["colours"], COLOURS_NAMED))
        if p.get("sizes") and query.get("sizes"):
            # Every size: a list cut short would read as the size asked for being missing.
            notes.append("size " + ", ".join(p["sizes"]))
        if p.get("rating") is not None:
            notes.append(f"rated {_rating(p['rating'])}")
        if p.get("stock_status") in _STOCK_NOTES:
            notes.append(_STOCK_NOTES[p["stock_status"]])
        items.append(
            {
                "product_id": p["product_id"],
                "name": p["name"],
                "brand": p.get("brand"),
                "price": p.get("price_min"),
                "price_text": _price_range(p.get("price_min"), p.get("price_max")),
                "note": "; ".join(notes),
            }
        )
    if relaxed:
        # What each product shown misses of the request: they may differ (one is the colour
        # asked but over the budget, another the other way round), and then each line says.
        misses = output.get("misses") or {}
        missed = {
            p["product_id"]: tuple(
                _relaxed_words(r, query, p)
                for r in misses.get(p["product_id"], relaxed)
                if r in _RELAXED
            )
            for p in products
        }
        kinds = set(missed.values())
        closest = f"the closest {'match' if len(items) == 1 else 'matches'}"
        named = {w for f in query.get("features", []) for w in f.lower().split()}
        if relaxed == ["features"] and named <= set(label.lower().split()):
            # The features left out are the thing asked for ("an inflatable kayak"): what is
            # shown is another kind of thing, not a kayak that misses a detail.
            closest = f"the nearest {'thing' if len(items) == 1 else 'things'} we do have"
        elif len(kinds) == 1 and next(iter(kinds)):
            closest += " " + _inflect().join(list(next(iter(kinds))))
            if len(items) == 1:  # "the closest match that isn't ski"
                closest = closest.replace("that aren't", "that isn't")
        else:
            closest += " (each says what it misses)"
            for item in items:
                said = _inflect().join(list(missed[item["product_id"]]))
                note = f"misses: {said}" if said else "not all of it in one item"
                item["note"] = "; ".join(n for n in (item["note"], note) if n)
        head = f"Sorry, we have no {wanted}. Here {'is' if len(items) == 1 else 'are'} {closest}:"
    else:
        total = output.get("total_matches", len(items))
        head = _found(
            total, len(items), query, wanted if total > 1 else describe_query(query, label)
        )
    head = f"{unsaid} {head}" if unsaid else head
    return head + "\n" + _listing(items), _shown(dialogue, items)


def _relaxed_words(relaxed: str, query: Mapping[str, Any], product: Mapping[str, Any]) -> str:
    """How a product shown differs from the request in a constraint it leaves out, naming only
    what the product has: one that comes in no colours (or sizes) at all is not "in other
    colours", its colour is just not listed."""
    if relaxed in _UNLISTED and not product.get(relaxed):
        return _UNLISTED[relaxed]
    return _RELAXED[relaxed].format(
        features=" or ".join(said_feature(f) for f in query.get("features", [])),
        exclude=" or ".join(query.get("exclude", [])),
        gender=_GENDER_RELAXED.get(str(query.get("gender")), ""),
    )


def _found(total: int, shown: int, query: Mapping[str, Any], wanted: str) -> str:
    """The line above a list of exact matches: how many there are and which are shown."""
    sort = _SORTED.get(str(query.get("sort")))
    if sort and shown == 1:
        return f"The {sort} of {total} {wanted}:" if total > 1 else f"The only match for {wanted}:"
    if sort:
        return f"The {shown} {sort} of {total} {wanted}:"
    if total > shown:
        return f"I found {total} {wanted}; here are the top {shown}:"
    return f"I found {total} {wanted}:" if total > 1 else f"I found 1 match for {wanted}:"


def _details(output: Mapping[str, Any], dialogue: DialogueState) -> tuple[str, DialogueState]:
    parts = [
        f"{output['name']}"
        + (f" by {output['brand_name']}" if output.get("brand_name") else "")
        + f": {_price_range(output.get('price_min'), output.get('price_max'))}."
    ]
    variants = output.get("variants", [])
    for key in ("color", "size"):
        values = sorted(
            {str(v["options"][key]) for v in variants if key in v.get("options", {})},
            key=size_order if key == "size" else None,
        )
        if values:
            label = "Colours" if key == "color" else "Sizes"
            parts.append(f"{label}: {', '.join(values)}.")
    statuses = [v.get("stock_status") for v in variants]
    if not variants:
        parts.append("No variants listed.")
    elif "not_tracked" in statuses and "in_stock" not in statuses:
        parts.append("Its stock is not tracked, so I can't say whether it is on the shelf.")
    else:
        parts.append(f"{statuses.count('in_stock')} of {len(variants)} variants in stock.")
    if output.get("rating") is not None:
        parts.append(
            f"Rated {_rating(output['rating'])} from {output.get('review_count', 0)} reviews."
        )
    if output.get("materials"):
        parts.append(f"Materials: {output['materials']}.")
    description = quotable(str(output.get("description") or ""))
    if description:
        first = _SENTENCE_END.split(description)[0].rstrip(".")
        # A description may open with a question ("Made for city walks?"): no "?." after it.
        parts.append(first if first.endswith(("?", "!")) else first + ".")
    item = {"product_id": output["id"], "name": output["name"], "price": output.get("price_min")}
    updated = _shown(dialogue, [item]) if output["id"] not in dialogue.shown_products else dialogue
    text = _sale(output) if dialogue.slots.get("asks_sale") else " ".join(parts)
    return text, updated.model_copy(update={"focus_product": output["id"]})


# SKUs on sale named one by one in an answer; the rest are counted.
SALE_SKUS_NAMED = 3


def _sale(product: Mapping[str, Any]) -> str:
    """Whether the product is on sale: its marked-down SKUs with their list prices, or that it
    sells at its list prices."""
    sold = [v for v in product.get("variants", []) if v.get("available", True)]
    marked = [v for v in sold if v.get("list_price") is not None]
    if not marked:
        price = _price_range(product.get("price_min"), product.get("price_max"))
        return f"No, the {product['name']} is not on sale: it sells at its list price, {price}."
    named = [
        f"{', '.join(str(o) for o in v.get('options', {}).values()) or 'it'} at "
        f"{_money(v['price'])} (list price {_money(v['list_price'])})"
        for v in marked[:SALE_SKUS_NAMED]
    ]
    more = len(marked) - len(named)
    tail = f" and {more} more" if more > 0 else ""
    scope = "" if len(marked) == len(sold) else f" {len(marked)} of its {len(sold)} options are:"
    return f"Yes, the {product['name']} is on sale:{scope} {'; '.join(named)}{tail}."


def quotable(text: str) -> str:
    """`text` without the sentences that read as instructions to an assistant (see
    `_PLANTED`); lines are kept as lines."""
    lines = []
    for line in text.strip().splitlines():
        kept = [s for s in _SENTENCE_END.split(line) if s.strip() and not _PLANTED.search(s)]
        if kept:
            lines.append(" ".join(kept))
    return "\n".join(lines)


def _passages(output: Mapping[str, Any], dialogue: DialogueState) -> tuple[str, DialogueState]:
    passages = output.get("passages", [])
    if not passages:
        return "I couldn't find anything in our documents about that.", dialogue
    top = passages[0]
    if top.get("policy_id"):
        sections = "\n\n".join(_policy_section(p) for p in _quoted(passages))
        return f'From our "{top.get("title") or top["policy_id"]}" policy:\n{sections}', dialogue
    text = quotable(str(top["text"]))
    if len(text) > _MAX_PASSAGE:
        text = text[:_MAX_PASSAGE].rsplit(" ", 1)[0] + " ..."
    source = top.get("title") or top.get("doc_id")
    return f'From "{source}": {text}', dialogue


def _quoted(passages: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The passages an answer quotes: the policy sections the tool placed in their page (those
    that answer the question, and the ones they must be read with), whole, in the order of the
    page; else the first passage."""
    top = passages[0]
    if not top.get("policy_id"):
        return [top]
    quoted = [top] + [
        p
        for p in passages[1:]
        if p.get("policy_id") == top["policy_id"] and p.get("position") is not None
    ]
    return sorted(quoted, key=lambda p: (p.get("position") is None, p.get("position") or 0))


def _policy_section(passage: Mapping[str, Any]) -> str:
    """A policy section as the answer quotes it: its heading in bold, then its lines, a list
    item's wrapped lines joined back into one; the "See also" line is left out, since the
    sections it names are quoted beside it."""
    body = str(passage["text"]).split("\n", 1)[1] if "\n" in str(passage["text"]) else ""
    lines: list[str] = []
    for line in body.splitlines():
        starts = (
            not line.strip()
            or _LIST_ITEM.match(line)
            or _TABLE_ROW.match(line)
            or line.startswith("See also:")
        )
        if lines and lines[-1] and not starts and not _TABLE_ROW.match(lines[-1]):
            lines[-1] += " " + line.strip()  # a wrapped line of a list item or a paragraph
        elif not line.startswith("See also:"):
            lines.append(line.strip())
    text = quotable("\n".join(lines).strip())
    return f"**{passage.get('section') or 'Overview'}**\n{text}"


def _compare(output: Mapping[str, Any], dialogue: DialogueState) -> tuple[str, DialogueState]:
    products = output.get("products", [])
    names = {p["product_id"]: p["name"] for p in products}
    lines = []
    for p in products:
        rating = f", rated {_rating(p['rating'])}" if p.get("rating") is not None else ""
        lines.append(
            f"- {p['name']}: {_price_range(p.get('price_min'), p.get('price_max'))}{rating}"
        )
    summary = f"Cheapest: {names.get(output.get('cheapest'), '-')}."
    if output.get("best_rated"):
        summary += f" Best rated: {names.get(output['best_rated'], '-')}."
    return "\n".join(lines) + "\n" + summary, dialogue


def _items(output: Mapping[str, Any], dialogue: DialogueState) -> tuple[str, DialogueState]:
    """Recommendations, similar items, complements: any output listing products with reasons."""
    raw: list[Any] = next(
        (
            output[k]
            for k in ("items", "products", "recommendations")
            if isinstance(output.get(k), list)
        ),
        [],
    )
    if not raw:
        return "I have no suggestions for that right now.", dialogue
    items = [
        {
            "product_id": i.get("product_id") or i.get("id"),
            "name": i["name"],
            "brand": i.get("brand"),
            "price": i.get("price", i.get("price_min")),
            "price_text": _price_range(i.get("price", i.get("price_min")), i.get("price_max")),
            "reason": i.get("reason"),
        }
        for i in raw
    ]
    return "You might like:\n" + _listing(items), _shown(dialogue, items)


def _suggestions(output: Mapping[str, Any], dialogue: DialogueState) -> tuple[str, DialogueState]:
    """Recommendations for the customer an associate serves: told to the associate, about the
    customer (the reasons come so phrased from the tool)."""
    text, shown = _items(output, dialogue)
    customer = dialogue.slots.get("customer_id")
    head = f"To suggest to customer {customer}:" if customer else "To suggest to this customer:"
    return text.replace("You might like:", head, 1), shown


def _stock(output: Mapping[str, Any], dialogue: DialogueState) -> tuple[str, DialogueState]:
    if not output.get("tracked", True):
        offered = [v for v in output.get("variants", []) if v.get("offered")]
        return (
            f"{output['product_name']}: stock is not tracked by store for this product; "
            f"{len(offered)} of {len(output.get('variants', []))} variants are offered.",
            dialogue,
        )
    variants = output.get("variants", [])
    shown = variants[:STOCK_LINES]
    head = f"{output['product_name']} at {output['store_name']}"
    total = output.get("sku_count", len(variants))
    if len(variants) < total:
        head += f" ({len(variants)} of its {total} SKUs, as asked)"
    lines = [head + ":"]
    for v in shown:
        options = _option_values(v.get("options", {})) or "standard"
        here = (
            "not carried here"
            if v.get("stock_status") == "not_carried"
            else f"{v['at_store']} available here"
        )
        lines.append(f"- {options}: {here}, {v['online']} online" + _other_stores(v, output))
    if len(shown) < len(variants):
        lines.append(
            f"{len(shown)} of {len(variants)} SKUs shown; name a colour or size for the others."
        )
    # The product the stock is of is the one the talk is about now ("why is it short?").
    return "\n".join(lines), dialogue.model_copy(update={"focus_product": output["product_id"]})


# Stores with stock named on a SKU's line; how many more have it is said, never left out.
NEARBY_NAMED = 2


def _other_stores(variant: Mapping[str, Any], output: Mapping[str, Any]) -> str:
    """The nearest stores that have the SKU, and how many more do (within the nearby distance
    past those named, and farther away)."""
    having = [n for n in variant.get("nearby", []) if n.get("available_to_sell", 0) > 0]
    named = having[:NEARBY_NAMED]
    more = len(having) - len(named) + int(variant.get("more_stores", 0))
    farther = int(variant.get("farther_stores", 0))
    if not named:
        if not more:
            return ""
        return f"; no other store within {output.get('nearby_within_km', 0):g} km has it, " + (
            f"{more} farther away {'does' if more == 1 else 'do'}"
        )
    near = "; ".join(
        f"{n['store_name']} {n['available_to_sell']}"
        + (f" ({n['distance_km']:.1f} km)" if n.get("distance_km") is not None else "")
        for n in named
    )
    text = f"; nearest {'store' if len(named) == 1 else f'{len(named)} stores'} with it: {near}"
    if more:
        where = f", {farther} of them farther than {output.get('nearby_within_km', 0):g} km"
        text += f"; {more} more {'store has' if more == 1 else 'stores have'} it" + (
            where if farther else ""
        )
    return text


def _substitutes(output: Mapping[str, Any], dialogue: DialogueState) -> tuple[str, DialogueState]:
    subs = output.get("substitutes", [])
    head = (
        f"{output['name']} has {output['available_to_sell']} available at {output['store_name']}."
    )
    if not subs:
        return head + " I found no in-stock substitutes there.", dialogue
    items = [
        {
            "product_id": s["product_id"],
            "name": s["name"],
            "price": s["price"],
            "price_text": _money(s["price"]),
            "note": f"{s['available_to_sell']} in stock",
            "reason": s.get("reason"),
        }
        for s in subs
    ]
    return head + " In-stock substitutes:\n" + _listing(items), _shown(dialogue, items)


def _orders(output: Mapping[str, Any], dialogue: DialogueState) -> tuple[str, DialogueState]:
    orders = output.get("orders", [])
    if not orders:
        return "You have no orders matching that.", dialogue
    lines = [
        f"- {o['order_id']}: {o['status']}, {o['item_count']} item(s), {_money(o['total'])} "
        f"({', '.join(o.get('product_names', [])[:3])})"
        for o in orders
    ]
    if dialogue.slots.get("order_question") == "shipped":
        # "has my order shipped?" with no order named: each order's answer.
        lines = [
            f"- {o['order_id']} ({', '.join(o.get('product_names', [])[:3])}): "
            + _shipping_state(str(o["status"]))
            for o in orders
        ]
        return "Your orders:\n" + "\n".join(lines), dialogue
    ask = ""
    if dialogue.last_intent in ("cancel_order", "return_items", "exchange_items", "modify_order"):
        ask = (
            "\nWhich order do you mean? Tell me its id (for example " + orders[0]["order_id"] + ")."
        )
    return "Your orders:\n" + "\n".join(lines) + ask, dialogue


_YES_NO = {"yes": True, "true": True, "no": False, "false": False}


def _option_values(options: Mapping[str, Any]) -> str:
    """A SKU's options as a person reads them ("4K, waterproof, black"): a yes/no option by its
    name, since a bare "yes" says nothing of what it answers."""
    said = []
    for name, value in options.items():
        text = str(value).strip()
        if text.lower() in _YES_NO:
            text = name if _YES_NO[text.lower()] else f"not {name}"
        said.append(text)
    return ", ".join(said)


def _order(output: Mapping[str, Any], dialogue: DialogueState) -> tuple[str, DialogueState]:
    slots = {**dialogue.slots, "order_id": output["order_id"]}
    asked = dialogue.slots.get("order_question")
    asked_items = set(dialogue.slots.get("order_items") or [])
    lines = [i for i in output.get("items", []) if i["name"] in asked_items]
    if lines:
        return _order_lines(output, lines, asked), dialogue.model_copy(update={"slots": slots})
    order_id, status = output["order_id"], str(output["status"])
    items = ", ".join(
        f"{i['name']} ({_option_values(i.get('options', {}))})" for i in output.get("items", [])
    )
    holds = f"{items}; total {_money(output['total'])}."
    # The order's status is said once: by the answer to the question when it states it, else
    # as the answer's opening.
    if asked == "shipped":
        text = f"Order {order_id} {_shipping_state(status)}. Items: {holds}"
    elif asked == "return_by":
        text = f"{_return_window(output)} Items: {holds}"
    elif asked == "paid_with":
        text = f"{_paid_with(output)} It is {status}: {holds}"
    else:
        text = f"Order {order_id} is {status}: {holds}"
    tracking = [t for f in output.get("fulfillments", []) for t in f.get("tracking_ids", [])]
    if tracking:
        text += f" Tracking: {', '.join(tracking)}."
    return text, dialogue.model_copy(update={"slots": slots})


def _paid_with(output: Mapping[str, Any]) -> str:
    """How an order was paid (and refunded), each method as the shopper names it (the order
    tool's `method`, never its id)."""
    order_id = output["order_id"]
    payments = output.get("payments", [])
    paid = [p for p in payments if p.get("transaction_type") == "payment"]
    refunds = [p for p in payments if p.get("transaction_type") == "refund"]
    if not paid:
        return f"Order {order_id} has no payment on record."
    if len(paid) == 1:
        text = (
            f"You paid {_money(paid[0]['amount'])} for order {order_id} with {paid[0]['method']}."
        )
    else:
        text = f"You paid for order {order_id} with " + _and_list(
            [f"{p['method']} ({_money(p['amount'])})" for p in paid]
        )
        text += "."
    if refunds:
        text += " Refunded: " + _and_list(
            [f"{_money(p['amount'])} to {p['method']}" for p in refunds]
        )
        text += "."
    return text


def _and_list(parts: Sequence[str]) -> str:
    """ "a", "a and b", "a, b and c"."""
    if len(parts) < 2:
        return "".join(parts)
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def _order_lines(
    output: Mapping[str, Any], lines: Sequence[Mapping[str, Any]], asked: str | None
) -> str:
    """The items a question about the shopper's own things named: their order's state (once,
    however many of its items were named), the price paid for each, how the order was paid
    when asked, and the tracking of the shipments that carry them."""
    order_id, status = output["order_id"], str(output["status"])
    named = [
        f"{line['name']} ({', '.join(str(v) for v in line.get('options', {}).values())})"
        for line in lines
    ]
    one = len(lines) == 1
    text = (
        f"Your {_and_list(named)} {'is' if one else 'are'} in order {order_id}, which "
        f"{_shipping_state(status)}."
    )
    if one:
        text += f" You paid {_money(lines[0]['price'])} for it."
    else:
        text += " You paid " + _and_list(
            [f"{_money(line['price'])} for the {line['name']}" for line in lines]
        )
        text += "."
    if asked == "paid_with":
        text += " " + _paid_with(output).replace(f"for order {order_id}", "for the order", 1)
    tracked = []
    for line in lines:
        tracking = [
            t
            for f in output.get("fulfillments", [])
            if line["item_id"] in f.get("item_ids", [])
            for t in f.get("tracking_ids", [])
        ]
        if tracking:
            label = "" if one else f" of the {line['name']}"
            tracked.append(f"Tracking{label}: {', '.join(tracking)}.")
    if tracked:
        text += " " + " ".join(tracked)
    elif status != "cancelled":
        text += " It has no tracking number yet." if one else " They have no tracking number yet."
    return text


def _shipping_state(status: str) -> str:
    """Whether an order of this status has shipped, in words that follow its id."""
    if status.startswith("pending"):
        return f"has not shipped yet (it is {status})"
    if status == "cancelled":
        return "was cancelled, so it will not ship"
    if status == "processed":
        return "has shipped"
    if status == "delivered":
        return "has shipped and been delivered"
    return f"is {status}"


def _return_window(order: Mapping[str, Any]) -> str:
    """By when a return of the order can be made, as far as the order and the policy say."""
    status = str(order["status"])
    if status == "delivered" and order.get("return_terms"):
        return (
            f"Order {order['order_id']} was delivered. {order['return_terms']} I don't have its "
            "delivery date, so count the days from when it arrived."
        )
    if status == "cancelled":
        return f"Order {order['order_id']} was cancelled, so there is nothing to return."
    if status.startswith("pending") or status == "processed":
        return (
            f"Order {order['order_id']} has not been delivered yet: the return window starts "
            "on delivery."
        )
    return f"Order {order['order_id']} is {status}."


def _profile(output: Mapping[str, Any], dialogue: DialogueState) -> tuple[str, DialogueState]:
    tier = output.get("loyalty_tier") or "not enrolled"
    text = f"Customer {output['customer_id']}: loyalty {tier}"
    if output.get("home_store_name"):
        text += f", home store {output['home_store_name']}"
    if output.get("member_since"):
        text += f", member since {output['member_since']}"
    text += "."
    if output.get("order_count") is not None:
        text += f" {output['order_count']} orders, {_money(output.get('total_spend') or 0)} spent"
        if output.get("last_order_on"):
            text += f", last on {output['last_order_on']}"
        text += "."
    if output.get("favourite_categories"):
        text += f" Favourite categories: {', '.join(output['favourite_categories'])}."
    if output.get("withheld"):
        text += f" {output['withheld']}"
    return text, dialogue


def _customers(output: Mapping[str, Any], dialogue: DialogueState) -> tuple[str, DialogueState]:
    """Customers a look-up by name found: the one (whose profile follows), or those to choose
    from, or none."""
    query, found = output.get("query", ""), output.get("customers", [])
    total = int(output.get("total", len(found)))
    if not found:
        return (
            f'No customer matches "{query}". Try part of the name, the e-mail address or the '
            "customer id.",
            dialogue,
        )

    def line(c: Mapping[str, Any]) -> str:
        facts = [c["customer_id"], c.get("loyalty_tier") or "not enrolled"]
        if c.get("home_store_id"):
            facts.append(f"home store {c['home_store_id']}")
        if c.get("email"):
            facts.append(c["email"])
        return f"{c['name']} ({', '.join(facts)})"

    chosen = dialogue.slots.get("customer_id")
    picked = next((c for c in found if c["customer_id"] == chosen), None)
    if picked is not None and (total == 1 or str(picked["name"]).lower() == query.lower()):
        others = f" ({total - 1} more match)" if total > 1 else ""
        return f"Found {line(picked)}{others}.", dialogue
    shown = f" (the first {len(found)} shown)" if total > len(found) else ""
    listed = "\n".join(f"- {line(c)}" for c in found)
    return (
        f'{total} customers match "{query}"{shown}:\n{listed}\nWhich one? Tell me the customer id.',
        dialogue,
    )


def _shortage(output: Mapping[str, Any], dialogue: DialogueState) -> tuple[str, DialogueState]:
    # "which stores have it?" next is about this SKU's product.
    return str(output["explanation"]), dialogue.model_copy(
        update={"focus_product": output["product_id"]}
    )


def _update(output: Mapping[str, Any], dialogue: DialogueState) -> tuple[str, DialogueState]:
    changes = " ".join(output.get("changes", []))
    return f"Done. {changes}", dialogue


def _account(output: Mapping[str, Any], dialogue: DialogueState) -> tuple[str, DialogueState]:
    """What is on file for the shopper, and how to change the one thing they can change here."""
    address = output.get("default_address")
    where = (
        ", ".join(
            str(address[k])
            for k in ("address1", "address2", "city", "state", "zip", "country")
            if address.get(k)
        )
        if address
        else "none on file"
    )
    # In words ("your Visa credit card ending 1234"), never the tools' ids.
    methods = [
        str(m["description"]) for m in output.get("payment_methods", []) if m.get("description")
    ]
    parts = {
        "name": ("Name", output.get("name") or "none on file"),
        "email": ("E-mail", output.get("email") or "none on file"),
        "address": ("Default address", where),
        "payment": ("Payment methods", "; ".join(methods) if methods else "none on file"),
    }
    how = (
        "To change your default address, tell me the new one in full (street, city, state and ZIP)."
    )
    asked = [p for p in dialogue.slots.get("account_parts") or [] if p in parts or p == "phone"]
    if asked:
        # The part asked for, not the whole account ("what e-mail do you have for me?").
        said = [
            "We keep no phone number: your account holds your name, e-mail, default address "
            "and payment methods."
            if part == "phone"
            else f"{parts[part][0]} on file: {parts[part][1]}."
            for part in asked
        ]
        tail = f" {how}" if "address" in asked else ""
        return " ".join(said) + tail, dialogue
    lines = [f"- {label}: {value}" for label, value in parts.values()]
    return "Here is what we have on file for you:\n" + "\n".join(lines) + "\n" + how, dialogue


# What an order request reads before it writes: the shopper's orders, one order, the account.
ORDER_LOOKUPS = frozenset({"my_orders", "my_account", "order_details"})
# Tools whose answers are about products: their products become the turn's product cards.
PRODUCT_TOOLS = frozenset(
    {
        "search_products",
        "product_details",
        "compare_products",
        "recommend_for_me",
        "similar_products",
        "complete_the_look",
        "customer_recommendations",
        "in_stock_substitutes",
        "stock_nearby",
    }
)

COMPOSERS: dict[str, Composer] = {
    "search_products": _search,
    "product_details": _details,
    "answer_from_documents": _passages,
    "compare_products": _compare,
    "recommend_for_me": _items,
    "similar_products": _items,
    "complete_the_look": _items,
    "customer_recommendations": _suggestions,
    "stock_nearby": _stock,
    "in_stock_substitutes": _substitutes,
    "customer_profile": _profile,
    "find_customers": _customers,
    "why_short": _shortage,
    "my_orders": _orders,
    "my_account": _account,
    "order_details": _order,
    "cancel_order": _update,
    "modify_order_address": _update,
    "modify_order_payment": _update,
    "modify_order_items": _update,
    "return_order_items": _update,
    "exchange_order_items": _update,
}


def _generic(output: Mapping[str, Any], dialogue: DialogueState) -> tuple[str, DialogueState]:
    """Any other tool: its scalar fields, as they are."""
    facts = [
        f"{k.replace('_', ' ')}: {v}" for k, v in output.items() if isinstance(v, str | int | float)
    ]
    return ("; ".join(facts[:8]) + ".") if facts else "Done.", dialogue


def _error_text(outcome: ToolOutcome) -> str:
    assert outcome.error is not None
    if outcome.status == "needs_confirmation":
        return f"{outcome.error.message} Reply yes to go ahead, or no to leave it."
    if outcome.status == "forbidden":
        return "I'm sorry, I can't do that for you."
    if outcome.status in _PLAIN_ERRORS and _PLUMBING.search(outcome.error.message):
        return _PLAIN_ERRORS[outcome.status]
    return outcome.error.message


# A tool's own sentence is shown as written unless it names what a shopper never sees: a tool
# or argument name (snake_case) or a quoted id (a store, a SKU: quoted and with a digit); then
# the kind's plain sentence stands in, and the tool's words stay in the audit.
_PLUMBING = re.compile(r"\b[a-z]+_[a-z_]+\b|'[^'\s]*\d[^'\s]*'")
_PLAIN_ERRORS = {
    "not_found": "I couldn't find that. Could you check the name or the number?",
    "invalid": "I couldn't do that as asked. Could you put it another way?",
}


def _citations(outcomes: Sequence[ToolOutcome]) -> list[Citation]:
    """What backs this turn's answer: the outcomes it states (`_answerable`: a return cites the
    order returned, not every order read to find it) and the products it lists. Never what an
    earlier turn showed: an answer that found nothing has no product behind it."""
    cited: list[Citation] = []
    seen: set[tuple[str, str]] = set()

    def add(kind: Any, ident: Any, label: Any = None) -> None:
        if ident and (kind, str(ident)) not in seen:
            seen.add((kind, str(ident)))
            cited.append(Citation(kind=kind, id=str(ident), label=label))

    answered = _answerable(outcomes)
    for outcome in answered:
        out = outcome.output or {}
        # Only what the answer quotes backs it: a passage it left out is no source of it.
        for passage in _quoted(out["passages"]) if out.get("passages") else []:
            if passage.get("policy_id"):
                add("policy", passage["policy_id"], passage.get("title"))
            else:
                add("document", passage.get("doc_id"), _document_label(passage))
        # A write asked or made is about the order its arguments name.
        order_id = out.get("order_id") or (outcome.writes and outcome.arguments.get("order_id"))
        if order_id:
            add("order", order_id, order_id)
        for order in out.get("orders", []):
            add("order", order.get("order_id"), order.get("order_id"))
    for pid in _listed_products(answered):
        add("product", pid)
    return cited


def _document_label(passage: Mapping[str, Any]) -> str | None:
    """A document as a person names it: the product's own page by the product's name, else
    "reviews of" or "the size guide for" it."""
    title = passage.get("title")
    if not title:
        return None
    return {
        "review": f"reviews of {title}",
        "size_guide": f"the size guide for {title}",
    }.get(str(passage.get("doc_type")), str(title))


def _listed_products(outcomes: Sequence[ToolOutcome]) -> list[str]:
    """The products this turn's answer names: those of its cards, and the substitutes it quotes
    (which have no cards, see `_turn_products`)."""
    substitutes = [
        str(s["product_id"])
        for o in outcomes
        if o.ok and o.name == "in_stock_substitutes" and o.output
        for s in o.output.get("substitutes", [])
    ]
    return list(dict.fromkeys([*_turn_products(outcomes), *substitutes]))


def compose(state: ConversationState) -> Step:
    """The answer to the current turn from its outcomes (or, with none, from the intent)."""
    dialogue = state.dialogue
    intent = dialogue.last_intent or ""
    if not state.outcomes:
        if intent.startswith("refused:"):
            text = "I'm sorry, that is not something I can help with from this account."
        elif intent == "no_such_position":
            shown = len(dialogue.shown_products)
            listed = "1 product" if shown == 1 else f"{shown} products"
            text = f"I only showed {listed}; which one do you mean?"
        elif intent == "compare" and len(dialogue.shown_products) == 1:
            # "compare the first two" after a single product: say why, not what was typed.
            text = (
                "I only showed 1 product, so there is nothing to compare it with yet. Search "
                "for a few more, or name the two you want side by side."
            )
        else:
            text = _CANNED.get(
                intent,
                "Could you tell me a bit more? I can search products, answer product or policy "
                "questions, check stock and help with orders.",
            )
        if dialogue.answered in ("mixed", "unrelated") and "Nothing was changed" not in text:
            text = "Nothing was changed. " + text
        return Step(answer=Answer(text=text), dialogue=dialogue)
    texts: list[str] = []
    answerable = _answerable(state.outcomes)
    asked = [o for o in answerable if o.status == "needs_confirmation"]
    for outcome in answerable:
        if outcome in asked and len(asked) > 1:
            continue  # several writes are asked together, below
        if not outcome.ok or outcome.output is None:
            texts.append(_error_text(outcome))
            continue
        text, dialogue = COMPOSERS.get(outcome.name, _generic)(outcome.output, dialogue)
        texts.append(text)
    if len(asked) > 1:
        texts.append(_confirm_all(asked))
    texts = _reply_notes(texts, state.outcomes, dialogue)
    shows_products = any(o.ok and o.name in PRODUCT_TOOLS for o in state.outcomes)
    answer = Answer(
        text="\n".join(texts),
        citations=_citations(state.outcomes),
        products=_turn_products(state.outcomes) if shows_products else [],
        quick_replies=["Yes", "No"] if dialogue.pending_action else [],
    )
    return Step(answer=answer, dialogue=dialogue)


def _turn_products(outcomes: Sequence[ToolOutcome]) -> list[str]:
    """The products this turn's answer states prices for, whose cards the page shows beside it:
    the one described, the ones compared, the product whose stock was read, else the list this
    turn's tool returned. Never an earlier turn's list, which this answer does not state (its
    cards would show prices the text does not), nor substitutes: the text quotes one SKU of
    each, and a product's card would show all of its prices."""
    last = next((o for o in reversed(outcomes) if o.ok and o.name in PRODUCT_TOOLS), None)
    output = last.output if last is not None else None
    if last is None or output is None or last.name == "in_stock_substitutes":
        return []
    if last.name == "product_details":
        return [str(output["id"])]
    if last.name == "stock_nearby":
        return [str(output["product_id"])]
    listed: list[Any] = next(
        (output[k] for k in ("products", "items") if isinstance(output.get(k), list)), []
    )
    return [str(p["product_id"]) for p in listed if isinstance(p, dict) and "product_id" in p]


def _answerable(outcomes: Sequence[ToolOutcome]) -> list[ToolOutcome]:
    """The outcomes the person should hear about: the lookups that only fed a write of the same
    turn (the orders and the account read before a return) are left out when it was asked or
    made; without a write, what went wrong, else the orders they read."""
    writes = [o for o in outcomes if o.writes]
    if writes:
        return writes
    lookups = [o for o in outcomes if o.name in ORDER_LOOKUPS]
    if len(outcomes) > 1 and lookups:
        failed = [o for o in lookups if not o.ok]
        details = [o for o in outcomes if o.name == "order_details"]
        listed = [o for o in outcomes if o.name == "my_orders"]
        return failed or details or listed or list(outcomes)
    return list(outcomes)


def _confirm_all(asked: Sequence[ToolOutcome]) -> str:
    """One question for several writes: one yes makes them all."""
    lines = [
        f"{n}. {o.error.details.get('summary', o.error.message) if o.error else o.name}"
        for n, o in enumerate(asked, 1)
    ]
    return (
        "Please confirm these changes:\n"
        + "\n".join(lines)
        + "\nReply yes to make all of them, or no to leave everything as it is."
    )


def _reply_notes(
    texts: list[str], outcomes: Sequence[ToolOutcome], dialogue: DialogueState
) -> list[str]:
    """What a reply that was not a plain yes did to the writes waiting for it: nothing was
    changed, and those still waiting are asked again."""
    if dialogue.answered not in ("deny", "mixed", "unrelated"):
        return texts
    asked_now = any(o.status == "needs_confirmation" for o in outcomes)
    notes = list(texts)
    if not asked_now and dialogue.pending_actions:
        waiting = " ".join(p.summary for p in dialogue.pending_actions)
        notes.append(
            f"Still waiting for your yes: {waiting} Reply yes to go ahead, or no to leave it."
        )
    elif not any("Nothing was changed" in t for t in texts):
        notes.insert(0, "Nothing was changed.")
    return notes
