/* The planner's queue: a reorder proposal's lines with stock, on-order, safety stock and lead
   time, each line's forecast with its p10–p90 band drawn as inline SVG from the detail's data,
   the policy's explanation, quantities the planner may edit (whole cases), and after approval
   the purchase order it created. */
"use strict";

(() => {
  const { el, facts, table, money, number } = Aisle;
  const SVG = "http://www.w3.org/2000/svg";
  const count = (n, word) => `${number(n)} ${word}${n === 1 ? "" : "s"}`;

  function svg(tag, attrs, ...children) {
    const node = document.createElementNS(SVG, tag);
    for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, value);
    node.append(...children);
    return node;
  }

  /** The forecast chart of one line: recent sales (stock-out days marked), then the
      forecast's daily mean and its p10–p90 band. */
  function chart(data) {
    const history = data.recent_sales || [];
    const forecast = data.forecast || [];
    if (!forecast.length && !history.length) {
      return el("p", { class: "empty", text: data.note || "No forecast or sales for this line yet." });
    }
    const W = 600, H = 200, L = 40, R = 8, T = 10, B = 24;
    const n = history.length + forecast.length;
    const top = Math.max(1, ...history.map((d) => d.units), ...forecast.map((d) => Math.max(d.mean, d.p90))) * 1.1;
    const x = (i) => L + (n > 1 ? (i * (W - L - R)) / (n - 1) : (W - L - R) / 2);
    const y = (v) => T + (H - T - B) * (1 - v / top);
    const at = (i, v) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`;
    const off = history.length;
    const shapes = [
      svg("line", { class: "axis", x1: L, y1: y(0), x2: W - R, y2: y(0) }),
      svg("line", { class: "axis", x1: L, y1: T, x2: L, y2: y(0) }),
      svg("text", { x: L - 4, y: y(0), "text-anchor": "end", "dominant-baseline": "middle" }, "0"),
      svg("text", { x: L - 4, y: y(top / 1.1), "text-anchor": "end", "dominant-baseline": "middle" }, number(top / 1.1, 1)),
    ];
    if (forecast.length) {
      const upper = forecast.map((d, i) => at(i + off, d.p90));
      const lower = forecast.map((d, i) => at(i + off, d.p10)).reverse();
      shapes.push(svg("polygon", { class: "band", points: [...upper, ...lower].join(" ") }));
      // The mean starts from the last day sold, so the two read as one series.
      const joined = history.length ? [at(off - 1, history[off - 1].units)] : [];
      shapes.push(svg("polyline", { class: "mean", points: [...joined, ...forecast.map((d, i) => at(i + off, d.mean))].join(" ") }));
    }
    if (history.length) {
      shapes.push(svg("polyline", { class: "actual", points: history.map((d, i) => at(i, d.units)).join(" ") }));
      history.forEach((d, i) => d.stockout && shapes.push(svg("circle", { class: "stockout", cx: x(i), cy: y(d.units), r: 3 })));
    }
    const ends = [[0, (history[0] || forecast[0]).day], [n - 1, (forecast[forecast.length - 1] || history[off - 1]).day]];
    if (history.length && forecast.length) ends.push([off, forecast[0].day]);
    for (const [i, day] of ends) {
      const anchor = i === 0 ? "start" : i === n - 1 ? "end" : "middle";
      shapes.push(svg("text", { x: x(i), y: H - 6, "text-anchor": anchor }, day));
    }
    const total = (key) => number(forecast.reduce((s, d) => s + d[key], 0), 1);
    const sold = history.reduce((s, d) => s + d.units, 0);
    const described = (forecast.length
      ? `Forecast for ${data.sku} over ${forecast.length} days: ${total("mean")} units expected, ` +
        `${total("p10")} at p10 and ${total("p90")} at p90. `
      : `No forecast for ${data.sku}. `) +
      (history.length ? `${number(sold)} units sold over the last ${history.length} days.` : "");
    return el("figure", {},
      svg("svg", { class: "chart", viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": described },
        svg("title", {}, described), ...shapes),
      el("figcaption", { class: "legend" },
        el("span", {}, el("span", { class: "swatch actual" }), "units sold"),
        el("span", {}, el("span", { class: "swatch mean" }), "forecast mean"),
        el("span", {}, el("span", { class: "swatch band" }), "p10–p90"),
        history.some((d) => d.stockout) ? el("span", {}, el("span", { class: "swatch stockout" }), "out of stock") : null),
      data.note ? el("p", { class: "muted", text: data.note }) : null);
  }

  function policyFacts(line, data) {
    const p = line.policy || {};
    return facts([
      ["On hand", p.on_hand], ["Reserved", p.reserved], ["On order", p.on_order],
      ["Safety stock", p.safety_stock === undefined ? null : number(p.safety_stock, 1)],
      ["Target level", p.target_level],
      ["Daily demand", p.daily_demand === undefined ? null : number(p.daily_demand, 2)],
      ["Lead time", data && data.lead_time_days !== null ? `${number(data.lead_time_days, 1)} days` : null],
      ["Service level", p.target_service_level === undefined ? null : `${number(p.target_service_level * 100, 1)}% target (class ${p.abc_class ?? "–"})`],
      ["Days of cover", p.days_of_cover],
      ["Planned with", line.forecast_source],
      ["Chart's forecast", data && data.forecast_model],
      ["Unit cost", money(line.unit_cost)],
    ]);
  }

  function render(detail, controls) {
    const content = detail.content;
    const supplier = content.supplier || {};
    const lines = detail.lines;
    const totals = detail.totals;
    const charts = new Map(detail.chart.map((c) => [c.sku, c]));
    const inputs = new Map();
    let decision = null;
    const quantity = (line) => {
      const id = `qty-${line.sku}`;
      const input = el("input", {
        id, type: "number", class: "qty", min: 0, step: line.case_pack || 1, value: line.quantity,
        inputmode: "numeric", "aria-label": `Quantity of ${line.sku}, in units (cases of ${line.case_pack || 1})`,
        oninput: () => decision && decision.refresh(),
      });
      inputs.set(line.sku, [input, line.quantity]);
      return input;
    };
    const changes = () => {
      const out = {};
      for (const [sku, [input, original]] of inputs) {
        if (input.value !== "" && Number(input.value) !== Number(original)) out[sku] = Number(input.value);
      }
      return out;
    };
    decision = controls(changes);
    return el("div", {},
      facts([
        ["Supplier", supplier.name ? `${supplier.name} (${supplier.id})` : supplier.id],
        ["Deliver to", content.location ? `${content.location.name} (${content.location.id})` : detail.location_id],
        ["Lead time", supplier.lead_time_mean_days === undefined ? null : `${number(supplier.lead_time_mean_days, 1)} days`],
        ["As of", content.as_of],
        ["Review period", content.review_period_days ? `${content.review_period_days} days` : null],
        ["Total", `${count(lines.length, "line")}, ${count(totals.units, "unit")}, ${money(totals.value)}`],
        ["Proposed by", detail.proposer],
        ["Expires", Aisle.when(detail.expires_at)],
        ["Content hash", detail.content_hash ? detail.content_hash.slice(0, 12) : null],
      ]),
      lines.length
        ? table([
          { label: "SKU", value: (l) => l.sku },
          { label: "Product", value: (l) => l.product },
          { label: "On hand", value: (l) => l.policy?.on_hand, num: true },
          { label: "On order", value: (l) => l.policy?.on_order, num: true },
          { label: "Safety stock", value: (l) => number(l.policy?.safety_stock, 1), num: true },
          { label: "Quantity", value: quantity },
          { label: "Unit cost", value: (l) => money(l.unit_cost), num: true },
          { label: "Value", value: (l) => money(l.line_value), num: true },
        ], lines)
        : el("p", { class: "empty", text: "This proposal has no lines." }),
      el("p", { class: "muted", text: "Quantities are in units and must be whole cases; 0 drops a line." }),
      lines.map((line, i) => el("details", { class: "line", open: i === 0 },
        el("summary", { text: `${line.sku} · ${line.product}` }),
        charts.has(line.sku) ? chart(charts.get(line.sku)) : null,
        policyFacts(line, charts.get(line.sku)),
        el("p", { text: line.explanation || "" }))),
      decision);
  }

  function decided(result, detail) {
    const order = result.purchase_order;
    if (!order) {
      return el("p", { text: `Proposal ${detail.id} is ${result.status}. ${result.message}` });
    }
    return el("div", {},
      el("h3", { text: `Purchase order ${order.id} created` }),
      el("p", { text: result.message }),
      facts([
        ["Status", order.status], ["Supplier", order.supplier_id], ["Deliver to", order.location_id],
        ["Expected on", order.expected_on], ["Total", `${count(order.units, "unit")}, ${money(order.value)}`],
      ]),
      table([
        { label: "SKU", value: (l) => l.variant_id },
        { label: "Quantity", value: (l) => l.quantity, num: true },
        { label: "Unit cost", value: (l) => money(l.unit_cost), num: true },
      ], order.lines));
  }

  Queue.init({
    kind: "purchase_order",
    summary: (p) => {
      const t = p.totals || {};
      return [`${p.location_id || "?"} · ${money(t.value)}`,
        `${count(t.lines, "line")}, ${count(t.units, "unit")} · by ${p.proposer} · ${p.id}`];
    },
    render,
    decided,
  });
})();
