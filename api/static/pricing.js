/* The pricing manager's queue: each markdown proposal listed by its product, today's price, the
   plan's first new price and its expected gain; in full, the price steps week by week with their
   margins against today's margin, the elasticity behind it, expected units and value against
   keeping today's price, and each guardrail in words; approve or reject with a reason, and
   after an approval the dated prices it wrote. */
"use strict";

(() => {
  const { el, facts, table, money, number, percent } = Aisle;

  // An amount that may be negative (keeping today's price can lose money): "−$127.26".
  const amount = (v) => (typeof v === "number" && v < 0 ? `−${money(-v)}` : money(v));
  const signed = (v) => (typeof v === "number" && v >= 0 ? `+${money(v)}` : amount(v));
  const whole = (v) => `${number(v * 100)}%`;
  const margin = (price, cost) => (price > 0 && cost !== null && cost !== undefined ? (price - cost) / price : null);

  // What each objective maximises, in the words its value is reported in.
  const OBJECTIVES = {
    margin: ["margin", "price less cost on the units sold, and what each unit left fetches less its cost"],
    revenue: ["revenue", "sales at the price paid; units left count for nothing"],
    clearance: ["clearance value", "margin on the units sold, less list price for each unit left"],
  };

  // The guardrails the planner records, as sentences; a setting not named here reads as is.
  const GUARDRAILS = {
    ladder: ["Allowed prices", (v) => `${v.map(whole).join(", ")} of list`],
    min_margin: ["Margin at least", percent],
    max_step: ["Weekly change at most", percent],
    min_price_fraction: ["Price at least", (v) => `${percent(v)} of list`],
    monotone: ["Markdowns only", (v) => (v ? "yes (a price never goes back up)" : "no")],
    max_changes_per_day: ["Price changes a day at most", (v) => `${number(v)}, across products`],
    history_sigmas: ["Change at most", (v) => `${number(v, 1)} standard deviations from past changes`],
  };

  const setting = (v) => {
    if (Array.isArray(v)) return v.join(", ");
    return typeof v === "number" && v > 0 && v < 1 ? percent(v) : String(v);
  };

  function guardrails(g) {
    return el("div", {},
      el("h3", { text: "Guardrail checks" }),
      el("p", { class: g.passes ? "ok" : "bad", text: g.passes ? "Every guardrail passes." : `${g.violations.length} guardrail(s) broken.` }),
      el("ul", { class: "checks" },
        g.violations.map((v) => el("li", { class: "fail", text: v })),
        g.binding.map((b) => el("li", { class: "pass", text: `${b} (held the plan back)` }))),
      facts(Object.entries(g.settings).map(([k, v]) => {
        const [label, show] = GUARDRAILS[k] || [k.replaceAll("_", " "), setting];
        return [label, show(v)];
      })));
  }

  function render(detail, controls) {
    const p = detail.pricing;
    const e = p.elasticity;
    const x = p.expected;
    const edited = new Set(p.edited_weeks);
    const location = (detail.content || {}).location || {};
    const where = location.name ? `${location.name} (${location.id})` : p.location_id;
    const [valueName, objective] = OBJECTIVES[p.objective] || ["value", null];
    return el("div", {},
      facts([
        ["Product", `${p.product} (${p.sku})`],
        // The store keeps one price per SKU: a plan made for one location reprices every one.
        ["Planned for", where ? `${where}; the new prices apply at every store and online` : null],
        ["Current price", `${money(p.current_price)}, margin ${percent(margin(p.current_price, p.unit_cost))}`],
        ["List price", money(p.list_price)],
        ["Unit cost", money(p.unit_cost)],
        ["Stock", p.stock === null ? null : `${number(p.stock)} units`],
        ["Sales up to", p.as_of],
        ["Objective", objective ? `${p.objective}: ${objective}` : p.objective],
        ["Elasticity", e ? `${number(e.estimate, 2)} (${number(e.lower, 2)} to ${number(e.upper, 2)}, ${e.method})` : null],
        ["Proposed by", detail.proposer],
        ["Expires", Aisle.when(detail.expires_at)],
      ]),
      el("h3", { text: "Price steps" }),
      p.weeks.length
        ? table([
          { label: "Week of", value: (w) => w.week_starting + (edited.has(w.week_starting) ? " (edited)" : "") },
          { label: "Price", value: (w) => money(w.price), num: true },
          { label: "Change", value: (w) => percent(w.change), num: true },
          { label: "Margin", value: (w) => percent(w.margin), num: true },
        ], p.weeks)
        : el("p", { class: "empty", text: "This proposal has no price steps." }),
      x
        ? el("div", {}, el("h3", { text: "Expected outcome" }), facts([
          ["Units sold", `${number(x.units, 1)} (${number(x.keep_units, 1)} keeping today's price)`],
          [`Expected ${valueName}`, `${amount(x.value)} (${amount(x.keep_value)} keeping today's price)`],
          ["Gain", signed(x.gain)],
          ["Left at the end", `${number(x.leftover, 1)} units`],
        ]))
        : null,
      guardrails(p.guardrails),
      p.explanation ? el("div", {}, el("h3", { text: "Why" }), el("p", { text: p.explanation })) : null,
      controls());
  }

  function decided(result, detail) {
    if (result.status === "rejected") {
      return el("p", { text: `Proposal ${detail.id} rejected; prices are unchanged.` });
    }
    const steps = result.price_changes || [];
    if (!steps.length) {
      return el("p", { text: `Proposal ${detail.id} is ${result.status}. ${result.message}` });
    }
    const p = detail.pricing;
    // Dates are UTC days, as the server dates prices; none is before today.
    const today = new Date().toISOString().slice(0, 10);
    let before = p.current_price;
    const rows = steps.map((s) => {
      const row = { ...s, change: s.price / before - 1 };
      before = s.price;
      return row;
    });
    return el("div", {},
      el("h3", { text: `New prices for ${p.sku}` }),
      el("p", { text: `${p.product}, ${money(p.current_price)} before: each price holds from its date on, at every store and online.` }),
      table([
        { label: "From", value: (s) => (s.effective_on <= today ? `${s.effective_on} (today)` : s.effective_on) },
        { label: "Price", value: (s) => money(s.price), num: true },
        { label: "Change", value: (s) => percent(s.change), num: true },
        { label: "Margin", value: (s) => percent(margin(s.price, p.unit_cost)), num: true },
      ], rows),
      el("p", { class: "muted", text: result.message }));
  }

  Queue.init({
    kind: "price_change",
    summary: (p) => {
      const t = p.totals || {};
      const title = t.product
        ? `${t.product} · ${money(t.current_price)} → ${money(t.first_price)}`
        : `Price change${p.location_id ? ` · ${p.location_id}` : ""}`;
      const gain = t.expected_gain === undefined ? null : `${signed(t.expected_gain)} expected`;
      return [title, [t.sku, p.location_id, gain, `by ${p.proposer}`, p.id].filter(Boolean).join(" · ")];
    },
    render,
    decided,
  });
})();
