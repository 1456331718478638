/* The pricing manager's queue: each markdown proposal listed by its product, today's price, the
   plan's first new price and its expected gain; in full, the price zone it prices, each size's
   new price, the price steps week by week with their margins against today's margin, the
   elasticity behind it, expected units and value against keeping today's price, and each
   guardrail with the plan's numbers against it; a week's price may be edited to another rung
   of the ladder (the server recomputes the expected figures and the guardrail lines for the
   edited prices, and a refused edit says why beside its week); approve (with the edits) or
   reject with a reason, and after an approval the dated prices it wrote. */
"use strict";

(() => {
  const { el, api, facts, table, money, number, percent } = Aisle;

  // An amount that may be negative (keeping today's price can lose money): "−$127.26".
  const amount = (v) => (typeof v === "number" && v < 0 ? `−${money(-v)}` : money(v));
  const signed = (v) => (typeof v === "number" && v >= 0 ? `+${money(v)}` : amount(v));
  const margin = (price, cost) => (price > 0 && cost !== null && cost !== undefined ? (price - cost) / price : null);

  // What each objective maximises, in the words its value is reported in.
  const OBJECTIVES = {
    margin: ["margin", "price less cost on the units sold, and what each unit left fetches less its cost"],
    revenue: ["revenue", "sales at the price paid; units left count for nothing"],
    clearance: ["clearance value", "margin on the units sold, less list price for each unit left"],
  };

  // The guardrails the planner records, as sentences; a setting not named here reads as is.
  const GUARDRAILS = {
    ladder: ["Allowed prices", (v) => `${v.map(percent).join(", ")} of list`],
    min_margin: ["Margin at least", percent],
    max_step: ["Weekly change at most", percent],
    min_price_fraction: ["Price at least", (v) => `${percent(v)} of list`],
    monotone: ["Markdowns only", (v) => (v ? "yes (a price never goes back up)" : "no")],
    max_changes_per_day: ["Price changes a day at most", (v) => `${number(v)}, across products`],
    history_sigmas: ["Change at most", (v) => `${number(v, 1)} standard deviations from past changes`],
    rounding: ["Rungs rounded", (v) => (v === "toward_list"
      ? "toward the list price (no rung is deeper than its fraction)"
      : "not recorded by this plan: toward the list price, or to the nearest cent as plans made before the rule was recorded were; either is on the ladder")],
  };

  const setting = (v) => {
    if (Array.isArray(v)) return v.join(", ");
    return typeof v === "number" && v > 0 && v < 1 ? percent(v) : String(v);
  };

  // Each guardrail's line comes whole from the API (name, setting, the plan's figure, the
  // verdict, whether it held the plan back), as does the sentence above them that sums them up,
  // so the summary can never say what the lines do not.
  function guardrails(g) {
    return el("div", {},
      el("h3", { text: "Guardrail checks" }),
      el("p", { class: g.passes ? "ok" : "bad", text: g.summary }),
      el("ul", { class: "checks" },
        g.violations.map((v) => el("li", { class: "fail", text: v })),
        g.checks.map((c) => el("li", { class: c.verdict === "broken" ? "fail" : "pass", text: c.text }))),
      facts(Object.entries(g.settings).map(([k, v]) => {
        const [label, show] = GUARDRAILS[k] || [k.replaceAll("_", " "), setting];
        return [label, show(v)];
      })));
  }

  const DAY_MS = 86400000;
  const weeksBetween = (from, to) => Math.round((Date.parse(to) - Date.parse(from)) / (7 * DAY_MS));

  /** When the plan first changes the price, and how long it keeps today's price before that:
      "first change 2027-01-24: $74.99 → $67.49 (today's price kept for the 7 weeks before)". */
  function firstChange(p) {
    if (!p.first_change_on) return `no price change: ${money(p.current_price)} kept throughout`;
    const change = `first change ${p.first_change_on}: ${money(p.current_price)} → ${money(p.first_price)}`;
    const idle = p.starts_on ? weeksBetween(p.starts_on, p.first_change_on) : 0;
    return idle > 0 ? `${change} (today's price kept for the ${number(idle)} week${idle === 1 ? "" : "s"} before)` : change;
  }

  const options = (o) => Object.values(o || {}).join(" ") || "one size";

  // Margins are on the plan's cost; when that is not the quoted size's own cost (the highest
  // cost share among the sizes, so every size keeps the margin floor) they are the lowest margin
  // of any size, and the page says so.
  const marginLabel = (p) => (p.cost_basis ? "Margin (lowest size)" : "Margin");
  const ownCost = (p) => (p.sizes.find((s) => s.sku === p.sku) || {}).unit_cost;

  /** The quoted size by its options and SKU: "XL (P00056-SLB-XL)". */
  function sizeName(p) {
    const size = p.sizes.find((s) => s.sku === p.sku);
    const named = size ? options(size.options) : "";
    return named && named !== "one size" ? `${named} (${p.sku})` : p.sku;
  }

  /** The plan's unit cost, and where the sizes cost different amounts, which of them it is. */
  function unitCost(p) {
    const costs = p.sizes.map((s) => s.unit_cost).filter((c) => c !== null && c !== undefined);
    if (costs.length < 2) return money(p.unit_cost);
    const low = Math.min(...costs), high = Math.max(...costs);
    if (high - low < 0.005) return `${money(p.unit_cost)} (every size)`;
    const which = Math.abs(p.unit_cost - high) < 0.005 ? "the highest of the sizes' costs" : `the cost of ${sizeName(p)}`;
    return `${money(p.unit_cost)}, ${which} (sizes cost ${money(low)}–${money(high)})`;
  }

  function sizes(p) {
    if (p.sizes.length < 2) return null;
    return el("div", {},
      el("h3", { text: "Sizes" }),
      p.size_rule ? el("p", { text: `Rule: ${p.size_rule}.` }) : null,
      table([
        { label: "Size", value: (s) => `${options(s.options)} (${s.sku})` },
        { label: "List price", value: (s) => money(s.list_price), num: true },
        { label: "Today", value: (s) => money(s.current_price), num: true },
        { label: "From the first change", value: (s) => money(s.first_price), num: true },
        { label: "Unit cost", value: (s) => (s.unit_cost === null ? "not known" : money(s.unit_cost)), num: true },
      ], p.sizes));
  }

  /** The expected outcome: the plan's, or after an edit the edited path's (recomputed on the
      server by the plan's own demand model) beside the agent's; a plan that does not record
      its demand model keeps the agent's figures, and the heading says so. */
  function outcome(p) {
    const x = p.expected;
    if (!x) return null;
    const [valueName] = OBJECTIVES[p.objective] || ["value"];
    const heading = {
      "edited path": "Expected outcome of the edited prices",
      "agent's plan": "Expected outcome (the agent's plan, before the edit)",
    }[p.expected_of] || "Expected outcome";
    const a = p.proposed_expected;
    return el("div", {}, el("h3", { text: heading }), facts([
      // Unit figures as the server's sentences say them (one rounding, `units_text`), never
      // rounded again here: JavaScript rounds 103.25 up where the "Why" text says 103.2.
      ["Units sold", `${x.units_text} (${x.keep_units_text} keeping today's price)`],
      // The units left are part of the value (at salvage, under cost, for a margin): the
      // server's note says what they add, so a negative margin explains itself.
      [`Expected ${valueName}`, `${amount(x.value)} (${amount(x.keep_value)} keeping today's price)${x.leftover_note ? `; ${x.leftover_note}` : ""}`],
      [`Gain in ${valueName} over keeping today's price`, signed(x.gain)],
      ["Left at the end", `${x.leftover_text} units`],
      p.expected_of === "edited path" && a
        ? ["The agent's plan, before the edit", `${a.units_text} units, ${valueName} ${amount(a.value)}, gain ${signed(a.gain)}, ${a.leftover_text} left`]
        : null,
    ].filter(Boolean)));
  }

  /** The week prices the pricing manager may edit, each a choice of the ladder's prices: every
      change asks the server for the proposal as edited (its expected figures, its guardrail
      lines and summary), and an edit it refuses says why beside the week that caused it. */
  function weekPrices(detail, onPreview) {
    const p = detail.pricing;
    const rows = new Map();
    const edits = new Map();
    let latest = 0;
    let refused = null; // { week, message } while the server refuses the edits as they stand
    function say(week, message) {
      for (const [w, row] of rows) {
        const mine = message && w === week;
        row.error.textContent = mine ? message : "";
        row.error.hidden = !mine;
        row.select.setAttribute("aria-invalid", mine ? "true" : "false");
      }
    }
    async function preview() {
      const mine = ++latest;
      const changes = Object.fromEntries(edits);
      try {
        const next = edits.size
          ? await api(`/v1/proposals/${encodeURIComponent(detail.id)}/preview`, { method: "POST", body: { changes } })
          : detail;
        if (mine !== latest) return;
        refused = null;
        say(null, null);
        onPreview(next.pricing);
      } catch (error) {
        if (mine !== latest) return;
        const week = (error.errors || []).map((e) => (e.loc || [])[2]).find((w) => rows.has(w));
        const at = week || [...edits.keys()].pop();
        refused = { week: at, message: error.message };
        say(at, error.message);
        onPreview(null);
      }
    }
    function select(week) {
      const id = `price-${week.week_starting}`;
      const prices = [...new Set([...p.ladder_prices, week.price])].sort((a, b) => b - a);
      const node = el("select", {
        id, "aria-describedby": `${id}-error`, "aria-label": `Price from the week of ${week.week_starting}`,
      }, prices.map((price) => el("option", {
        value: String(price), selected: Math.abs(price - week.price) < 0.005,
        text: `${money(price)} (${percent(price / p.list_price)} of list)`,
      })));
      const error = el("span", { class: "error field-error", id: `${id}-error`, role: "alert", hidden: true });
      rows.set(week.week_starting, { select: node, error });
      node.addEventListener("change", () => {
        const price = Number(node.value);
        if (Math.abs(price - week.price) < 0.005) edits.delete(week.week_starting);
        else edits.set(week.week_starting, price);
        preview();
      });
      return el("span", { class: "qty-field" }, node, error);
    }
    return {
      select,
      changes: () => (refused ? {} : Object.fromEntries(edits)),
      invalid() {
        if (!refused) return null;
        return { input: rows.get(refused.week).select, reason: `Fix the price of the week of ${refused.week} above to approve.` };
      },
      place(error) {
        const week = (error.errors || []).map((e) => (e.loc || [])[2]).find((w) => rows.has(w));
        if (!week) return false;
        say(week, error.message);
        rows.get(week).select.focus();
        return true;
      },
    };
  }

  function render(detail, controls) {
    const p = detail.pricing;
    const e = p.elasticity;
    const edited = new Set(p.edited_weeks);
    // After a pricing manager's edit, the agent's reasons are still those of the plan it
    // proposed; the expected figures say whose they are, and the guardrail lines are the
    // edited path's.
    const before = (title) => (edited.size ? `${title} (the agent's plan, before the edit)` : title);
    const zone = p.zone
      ? `${p.zone.in_words}: one price for the product across them`
      : "every store and online (planned for one store before there were price zones)";
    const [, objective] = OBJECTIVES[p.objective] || ["value", null];
    // What follows the week prices as they are edited: each week's change and margin, the
    // first change, each size's price, the expected outcome and the guardrails.
    const cells = new Map(p.weeks.map((w) => [w.week_starting, {
      change: el("span", { text: percent(w.change) }), margin: el("span", { text: percent(w.margin) }),
    }]));
    const first = el("span", { text: firstChange(p) });
    const live = el("div", { "aria-live": "polite" });
    let decision = null;
    const show = (now) => {
      if (!now) {
        // The edit as it stands is refused: no figure is shown for prices that cannot be sent.
        for (const c of cells.values()) c.change.textContent = c.margin.textContent = "–";
        first.textContent = "–";
        live.replaceChildren(el("p", { class: "muted", text: "The expected outcome and the guardrail checks follow once the prices can be sent." }));
      } else {
        for (const w of now.weeks) {
          const c = cells.get(w.week_starting);
          c.change.textContent = percent(w.change);
          c.margin.textContent = percent(w.margin);
        }
        first.textContent = firstChange(now);
        live.replaceChildren(...[sizes(now), outcome(now), guardrails(now.guardrails)].filter(Boolean));
      }
      if (decision) decision.refresh();
    };
    const prices = weekPrices(detail, show);
    const steps = p.weeks.length
      ? table([
        { label: "Week of", value: (w) => w.week_starting + (edited.has(w.week_starting) ? " (edited)" : "") },
        { label: "Price", value: (w) => prices.select(w) },
        { label: "Change", value: (w) => cells.get(w.week_starting).change, num: true },
        { label: marginLabel(p), value: (w) => cells.get(w.week_starting).margin, num: true },
      ], p.weeks)
      : el("p", { class: "empty", text: "This proposal has no price steps." });
    show(p);
    decision = controls(prices.changes, { invalid: prices.invalid, place: prices.place });
    return el("div", {},
      facts([
        ["Product", p.product_id ? `${p.product} (${p.product_id})` : `${p.product} (${p.sku})`],
        ["Price zone", zone],
        ["Prices quoted for", p.sizes.length > 1 ? `${sizeName(p)}; every size in the table below` : sizeName(p)],
        ["Current price", p.cost_basis
          ? `${money(p.current_price)}, margin ${percent(margin(p.current_price, p.unit_cost))} for the size with the least (${percent(margin(p.current_price, ownCost(p)))} for ${p.sku})`
          : `${money(p.current_price)}, margin ${percent(margin(p.current_price, p.unit_cost))}`],
        ["List price", money(p.list_price)],
        p.cost_basis ? ["Cost for margins", `${money(p.unit_cost)}: ${p.cost_basis}`] : ["Unit cost", unitCost(p)],
        ["Stock", p.stock === null ? null : `${number(p.stock)} sellable units (on hand, not reserved) at ${p.zone ? p.zone.in_words : "every store and online"}`],
        ["Sales up to", p.as_of],
        ["Plan starts", p.starts_on],
        ["First price change", first],
        ["Objective", objective ? `${p.objective}: ${objective}` : p.objective],
        ["Elasticity", e ? `${number(e.estimate, 2)} (95% interval ${number(e.lower, 2)} to ${number(e.upper, 2)}): ${e.method}` : null],
        ["Proposed by", Aisle.who(detail.proposer)],
        ["Expires", Aisle.when(detail.expires_at)],
      ]),
      el("h3", { text: "Price steps" }),
      steps,
      p.weeks.length ? el("p", { class: "muted", text: "Choose another price for a week to edit the plan: each price is a rung of the ladder, the expected outcome and the guardrail checks follow, and Approve then approves your prices." }) : null,
      live,
      p.explanation ? el("div", {}, el("h3", { text: before("Why") }), el("p", { text: p.explanation })) : null,
      decision);
  }

  function decided(result, detail) {
    const p = detail.pricing;
    // The API's message names the proposal (and what it wrote) by id; the person knows it by
    // its product.
    if (result.status === "rejected") {
      return el("p", { text: `Rejected: the prices of ${p.product} are unchanged.` });
    }
    const steps = result.price_changes || [];
    if (!steps.length) {
      return el("p", { text: `The markdown of ${p.product} is ${result.status}; it wrote no new price.` });
    }
    // Today by the application's clock (the page header's date); no price is dated before it.
    const today = document.body.dataset.today;
    // The quoted size's steps; every other size moves on the same days.
    const quoted = steps.filter((s) => s.variant_id === p.sku);
    let before = p.current_price;
    const rows = quoted.map((s) => {
      const row = { ...s, change: s.price / before - 1 };
      before = s.price;
      return row;
    });
    const where = p.zone ? p.zone.in_words : "every store and online";
    const others = p.sizes.length > 1 ? ` Its ${p.sizes.length} sizes change on the same days (${steps.length} dated prices in all).` : "";
    return el("div", {},
      el("h3", { text: `New prices for ${p.product}` }),
      el("p", { text: `${money(p.current_price)} before (${p.sku}): each price holds from its date on, at ${where}.${others}` }),
      table([
        { label: "From", value: (s) => (s.effective_on <= today ? `${s.effective_on} (today)` : s.effective_on) },
        { label: "Price", value: (s) => money(s.price), num: true },
        { label: "Change", value: (s) => percent(s.change), num: true },
        { label: marginLabel(p), value: (s) => percent(margin(s.price, p.unit_cost)), num: true },
      ], rows),
      el("p", { class: "muted", text: `Approved; the new prices are in the price list.` }));
  }

  Queue.init({
    kind: "price_change",
    summary: (p) => {
      const t = p.totals || {};
      const title = t.product
        ? `${t.product} · first change ${t.first_change_on}: ${money(t.current_price)} → ${money(t.first_price)}`
        : "Price change";
      const gain = t.expected_gain === undefined ? null : `${signed(t.expected_gain)} expected gain over keeping today's price`;
      return [title, [t.prices_at, gain, `by ${Aisle.who(p.proposer)}`].filter(Boolean).join(" · ")];
    },
    heading: (detail) => `Markdown of ${detail.pricing.product}`,
    render,
    decided,
    empty: "Nothing is waiting for a decision. Markdown proposals appear here when the pricing agent plans price changes (`aisle pricing run`).",
  });
})();
