"""The one way a brain talks to an OpenAI-compatible endpoint (OpenAI, vLLM, Ollama, llama.cpp).

`LLMClient` wraps the `openai` package with what a serving path needs: a per-request timeout,
tenacity retries with jittered exponential backoff on the failures that pass (429, 5xx, timeouts,
dropped connections), and a `CircuitBreaker` that stops calling an endpoint that keeps failing,
so a dead model server costs a conversation nothing but the fallback. Every failure reaches the
brain as one `LLMUnavailable` carrying a short machine-readable reason, which the brain records
before it falls back.

Every answered request reports the endpoint's token usage to `agents.usage`.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any, Literal, TypeVar, cast

import httpx2
import openai
from openai import OpenAI, Stream
from openai.types.chat import (
    ChatCompletionChunk,
    ChatCompletionMessage,
    ChatCompletionMessageParam,
)
from opentelemetry import trace
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_random_exponential

from agents.state import Message
from agents.usage import record_usage
from retail import telemetry
from retail.errors import AisleError
from retail.settings import Settings
from retail.telemetry import tracer
from tools.base import ToolOutcome

FailureReason = Literal[
    "timeout",
    "connection",
    "rate_limited",
    "server_error",
    "malformed",
    "rejected",
    "circuit_open",
    "unexpected",
]
ChatMessage = dict[str, Any]
T = TypeVar("T")


class LLMNotConfiguredError(AisleError):
    """An LLM brain was asked for but no endpoint is configured."""


class LLMUnavailable(Exception):
    """The endpoint did not serve this request; `reason` says why in one word."""

    def __init__(self, reason: FailureReason, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason: FailureReason = reason
        self.detail = detail


class CircuitBreaker:
    """Closed, open after `threshold` consecutive failures, half-open after `cooldown_s`.

    While open, `allow()` says no without touching the network. After the cool-down one probe
    is let through (half-open): its success closes the circuit, its failure opens it for another
    cool-down. Other callers are refused while the probe is in flight, so a recovering server is
    not hit by every waiting conversation at once.
    """

    def __init__(
        self,
        *,
        threshold: int = 3,
        cooldown_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if threshold < 1:
            raise ValueError("threshold must be at least 1")
        self.threshold = threshold
        self.cooldown_s = cooldown_s
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._opened_at: float | None = None
        self._probing = False

    @property
    def state(self) -> Literal["closed", "open", "half_open"]:
        with self._lock:
            if self._opened_at is None:
                return "closed"
            if self._probing or self._clock() - self._opened_at >= self.cooldown_s:
                return "half_open"
            return "open"

    def allow(self) -> bool:
        with self._lock:
            if self._opened_at is None:
                return True
            if self._probing or self._clock() - self._opened_at < self.cooldown_s:
                return False
            self._probing = True
            return True

    def record_success(self) -> None:
        with self._lock:
            self._failures = 0
            self._opened_at = None
            self._probing = False

    def record_failure(self) -> None:
        with self._lock:
            self._failures += 1
            if self._probing or self._failures >= self.threshold:
                self._opened_at = self._clock()
            self._probing = False


def _transient(exc: BaseException) -> bool:
    """Worth another attempt: the same request may well succeed in a moment."""
    if isinstance(exc, openai.APIConnectionError):  # timeouts are connection errors too
        return True
    return isinstance(exc, openai.APIStatusError) and (
        exc.status_code == 429 or exc.status_code >= 500
    )


def _reason(exc: openai.OpenAIError) -> FailureReason:
    if isinstance(exc, openai.APIResponseValidationError):
        return "malformed"
    if isinstance(exc, openai.APITimeoutError):
        return "timeout"
    if isinstance(exc, openai.APIConnectionError):
        return "connection"
    if isinstance(exc, openai.APIStatusError):
        if exc.status_code == 429:
            return "rate_limited"
        if exc.status_code >= 500:
            return "server_error"
    return "rejected"


class LLMClient:
    """Chat completions against one endpoint and model, with retries and a circuit breaker.

    The `openai` package's own retries are switched off: tenacity owns them, so the backoff and
    the breaker's count of failures (one per request, after its retries) are ours to reason about.
    """

    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        api_key: str = "not-needed",
        timeout_s: float = 30.0,
        attempts: int = 3,
        backoff_s: float = 0.5,
        backoff_max_s: float = 8.0,
        breaker: CircuitBreaker | None = None,
        max_tokens: int = 256,
        temperature: float | None = 0.0,
    ) -> None:
        self.base_url = base_url
        self.model = model
        # Greedy by default: the same conversation should get the same step, run after run.
        self._sampling: dict[str, Any] = {"max_tokens": max_tokens}
        if temperature is not None:
            self._sampling["temperature"] = temperature
        self.breaker = breaker or CircuitBreaker()
        self._attempts = attempts
        self._backoff_s = backoff_s
        self._backoff_max_s = backoff_max_s
        self._openai = OpenAI(
            base_url=base_url,
            api_key=api_key,
            timeout=timeout_s,
            max_retries=0,
            # A reply that does not have the API's shape becomes an error here (and a fallback),
            # not a half-built object the brain trips over.
            _strict_response_validation=True,
        )

    @classmethod
    def from_settings(cls, settings: Settings, **options: Any) -> LLMClient:
        if not settings.llm_base_url:
            raise LLMNotConfiguredError(
                "No LLM endpoint is configured; set AISLE_LLM_BASE_URL (for example "
                "http://127.0.0.1:8080/v1) or use the local brain."
            )
        return cls(
            base_url=settings.llm_base_url,
            model=settings.llm_model,
            api_key=settings.llm_api_key,
            **options,
        )

    def complete(
        self, messages: Sequence[ChatMessage], tools: Sequence[dict[str, Any]] = ()
    ) -> ChatCompletionMessage:
        """The model's reply to `messages`; `tools` (OpenAI function schemas) are offered with
        `tool_choice="auto"`, the only choice llama.cpp's server handles without a 500."""
        options: dict[str, Any] = {"tools": list(tools), "tool_choice": "auto"} if tools else {}

        def request() -> ChatCompletionMessage:
            response = self._openai.chat.completions.create(
                model=self.model,
                messages=_wire(messages),
                **self._sampling,
                **options,
            )
            if not response.choices:
                raise LLMUnavailable("malformed", "the endpoint returned no choices")
            record_usage(response.usage)
            span.set_attribute(telemetry.RESPONSE_MODEL, response.model)
            if response.usage is not None:
                span.set_attribute(telemetry.INPUT_TOKENS, response.usage.prompt_tokens)
                span.set_attribute(telemetry.OUTPUT_TOKENS, response.usage.completion_tokens)
            return response.choices[0].message

        with self._chat_span() as span:
            return self._guarded(request)

    def _chat_span(self) -> AbstractContextManager[trace.Span]:
        """The `chat {model}` span of one request (its retries included)."""
        endpoint = httpx2.URL(self.base_url)
        attributes: dict[str, Any] = {
            telemetry.OPERATION: "chat",
            telemetry.PROVIDER: "openai",
            telemetry.REQUEST_MODEL: self.model,
            "server.address": endpoint.host,
        }
        if endpoint.port is not None:
            attributes["server.port"] = endpoint.port
        return tracer().start_as_current_span(
            f"chat {self.model}", kind=trace.SpanKind.CLIENT, attributes=attributes
        )

    def stream(self, messages: Sequence[ChatMessage]) -> Iterator[str]:
        """The reply's text as it is generated. Only for requests without tools: llama.cpp's
        server streams empty chunks when tools are offered. Retries and the breaker cover opening
        the stream; a failure after the first chunk ends it with `LLMUnavailable`."""

        def request() -> Stream[ChatCompletionChunk]:
            return self._openai.chat.completions.create(
                model=self.model,
                messages=_wire(messages),
                stream=True,
                **self._sampling,
            )

        # The span times opening the stream; the chunks are read as the caller asks for them.
        with self._chat_span():
            chunks = self._guarded(request)
        # llama.cpp's server (0.3.36) has no `stream_options` and sends no usage in a stream.
        record_usage(None)
        try:
            for chunk in chunks:
                if chunk.choices and chunk.choices[0].delta.content:
                    yield chunk.choices[0].delta.content
        except openai.OpenAIError as exc:
            self._settle(_reason(exc))
            raise LLMUnavailable(_reason(exc), str(exc)) from exc
        except httpx2.TransportError as exc:
            # Past the opening, the transport's own errors reach us unwrapped.
            reason: FailureReason = (
                "timeout" if isinstance(exc, httpx2.TimeoutException) else "connection"
            )
            self._settle(reason)
            raise LLMUnavailable(reason, str(exc)) from exc
        finally:
            chunks.close()

    def _guarded(self, request: Callable[[], T]) -> T:
        if not self.breaker.allow():
            raise LLMUnavailable("circuit_open", f"{self.base_url} failed repeatedly; cooling down")
        retrying = Retrying(
            stop=stop_after_attempt(self._attempts),
            wait=wait_random_exponential(multiplier=self._backoff_s, max=self._backoff_max_s),
            retry=retry_if_exception(_transient),
            reraise=True,
        )
        try:
            result = retrying(request)
        except LLMUnavailable as exc:
            self._settle(exc.reason)
            raise
        except openai.OpenAIError as exc:
            self._settle(_reason(exc))
            raise LLMUnavailable(_reason(exc), str(exc)) from exc
        except Exception as exc:
            # Anything else (a transport error the package did not wrap, a bug) still must not
            # take the conversation down, nor leave a half-open probe unanswered.
            self._settle("unexpected")
            raise LLMUnavailable("unexpected", f"{type(exc).__name__}: {exc}") from exc
        self.breaker.record_success()
        return result

    def _settle(self, reason: FailureReason) -> None:
        # A request the server refuses (400: context too long, bad schema; 401) says nothing
        # about its health, so it does not count towards opening the circuit.
        if reason == "rejected":
            self.breaker.record_success()
        else:
            self.breaker.record_failure()


def _wire(messages: Sequence[ChatMessage]) -> list[ChatCompletionMessageParam]:
    # Our messages are plain dicts in the API's shape; the package's TypedDicts only name it.
    return cast(list[ChatCompletionMessageParam], list(messages))


def conversation_messages(system_prompt: str, messages: Sequence[Message]) -> list[ChatMessage]:
    """The system prompt, then the conversation as chat messages."""
    return [{"role": "system", "content": system_prompt}] + [
        {"role": m.role, "content": m.content} for m in messages
    ]


def outcome_json(outcome: ToolOutcome, max_chars: int) -> str:
    """A tool outcome as the model reads it: the output, or the typed error, as JSON.

    Cut at `max_chars` because a small model's context (4,096 tokens for the embedded one) would
    otherwise overflow on a long product list and the server would refuse the whole request.
    """
    if outcome.ok:
        body: dict[str, Any] = {"status": "ok", "output": outcome.output}
    else:
        body = {
            "status": outcome.status,
            "error": outcome.error.model_dump(mode="json") if outcome.error else None,
        }
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":"), default=str)
    return text if len(text) <= max_chars else text[:max_chars] + "...(cut)"
