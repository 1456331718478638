"""Answers from the RAG index: cited passages of product pages, reviews, size guides, policies
and FAQs, for a shopper's or an associate's question.

The retriever (the opened Qdrant index; MiniLM is loaded once per process) is shared through
`ctx.services`, so a turn pays for one query embedding and one index lookup. On Qdrant Edge it
reads this process's own copy of the index (`rag.index.open_backend`): an `aisle rag ingest`
meanwhile reaches a process when it opens the index again (a restart). `rag_retriever` is
also what `tools.catalog` searches products with.
"""

from __future__ import annotations

from typing import Annotated, Literal

from llama_index.core.vector_stores.types import FilterOperator, MetadataFilter, MetadataFilters
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from ml_core.edge_folders import FolderBusyError, ShardUnavailableError
from ml_core.registry import ArtifactRegistry
from ml_core.vectors import IndexNotBuiltError
from rag.documents import product_documents, section_doc_id, see_also, split_sections
from rag.index import ARTIFACT, QdrantRagStore, open_backend
from rag.retrieve import Retriever
from retail.store.models import Policy, Product
from tools.base import ToolContext, ToolError, not_found, tool

DocType = Literal["product", "review", "size_guide", "policy", "faq"]
# Passages longer than this are cut: a product page's variant list adds nothing to an answer.
MAX_PASSAGE_CHARS = 1_200
# Sections of the best section's policy that score within this much of it (on the hybrid
# retrieval's fused scale, 0 to 2) answer the question with it and are quoted too. On twelve
# hand-checked policy questions the relevant sections quoted went from 71% to 83% at the same
# precision (docs/BENCHMARKS.md); 0.1 missed "what we do not match" for a competitor named.
SECTION_MARGIN = 0.15


class _OpenRetriever(Retriever):
    """A retriever that closes its index when the process's services close."""

    def close(self) -> None:
        self.store.client.close()


def rag_retriever(ctx: ToolContext) -> Retriever:
    """The process's retriever over the RAG index; a typed `not_found` when none was built."""

    def build() -> Retriever:
        return _OpenRetriever(QdrantRagStore(open_backend(ctx.settings)))

    # A promotion or rollback of the index is served from the next question on.
    champion = ArtifactRegistry(ctx.settings.var_dir / "artifacts").ledger(ARTIFACT).champion
    try:
        retriever: Retriever = ctx.services.cached(f"rag.retriever:{champion}", build)
    except IndexNotBuiltError:
        raise ToolError(
            "not_found",
            "The document index has not been built yet; run `aisle rag ingest` first.",
            details={"missing": "rag_index"},
        ) from None
    except ShardUnavailableError as exc:
        raise ToolError(
            "not_found",
            f"{exc} Rebuild it with `aisle rag ingest`.",
            details={"missing": "rag_index"},
        ) from None
    except FolderBusyError as exc:  # written for longer than a reader waits
        raise ToolError("not_found", str(exc), details={"missing": "rag_index"}) from None
    return retriever


class Passage(BaseModel):
    """One retrieved passage and what to cite it by."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    doc_id: str = Field(description="The document's id, e.g. policy:returns#condition.")
    doc_type: str
    product_id: str | None = None
    policy_id: str | None = None
    section: str | None = Field(default=None, description="The policy section, if any.")
    title: str | None = None
    text: str
    score: float
    see_also_of: str | None = Field(
        default=None,
        description='The passage this section must be read with (its "See also"), if it was '
        "added for that rather than found by the question; it carries that passage's score.",
    )
    position: int | None = Field(
        default=None,
        description="For a policy section to quote (one that answers the question, or one it "
        "must be read with): its place in its policy page (0 first); unset for the rest. Quote "
        "them in this order: they refer to each other by place ('the conditions above'), and "
        "the rule comes before its exceptions.",
    )


class DocumentAnswer(BaseModel):
    """The passages that answer a question, best first; an empty list means nothing matched."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    question: str
    doc_type: str | None
    product_id: str | None
    passages: list[Passage]


@tool(roles=["shopper", "associate", "planner", "pricing_manager", "evaluator"])
def answer_from_documents(
    ctx: ToolContext,
    *,
    question: Annotated[
        str, Field(min_length=1, max_length=500, description="The question, in the user's words.")
    ],
    doc_type: Annotated[
        DocType | None,
        Field(
            description="Only this kind of document: product, review, size_guide, policy or faq."
        ),
    ] = None,
    product_id: Annotated[
        str | None, Field(description="Only documents about this product.")
    ] = None,
    k: Annotated[int, Field(ge=1, le=10, description="How many passages.")] = 4,
) -> DocumentAnswer:
    """Find cited passages in the store's documents (policies, FAQs, product pages, reviews,
    size guides) that answer a question; use it for policy, care, sizing and product-fact
    questions, and quote only what the passages say."""
    where: list[MetadataFilter | MetadataFilters] = []
    if doc_type is not None:
        where.append(
            MetadataFilter(key="doc_type", value=[str(doc_type)], operator=FilterOperator.IN)
        )
    if product_id is not None:
        with Session(ctx.engine) as session:
            if session.scalar(select(Product.id).where(Product.id == product_id)) is None:
                raise not_found(f"No product with id {product_id!r}.")
        # Built here rather than by `parse_filters`, which lower-cases every keyword value:
        # product ids are stored in their own case ("P00011").
        where.append(
            MetadataFilter(key="product_id", value=[product_id], operator=FilterOperator.IN)
        )
    hits = rag_retriever(ctx).search(
        question, k=k, filters=MetadataFilters(filters=where) if where else None
    )
    passages = [
        Passage(
            doc_id=h.doc_id,
            doc_type=h.doc_type,
            product_id=h.product_id,
            policy_id=h.policy_id,
            section=h.section,
            title=h.title,
            text=_clip(h.text, MAX_PASSAGE_CHARS),
            score=h.score,
        )
        for h in hits
    ]
    passages = _as_now(ctx, passages)
    if passages:
        quoted = _read_with(ctx, _answering(passages))
        named = {p.doc_id for p in quoted}
        passages = quoted + [p for p in passages if p.doc_id not in named]
    return DocumentAnswer(
        question=question, doc_type=doc_type, product_id=product_id, passages=passages
    )


def _as_now(ctx: ToolContext, passages: list[Passage]) -> list[Passage]:
    """The product pages among `passages` as they read now: the index holds each page as it
    was when it was embedded, but the prices and SKUs quoted to a shopper are the catalogue's
    current ones, by the rule its cards use (a markdown approved since, a SKU withdrawn)."""
    ids = {p.product_id for p in passages if p.doc_type == "product" and p.product_id}
    if not ids:
        return passages
    pages = {
        d.doc_id: d.text
        for d in product_documents(ctx.engine, ids)
        if d.metadata["doc_type"] == "product"
    }

    def now(p: Passage) -> Passage:
        if p.doc_type != "product" or not p.product_id:
            return p
        # A variant chunk the page no longer has (fewer SKUs sold): the page itself.
        text = pages.get(p.doc_id) or pages.get(f"product:{p.product_id}")
        return p.model_copy(update={"text": _clip(text, MAX_PASSAGE_CHARS)}) if text else p

    return [now(p) for p in passages]


def _answering(passages: list[Passage]) -> list[Passage]:
    """The passages an answer quotes: the best, and when it is a policy section, the sections
    of the same policy that the question ranks nearly as high. A question touches more than one
    section ("can I return something opened?" is the overview's and the final-sale list's;
    "do you price match amazon?" the competitor rule's and what is not matched), and the best
    section alone leaves out what answers it."""
    top = passages[0]
    if top.policy_id is None:
        return [top]
    return [top] + [
        p
        for p in passages[1:]
        if p.policy_id == top.policy_id and top.score - p.score <= SECTION_MARGIN
    ]


def _read_with(ctx: ToolContext, found: list[Passage]) -> list[Passage]:
    """The policy sections `found`, each followed by the sections of its page that its "See
    also" line names, whole, and each with its place in the page: an answer quoting what is
    final sale also quotes the conditions every other return must meet, before it, as the page
    does. Anything but a policy section comes back as it is."""
    top = found[0]
    if top.policy_id is None or top.section is None:
        return found
    with Session(ctx.engine) as session:
        policy = session.get(Policy, top.policy_id)
    if policy is None:
        return found
    sections = dict(split_sections(policy.body))
    place = {name: i for i, name in enumerate(sections)}
    quoted: list[Passage] = []
    taken = {p.section for p in found}
    for passage in found:
        quoted.append(passage.model_copy(update={"position": place.get(passage.section or "")}))
        for name in see_also(sections.get(passage.section or "", "")):
            if name not in sections or name in taken:
                continue
            taken.add(name)
            quoted.append(
                Passage(
                    doc_id=section_doc_id(policy.id, name),
                    doc_type=top.doc_type,
                    policy_id=policy.id,
                    section=name,
                    title=policy.title,
                    text=_clip(f"{policy.title} - {name}\n{sections[name]}", MAX_PASSAGE_CHARS),
                    score=passage.score,
                    see_also_of=passage.doc_id,
                    position=place[name],
                )
            )
    return quoted


def _clip(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0] + " ..."
