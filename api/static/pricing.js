/* The pricing manager's queue: a markdown proposal's price steps week by week with their
   margins, the elasticity behind it, expected units and value against keeping today's price,
   and each guardrail check; approve or reject with a reason. */
"use strict";

(() => {
  const { el, facts, table, money, number, percent } = Aisle;

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
      facts(Object.entries(g.settings).map(([k, v]) => [k.replaceAll("_", " "), setting(v)])));
  }

  function render(detail, controls) {
    const p = detail.pricing;
    const e = p.elasticity;
    const x = p.expected;
    const edited = new Set(p.edited_weeks);
    return el("div", {},
      facts([
        ["Product", `${p.product} (${p.sku})`],
        ["Current price", money(p.current_price)],
        ["List price", money(p.list_price)],
        ["Unit cost", money(p.unit_cost)],
        ["Stock", p.stock],
        ["Objective", p.objective],
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
          ["Units (this plan)", number(x.units, 1)],
          ["Units (keeping today's price)", number(x.keep_units, 1)],
          ["Value (this plan)", money(x.value)],
          ["Value (keeping today's price)", money(x.keep_value)],
          ["Gain", money(x.gain)],
          ["Left at the end", number(x.leftover, 1)],
        ]))
        : null,
      guardrails(p.guardrails),
      p.explanation ? el("p", { text: p.explanation }) : null,
      controls());
  }

  Queue.init({
    kind: "price_change",
    summary: (p) => [`Price change${p.location_id ? ` · ${p.location_id}` : ""}`,
      `by ${p.proposer} · ${p.id}`],
    render,
    decided: (result, detail) => el("p", {
      text: result.status === "rejected"
        ? `Proposal ${detail.id} rejected; prices are unchanged.`
        : `Proposal ${detail.id} is ${result.status}. ${result.message}`,
    }),
  });
})();
