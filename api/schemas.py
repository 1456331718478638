"""Schemas that belong to the HTTP API itself: error bodies, health and readiness, the chat's
request and final event, proposal views and decisions, audit events.

Domain read models (products, variants, pages) live in `retail.schemas`, and the tools' outputs
in their modules; the API reuses both rather than restating them.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from agents.assistant import MAX_MESSAGE_CHARS, REQUEST_CHARS, ConfirmationState
from agents.state import Citation, ConfirmationReply, ToolLine
from tools.catalog import ProductCard
from tools.forecasting import ForecastDay, ForecastRange, SalesDay
from tools.pricing import PricingProposalDetail
from tools.replenishment import ProposalDetail


class ErrorPublic(BaseModel):
    """The body of every 4xx and 5xx response."""

    detail: str = Field(description="One sentence saying what went wrong.")


class ValidationErrorPublic(ErrorPublic):
    """The body of a 422 response: the sentence, then each problem as pydantic reports it."""

    errors: list[dict[str, Any]] = Field(
        description="Pydantic's error list: `type`, `loc`, `msg` and, where useful, `ctx`."
    )


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI `responses` of a route's error codes: each an ErrorPublic, 422 a
    ValidationErrorPublic."""
    return {
        code: {"model": ValidationErrorPublic if code == 422 else ErrorPublic} for code in codes
    }


# Errors any authenticated route may answer with.
AUTH_ERRORS = (401, 403, 413, 422, 429)


class HealthPublic(BaseModel):
    status: Literal["ok", "error"]
    database: Literal["ok", "unavailable"]
    schema_revision: str | None = Field(
        description="The Alembic revision the database is at; null when it cannot be read."
    )
    version: str = Field(description="Aisle's version.")


# --- readiness -------------------------------------------------------------------------------


class CheckPublic(BaseModel):
    ok: bool
    detail: str = Field(description="What was found, or what is missing and how to fix it.")


class ReadinessPublic(BaseModel):
    """Whether this process can serve every route now; 503 with what is missing if not."""

    status: Literal["ready", "not_ready"]
    checks: dict[str, CheckPublic] = Field(
        description="database, schema, assistant and rag_index, each with what was found."
    )
    missing: list[str] = Field(description="The names of the checks that failed.")


# --- chat ------------------------------------------------------------------------------------


def _no_nul(value: str) -> str:
    # PostgreSQL cannot store NUL characters in text or JSON; refused here, they are a 422.
    if "\x00" in value:
        raise ValueError("text must not contain NUL characters")
    return value


class ChatRequest(BaseModel):
    """One message to the assistant, on a new thread or one the caller started."""

    model_config = ConfigDict(extra="forbid")

    message: Annotated[
        str,
        Field(
            min_length=1,
            max_length=MAX_MESSAGE_CHARS,
            description=f"What the person says; past {REQUEST_CHARS:,} characters it is read "
            "as its request (the sentences that ask come first).",
        ),
        AfterValidator(_no_nul),
    ]
    thread_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=100,
        pattern=r"^[A-Za-z0-9_.:-]+$",
        description="Continue this conversation; a new one starts without it.",
    )
    brain: Literal["local", "hybrid", "openai"] = Field(
        default="local", description="Who decides the next step; local is offline."
    )

    @field_validator("message")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("the message is blank; ask something")
        return value


class FinalEvent(BaseModel):
    """`event: final`: the whole turn, once it is done. (The other events are the assistant's
    own: `agents.assistant.ToolStarted`, `ToolFinished` and `AnswerChunk`.)"""

    thread_id: str
    answer: str
    citations: list[Citation]
    products: list[ProductCard] = Field(
        description="The products the answer shows, in order, priced as the answer quotes them."
    )
    quick_replies: list[str]
    grounded: bool = Field(description="False when the grounding guard replaced the answer.")
    answers_confirmation: ConfirmationReply | None = Field(
        default=None,
        description="How this turn's message took the write the previous answer asked to "
        "confirm: confirmed, or declined (nothing was written); null when none was waiting.",
    )
    brain: str
    latency_ms: float


class ThreadMessage(BaseModel):
    """A message as the page shows it again: an answer with its tool lines, cards, sources and,
    for one that asked to confirm a write, what became of it."""

    role: Literal["user", "assistant"]
    content: str
    products: list[ProductCard] = Field(
        default_factory=list, description="The answer's product cards, as first shown."
    )
    citations: list[Citation] = Field(default_factory=list)
    quick_replies: list[str] = Field(default_factory=list)
    tool_calls: list[ToolLine] = Field(
        default_factory=list, description="The answer's tool status lines, as first shown."
    )
    confirmation: ConfirmationState | None = Field(
        default=None,
        description="For an answer that asked to confirm a write: pending (no reply yet), "
        "confirmed, or declined (nothing was written).",
    )


class ThreadPublic(BaseModel):
    thread_id: str
    messages: list[ThreadMessage]


# --- proposals -------------------------------------------------------------------------------


class ChartLine(BaseModel):
    """What a planner's chart shows for one line of a purchase-order proposal."""

    sku: str
    product: str
    quantity: int
    unit_cost: float
    on_hand: int | None
    on_order: int | None
    safety_stock: float | None
    lead_time_days: float | None
    explanation: str
    forecast: list[ForecastDay] = Field(description="Daily mean with the 10/50/90% quantiles.")
    forecast_range: ForecastRange | None = Field(
        description="The total over the forecast days with its own 10/50/90% quantiles; null "
        "without a forecast."
    )
    recent_sales: list[SalesDay] = Field(
        description="Every day of the last 28 the product was on offer, oldest first, zero-sale "
        "days included."
    )
    offered_since: dt.date | None = Field(
        default=None,
        description="The product's launch where it falls in those days (the days before it are "
        "no data).",
    )
    forecast_model: str | None = Field(
        description="The forecasting model, in words; null without a forecast."
    )
    note: str | None = None


class ProposalView(ProposalDetail):
    """One proposal in full: the purchase order's lines and chart, or the price change's plan."""

    chart: list[ChartLine] = Field(
        default_factory=list, description="Purchase orders: per line, the data behind the chart."
    )
    pricing: PricingProposalDetail | None = Field(
        default=None, description="Price changes: weeks, elasticity, expected outcome, guardrails."
    )


class DecisionCreate(BaseModel):
    """A person's decision about a proposal, bound to the content hash they read."""

    model_config = ConfigDict(extra="forbid")

    decision: Literal["approve", "edit", "reject"]
    content_hash: str = Field(
        min_length=64, max_length=64, pattern="^[0-9a-f]{64}$", description="The hash you read."
    )
    changes: dict[
        Annotated[str, Field(min_length=1, max_length=64)],
        Annotated[float, Field(ge=0, le=1_000_000, allow_inf_nan=False)],
    ] = Field(
        default_factory=dict,
        max_length=500,
        description="Edit only: a purchase order's SKU -> new quantity (0 drops the line; "
        "whole cases, at most 10 times the proposed line); a price change's week start -> price.",
    )
    reason: str | None = Field(
        default=None, max_length=1000, description="Why; required to reject."
    )


class EditPreview(BaseModel):
    """A price change's week prices as a pricing manager would edit them, to read before
    deciding."""

    model_config = ConfigDict(extra="forbid")

    changes: dict[
        Annotated[str, Field(min_length=1, max_length=64)],
        Annotated[float, Field(ge=0, le=1_000_000, allow_inf_nan=False)],
    ] = Field(max_length=500, description="Week start date -> the price from that week.")


class PurchaseOrderLinePublic(BaseModel):
    variant_id: str
    product: str = Field(description="The product's name.")
    quantity: int
    unit_cost: float
    line_value: float = Field(description="Quantity × unit cost.")


class PurchaseOrderPublic(BaseModel):
    id: str
    supplier_id: str
    supplier_name: str
    location_id: str
    location_name: str
    status: str
    created_at: dt.datetime
    expected_on: dt.date | None
    proposal_id: str | None
    lines: list[PurchaseOrderLinePublic]
    units: int
    value: float


class PriceChangePublic(BaseModel):
    """A SKU's price from a date on, as an approved price change wrote it (chain-wide)."""

    model_config = ConfigDict(from_attributes=True)

    variant_id: str
    effective_on: dt.date
    price: float
    reason: str


class DecisionPublic(BaseModel):
    """What became of a decision: the proposal's status and what executing it created."""

    proposal_id: str
    decision: Literal["approve", "edit", "reject"]
    status: str
    content_hash: str | None = Field(description="The content hash afterwards (an edit's is new).")
    executed_ref: str | None = Field(description="The purchase order or price change created.")
    message: str
    purchase_order: PurchaseOrderPublic | None = None
    price_changes: list[PriceChangePublic] = Field(
        default_factory=list,
        description="Price changes: the dated prices the approval wrote, earliest first.",
    )


class ExecutionPublic(BaseModel):
    """What executing an approved proposal wrote: the same record however often it is asked."""

    proposal_id: str
    status: str
    executed_ref: str | None = Field(description="The purchase order or price change created.")
    created: bool = Field(description="This call wrote it (False: it existed already).")
    message: str
    purchase_order: PurchaseOrderPublic | None = None
    price_changes: list[PriceChangePublic] = Field(default_factory=list)


# --- audit -----------------------------------------------------------------------------------


class StorePublic(BaseModel):
    """A store: its id (what `store_id` takes) and the name and city a person knows it by."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    city: str | None


class MonitorAlertPublic(BaseModel):
    """A drift or forecast-performance alert of the monitor, with the sentence a planner reads."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    kind: str
    feature: str
    level: str
    segment: dict[str, str]
    as_of: dt.date
    since: dt.date
    effect: float
    p_value: float
    message: str
    retrain_kind: str | None
    details: dict[str, Any]
    created_at: dt.datetime


class AuditEventPublic(BaseModel):
    """One audit event as stored (personal data in arguments already redacted)."""

    model_config = ConfigDict(from_attributes=True)

    seq: int
    event_id: str
    occurred_at: str
    event_type: str
    principal_id: str
    role: str
    conversation_id: str | None
    agent_name: str | None
    tool_name: str | None
    tool_call_id: str | None
    arguments: dict[str, Any]
    result_digest: str | None
    status: str
    latency_ms: float | None
    brain: str | None
    model_version: str | None
    approval_id: str | None
    detail: dict[str, Any]
    prev_hash: str
    hash: str


class AuditProblem(BaseModel):
    seq: int | None
    where: str = Field(description="`event N`, `head`, `checkpoints` or `checkpoint line N`.")
    problem: str


class AuditVerifyPublic(BaseModel):
    ok: bool
    events: int
    head_seq: int
    head_hash: str
    checkpoints: int = Field(
        description="Signed checkpoints of the head that the chain still holds at their position."
    )
    checkpoint_seq: int = Field(
        description="The last event a signed checkpoint covers; later ones rest on their links."
    )
    problems: list[AuditProblem]


class EvalRunPublic(BaseModel):
    """One evaluation run in the list."""

    run_id: str
    started_at: str | None = Field(description="When the command started.")
    created_at: str | None = Field(description="When it finished and wrote its summary.")
    seconds: float | None = Field(
        description="Wall time of the whole command, the world's preparation included."
    )
    wall_time: str = Field(description='The same, as a person reads it ("3 min 12 s").')
    suites: str
    brains: str
    world: str | None
    headline: str = Field(description="Goals met and every suite that failed a case.")
    goals_met: int
    goals: int
    failing_suites: int = Field(description="Suites in which some case failed.")
    has_report: bool
    report_url: str | None = Field(description="Where its HTML report is served, if it has one.")
