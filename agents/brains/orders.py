"""Whole order requests for the local brain: one message, several actions, each on its own order.

A request is read into actions (cancel, return, swap an item's options, change a pending order's
address or payment, change the shopper's default address), each with the words that name its
order (an id, or what the order holds), its items (by name, or by exclusion: "everything but the
tablet"), the options asked for, the payment method in words ("my gift card", "the visa ending
9212", "the original card") and a cancellation's reason. Each step re-reads the request against
what the tools have returned so far and asks for what is still missing: the shopper's orders and
account, then the details of every order involved, then the products of the items to swap; then
it makes every write at once, so the whole set is confirmed with one yes. What cannot be decided
from the words and the shopper's own records becomes a question, never a guess.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from agents.nlu.slots import ORDER_ID
from agents.state import ToolCallRequest
from tools.base import ToolOutcome

_VERBS = re.compile(
    r"\b(?P<cancel>cancel)\b|\b(?P<ret>return|send\b.{0,40}?\bback|refund me)"
    r"|\b(?P<swap>exchange|swap|change|switch)\b"
    r"|\b(?P<pay>pay(?:ing)?\b|payment|charge\b"
    r"|use\b(?=[^.]{0,30}\b(?:gift card|paypal|visa|mastercard|amex|card)\b))"
    r"|\b(?P<address>ship\b|deliver\b|address|moved)"
    # "they don't fit": a wish to return or exchange the items, which one to ask (see `_write`).
    r"|\b(?P<fit>(?:do(?:es)?n'?t|do(?:es)? not|dont|doesnt|didn'?t|did not|won'?t|will not)"
    r"\s+(?:really\s+|quite\s+|even\s+)?fit\b|not fitting\b|(?:the )?wrong size\b)",
    re.I,
)
# What asks for other options of an item without a verb: "can the bottle be 750ml instead?",
# "my jacket is way too big, I need an XS". Read only where the words are about an order.
_SWAP_CUE = re.compile(
    r"\binstead\b|\brather than\b|\btoo (?:big|small|large|tight|loose|short|long)\b", re.I
)
_SENTENCE_END = re.compile(r"[.!?;:\n]")
# A payment stretch about a difference or a refund belongs to the return or exchange beside it.
_SETTLES = re.compile(r"\b(?:difference|refund|money back)\b", re.I)
_SWAP_OBJECT = re.compile(r"\b(?:address|shipping|payment|card|paypal)\b", re.I)
_USER_ADDRESS = re.compile(
    r"\b(?:default|home|profile|account)\b|\bon file\b|\bi(?:'ve| have)? moved\b", re.I
)
_MY_ADDRESS = re.compile(r"\bmy (?:new )?address\b", re.I)
_ADDRESS = re.compile(
    r"(?P<address1>\b\d+\s+[A-Za-z0-9][^,\n]*?)\s*[,\n]\s*"
    r"(?:(?P<address2>(?:apt|apartment|suite|ste|unit|floor|fl|room|bldg|#)\.?\s*[^,\n]*?)"
    r"\s*[,\n]\s*)?"
    r"(?P<city>[A-Za-z][A-Za-z .'-]*?)\s*[,\n]?\s+(?P<state>[A-Z]{2})\.?\s+(?P<zip>\d{5})"
    r"(?:-\d{4})?(?:,?\s*(?P<country>USA|US|United States))?",
    re.I,
)
_MISTAKE = re.compile(r"\bmistake|accident|wrong(?:ly)?\b|by error", re.I)
# "I don't need it anymore" is a reason; "I don't want to cancel" is not.
_NOT_NEEDED = re.compile(
    r"\b(?:no longer|don'?t|do not|dont|not)\s+(?:really\s+)?(?:need|want)\b(?!\s+to\b)"
    r"|changed my mind|not needed|no need\b(?!\s+to\b)|no longer need",
    re.I,
)
_EXCEPT = re.compile(
    r"\b(?:everything|all|the rest)\b[^.;]*?\b(?:but|except)\b(?P<kept>[^.;,]*)", re.I
)
# Items kept out of a return or change: "keep the boots", "not the speaker".
_KEEP = re.compile(
    r"\b(?:keep(?:ing)?|not|except(?: for)?|other than|apart from|but not)\s+"
    r"(?P<kept>(?:the|my|that|those|these)\b[^.;,!?]*)",
    re.I,
)
# Words that name an order by what it holds: "the order that had my hiking boots".
_DESCRIBES_ORDER = re.compile(
    r"\b(?:order|package|purchase)\b[^.;:?!]{0,30}?\b(?:with|that (?:had|has|included|"
    r"includes|contained|contains)|containing|which (?:had|has))\s+[^.;:?!]*",
    re.I,
)
_DENIES = re.compile(r"\b(?:not|isn'?t|aren'?t|wasn'?t|no|non|without|doesn'?t|don'?t)\b", re.I)
_WHOLE = re.compile(
    r"\b(?:everything|entire|whole|all (?:of )?(?:it|them|the items|items)|the (?:full |whole )?"
    r"order\b(?! (?:with|that|which|containing)))",
    re.I,
)
# An order of the shopper's, not the verb ("I'd like to order the blue one instead").
_OWN_ORDER = re.compile(
    r"\b(?:my|the|this|that) (?:\w+ ){0,2}(?:order|package|purchase)\b"
    r"|\bi (?:ordered|bought|got|received)\b",
    re.I,
)
_ORDER_WORDS = re.compile(r"\b(?:order|orders|package|purchase|bought)\b", re.I)
_ALL_PENDING = re.compile(r"\ball (?:my |of my |the )?pending orders\b", re.I)
_CONTRACTION = re.compile(r"['\u2019][a-z]+")
_WORD = re.compile(r"[a-z0-9]+(?:[-.][a-z0-9]+)*")
# Words about the shopper's own things, which a question about a product's fit does not use.
_THEIRS = re.compile(
    r"\b(?:my|mine|they|them|these|those|i (?:got|bought|ordered|received))\b|"
    + ORDER_ID.pattern
    + r"|\b(?:order|package|purchase)\b",
    re.I,
)
STATUS_FOR = {
    "cancel": ("pending",),
    "ret": ("delivered",),
    "fit": ("delivered",),
    "swap": ("pending", "delivered"),
    "pay": ("pending", "pending (item modified)"),
    "address": ("pending", "pending (item modified)"),
}
REASONS = ("no longer needed", "ordered by mistake")
# What an order of the statuses above can have done to it, for the answer when there is none.
DONE_TO = {
    "cancel": "be cancelled",
    "ret": "be returned",
    "fit": "be returned or exchanged",
    "swap": "have items exchanged",
    "pay": "have its payment method changed",
    "address": "have its shipping address changed",
}


def call(name: str, **arguments: Any) -> ToolCallRequest:
    return ToolCallRequest(
        id=f"call-{uuid.uuid4().hex[:16]}",
        name=name,
        arguments={k: v for k, v in arguments.items() if v is not None},
    )


@dataclass(slots=True)
class Action:
    """One thing the shopper asked for, as the words say it."""

    kind: str  # cancel | ret | swap | pay | address | user_address | fit
    text: str
    order_ids: list[str] = field(default_factory=list)
    # The words say the items do not fit: a return or exchange of what is worn by size.
    fit: bool = False


def _words(text: str) -> set[str]:
    return {w.rstrip("s") for w in _WORD.findall(text.lower()) if len(w) > 2}


def _marks(text: str) -> list[tuple[int, str]]:
    """Where each action starts, and its kind: at a verb, or for a swap asked without one
    ("can the bottle be 750ml instead?"), where the sentence that asks it starts."""
    marks = [
        (m.start(), next(k for k, v in m.groupdict().items() if v)) for m in _VERBS.finditer(text)
    ]
    if any(kind == "fit" for _, kind in marks) and not _THEIRS.search(text):
        # "does it fit in a backpack?" asks about a product; "my boots don't fit" about theirs.
        marks = [(at, kind) for at, kind in marks if kind != "fit"]
    about_orders = bool(marks) or bool(ORDER_ID.search(text) or _OWN_ORDER.search(text))
    for cue in _SWAP_CUE.finditer(text) if about_orders else ():
        begins = max((m.end() for m in _SENTENCE_END.finditer(text, 0, cue.start())), default=0)
        ends = _SENTENCE_END.search(text, cue.end())
        stop = ends.start() if ends else len(text)
        if not any(begins <= at < stop for at, _ in marks):
            marks.append((begins, "swap"))
    return sorted(marks)


def read_actions(text: str) -> list[Action]:
    """The actions in the request, each with its own stretch of words (up to the next verb);
    the words before the first verb ("the order with the laptop: ...") belong to the first."""
    marks = _marks(text)
    actions: list[Action] = []
    for n, (start, kind) in enumerate(marks):
        end = marks[n + 1][0] if n + 1 < len(marks) else len(text)
        stretch = text[0 if n == 0 else start : end]
        if kind == "swap" and (near := _SWAP_OBJECT.search(text[start : start + 40])):
            # "change the shipping address", "switch the payment": not an item swap
            kind = (
                "address"
                if near.group(0).lower() == "address" or near.group(0).lower().startswith("ship")
                else "pay"
            )
        previous = actions[-1] if actions else None
        if previous is not None and (
            kind == previous.kind or (kind == "pay" and previous.kind in ("ret", "swap", "cancel"))
        ):
            previous.text += stretch  # "refund to my gift card" belongs to the return
            continue
        actions.append(Action(kind, stretch))
    actions = _settle_payments(_settle_fit(actions))
    for action in actions:
        action.order_ids = ["#" + i.lstrip("#").upper() for i in ORDER_ID.findall(action.text)]
    for action in actions:
        if action.kind == "address" and not ORDER_ID.search(text):
            own = _MY_ADDRESS.search(text) and not _ORDER_WORDS.search(text)
            if _USER_ADDRESS.search(text) or own:
                action.kind = "user_address"
    # The verbs alone say nothing: "ship" or "deliver" with no address; but a change of the
    # address itself is asked for ("update my address on file"), and the answer is the address.
    named = bool(_ADDRESS.search(text)) or bool(re.search(r"\baddress\b", text, re.I))
    return [a for a in actions if a.kind not in ("address", "user_address") or named]


def _settle_fit(actions: list[Action]) -> list[Action]:
    """Words saying the items do not fit belong to the return or exchange asked beside them
    ("the boots don't fit, I'd like a size 10"); alone, they ask which of the two is wished."""
    wished = next((a for a in actions if a.kind in ("ret", "swap")), None)
    if wished is not None:
        wished.fit = any(a.kind == "fit" for a in actions)
    else:
        # A pending order cannot have failed to fit: beside a cancellation the words give its
        # reason ("cancel my sneakers order, I clicked the wrong size by accident").
        wished = next((a for a in actions if a.kind == "cancel"), None)
        if wished is None:
            return actions
    out: list[Action] = []
    before = ""
    for action in actions:
        if action.kind != "fit":
            if action is wished:
                action.text = before + action.text
            out.append(action)
        elif any(a is wished for a in out):
            wished.text += action.text
        else:
            before += action.text
    return out


def _settle_payments(actions: list[Action]) -> list[Action]:
    """A payment stretch that only says where a difference or refund goes ("use my visa for the
    difference, and swap the ...") is part of the return or exchange beside it, not a change
    of the order's payment."""
    out: list[Action] = []
    for n, action in enumerate(actions):
        if action.kind == "pay" and _SETTLES.search(action.text):
            beside = [a for a in (out[-1:] + actions[n + 1 : n + 2]) if a.kind in ("ret", "swap")]
            if beside:
                beside[0].text = (
                    beside[0].text + " " + action.text
                    if any(a is beside[0] for a in out)
                    else action.text + " " + beside[0].text
                )
                continue
        out.append(action)
    return out


# Why an item goes back, where it matters to the refund: defective or wrong items ship back
# free (tools.orders.return_order_items takes the reason; the store policy sets the fee).
_DEFECTIVE = re.compile(
    r"\b(?:defective|faulty|broken|damaged|cracked|torn|ripped|doesn'?t work|does not work"
    r"|not working|stopped working|won'?t (?:turn on|charge|work))\b",
    re.I,
)
_WRONG_ITEM = re.compile(
    r"\b(?:sent|shipped|delivered|gave)\b(?: me| us)? (?:the |a )?wrong\b"
    r"|\b(?:got|received) (?:the |a )?wrong (?:item|product|one)\b|\bnot what i ordered\b",
    re.I,
)


def return_reason_of(text: str) -> str | None:
    """The return's reason when the words say it is defective or the wrong item; None (an
    unwanted item) else."""
    if _DEFECTIVE.search(text):
        return "defective"
    if _WRONG_ITEM.search(text):
        return "wrong item"
    return None


def reason_of(text: str) -> str | None:
    if _MISTAKE.search(text):
        return "ordered by mistake"
    if _NOT_NEEDED.search(text):
        return "no longer needed"
    return None


# A reply that drops the request rather than answering its question.
_DROPS = re.compile(
    r"\b(?:never ?mind|forget (?:it|about it)|leave it|keep (?:it|them)|stop|don'?t (?:cancel|"
    r"return|change|exchange|bother|do)|do not (?:cancel|return|change|exchange|do))\b",
    re.I,
)


def answers_question(reply: str) -> bool:
    """Whether a reply to a question about an order request gives what was asked (a reason,
    an order, an address, a payment method), even in words that also read as a no: "I don't
    need it anymore" answers "why do you want to cancel?"."""
    supplies = reason_of(reply) or address_of(reply) or ORDER_ID.search(reply) or _mentions(reply)
    return bool(supplies) and not _DROPS.search(reply)


def address_of(text: str) -> dict[str, str] | None:
    m = _ADDRESS.search(text)
    if m is None:
        return None
    parts = {k: (v or "").strip() for k, v in m.groupdict().items()}
    return {
        "address1": parts["address1"],
        "address2": parts["address2"],
        "city": parts["city"],
        "state": parts["state"].upper(),
        "country": "USA" if parts["country"] in ("", "US", "United States") else parts["country"],
        "zip": parts["zip"],
    }


def _outputs(outcomes: Sequence[ToolOutcome], name: str) -> list[dict[str, Any]]:
    return [o.output for o in outcomes if o.name == name and o.ok and o.output is not None]


_PAYMENT_ID = re.compile(r"\b(?:paypal|credit_card|gift_card)_\d+\b")
# Payment methods as shoppers name them: by id, by a card's last digits, wallets by kind, cards
# by brand or as "my card", and the one the order was paid with.
_METHOD_WORDS = re.compile(
    r"(?P<id>\b(?:paypal|credit_card|gift_card)_\d+\b)|\bending (?:in |with )?(?P<last>\d{4})\b"
    r"|(?P<gift_card>\bgift ?card\b)|(?P<paypal>\bpaypal\b)"
    r"|\b(?P<brand>visa|mastercard|amex|american express|discover)\b"
    r"|(?P<card>\b(?:credit |debit )?card\b)"
    r"|(?P<original>\b(?:original|same) (?:card|method|payment(?: method)?)\b|\bthe way i paid\b"
    r"|\bi paid with\b)",
    re.I,
)
# A method named only to be left: "paypal instead of the gift card", "not my visa".
_LEFT = re.compile(r"\b(?:instead of|rather than|not|from|off|replace)\s+(?:the |my |our )?$", re.I)


def _mentions(text: str) -> list[re.Match[str]]:
    """The payment methods the words name, in order, leaving out those named to be left."""
    return [m for m in _METHOD_WORDS.finditer(text) if not _LEFT.search(text[: m.start()])]


def _resolve(
    mention: re.Match[str], account: Mapping[str, Any], original: str | None
) -> str | None:
    """The one payment method of the account a mention names; None when none or several."""
    methods = account.get("payment_methods", [])
    kind = mention.lastgroup
    if kind == "id":
        return mention.group(0).lower()
    if kind == "original":
        return original
    if kind == "last":
        found = [p for p in methods if p.get("last_four") == mention.group("last")]
    elif kind in ("gift_card", "paypal"):
        found = [p for p in methods if p["kind"] == kind]
    else:
        brand = (mention.group("brand") or "").lower().replace("american express", "amex")
        found = [
            p
            for p in methods
            if p["kind"] == "credit_card" and (not brand or str(p.get("brand")).lower() == brand)
        ]
    ids = [str(p["payment_method_id"]) for p in found]
    if len(ids) > 1 and original in ids:
        return original  # "refund to my card": the card the order was paid with
    return ids[0] if len(ids) == 1 else None


def _method(
    text: str, account: Mapping[str, Any], original: str | None, *, change: bool = False
) -> str | None:
    """The payment method the words name; the original one when they name none. For a change
    of payment (`change`), a method named that is already the order's is the one left."""
    mentions = _mentions(text)
    if not mentions:
        return original
    named_by_id = [m for m in mentions if m.lastgroup == "id"]
    mentions = named_by_id or mentions  # "my PayPal account paypal_5377635": the id says it
    resolved = [_resolve(m, account, original) for m in mentions]
    if change:
        others = [r for r in resolved if r != original]
        return others[0] if others else (resolved[0] if resolved else None)
    return resolved[0]


def _names_payment(text: str) -> bool:
    """Whether the words name a payment method that only the account can resolve."""
    kinds = {m.lastgroup for m in _mentions(text)}
    return "id" not in kinds and bool(kinds - {"original"})


def _original(order: Mapping[str, Any]) -> str | None:
    for payment in order.get("payments", []):
        if payment.get("transaction_type") == "payment":
            return str(payment["payment_method_id"])
    return None


def _name_match(name: str, words: set[str]) -> int:
    """How well the words name a product: 2 by its whole name, 1 by its head noun ("the boots"
    for Hiking Boots, "speakers" for Bluetooth Speaker), 0 not at all."""
    own = _words(name)
    if own and own <= words:
        return 2
    head = _WORD.findall(name.lower())
    return 1 if head and head[-1].rstrip("s") in words else 0


def _best_named(names: Sequence[str], words: set[str]) -> list[int]:
    """The positions of the names the words name; a head noun alone does not name a product
    whose head noun another one named in full shares ("electric kettle" is not the tea kettle)."""
    scores = [_name_match(n, words) for n in names]
    full_heads = {
        _WORD.findall(n.lower())[-1] for n, s in zip(names, scores, strict=True) if s == 2
    }
    return [
        n
        for n, score in enumerate(scores)
        if score == 2 or (score == 1 and _WORD.findall(names[n].lower())[-1] not in full_heads)
    ]


def orders_naming(text: str, listed: Mapping[str, Any]) -> list[tuple[str, list[str]]]:
    """The shopper's orders (a `my_orders` output) holding the products the words name, with
    those products' names: "my order with the cycling helmet", "when will my backpack arrive?"."""
    orders = listed.get("orders", [])
    names = list(dict.fromkeys(str(n) for o in orders for n in o.get("product_names", [])))
    said = _words(text)
    # By its name or head noun, else by a longer word of its name ("my espresso maker").
    best = _best_named(names, said) or [
        n for n, name in enumerate(names) if {w for w in _words(name) if len(w) > 3} & said
    ]
    named = {names[n] for n in best}
    found = [
        (str(o["order_id"]), [n for n in o.get("product_names", []) if n in named]) for o in orders
    ]
    return [(order_id, hits) for order_id, hits in found if hits]


def _named_items(text: str, items: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The order's items the words name, or all but the ones excluded; none when none named.

    "everything but the tablet" and "keep the boots" exclude; "from the order with my hiking
    boots" names the order, not an item; of two items of one product, the options named tell
    them apart ("the one that isn't water resistant")."""
    if m := _EXCEPT.search(text):
        kept = _words(m.group("kept"))
        return [i for i in items if not _name_match(str(i["name"]), kept)]
    kept_words = set().union(*(_words(k.group("kept")) for k in _KEEP.finditer(text)))
    names = [str(i["name"]) for i in items]
    excluded = set(_best_named(names, kept_words))
    asked = _KEEP.sub(" ", text)
    without_order = _DESCRIBES_ORDER.sub(" ", asked)
    named = _best_named(names, _words(without_order)) or _best_named(names, _words(asked))
    chosen = [n for n in named if n not in excluded]
    return _told_apart([items[n] for n in chosen], asked)


def _told_apart(items: Sequence[Mapping[str, Any]], text: str) -> list[Mapping[str, Any]]:
    """Of several items of one product, the ones whose own options the words name."""
    out: list[Mapping[str, Any]] = []
    for name in dict.fromkeys(str(i["name"]) for i in items):
        same = [i for i in items if str(i["name"]) == name]
        if len(same) > 1:
            scores = [_options_named(i, same, text) for i in same]
            if max(scores) > 0:
                same = [i for i, score in zip(same, scores, strict=True) if score == max(scores)]
        out.extend(same)
    return out


def _options_named(item: Mapping[str, Any], same: Sequence[Mapping[str, Any]], text: str) -> float:
    """How much the words point at this item among its twins: each option value it alone has
    that is named counts, the earliest named weighing most ("change the half-zip one to full")."""
    lowered = text.lower()
    score = 0.0
    for key, value in item.get("options", {}).items():
        if len({str(i.get("options", {}).get(key)).lower() for i in same}) < 2:
            continue
        at = _value_at(str(key), str(value), lowered)
        if at is not None:
            score += 1 + 1 / (1 + at)
    return score


def _value_at(key: str, value: str, lowered: str) -> int | None:
    """Where the words name the option value: the value itself, or for a yes/no option its name
    said plainly (yes) or denied (no: "the one that isn't water resistant")."""
    if value.lower() in ("yes", "no"):
        stems = [w[:5] for w in _WORD.findall(key.lower())]
        pattern = r"\b" + r"\w*\W+".join(re.escape(stem) for stem in stems)
        found = re.search(pattern, lowered)
        if found is None:
            return None
        denied = bool(_DENIES.search(lowered[max(0, found.start() - 25) : found.start()]))
        return found.start() if denied == (value.lower() == "no") else None
    spelled = r"[\s-]*".join(re.escape(w) for w in _WORD.findall(value.lower()))
    found = re.search(rf"(?<![a-z0-9]){spelled}(?![a-z0-9])", lowered) if spelled else None
    return found.start() if found else None


def _item_words(
    items: Sequence[Mapping[str, Any]], text: str
) -> list[tuple[Mapping[str, Any], str]]:
    """Each item with the words that ask for its options: with one product named, the whole
    request; with several, the words from each product's name to the next one's ("the boots in
    a 9, and the mouse in black")."""
    if len({str(i["name"]) for i in items}) < 2:
        return [(i, text) for i in items]
    heads = {str(i["name"]): _WORD.findall(str(i["name"]).lower())[-1].rstrip("s") for i in items}
    stripped = _DESCRIBES_ORDER.sub(" ", text)  # "the order with the boots" asks nothing of them
    if all(h in stripped.lower() for h in heads.values()):
        text = stripped
    lowered = text.lower()
    starts = {}
    for name, head in heads.items():
        found = re.search(rf"(?<![a-z0-9]){re.escape(head)}", lowered)
        starts[name] = found.start() if found else 0
    ends = sorted(set(starts.values())) + [len(text)]
    return [
        (i, text[starts[str(i["name"])] : next(e for e in ends if e > starts[str(i["name"])])])
        for i in items
    ]


def _variant(product: Mapping[str, Any], item: Mapping[str, Any], text: str) -> str | None:
    """The available variant of the item's product with every option value the words name and
    every other option as the item has it ("the same ones in size 10" keeps the colour and the
    material); None when no such variant is available, so the shopper is asked, not given a
    different colour they did not ask for."""
    current = _options_of(item)
    wanted = _wanted(product, item, text)
    if not wanted:
        return None
    best: tuple[int, str] | None = None
    for variant, options in _offered(product, item, wanted):
        if any(options.get(k) != v and options.get(k) not in wanted for k, v in current.items()):
            continue
        kept = sum(options.get(k) == v for k, v in current.items())
        if best is None or kept > best[0]:
            best = (kept, str(variant["id"]))
    return best[1] if best else None


def _options_of(entry: Mapping[str, Any]) -> dict[str, str]:
    return {str(k): str(v).lower() for k, v in entry.get("options", {}).items()}


def _wanted(product: Mapping[str, Any], item: Mapping[str, Any], text: str) -> set[str]:
    """The product's option values the words name that the item does not have."""
    # "there's" names no size S
    unquoted = _CONTRACTION.sub("", text.lower())
    lowered = " " + " ".join(_WORD.findall(unquoted)) + " "
    values = {v for variant in product.get("variants", []) for v in _options_of(variant).values()}
    named = {v for v in values if f" {' '.join(_WORD.findall(v))} " in lowered}
    return named - set(_options_of(item).values())


def _offered(
    product: Mapping[str, Any], item: Mapping[str, Any], wanted: set[str]
) -> list[tuple[Mapping[str, Any], dict[str, str]]]:
    """The product's other available variants that have every wanted value, with options."""
    return [
        (variant, options)
        for variant in product.get("variants", [])
        if variant["id"] != item["item_id"]
        and variant.get("available", True)
        and wanted <= set((options := _options_of(variant)).values())
    ]


def _no_such_option(product: Mapping[str, Any], item: Mapping[str, Any], text: str) -> str:
    """The question when no variant changes only what was asked: what there is instead."""
    name = item["name"]
    wanted = _wanted(product, item, text)
    offered = _offered(product, item, wanted) if wanted else []
    if not offered:
        # Nothing with what the words ask for (a size the product does not come in, or one not
        # available): the question says what there is, or a shopper could only guess again.
        others = [options for _, options in _offered(product, item, set())]
        if not others:
            return f"No other option of the {name} is available now, so it cannot be changed."
        choices = "; ".join(", ".join(f"{k} {v}" for k, v in o.items()) for o in others[:4])
        return f"Which option of the {name} would you like instead? Available now: {choices}."
    keep = set(_options_of(item).values())
    asked = ", ".join(f"{k} {v}" for k, v in offered[0][1].items() if v in wanted)
    choices = "; ".join(
        ", ".join(f"{k} {v}" for k, v in options.items() if v not in keep | wanted)
        for _, options in offered[:4]
    )
    return (
        f"There is no {name} with {asked} and everything else as you have it. With {asked} "
        f"there is: {choices}. Which would you like?"
    )


# Option names of things worn by size: what "they don't fit" can be about.
_SIZED = re.compile(r"\b(?:size|waist|inseam|length|width|fit)\b", re.I)


def _changed_items(action: Action, items: Sequence[Mapping[str, Any]]) -> list[Any]:
    """The items an action names; for "they don't fit" naming none, the order's items that
    come in sizes when they are of one product (an espresso machine does not fit or not),
    or its only item."""
    named = _named_items(action.text, items)
    if named or not (action.kind == "fit" or action.fit):
        return named
    sized = [i for i in items if any(_SIZED.search(str(k)) for k in i.get("options", {}))]
    if len({str(i["name"]) for i in sized}) == 1:
        return sized
    return list(items) if len(items) == 1 else []


def _fit_question(order_id: str, order: Mapping[str, Any], items: list[Any]) -> str:
    """What "they don't fit" asks of a delivered order: which item, when the words do not say,
    and whether to return it for a refund or exchange it for another size; a question, so
    that nothing is proposed before the shopper says which."""
    if order["status"] != "delivered":
        return (
            f"Order {order_id} is {order['status']}: once it is delivered, items that don't fit "
            "can be returned or exchanged for another size."
        )
    terms = f" {order['return_terms']}" if order.get("return_terms") else ""
    if not items:
        names = " or the ".join(dict.fromkeys(str(i["name"]) for i in order["items"]))
        return (
            f"Sorry to hear that. Which item of order {order_id} doesn't fit: the {names}? "
            f"You can return it for a refund or exchange it for another size.{terms}"
        )
    names = " and the ".join(dict.fromkeys(str(i["name"]) for i in items))
    return (
        f"Sorry the {names} from order {order_id} didn't fit. Would you like to return them "
        "for a refund, or exchange them for another size? For an exchange, tell me the size "
        f"you need.{terms}"
    )


@dataclass(slots=True)
class Plan:
    """The next tool calls, or the question to ask (one of the two), or nothing (compose)."""

    calls: list[ToolCallRequest] = field(default_factory=list)
    question: str | None = None


def plan(text: str, outcomes: Sequence[ToolOutcome]) -> Plan:
    """The next step of the request `text` given this turn's outcomes so far."""
    actions = read_actions(text)
    if _ALL_PENDING.search(text) and not any(a.kind != "cancel" for a in actions):
        actions = [Action("cancel", text, ["*pending"])]
    if not actions:
        return Plan()
    made = {o.name for o in outcomes}
    if not made:
        # Only the lookups this request needs: the shopper's orders when an action names none,
        # the account when a payment method is named in words, each order named by its id.
        orderless = any(
            a.kind != "user_address" and (not a.order_ids or a.order_ids == ["*pending"])
            for a in actions
        )
        paid = any(a.kind in ("ret", "swap", "pay") and _names_payment(a.text) for a in actions)
        first = [call("my_orders", limit=50)] if orderless else []
        first += [call("my_account")] if paid else []
        named_ids = {
            i for a in actions if _reads_order(a, text) for i in a.order_ids if i.startswith("#")
        }
        first += [call("order_details", order_id=i) for i in sorted(named_ids)]
        if first:
            return Plan(first)
    listing = (_outputs(outcomes, "my_orders") or [{}])[0].get("orders", [])
    account = (_outputs(outcomes, "my_account") or [{}])[0]
    details = {str(o["order_id"]): o for o in _outputs(outcomes, "order_details")}
    products = {str(p["id"]): p for p in _outputs(outcomes, "product_details")}
    # Which order each action is on: its id, or the shopper's one order that fits by status and
    # by the products the words name.
    targets: list[tuple[Action, list[str]]] = []
    for action in actions:
        if action.kind == "user_address":
            targets.append((action, []))
            continue
        if action.order_ids == ["*pending"]:
            targets.append((action, [o["order_id"] for o in listing if o["status"] == "pending"]))
            continue
        if action.order_ids:
            targets.append((action, action.order_ids))
            continue
        fits = [o for o in listing if o["status"] in STATUS_FOR[action.kind]]
        chosen = _order_named(fits, action.text) or (fits if len(fits) == 1 else [])
        if len(chosen) != 1:
            # "pending (item modified)" is still pending, as a shopper says it.
            statuses = " or ".join(s for s in STATUS_FOR[action.kind] if "(" not in s)
            if not fits:
                # No question that only "none" could answer: the request ends here.
                return Plan(
                    question=f"Nothing was changed: you have no {statuses} order, and only a "
                    f"{statuses} order can {DONE_TO[action.kind]}."
                )
            listed = ", ".join(
                f"{o['order_id']} ({', '.join(o.get('product_names', []))})" for o in fits[:6]
            )
            return Plan(
                question=f"Which order do you mean? Your orders that are {statuses}: {listed}."
            )
        targets.append((action, [chosen[0]["order_id"]]))
    missing = sorted(
        {
            i
            for action, ids in targets
            if _reads_order(action, text)
            for i in ids
            if i not in details
        }
    )
    if missing:
        if _asked(outcomes, missing):
            return Plan()  # looked up and not found: the answer says so
        return Plan([call("order_details", order_id=i) for i in missing])
    needed = []
    for action, ids in targets:
        if action.kind in ("swap", "fit"):
            for item in _changed_items(action, details[ids[0]]["items"]):
                if item["product_id"] not in products:
                    needed.append(str(item["product_id"]))
    if needed:
        if any(o.name == "product_details" for o in outcomes):
            return Plan()
        return Plan([call("product_details", product_id=p) for p in sorted(set(needed))])
    calls: list[ToolCallRequest] = []
    for action, ids in targets:
        step = _write(action, ids, details, products, account, text)
        if isinstance(step, str):
            return Plan(question=step)
        calls.extend(step)
    return Plan(calls)


_SHARED = re.compile(r"\b(?:both|all of (?:it|them)|for (?:all|everything|each))\b", re.I)


def _payment_words(action: Action, request: str) -> str:
    """The words that say how the action is paid or refunded: its own, or the request's where
    one method is named for all of them ("use my card for both")."""
    if _mentions(action.text) or not _SHARED.search(request):
        return action.text
    return request


def _order_named(fits: Sequence[Mapping[str, Any]], text: str) -> list[Mapping[str, Any]]:
    """The orders that hold most of the products the words name (whole names over head nouns);
    none when the words name none of them."""
    words = _words(text)
    scores = [sum(_name_match(str(n), words) for n in o.get("product_names", [])) for o in fits]
    top = max(scores, default=0)
    return [o for o, score in zip(fits, scores, strict=True) if top and score == top]


def _reads_order(action: Action, request: str) -> bool:
    """Whether the action needs the order read first: all but a cancellation whose reason is
    given, which the cancel tool checks and states in full itself."""
    return not (action.kind == "cancel" and (reason_of(action.text) or reason_of(request)))


def _asked(outcomes: Sequence[ToolOutcome], ids: Sequence[str]) -> bool:
    """Whether these orders were already looked up this turn (and not found)."""
    looked = {o.arguments.get("order_id") for o in outcomes if o.name == "order_details"}
    return set(ids) <= looked


def _write(
    action: Action,
    ids: list[str],
    details: Mapping[str, Mapping[str, Any]],
    products: Mapping[str, Mapping[str, Any]],
    account: Mapping[str, Any],
    request: str,
) -> list[ToolCallRequest] | str:
    """The write calls of one action, or the question that stands in their way."""
    if action.kind == "user_address":
        address = address_of(action.text)
        return [call("modify_user_address", **address)] if address else "What is the new address?"
    if action.kind == "cancel":
        # The reason may come before the verb ("I don't need it, so cancel it").
        reason = reason_of(action.text) or reason_of(request)
        if reason is None:
            closed = [i for i in ids if details[i]["status"] != "pending"]
            if closed:
                # Asking why would be pointless: the policy lets only pending orders go.
                statuses = ", ".join(f"{i} is {details[i]['status']}" for i in closed)
                return f"Only a pending order can be cancelled, and {statuses}."
            which = ", ".join(ids)
            return (
                f"Why do you want to cancel {which}: is it no longer needed, or was it ordered "
                "by mistake?"
            )
        return [call("cancel_order", order_id=i, reason=reason) for i in ids]
    order = details[ids[0]]
    original = _original(order)
    fitting = _changed_items(action, order["items"]) if action.kind == "fit" else []
    if action.kind == "fit" and not any(
        _wanted(products.get(str(i["product_id"]), {}), i, action.text) for i in fitting
    ):
        # No size or option named: which of a return or an exchange is wished is asked.
        return _fit_question(ids[0], order, fitting)
    if action.kind == "address":
        address = address_of(action.text)
        if address is None:
            return f"What is the new address for order {ids[0]}?"
        return [call("modify_order_address", order_id=ids[0], **address)]
    method = _method(
        _payment_words(action, request), account, original, change=action.kind == "pay"
    )
    if method is None:
        return "Which of your payment methods should I use?"
    if action.kind == "pay":
        return [call("modify_order_payment", order_id=ids[0], payment_method_id=method)]
    items = _changed_items(action, order["items"])
    if action.kind == "ret":
        if not items and (len(order["items"]) == 1 or _WHOLE.search(action.text)):
            items = list(order["items"])
        if not items:
            names = ", ".join(str(i["name"]) for i in order["items"])
            # What a return costs and how long it may wait, as the confirmation will say.
            terms = f" {order['return_terms']}" if order.get("return_terms") else ""
            return f"Which items of order {ids[0]} would you like to return: {names}?{terms}"
        return [
            call(
                "return_order_items",
                order_id=ids[0],
                item_ids=[str(i["item_id"]) for i in items],
                payment_method_id=method,
                reason=return_reason_of(action.text) or return_reason_of(request),
            )
        ]
    if not items:
        return f"Which item of order {ids[0]} do you want to change?"
    new_ids = []
    changed = []
    for item, words in _item_words(items, action.text):
        product = products.get(str(item["product_id"]), {})
        new_id = _variant(product, item, words)
        if new_id is not None:
            changed.append(item)
            new_ids.append(new_id)
    if not changed:
        first = items[0]
        product = products.get(str(first["product_id"]), {})
        words = next(w for item, w in _item_words(items, action.text) if item is first)
        return _no_such_option(product, first, words)
    items = changed  # an item named only to place the order ("the one with the mouse") stays
    tool = "exchange_order_items" if order["status"] == "delivered" else "modify_order_items"
    return [
        call(
            tool,
            order_id=ids[0],
            item_ids=[str(i["item_id"]) for i in items],
            new_item_ids=new_ids,
            payment_method_id=method,
        )
    ]
