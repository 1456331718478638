/* The storefront's chat widget: sends a message to POST /v1/chat, streams the answer in, shows
   each tool the assistant used (in plain words, styled by what its outcome means), the products
   it found as cards and quick replies; the thread id is kept so a reload shows the conversation,
   tool lines, cards, sources and any confirmation (still waiting, done, or declined), and goes
   on with it. */
"use strict";

(() => {
  const { el, api, request, readEvents, showError, productCard } = Aisle;
  const threadItem = "aisle.thread.shopper";
  const log = document.getElementById("chat-log");
  const form = document.getElementById("chat-form");
  const input = document.getElementById("chat-input");
  const send = document.getElementById("chat-send");
  const ORDINALS = ["first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth"];
  // What each tool does, in the shopper's words: a page never shows a tool's own name.
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
    my_account: "Reading your account",
    // A write's line stands both for the question before it ("…: waiting for your yes") and for
    // the change itself once the shopper said yes: it names the change, not its preparation.
    cancel_order: "Cancelling the order",
    return_order_items: "Returning the items",
    exchange_order_items: "Exchanging the items",
    modify_order_items: "Changing the items",
    modify_order_address: "Changing the delivery address",
    modify_order_payment: "Changing the payment method",
    modify_user_address: "Changing your address",
    customer_profile: "Reading the customer's profile",
    customer_recommendations: "Finding recommendations for the customer",
    forecast_for_sku: "Reading the forecast",
    why_short: "Finding why it is short",
  };
  // A tool's outcome by what it means to the shopper: only a real failure is an error (red);
  // a question for them, or an answer of "none", is part of the conversation.
  const OUTCOMES = {
    ok: { text: "", tone: null },
    needs_confirmation: { text: "waiting for your yes", tone: "asks" },
    not_found: { text: "nothing found", tone: "none" },
    policy_denied: { text: "not allowed by our policy", tone: "refused" },
    forbidden: { text: "not available to you", tone: "refused" },
    invalid: { text: "needs more details", tone: "refused" },
  };
  const FAILED = { text: "failed", tone: "failed" };
  // The answer below a declined question says "Nothing was changed." itself: the note under
  // the question says what became of it, not the same sentence again.
  const CONFIRMATION_NOTES = {
    confirmed: "You said yes: it was done as asked.",
    declined: "Not confirmed, so it was not done.",
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
    const label = TOOL_NAMES[call.name] || "Looking it up";
    const outcome = running ? { text: "", tone: "running" } : OUTCOMES[call.status] || FAILED;
    const timing = running ? "…" : ` · ${Math.round(call.latency_ms)} ms`;
    const line = el("li", {
      class: outcome.tone,
      "data-call": call.id,
      "data-status": running ? "running" : call.status,
      text: `${label}${outcome.text ? `: ${outcome.text}` : ""}${timing}`,
    });
    const list = bubble.querySelector(".tools");
    const started = [...list.children].find((li) => li.dataset.call === call.id);
    if (started) started.replaceWith(line);
    else list.append(line);
  }

  // The answer's text, with the little markdown a quoted policy carries (**bold**, "- " list
  // items, "| a | b |" table rows) drawn as elements; every piece is set as text, never as HTML.
  function richText(text) {
    const inline = (line) => line.split(/\*\*(.+?)\*\*/g).map((part, i) => (i % 2 ? el("strong", { text: part }) : part));
    const cells = (line) => line.trim().replace(/^\|/, "").replace(/\|$/, "").split("|").map((c) => c.trim());
    const nodes = [];
    let list = null;
    let table = null;
    for (const line of text.split("\n")) {
      if (/^\s*\|/.test(line)) {
        list = null;
        if (/^\s*\|[\s:|-]+\|\s*$/.test(line)) continue; // the |---|---| under the header
        const row = cells(line);
        if (!table) {
          // The first row names the columns.
          table = el("table", { class: "answer-table" }, el("thead", {}, el("tr", {}, row.map((c) => el("th", { scope: "col" }, inline(c))))), el("tbody"));
          nodes.push(el("div", { class: "table-wrap" }, table));
        } else {
          table.tBodies[0].append(el("tr", {}, row.map((c) => el("td", {}, inline(c)))));
        }
        continue;
      }
      table = null;
      const item = /^\s*[-*•]\s+(.*)$/.exec(line);
      if (item) {
        if (!list) nodes.push((list = el("ul")));
        list.append(el("li", {}, inline(item[1])));
        continue;
      }
      list = null;
      const heading = /^#{1,6}\s+(.*)$/.exec(line);
      nodes.push(heading ? el("strong", { class: "heading" }, inline(heading[1])) : el("span", { class: "line" }, inline(line)));
    }
    return nodes;
  }

  function showAnswer(bubble, text) {
    bubble.querySelector(".text").replaceChildren(...richText(text));
  }

  // An answer that asked to confirm a write: its Yes/No while nobody answered, else what became
  // of it (the next answer says), so a reload shows a declined write as declined.
  function showConfirmation(bubble, state) {
    bubble.dataset.confirmation = state;
    const note = CONFIRMATION_NOTES[state];
    if (!note) return;
    bubble.querySelector(".quick")?.remove();
    bubble.append(el("p", { class: `confirmation ${state}`, text: note }));
  }

  function finish(bubble, final, confirmation = null) {
    showAnswer(bubble, final.answer ?? final.content ?? "");
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
      // A source by the name a person knows it by; the id only where the answer gave none.
      const names = sources.map((c) => c.label || `${c.kind} ${c.id}`).join("; ");
      bubble.append(el("p", { class: "citations", text: `Sources: ${names}` }));
    }
    const replies = final.quick_replies || [];
    if (replies.length && !CONFIRMATION_NOTES[confirmation]) {
      bubble.append(
        el("div", { class: "quick", role: "group", "aria-label": "Suggested replies" },
          replies.map((r) => el("button", { type: "button", onclick: () => ask(r), text: r }))),
      );
    }
    if (confirmation) showConfirmation(bubble, confirmation);
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
    if (!Aisle.identity()) {
      askToSignIn();
      return;
    }
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
          if (data.answers_confirmation) {
            const asked = [...log.querySelectorAll('.msg.assistant[data-confirmation="pending"]')];
            asked.forEach((b) => showConfirmation(b, data.answers_confirmation));
          }
          finish(bubble, data, data.quick_replies?.length ? "pending" : null);
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

  // Signed out, the chat says how to sign in (the panel under "Signed in as"), never how to
  // send a key by hand.
  function askToSignIn() {
    document.getElementById("identity").open = true;
    log.replaceChildren(el("p", { class: "empty sign-in", id: "chat-empty" },
      "Please sign in to chat: choose who you are under “Sign in” at the top right ",
      "(on this demo, pick a shopper and press Use), then ask away."));
  }

  async function restore() {
    const thread = localStorage.getItem(threadItem);
    if (!Aisle.identity()) {
      askToSignIn();
      return;
    }
    if (!thread) return;
    try {
      const data = await api(`/v1/threads/${encodeURIComponent(thread)}`);
      for (const m of data.messages || []) {
        if (m.role === "user") userBubble(m.content);
        else if (m.role === "assistant") {
          const bubble = assistantBubble();
          // The status lines the answer streamed with, as they ended.
          for (const call of m.tool_calls || []) toolLine(bubble, call);
          finish(bubble, m, m.confirmation);
        }
      }
      // Suggestions of older answers would answer older questions: only the newest keeps them.
      [...log.querySelectorAll(".quick")].slice(0, -1).forEach((q) => q.querySelectorAll("button").forEach((b) => (b.disabled = true)));
      scrollDown();
    } catch (error) {
      // A thread that is gone (or another person's) starts afresh; other failures are shown.
      if (error.status === 404) localStorage.removeItem(threadItem);
      else showError("chat-error", error);
    }
  }

  function reset() {
    localStorage.removeItem(threadItem);
    if (!Aisle.identity()) {
      askToSignIn();
      return;
    }
    log.replaceChildren(el("p", { class: "empty", id: "chat-empty", text: "A new conversation: ask away." }));
    showError("chat-error", null);
    input.focus();
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    // Signed out, the question stays in the box to be sent once the person has signed in, and
    // the sentence beside Send says so (the log's prompt may already be showing, unchanged).
    if (!Aisle.identity()) {
      askToSignIn();
      showError("chat-error", new Aisle.ApiError(0, "Please sign in to send this: choose who you are under “Sign in” at the top right. Your message stays here."));
      return;
    }
    const text = input.value;
    input.value = "";
    ask(text);
  });
  document.getElementById("new-chat").addEventListener("click", reset);
  // A conversation belongs to the person who held it: someone else starts a new one.
  Aisle.onIdentityChange(reset);
  restore();
})();
