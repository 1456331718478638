/* The storefront's chat widget: sends a message to POST /v1/chat, streams the answer in, shows
   each tool the assistant used, the products it found as cards and quick replies; the thread id
   is kept so a reload shows the conversation and goes on with it. */
"use strict";

(() => {
  const { el, api, request, readEvents, showError, productCard } = Aisle;
  const threadItem = "aisle.thread.shopper";
  const log = document.getElementById("chat-log");
  const form = document.getElementById("chat-form");
  const input = document.getElementById("chat-input");
  const send = document.getElementById("chat-send");
  const ORDINALS = ["first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth"];
  const TOOL_NAMES = {
    search_products: "Searching products",
    product_details: "Reading product details",
    compare_products: "Comparing products",
    recommend_for_me: "Finding recommendations",
    similar_products: "Finding similar products",
    complete_the_look: "Completing the look",
    answer_from_documents: "Checking our policies and guides",
    stock_nearby: "Checking stock nearby",
    in_stock_substitutes: "Finding in-stock alternatives",
    my_orders: "Looking up your orders",
    order_details: "Reading the order",
  };

  function clearEmpty() {
    document.getElementById("chat-empty")?.remove();
  }

  function scrollDown() {
    log.scrollTop = log.scrollHeight;
  }

  function userBubble(text) {
    clearEmpty();
    log.append(el("div", { class: "msg user" }, el("span", { class: "visually-hidden", text: "You: " }), text));
    scrollDown();
  }

  function assistantBubble(text = "") {
    clearEmpty();
    const body = el("div", { class: "text" }, text);
    const bubble = el(
      "div",
      { class: "msg assistant" },
      el("span", { class: "visually-hidden", text: "Assistant: " }),
      el("ul", { class: "tools", "aria-label": "Tools used" }),
      body,
    );
    log.append(bubble);
    scrollDown();
    return bubble;
  }

  // A tool shows as running from its `tool_start` until its `tool_call` replaces the line.
  function toolLine(bubble, call, running = false) {
    const label = TOOL_NAMES[call.name] || call.name.replaceAll("_", " ");
    const failed = !running && call.status !== "ok";
    const timing = running ? "…" : ` · ${Math.round(call.latency_ms)} ms`;
    const line = el("li", {
      class: running ? "running" : failed ? "failed" : null,
      "data-call": call.id,
      text: `${label}${failed ? ` (${call.status})` : ""}${timing}`,
    });
    const list = bubble.querySelector(".tools");
    const started = [...list.children].find((li) => li.dataset.call === call.id);
    if (started) started.replaceWith(line);
    else list.append(line);
  }

  function finish(bubble, final) {
    bubble.querySelector(".text").textContent = final.answer;
    const products = final.products || [];
    if (products.length) {
      bubble.append(
        el(
          "ul",
          { class: "cards", "aria-label": "Products" },
          products.map((p, i) =>
            productCard(p, i < ORDINALS.length && {
              label: "Tell me more",
              run: () => ask(`tell me more about the ${ORDINALS[i]} one`),
            }),
          ),
        ),
      );
    }
    // Product citations are the cards themselves; the rest (a policy section, an order) are named.
    const sources = (final.citations || []).filter((c) => c.kind !== "product");
    if (sources.length) {
      const names = sources.map((c) => `${c.kind} ${c.id}`).join("; ");
      bubble.append(el("p", { class: "citations", text: `Sources: ${names}` }));
    }
    const replies = final.quick_replies || [];
    if (replies.length) {
      bubble.append(
        el("div", { class: "quick", role: "group", "aria-label": "Suggested replies" },
          replies.map((r) => el("button", { type: "button", onclick: () => ask(r), text: r }))),
      );
    }
  }

  function busy(on) {
    send.disabled = on;
    input.setAttribute("aria-busy", on ? "true" : "false");
    // Older suggestions would answer an older question; only the newest turn keeps them.
    if (on) log.querySelectorAll(".quick button").forEach((b) => (b.disabled = true));
  }

  async function ask(message) {
    const text = message.trim();
    if (!text || send.disabled) return;
    showError("chat-error", null);
    userBubble(text);
    busy(true);
    const bubble = assistantBubble();
    bubble.setAttribute("aria-busy", "true");
    const body = { message: text };
    const thread = localStorage.getItem(threadItem);
    if (thread) body.thread_id = thread;
    let finished = false;
    try {
      const response = await request("/v1/chat", {
        method: "POST",
        body,
        headers: { Accept: "text/event-stream" },
      });
      await readEvents(response, (name, data) => {
        if (name === "tool_start") toolLine(bubble, data, true);
        else if (name === "tool_call") toolLine(bubble, data);
        else if (name === "chunk") bubble.querySelector(".text").append(data.text ?? "");
        else if (name === "final") {
          finished = true;
          localStorage.setItem(threadItem, data.thread_id);
          finish(bubble, data);
        } else if (name === "error") {
          throw new Aisle.ApiError(0, data.detail || "The assistant could not answer.");
        }
        scrollDown();
      });
      if (!finished) throw new Aisle.ApiError(0, "The answer was cut off; please ask again.");
    } catch (error) {
      if (!bubble.querySelector(".text").textContent) bubble.remove();
      showError("chat-error", error);
    } finally {
      bubble.setAttribute("aria-busy", "false");
      busy(false);
      scrollDown();
    }
  }

  async function restore() {
    const thread = localStorage.getItem(threadItem);
    if (!thread || !Aisle.identity()) return;
    try {
      const data = await api(`/v1/threads/${encodeURIComponent(thread)}`);
      for (const m of data.messages || []) {
        if (m.role === "user") userBubble(m.content);
        else if (m.role === "assistant") assistantBubble(m.content);
      }
    } catch (error) {
      // A thread that is gone (or another person's) starts afresh; other failures are shown.
      if (error.status === 404) localStorage.removeItem(threadItem);
      else showError("chat-error", error);
    }
  }

  function reset() {
    localStorage.removeItem(threadItem);
    log.replaceChildren(el("p", { class: "empty", id: "chat-empty", text: "A new conversation: ask away." }));
    showError("chat-error", null);
    input.focus();
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = input.value;
    input.value = "";
    ask(text);
  });
  document.getElementById("new-chat").addEventListener("click", reset);
  // A conversation belongs to the person who held it: someone else starts a new one.
  Aisle.onIdentityChange(reset);
  restore();
})();
