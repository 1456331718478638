"""Which tools an LLM step is offered, and how compactly they are described.

A principal may hold a score of tools, and their function schemas alone outgrow a small model's
context (the shopper's fill about 4,000 tokens; the embedded SmolLM2 serves 4,096). So, as tool
retrieval does for large tool sets, each step offers only the `k` tools closest (MiniLM cosine
similarity) to the person's last message, keeping every tool already used in this turn, so that
a follow-up step can call it again. Schemas are compacted
without losing anything a caller could act on: no `title` keys, descriptions on one line, and an
optional argument's `anyOf [X, null]` with `default: null` written as plain `X` (leaving it out
already means null).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from agents.state import ConversationState
from tools.base import ToolSpec

Embedder = Callable[[Sequence[str]], np.ndarray]
# Keys whose value is one subschema, a list of them, or a name -> subschema mapping.
_ONE = ("items", "additionalProperties", "not", "contains", "propertyNames")
_MANY = ("anyOf", "oneOf", "allOf", "prefixItems")
_NAMED = ("properties", "$defs", "definitions", "patternProperties")


def compact_schema(spec: ToolSpec) -> dict[str, Any]:
    """`spec.openai_schema()` with the same meaning in fewer tokens."""
    schema = spec.openai_schema()
    function = schema["function"]
    function["description"] = " ".join(function["description"].split())
    function["parameters"] = _compact(function["parameters"])
    return schema


def _compact(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "title" and isinstance(value, str):
            continue  # pydantic's field title: the property's name again, capitalised
        if key == "description" and isinstance(value, str):
            out[key] = " ".join(value.split())
        elif key in _ONE:
            out[key] = _compact(value)
        elif key in _MANY and isinstance(value, list):
            out[key] = [_compact(v) for v in value]
        elif key in _NAMED and isinstance(value, dict):
            out[key] = {name: _compact(v) for name, v in value.items()}
        else:
            out[key] = value
    required = set(out.get("required", ()))
    properties = out.get("properties")
    if isinstance(properties, dict):
        out["properties"] = {
            name: prop if name in required else _without_null(prop)
            for name, prop in properties.items()
        }
    return out


def _without_null(prop: Any) -> Any:
    """An optional property that defaults to null, as its one non-null type."""
    if not isinstance(prop, dict) or "default" not in prop or prop["default"] is not None:
        return prop
    branches = prop.get("anyOf")
    if not isinstance(branches, list):
        return prop
    kept = [b for b in branches if b != {"type": "null"}]
    if len(kept) != 1 or len(kept) == len(branches) or not isinstance(kept[0], dict):
        return prop
    rest = {k: v for k, v in prop.items() if k not in ("anyOf", "default")}
    return {**kept[0], **rest}


def last_user_message(state: ConversationState) -> str:
    return next((m.content for m in reversed(state.messages) if m.role == "user"), "")


def examples_by_tool(
    utterances: Mapping[str, Sequence[str]], intent_tools: Mapping[str, Sequence[str]]
) -> dict[str, list[str]]:
    """Labelled requests per tool: each intent's utterances go to every tool the intent calls."""
    examples: dict[str, list[str]] = {}
    for intent, names in intent_tools.items():
        for name in names:
            examples.setdefault(name, []).extend(utterances.get(intent, ()))
    return examples


class ToolSelector:
    """Ranks tools by how close a message is to what each tool is for.

    A tool is described by its name and description and, when given, by example requests it
    serves (the local NLU's labelled utterances): a description alone says "policies, FAQs" where
    people write "can I return it?", and the order-changing tools, all about returns and orders,
    would crowd the policy tool out. A tool's score is its best cosine similarity to the message
    over those texts. Every text is embedded once per process.
    """

    def __init__(
        self,
        embed_query: Embedder,
        embed_texts: Embedder | None = None,
        *,
        k: int = 4,
        examples: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        if k < 1:
            raise ValueError("k must be at least 1")
        self.k = k
        self.examples = {name: list(texts) for name, texts in (examples or {}).items()}
        self._embed_query = embed_query
        self._embed_texts = embed_texts or embed_query
        # By text, so a tool whose description changes is embedded again.
        self._vectors: dict[str, np.ndarray] = {}

    def select(
        self, message: str, tools: Sequence[ToolSpec], keep: Iterable[str] = ()
    ) -> list[ToolSpec]:
        """The tools in `keep`, then the best-ranked others, `k` in all at most, in the order of
        `tools`: the same set is then the same prompt prefix, which the server's cache reuses
        from one step of a turn to the next."""
        kept = set(keep)
        chosen = {spec.name for spec in tools if spec.name in kept}
        others = self.rank(message, [spec for spec in tools if spec.name not in kept])
        chosen.update(spec.name for spec in others[: max(self.k - len(chosen), 0)])
        return [spec for spec in tools if spec.name in chosen]

    def for_step(self, state: ConversationState, tools: Sequence[ToolSpec]) -> list[ToolSpec]:
        """What a step of `state` is offered: ranked on the last user message, keeping the
        tools this turn has already called."""
        return self.select(last_user_message(state), tools, [o.name for o in state.outcomes])

    def rank(self, message: str, tools: Sequence[ToolSpec]) -> list[ToolSpec]:
        """`tools`, the closest to `message` first (ties keep the given order)."""
        if not tools:
            return []
        texts = {spec.name: self.texts(spec) for spec in tools}
        self._embed_missing([t for group in texts.values() for t in group])
        query = self._embed_query([message])[0]
        scores = [
            max(float(self._vectors[text] @ query) for text in texts[spec.name]) for spec in tools
        ]
        return [tools[i] for i in np.argsort(-np.array(scores), kind="stable")]

    def texts(self, spec: ToolSpec) -> list[str]:
        """What `spec` is ranked by: its name in words with its description, then examples."""
        described = f"{spec.name.replace('_', ' ')}: {' '.join(spec.description.split())}"
        return [described, *self.examples.get(spec.name, ())]

    def _embed_missing(self, texts: Sequence[str]) -> None:
        missing = sorted(set(texts) - self._vectors.keys())
        if missing:
            self._vectors.update(zip(missing, self._embed_texts(missing), strict=True))
