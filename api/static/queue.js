/* An approval queue, shared by the planner's and the pricing manager's pages: the list of open
   proposals of one kind, a page at a time with the rest a button away, one proposal's detail
   (drawn by the page's own script), and the decision controls. A decision quotes the content
   hash the person read and carries an Idempotency-Key, reused when the same decision is sent
   again after a failure, so a retry can never decide twice. */
"use strict";

const Queue = (() => {
  const { el, api, showError } = Aisle;
  const $ = (id) => document.getElementById(id);
  const PAGE = 20;

  /**
   * kind: the proposals' kind; summary(p) -> [title, meta]; heading(detail) -> what the
   * proposal is about, in words (its id follows, small); render(detail, controls) -> Node,
   * where controls(changes?, fields?) builds the decision controls; decided(result, detail) ->
   * Node; empty: what to say (and to do next) when nothing waits. `fields`, when the page has
   * inputs of its own: invalid() -> null, or { input: the first input holding a value that
   * cannot be sent (it says why beside itself), reason: a sentence naming what to fix, shown
   * beside the approve button it disables }, and place(error) -> true when the page showed a
   * refusal beside the input it is about.
   */
  function init({ kind, summary, heading, render, decided, empty = "Nothing is waiting for a decision." }) {
    let selected = null;
    // Loads overlap when the person signs in while the first (keyless) one is in flight; only the
    // latest may draw, or a late 401 would replace the list the key just fetched.
    let latest = 0;
    const page = (offset) =>
      api(`/v1/proposals?kind=${kind}&status=proposed&limit=${PAGE}&offset=${offset}`);

    function entry(p) {
      const [title, meta] = summary(p);
      return el("li", {}, el("button", {
        type: "button",
        "aria-pressed": p.id === selected ? "true" : "false",
        "data-id": p.id,
        // The id, for whoever must quote it, on hover rather than in the list's words.
        title: `Proposal ${p.id}`,
        onclick: () => select(p.id),
      }, title, el("span", { class: "meta", text: meta })));
    }

    async function load() {
      const mine = ++latest;
      showError("queue-error", null);
      const list = $("queue");
      // Signed out or with another role's key, the page's notice says why; nothing is asked.
      if (!Aisle.allowed()) {
        list.replaceChildren();
        return;
      }
      try {
        const data = await page(0);
        if (mine !== latest) return;
        const open = Aisle.items(data);
        if (!open.length) {
          list.replaceChildren(el("li", { class: "empty", text: empty }));
          return;
        }
        list.replaceChildren(...open.map(entry));
        more(data, mine);
      } catch (error) {
        if (mine !== latest) return;
        list.replaceChildren();
        showError("queue-error", error);
      }
    }

    /** After a page that is not the last, a button in the list that shows the next one. */
    function more(data, mine) {
      if (data.next_offset === null || data.next_offset === undefined) return;
      const button = el("button", { type: "button", text: `Show more (${data.total - data.next_offset} more waiting)` });
      const item = el("li", { class: "more" }, button);
      button.addEventListener("click", async () => {
        button.disabled = true;
        try {
          const next = await page(data.next_offset);
          if (mine !== latest) return;
          const shown = Aisle.items(next).map(entry);
          item.replaceWith(...shown);
          more(next, mine);
          // The button that had focus is gone: the person goes on from the first one it showed.
          if (shown.length) shown[0].querySelector("button").focus();
        } catch (error) {
          if (mine !== latest) return;
          button.disabled = false;
          showError("queue-error", error);
        }
      });
      $("queue").append(item);
    }

    async function select(id) {
      selected = id;
      showError("detail-error", null);
      $("outcome").replaceChildren();
      $("queue").querySelectorAll("button[data-id]").forEach((b) =>
        b.setAttribute("aria-pressed", b.dataset.id === id ? "true" : "false"));
      const box = $("detail");
      box.replaceChildren(el("p", { class: "muted", text: "Loading…" }));
      try {
        const detail = await api(`/v1/proposals/${encodeURIComponent(id)}`);
        // Named by what it does; its id and content hash are for whoever quotes it, in the
        // heading's tooltip, not in its text.
        const ref = [`Proposal ${detail.id || id}`, detail.content_hash ? `content hash ${detail.content_hash}` : null].filter(Boolean).join(" · ");
        Aisle.fill($("detail-title"), heading(detail));
        $("detail-title").title = ref;
        box.replaceChildren(render(detail, (changes, fields) => controls(detail, changes, fields)));
      } catch (error) {
        box.replaceChildren();
        showError("detail-error", error);
      }
      $("detail-title").focus();
    }

    // The key of the decision last attempted, reused if the same body is sent again.
    let attempt = { body: null, key: null };

    /** `report(error)` shows a refusal beside what caused it; `report(null)` clears it. */
    async function decide(detail, body, buttons, report) {
      const json = JSON.stringify(body);
      if (attempt.body !== json) attempt = { body: json, key: Aisle.uuid4() };
      report(null);
      buttons.forEach((b) => (b.disabled = true));
      try {
        const result = await api(`/v1/proposals/${encodeURIComponent(detail.id)}/decision`, {
          method: "POST",
          body,
          headers: { "Idempotency-Key": attempt.key },
        });
        attempt = { body: null, key: null };
        selected = null;
        $("detail").replaceChildren();
        const outcome = el("div", { class: "outcome", tabindex: "-1" }, decided(result, detail));
        $("outcome").replaceChildren(outcome);
        // The buttons that had focus are gone: the person continues from what became of it.
        outcome.focus();
        await load();
      } catch (error) {
        buttons.forEach((b) => (b.disabled = false));
        report(error);
      }
    }

    /** Approve (or approve with the person's changes, when changes() returns some) and reject. */
    function controls(detail, changes, fields) {
      const reasonId = `reason-${detail.id}`;
      const reasonErrorId = `reason-error-${detail.id}`;
      const decisionErrorId = `decision-error-${detail.id}`;
      const waitingId = `approve-waits-${detail.id}`;
      const reason = el("textarea", { id: reasonId, rows: 2, maxlength: 500, "aria-describedby": reasonErrorId });
      const approve = el("button", { type: "button", text: "Approve", "aria-describedby": `${waitingId} ${decisionErrorId}` });
      // Why approval waits, beside the button: the input that holds it may be a long way up.
      const waiting = el("p", { class: "error", id: waitingId, role: "status", hidden: true });
      const reject = el("button", { type: "button", class: "danger", text: "Reject" });
      const buttons = [approve, reject];
      const pending = () => {
        const edited = changes ? changes() : null;
        return edited && Object.keys(edited).length ? edited : null;
      };
      // A refusal is shown beside what caused it: an input of the page's, else these buttons.
      const report = (error) => {
        showError(reasonErrorId, null);
        showError(decisionErrorId, null);
        if (error && !(fields && fields.place(error))) showError(decisionErrorId, error);
      };
      approve.addEventListener("click", () => {
        const invalid = fields && fields.invalid();
        if (invalid) {
          invalid.input.focus();
          return;
        }
        const edited = pending();
        const body = { decision: edited ? "edit" : "approve", content_hash: detail.content_hash };
        if (edited) body.changes = edited;
        decide(detail, body, buttons, report);
      });
      reject.addEventListener("click", () => {
        const why = reason.value.trim();
        if (!why) {
          report(null);
          showError(reasonErrorId, new Aisle.ApiError(0, "Say why you reject it: the reason is kept with the decision."));
          reason.focus();
          return;
        }
        decide(detail, { decision: "reject", content_hash: detail.content_hash, reason: why }, buttons, report);
      });
      const node = el("div", { class: "decision" },
        el("div", { class: "field" },
          el("label", { for: reasonId, text: "Reason (required to reject)" }), reason,
          el("p", { class: "error", id: reasonErrorId, role: "alert", hidden: true })),
        el("div", { class: "actions" }, approve, reject),
        waiting,
        el("p", { class: "error", id: decisionErrorId, role: "alert", hidden: true }));
      // The approve button says what it will do once the person has changed something, and
      // waits while an input holds a value that cannot be sent.
      node.refresh = () => {
        approve.textContent = pending() ? "Approve with my changes" : "Approve";
        const invalid = fields && fields.invalid();
        approve.disabled = Boolean(invalid);
        waiting.textContent = invalid ? invalid.reason : "";
        waiting.hidden = !invalid;
      };
      return node;
    }

    $("queue-refresh").addEventListener("click", load);
    Aisle.onIdentityChange(load);
    load();
  }

  return { init };
})();
