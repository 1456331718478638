"""Benchmark: which policy sections a policy answer quotes (issue 19), against hand-checked ones.

Indexes the generated store's policy pages (`retail.world.policies`) in an in-memory Qdrant,
asks twelve policy questions written for this benchmark (not the shopper dev set's), and for
each compares the sections `answer_from_documents` places for quoting (`tools.knowledge`:
the best section, the sections of its policy within `SECTION_MARGIN` of it, and what their "See
also" names) with the sections a person marked as answering it. The baseline is the same rule
with no margin (the best section and its "See also" only). Prints recall and precision, each the
mean over the questions, as JSON.

    .venv/bin/python benchmarks/bench_policy_sections.py
"""

from __future__ import annotations

import json
import sys
import tempfile
import warnings
from pathlib import Path

from qdrant_client import QdrantClient
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

import tools.knowledge as knowledge
from ml_core.vectors import ServerIndex
from rag.documents import policy_documents, see_also, split_sections
from rag.index import COLLECTION, RAG_SCHEMA, QdrantRagStore, document_encode, ingest_documents
from rag.retrieve import Retriever, parse_filters
from retail.store.models import Policy
from retail.world.policies import STORE_POLICIES

FINAL_SALE = "Final sale (not returnable)"
# Question -> (policy, sections that answer it), checked by reading the policy pages.
QUESTIONS = {
    "can I return something I already opened?": ("returns", {"Condition", FINAL_SALE}),
    "do you price match amazon?": (
        "price-match",
        {"Competitor price match", "What we do not match"},
    ),
    "how long do gold members have to return stuff?": ("returns", {"Return windows"}),
    "when will my refund show up on my card?": ("returns", {"Refunds"}),
    "do I have to pay to mail a return back?": ("returns", {"How to return"}),
    "can I return a gift card?": ("returns", {FINAL_SALE}),
    "if you drop the price after I buy, do I get money back?": (
        "price-match",
        {"Our own price drops"},
    ),
    "will you match a walmart clearance price?": ("price-match", {"What we do not match"}),
    "can I send back a tent I camped in?": ("returns", {"Condition"}),
    "are earbuds returnable once I've used them?": ("returns", {FINAL_SALE}),
    "how do I send something back?": ("returns", {"How to return"}),
    "do you match prices from an outlet store?": ("price-match", {"What we do not match"}),
}


def main() -> None:
    engine = create_engine("sqlite://")
    Policy.__table__.create(engine)
    with Session(engine) as session:
        session.add_all(Policy(id=p.id, title=p.title, body=p.body, source="generated")
                        for p in STORE_POLICIES)  # fmt: skip
        session.commit()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Payload indexes have no effect", UserWarning)
        store = QdrantRagStore(ServerIndex(QdrantClient(":memory:"), COLLECTION, RAG_SCHEMA))
    with tempfile.TemporaryDirectory(prefix="aisle-models-") as models:
        docs = list(policy_documents(engine))
        ingest_documents(docs, store, encode=document_encode(Path(models), docs))
    retriever = Retriever(store)
    pages = {p.id: dict(split_sections(p.body)) for p in STORE_POLICIES}
    # As the tool asks for a policy question: its default k, policies only.
    hits = {
        q: retriever.search(q, k=4, filters=parse_filters({"doc_type": "policy"}))
        for q in QUESTIONS
    }
    report = {}
    chosen = knowledge.SECTION_MARGIN
    for name, margin in (("baseline (best section and its see-also)", -1.0), ("after", chosen)):
        knowledge.SECTION_MARGIN = margin  # read by `_answering` on each call
        recall = precision = 0.0
        for question, (policy_id, relevant) in QUESTIONS.items():
            passages = [
                knowledge.Passage(**{k: v for k, v in h.as_dict().items() if k != "rank"})
                for h in hits[question]
            ]
            found = knowledge._answering(passages)
            quoted = {p.section for p in found if p.policy_id == policy_id}
            for p in found:
                quoted |= set(see_also(pages[p.policy_id].get(p.section or "", "")))
            right = quoted & relevant if found[0].policy_id == policy_id else set()
            recall += len(right) / len(relevant)
            precision += len(right) / max(len(quoted), 1)
        report[name] = {
            "margin": margin,
            "recall": round(recall / len(QUESTIONS), 3),
            "precision": round(precision / len(QUESTIONS), 3),
        }
    knowledge.SECTION_MARGIN = chosen
    sys.stdout.write(json.dumps({"questions": len(QUESTIONS), **report}, indent=2) + "\n")


if __name__ == "__main__":
    main()
