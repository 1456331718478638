"""The embedded LLM's server process: llama.cpp's OpenAI-compatible server, bounded.

`python -m agents.llama_serving ARGS` runs `llama_cpp.server` with ARGS after registering
`aisle-function-calling`, llama-cpp-python's `chatml-function-calling` with two faults fixed:

- In automatic tool choice it generates with no token limit (the request's `max_tokens` is
  ignored), so a small model that loops inside a string argument writes until the context is
  full: minutes of a single-threaded server on this machine, during which every other request
  waits. Here the request's `max_tokens` (512 if it gives none) bounds the tokens the whole reply
  generates, over all its passes (choosing, arguments, further calls).
- When the model chooses to answer in text, that text is generated under the grammar meant for
  choosing a further function, so it can only be empty or a function's name. Here it is free.
- Its prompt template renders system, user and assistant messages only: tool results are
  dropped, so the model never reads what the tools returned. Here each becomes a message the
  template renders, naming the call it answers.
- The template HTML-escapes what it renders, so the model reads `&#34;` for every quote of a
  tool call or result (and `&#39;` for an apostrophe), which also doubles their tokens. Here
  messages are rendered as written.

`LLMServer` starts this module, not `llama_cpp.server`, so these fixes are what the brains meet.
"""

from __future__ import annotations

import sys
from typing import Any

CHAT_FORMAT = "aisle-function-calling"
DEFAULT_MAX_TOKENS = 512
# What chatml-function-calling appends before generating a text answer.
_MESSAGE_PROMPT_END = "message:\n"


class _BoundedLlama:
    """The model as the chat format sees it, spending at most `budget` generated tokens."""

    def __init__(self, llama: Any, budget: int) -> None:
        self._llama = llama
        self.remaining = budget

    def __getattr__(self, name: str) -> Any:
        return getattr(self._llama, name)

    def create_completion(self, *, prompt: Any, **options: Any) -> Any:
        # Always at least one token: a pass cut to one token ends the function-call loop (no
        # function has an empty name) or leaves arguments the client sees are unfinished.
        options["max_tokens"] = max(self.remaining, 1)
        if isinstance(prompt, str) and prompt.endswith(_MESSAGE_PROMPT_END):
            options["grammar"] = None
        result = self._llama.create_completion(prompt=prompt, **options)
        if isinstance(result, dict):
            self.remaining -= int(result.get("usage", {}).get("completion_tokens", 0))
        return result


def renderable(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`messages` as the template should show them: each tool result as a user message that
    names the call it answers (written as the template writes the call, `functions.NAME:`), and
    texts marked safe so that they are not HTML-escaped."""
    from markupsafe import Markup

    names: dict[str, str] = {}
    rendered: list[dict[str, Any]] = []
    for message in messages:
        calls = []
        for call in message.get("tool_calls") or ():
            function = call.get("function") or {}
            names[call.get("id", "")] = function.get("name", "")
            arguments = Markup(function.get("arguments") or "")
            calls.append({**call, "function": {**function, "arguments": arguments}})
        content = message.get("content")
        if message.get("role") == "tool":
            name = names.get(message.get("tool_call_id", ""), "tool")
            message = {"role": "user", "content": f"Result of functions.{name}:\n{content or ''}"}
            content = message["content"]
        shown = {**message, "content": Markup(content) if isinstance(content, str) else content}
        if calls:
            shown["tool_calls"] = calls
        rendered.append(shown)
    return rendered


def bounded_function_calling(llama: Any, **request: Any) -> Any:
    """`chatml-function-calling`, generating at most the request's `max_tokens` in all, and
    showing the model its messages and tool results as written."""
    from llama_cpp.llama_chat_format import chatml_function_calling

    limit = request.get("max_tokens")
    budget = limit if isinstance(limit, int) and limit > 0 else DEFAULT_MAX_TOKENS
    request["messages"] = renderable(list(request.get("messages") or ()))
    return chatml_function_calling(_BoundedLlama(llama, budget), **request)


def main() -> None:
    from llama_cpp.llama_chat_format import LlamaChatCompletionHandlerRegistry
    from llama_cpp.server.__main__ import main as serve

    LlamaChatCompletionHandlerRegistry().register_chat_completion_handler(
        CHAT_FORMAT, bounded_function_calling, overwrite=True
    )
    sys.argv[0] = "agents.llama_serving"
    serve()


if __name__ == "__main__":
    main()
