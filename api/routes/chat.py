"""The assistant over HTTP: a streamed turn (server-sent events), a plain JSON turn, and a
thread's history.

A turn runs the blocking LangGraph run in the app's chat thread pool; the graph's updates reach
the event loop through a queue, so each tool call is announced as soon as the brain decides it
(`tool_start`: a slow tool shows what it is doing) and sent again as it returns. The answer is
then sent in a few chunks as soon as the guard has checked it (the local brain composes it whole,
and a grounded answer is only known then), and the `final` event, once the turn is saved,
carries the whole turn.

Events: `tool_start` {id, name, args}; `tool_call` {id, name, args, status, latency_ms};
`chunk` {text}; `final` {thread_id,
answer, citations, products, quick_replies, grounded, brain, latency_ms}; `error` {detail}.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import Executor
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, status
from fastapi.responses import StreamingResponse
from pydantic import BaseModel
from sqlalchemy import Engine, case, func, select
from sqlalchemy.orm import Session

from agents.assistant import Assistant, InvalidMessageError, TurnResult, UnknownBrainError
from agents.conversation import ANSWER_NODE
from agents.state import Message, ToolCallRequest
from api.auth import PrincipalDep
from api.deps import AssistantDep, InvalidRequest, MetricsDep
from api.routes.metrics import Metrics
from api.schemas import (
    ChatRequest,
    ChunkEvent,
    ErrorPublic,
    FinalEvent,
    ProductCard,
    ThreadMessage,
    ThreadPublic,
    ToolCallEvent,
    ToolStartEvent,
    error_responses,
)
from retail.catalog_queries import variant_in_stock
from retail.errors import AisleError, NotFoundError
from retail.store.models import Brand, Product, Variant
from tools.base import Principal, ToolOutcome

log = logging.getLogger(__name__)

router = APIRouter(prefix="/v1", tags=["chat"])

CHUNKS = 4  # pieces an answer is streamed in
_ERRORS = error_responses(400, 401, 404, 413, 422, 429, 503)
_SSE_EVENT = {
    "type": "object",
    "required": ["event", "data"],
    "properties": {
        "event": {"type": "string", "enum": ["tool_start", "tool_call", "chunk", "final", "error"]},
        "data": {
            "type": "string",
            "contentMediaType": "application/json",
            "description": "The event's JSON: ToolStartEvent, ToolCallEvent, ChunkEvent, "
            "FinalEvent or ErrorPublic.",
        },
    },
}
_SSE_DOC = (
    "Server-sent events: `tool_start` (ToolStartEvent) as the assistant calls a tool, "
    "`tool_call` (ToolCallEvent) as it returns, `chunk` "
    "(ChunkEvent) pieces of the answer, then `final` (FinalEvent); `error` (ErrorPublic) "
    "instead when the turn fails."
)


def _chat_pool(request: Request) -> Executor:
    pool: Executor = request.app.state.chat_pool
    return pool


ChatPoolDep = Annotated[Executor, Depends(_chat_pool)]
ThreadId = Annotated[str, Path(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.:-]+$")]


def thread_messages(assistant: Assistant, thread_id: str, principal: Principal) -> list[Message]:
    """The thread's messages; NotFoundError unless it exists and `principal` started it (so
    nobody learns that another person's thread exists)."""
    snapshot = assistant.graph.get_state({"configurable": {"thread_id": thread_id}})
    values = snapshot.values or {}
    if values.get("owner") != principal.id:
        raise NotFoundError(f"No conversation with id {thread_id!r}.")
    return [Message.model_validate(m) for m in values.get("messages", [])]


def _check_thread(assistant: Assistant, thread_id: str | None, principal: Principal) -> None:
    if thread_id is not None:
        thread_messages(assistant, thread_id, principal)


def product_cards(engine: Engine, product_ids: Sequence[str]) -> list[ProductCard]:
    """The chat's cards of these products, in the order given (unknown ids are left out)."""
    if not product_ids:
        return []
    in_stock = func.max(case((variant_in_stock(), 1), else_=0))
    with Session(engine) as session:
        rows = session.execute(
            select(
                Product.id,
                Product.name,
                Brand.name.label("brand"),
                Product.attributes,
                func.min(Variant.price).label("price_min"),
                func.max(Variant.price).label("price_max"),
                in_stock.label("in_stock"),
            )
            .outerjoin(Brand, Brand.id == Product.brand_id)
            .outerjoin(Variant, Variant.product_id == Product.id)
            .where(Product.id.in_(list(product_ids)))
            .group_by(Product.id, Product.name, Brand.name, Product.attributes)
        ).all()
    by_id = {row.id: row for row in rows}
    cards = []
    for pid in product_ids:
        row = by_id.get(pid)
        if row is None:
            continue
        images = (row.attributes or {}).get("images") or []
        image = images[0] if images else (row.attributes or {}).get("thumbnail")
        cards.append(
            ProductCard(
                id=row.id,
                name=row.name,
                brand=row.brand,
                price_min=None if row.price_min is None else float(row.price_min),
                price_max=None if row.price_max is None else float(row.price_max),
                image=image if isinstance(image, str) else None,
                in_stock=bool(row.in_stock),
            )
        )
    return cards


def split_answer(text: str, pieces: int = CHUNKS) -> list[str]:
    """The answer in up to `pieces` chunks cut at spaces; joined, they are the answer."""
    if len(text) < 40:
        return [text]
    size = -(-len(text) // pieces)
    chunks, start = [], 0
    while start < len(text):
        end = min(len(text), start + size)
        space = text.find(" ", end)
        end = len(text) if space < 0 or end == len(text) else space + 1
        chunks.append(text[start:end])
        start = end
    return chunks


def final_event(engine: Engine, result: TurnResult) -> FinalEvent:
    return FinalEvent(
        thread_id=result.thread_id,
        answer=result.answer,
        citations=result.citations,
        products=product_cards(engine, result.products),
        quick_replies=result.quick_replies,
        grounded=result.grounded,
        brain=result.brain,
        latency_ms=result.latency_ms,
    )


def _sse(event: str, data: BaseModel) -> str:
    return f"event: {event}\ndata: {json.dumps(data.model_dump(mode='json'))}\n\n"


def _tool_events(update: Any, seen: set[str], emit: Callable[[str, BaseModel], None]) -> None:
    """Announce the calls a brain step decided, then each outcome not sent yet (a node returns
    the turn's whole list of outcomes)."""
    if not isinstance(update, dict):
        return
    for call in update.get("calls") or []:
        if isinstance(call, ToolCallRequest):
            emit("tool_start", ToolStartEvent(id=call.id, name=call.name, args=call.arguments))
    for outcome in update.get("outcomes") or []:
        if not isinstance(outcome, ToolOutcome) or outcome.call_id in seen:
            continue
        seen.add(outcome.call_id)
        emit(
            "tool_call",
            ToolCallEvent(
                id=outcome.call_id,
                name=outcome.name,
                args=outcome.arguments,
                status=outcome.status,
                latency_ms=round(outcome.latency_ms, 2),
            ),
        )


async def _stream_turn(
    assistant: Assistant,
    pool: Executor,
    metrics: Metrics,
    principal: Principal,
    body: ChatRequest,
    thread_id: str,
    started: float,
) -> AsyncIterator[str]:
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[str, BaseModel] | None] = asyncio.Queue()

    def put(item: tuple[str, BaseModel] | None) -> None:
        # A closed loop means the server stopped after the client left: nobody is listening.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(queue.put_nowait, item)

    def emit(event: str, data: BaseModel) -> None:
        put((event, data))

    def on_event(node: str, update: Any) -> None:
        _tool_events(update, seen, emit)
        # The checked answer is streamed at once; `final` follows once the turn is saved.
        if node == ANSWER_NODE and isinstance(update, dict) and update.get("answer"):
            for piece in split_answer(update["answer"].text):
                emit("chunk", ChunkEvent(text=piece))

    seen: set[str] = set()

    def run() -> None:
        try:
            result = assistant.ask(
                principal, body.message, thread_id=thread_id, brain=body.brain, on_event=on_event
            )
            metrics.observe_turn(result)
            emit("final", final_event(assistant.services.engine, result))
        except AisleError as exc:
            metrics.chat_turns.labels(body.brain, "error").inc()
            emit("error", ErrorPublic(detail=str(exc)))
        except Exception:
            log.exception("chat turn failed on thread %s", thread_id)
            metrics.chat_turns.labels(body.brain, "error").inc()
            emit("error", ErrorPublic(detail="The assistant failed unexpectedly; it is logged."))
        finally:
            put(None)

    # The turn runs to its end even if the client leaves: its checkpoint and audit stay whole.
    pool.submit(run)
    first = True
    while (item := await queue.get()) is not None:
        if first:
            metrics.first_event.observe(time.perf_counter() - started)
            first = False
        yield _sse(*item)


@router.post(
    "/chat",
    operation_id="chat",
    response_class=StreamingResponse,
    responses={
        status.HTTP_200_OK: {
            "description": _SSE_DOC,
            # Before OpenAPI 3.2, a stream's `schema` describes each event.
            "content": {"text/event-stream": {"schema": _SSE_EVENT}},
        },
        **_ERRORS,
    },
)
async def chat(
    body: ChatRequest,
    principal: PrincipalDep,
    assistant: AssistantDep,
    pool: ChatPoolDep,
    metrics: MetricsDep,
) -> StreamingResponse:
    """One turn of a conversation with the assistant, streamed as server-sent events."""
    started = time.perf_counter()
    await asyncio.get_running_loop().run_in_executor(
        pool, _check_thread, assistant, body.thread_id, principal
    )
    thread_id = body.thread_id or f"thread-{uuid.uuid4().hex[:16]}"
    return StreamingResponse(
        _stream_turn(assistant, pool, metrics, principal, body, thread_id, started),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.post("/chat/turn", operation_id="chatTurn", response_model=TurnResult, responses=_ERRORS)
async def chat_turn(
    body: ChatRequest,
    principal: PrincipalDep,
    assistant: AssistantDep,
    pool: ChatPoolDep,
    metrics: MetricsDep,
) -> TurnResult:
    """One turn of a conversation with the assistant, answered as one JSON document."""
    ask = partial(
        assistant.ask, principal, body.message, thread_id=body.thread_id, brain=body.brain
    )
    try:
        result = await asyncio.get_running_loop().run_in_executor(pool, ask)
    except (InvalidMessageError, UnknownBrainError) as exc:
        metrics.chat_turns.labels(body.brain, "error").inc()
        raise InvalidRequest(str(exc), loc=("body", "message"), kind="invalid_message") from None
    except AisleError:
        metrics.chat_turns.labels(body.brain, "error").inc()
        raise
    metrics.observe_turn(result)
    return result


@router.get(
    "/threads/{thread_id}",
    operation_id="getThread",
    response_model=ThreadPublic,
    responses=_ERRORS,
)
async def get_thread(
    thread_id: ThreadId,
    principal: PrincipalDep,
    assistant: AssistantDep,
    pool: ChatPoolDep,
) -> ThreadPublic:
    """A conversation's messages, oldest first; only the person who started it may read it."""
    messages = await asyncio.get_running_loop().run_in_executor(
        pool, thread_messages, assistant, thread_id, principal
    )
    return ThreadPublic(
        thread_id=thread_id,
        messages=[ThreadMessage(role=m.role, content=m.content) for m in messages],
    )
