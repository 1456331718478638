"""The assistant over HTTP: a streamed turn (server-sent events), a plain JSON turn, and a
thread's history.

The route only formats: `Assistant.stream` checks the message, the brain and the thread's owner
when called (so those are plain 4xx answers) and then yields the turn's typed events, which a
thread of the app's chat pool reads and hands to the event loop through a queue. Each tool call
is announced as soon as the brain decides it (a slow tool shows what it is doing) and sent again
as it returns; the answer follows in a few chunks as soon as the guard has checked it, and the
`final` event, once the turn is saved, carries the whole turn with its product cards.

Events: `tool_start` (ToolStarted) {id, name, args}; `tool_call` (ToolFinished) {id, name, args,
status, latency_ms}; `chunk` (AnswerChunk) {text}; `final` (FinalEvent) {thread_id, answer,
citations, products, quick_replies, grounded, brain, latency_ms}; `error` (ErrorPublic) {detail}.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import Executor
from functools import partial
from typing import Annotated, TypeVar

from fastapi import APIRouter, Depends, Path, Request, status
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from agents.assistant import (
    AnswerChunk,
    Assistant,
    Final,
    InvalidMessageError,
    ToolFinished,
    ToolStarted,
    TurnEvent,
    TurnResult,
    UnknownBrainError,
    confirmation_states,
)
from agents.state import Message
from api.auth import PrincipalDep
from api.deps import AssistantDep, InvalidRequest, MetricsDep
from api.routes.metrics import Metrics
from api.schemas import (
    ChatRequest,
    ErrorPublic,
    FinalEvent,
    ThreadMessage,
    ThreadPublic,
    error_responses,
)
from retail.errors import AisleError, NotFoundError
from tools.base import Principal

log = logging.getLogger(__name__)

router = APIRouter(prefix="/v1", tags=["chat"])
T = TypeVar("T")

_ERRORS = error_responses(400, 401, 404, 413, 422, 429, 503)
_SSE_NAMES: dict[type[BaseModel], str] = {
    ToolStarted: "tool_start",
    ToolFinished: "tool_call",
    AnswerChunk: "chunk",
    FinalEvent: "final",
    ErrorPublic: "error",
}
_SSE_EVENT = {
    "type": "object",
    "required": ["event", "data"],
    "properties": {
        "event": {"type": "string", "enum": list(_SSE_NAMES.values())},
        "data": {
            "type": "string",
            "contentMediaType": "application/json",
            "description": "The event's JSON: ToolStarted, ToolFinished, AnswerChunk, "
            "FinalEvent or ErrorPublic.",
        },
    },
}
_SSE_DOC = (
    "Server-sent events: `tool_start` (ToolStarted) as the assistant calls a tool, "
    "`tool_call` (ToolFinished) as it returns, `chunk` (AnswerChunk) pieces of the answer, "
    "then `final` (FinalEvent); `error` (ErrorPublic) instead when the turn fails."
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


def final_event(final: Final) -> FinalEvent:
    result = final.result
    return FinalEvent(
        thread_id=result.thread_id,
        answer=result.answer,
        citations=result.citations,
        products=final.cards,
        quick_replies=result.quick_replies,
        grounded=result.grounded,
        answers_confirmation=final.answers_confirmation,
        brain=result.brain,
        latency_ms=result.latency_ms,
    )


def _sse(data: BaseModel) -> str:
    return f"event: {_SSE_NAMES[type(data)]}\ndata: {json.dumps(data.model_dump(mode='json'))}\n\n"


async def _in_pool(pool: Executor, metrics: Metrics, brain: str, call: Callable[[], T]) -> T:
    """`call` run in the chat pool; what the assistant refuses (the message, the brain, the
    thread) is counted and answered as a 4xx."""
    try:
        return await asyncio.get_running_loop().run_in_executor(pool, call)
    except (InvalidMessageError, UnknownBrainError) as exc:
        metrics.chat_turns.labels(brain, "error").inc()
        raise InvalidRequest(str(exc), loc=("body", "message"), kind="invalid_message") from None
    except AisleError:
        metrics.chat_turns.labels(brain, "error").inc()
        raise


async def _sse_stream(
    events: Iterator[TurnEvent],
    pool: Executor,
    metrics: Metrics,
    brain: str,
    started: float,
) -> AsyncIterator[str]:
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[BaseModel | None] = asyncio.Queue()

    def put(item: BaseModel | None) -> None:
        # A closed loop means the server stopped after the client left: nobody is listening.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(queue.put_nowait, item)

    def run() -> None:
        try:
            for event in events:
                if isinstance(event, Final):
                    metrics.observe_turn(event.result)
                    put(final_event(event))
                else:
                    put(event)
        except AisleError as exc:
            metrics.chat_turns.labels(brain, "error").inc()
            put(ErrorPublic(detail=str(exc)))
        except Exception:
            log.exception("a chat turn failed")
            metrics.chat_turns.labels(brain, "error").inc()
            put(ErrorPublic(detail="The assistant failed unexpectedly; it is logged."))
        finally:
            put(None)

    # The turn runs to its end even if the client leaves: its checkpoint and audit stay whole.
    pool.submit(run)
    first = True
    while (item := await queue.get()) is not None:
        if first:
            metrics.first_event.observe(time.perf_counter() - started)
            first = False
        yield _sse(item)


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
    stream = partial(
        assistant.stream, principal, body.message, thread_id=body.thread_id, brain=body.brain
    )
    events = await _in_pool(pool, metrics, body.brain, stream)
    return StreamingResponse(
        _sse_stream(events, pool, metrics, body.brain, started),
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
    result = await _in_pool(pool, metrics, body.brain, ask)
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
    """A conversation's messages, oldest first, each answer with its tool lines, product cards,
    sources and what became of a write it asked to confirm; only the person who started it may
    read it."""
    messages = await asyncio.get_running_loop().run_in_executor(
        pool, thread_messages, assistant, thread_id, principal
    )
    return ThreadPublic(
        thread_id=thread_id,
        messages=[
            ThreadMessage(
                role=m.role,
                content=m.content,
                products=m.cards,
                citations=m.citations,
                quick_replies=m.quick_replies,
                tool_calls=m.tools,
                confirmation=confirmation,
            )
            for m, confirmation in zip(messages, confirmation_states(messages), strict=True)
        ],
    )
