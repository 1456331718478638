/* The planner's queue: a reorder proposal's lines with stock, on-order, safety stock and lead
   time, each line's forecast drawn by date as inline SVG (every day of recent sales, zero days
   included and stock-out days marked, then the daily mean with its p10–p90 band), the range of
   the forecast's total, the policy's explanation, quantities the planner may edit (whole cases;
   line values and the total follow as they type, and a quantity that cannot be sent says so
   beside itself), after approval the purchase order it created, and the list of purchase orders
   below the queue. */
"use strict";

(() => {
  const { el, svg, api, facts, table, money, number, percent, showError } = Aisle;
  const DAY_MS = 86400000;
  const count = (n, word) => `${number(n)} ${word}${n === 1 ? "" : "s"}`;
  const dayIndex = (day, first) => Math.round((Date.parse(day) - Date.parse(first)) / DAY_MS);

  /** What the chart says in words: the forecast's total with its own range, and what sold. */
  function describe(data, history) {
    const range = data.forecast_range;
    const sold = history.reduce((s, d) => s + d.units, 0);
    const out = history.filter((d) => d.stockout).length;
    const forecast = range
      ? `Forecast for ${data.sku} over the next ${count(range.days, "day")}: ${number(range.mean, 1)} units expected in all, ` +
        `median ${number(range.p50)} (p50), between ${number(range.p10)} (p10) and ${number(range.p90)} (p90) for the ${range.days}-day total` +
        (range.backtest_coverage === null || range.backtest_coverage === undefined
          ? "; this forecast run was not backtested, so the range takes the days as independent and is too narrow where the level is off (a new `aisle forecast run` backtests its range). "
          : `; on the model's backtest such ranges held ${number(range.backtest_coverage * 100, 0)}% of ${range.days}-day totals. `)
      : `No forecast for ${data.sku}. `;
    // A product launched inside the window has history only from its launch.
    const since = data.offered_since ? ` since its launch on ${data.offered_since}` : "";
    const sales = history.length
      ? `${count(sold, "unit")} sold over the last ${count(history.length, "day")}${since}` +
        (out ? `, ${count(out, "day")} of them out of stock (sales there understate demand).` : ".")
      : "";
    return forecast + sales;
  }

  /** The forecast chart of one line, by date: recent sales (every day, stock-out days marked),
      then the forecast's daily mean and its p10–p90 band. */
  function chart(data) {
    const history = data.recent_sales || [];
    const forecast = data.forecast || [];
    if (!forecast.length && !history.length) {
      return el("p", { class: "empty", text: data.note || "No forecast or sales for this line yet: run `aisle forecast run`." });
    }
    const W = 600, H = 200, L = 40, R = 8, T = 10, B = 24;
    const first = (history[0] || forecast[0]).day;
    const last = (forecast[forecast.length - 1] || history[history.length - 1]).day;
    const span = dayIndex(last, first);
    const top = Math.max(1, ...history.map((d) => d.units), ...forecast.map((d) => Math.max(d.mean, d.p90))) * 1.1;
    const x = (day) => L + (span > 0 ? (dayIndex(day, first) * (W - L - R)) / span : (W - L - R) / 2);
    const y = (v) => T + (H - T - B) * (1 - v / top);
    const at = (day, v) => `${x(day).toFixed(1)},${y(v).toFixed(1)}`;
    const dayWidth = span > 0 ? (W - L - R) / span : W - L - R;
    const shapes = [
      svg("line", { class: "axis", x1: L, y1: y(0), x2: W - R, y2: y(0) }),
      svg("line", { class: "axis", x1: L, y1: T, x2: L, y2: y(0) }),
      svg("text", { x: L - 4, y: y(0), "text-anchor": "end", "dominant-baseline": "middle" }, "0"),
      svg("text", { x: L - 4, y: y(top / 1.1), "text-anchor": "end", "dominant-baseline": "middle" }, number(top / 1.1, 1)),
    ];
    // A stock-out day is shaded over its whole height: its sales understate demand.
    history.filter((d) => d.stockout).forEach((d) => shapes.push(svg("rect", {
      class: "stockout-day", x: (x(d.day) - dayWidth / 2).toFixed(1), y: T, width: dayWidth.toFixed(1), height: (y(0) - T).toFixed(1),
    }, svg("title", {}, `${d.day}: out of stock, ${count(d.units, "unit")} sold`))));
    if (forecast.length) {
      const upper = forecast.map((d) => at(d.day, d.p90));
      const lower = forecast.map((d) => at(d.day, d.p10)).reverse();
      shapes.push(svg("polygon", { class: "band", points: [...upper, ...lower].join(" ") }));
      // The mean starts from the last day sold, so the two read as one series.
      const end = history[history.length - 1];
      const joined = end ? [at(end.day, end.units)] : [];
      shapes.push(svg("polyline", { class: "mean", points: [...joined, ...forecast.map((d) => at(d.day, d.mean))].join(" ") }));
    }
    if (history.length) {
      shapes.push(svg("polyline", { class: "actual", points: history.map((d) => at(d.day, d.units)).join(" ") }));
      history.forEach((d) => d.stockout && shapes.push(svg("circle", { class: "stockout", cx: x(d.day), cy: y(d.units), r: 3 })));
    }
    const ends = [[first, "start"], [last, "end"]];
    if (history.length && forecast.length) ends.push([forecast[0].day, "middle"]);
    for (const [day, anchor] of ends) shapes.push(svg("text", { x: x(day), y: H - 6, "text-anchor": anchor }, day));
    const described = describe(data, history);
    return el("figure", {},
      svg("svg", { class: "chart", viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": described },
        svg("title", {}, described), ...shapes),
      el("figcaption", { class: "legend" },
        el("span", {}, el("span", { class: "swatch actual" }), "units sold"),
        el("span", {}, el("span", { class: "swatch mean" }), "forecast mean"),
        el("span", {}, el("span", { class: "swatch band" }), "daily p10–p90"),
        history.some((d) => d.stockout) ? el("span", {}, el("span", { class: "swatch stockout" }), "out of stock") : null),
      el("p", { class: "chart-summary", text: described }),
      data.note ? el("p", { class: "muted", text: data.note }) : null);
  }

  function serviceLevel(p) {
    const target = `class ${p.abc_class ?? "–"} target ${percent(p.target_service_level)}`;
    return p.service_level > p.target_service_level
      ? `${percent(p.service_level)} (${target}, raised because a lost sale costs more than holding a unit)`
      : `${percent(p.service_level)} (${target})`;
  }

  /** Where the units on order come from: the open purchase orders in Aisle, and what no
      purchase order explains (the store's stock records, as seeded or imported). */
  function onOrder(units, orders) {
    if (units === undefined || units === null) return null;
    const ordered = orders.reduce((s, o) => s + o.quantity, 0);
    const named = orders.map((o) => `${number(o.quantity)} on purchase order ${o.id}${o.expected_on ? `, expected ${o.expected_on}` : ""}`);
    const recorded = units - ordered;
    if (recorded > 0) named.push(`${number(recorded)} from the store's stock records, with no purchase order in Aisle`);
    return units && named.length ? `${number(units)} (${named.join("; ")})` : number(units);
  }

  /** The forecast a line was planned with, in words; its run id (for whoever traces it) in a
      tooltip rather than in the sentence. */
  function plannedWith(source) {
    if (!source) return null;
    const run = source.match(/\s*\(run ([0-9a-f]+)\)$/);
    return run ? el("span", { title: `Forecast run ${run[1]}`, text: source.slice(0, run.index) }) : source;
  }

  function policyFacts(line, data) {
    const p = line.policy || {};
    const given = (value) => value !== undefined && value !== null;
    const range = data && data.forecast_range;
    return facts([
      ["On hand", p.on_hand], ["Reserved", p.reserved], ["On order", onOrder(p.on_order, line.open_orders || [])],
      ["Safety stock", given(p.safety_stock) ? number(p.safety_stock, 1) : null],
      ["Target level", p.target_level],
      ["Daily demand", given(p.daily_demand) ? number(p.daily_demand, 2) : null],
      ["Lead time", data && given(data.lead_time_days) ? `${number(data.lead_time_days, 1)} days` : null],
      // The level the order was computed from; the class target beside it when lost sales
      // raised it, as the explanation says.
      ["Service level", given(p.service_level) ? serviceLevel(p) : null],
      ["Days of cover after the order", p.days_of_cover],
      [range ? `Next ${range.days} days` : "Forecast total", range ? `median (p50) ${number(range.p50)} units; p10 ${number(range.p10)}, p90 ${number(range.p90)}; mean ${number(range.mean, 1)}` : null],
      ["Planned with", plannedWith(line.forecast_source)],
      ["Chart's forecast", data && data.forecast_model],
      ["Unit cost", money(line.unit_cost)],
    ]);
  }

  /** "cases of 6 · minimum order 24": the whole cases a line's quantity must be, and the
      supplier's minimum order where it is more than one case. */
  function limitsText(line) {
    const pack = line.case_pack || 1;
    const cases = pack > 1 ? `cases of ${number(pack)}` : "any whole number";
    return line.min_quantity > pack ? `${cases} · minimum order ${number(line.min_quantity)}` : cases;
  }

  /** The lines' quantity inputs: each says beside itself why its value cannot be sent, and
      line values and the total follow what is typed. */
  function quantities(lines, onChange) {
    const rows = new Map();
    // The limits are the server's (`approvals.bounds`, sent as each line's min_quantity and
    // max_quantity), checked here as the planner types so a refusal never waits for Approve.
    const problem = (input, line) => {
      const v = input.validity;
      const pack = line.case_pack || 1;
      if (v.badInput || input.value === "") return "Enter a number of units (0 drops the line).";
      if (v.rangeUnderflow) return "A quantity cannot be below 0.";
      const units = Number(input.value);
      // The server's sentences, so a refusal reads the same before and after Approve.
      if (units > line.max_quantity) {
        return `${number(units)} units of ${line.sku} is more than 10 times the proposed line; order at most ${number(line.max_quantity)}.`;
      }
      if (units > 0 && units < line.min_quantity && line.min_quantity > pack) {
        return `${number(units)} units of ${line.sku} is below the supplier's minimum order of ${number(line.min_quantity)}; order at least ${number(line.min_quantity)}, or 0 to drop the line.`;
      }
      if (v.stepMismatch) {
        // Between the limits, which are whole cases, both neighbours are within them too.
        const below = Math.floor(units / pack) * pack;
        const options = [below, below + pack].filter((q) => q === 0 || (q >= line.min_quantity && q <= line.max_quantity));
        return `Order whole cases of ${pack}: ${options.map((q) => number(q)).join(" or ")}.`;
      }
      return "";
    };
    const valueOf = (input, line) => (problem(input, line) ? null : Number(input.value));
    function say(sku, message) {
      const { input, error } = rows.get(sku);
      error.textContent = message;
      error.hidden = !message;
      input.setAttribute("aria-invalid", message ? "true" : "false");
    }
    function input(line) {
      const pack = line.case_pack || 1;
      const id = `qty-${line.sku}`;
      const node = el("input", {
        id, type: "number", class: "qty", min: 0, step: pack, value: line.quantity,
        inputmode: "numeric", "aria-describedby": `${id}-limits ${id}-error`,
        "aria-label": `Quantity of ${line.sku}, in units (cases of ${pack})`,
      });
      // The limits beside the input from the start, so the supplier's minimum order is read
      // before typing, not first learnt from a refusal.
      const limits = el("span", { class: "field-hint", id: `${id}-limits`, text: limitsText(line) });
      const error = el("span", { class: "error field-error", id: `${id}-error`, role: "alert", hidden: true });
      const value = el("span", { text: money(line.line_value) });
      rows.set(line.sku, { input: node, error, value, line });
      node.addEventListener("input", () => {
        say(line.sku, problem(node, line));
        const units = valueOf(node, line);
        value.textContent = units === null ? "–" : money(units * line.unit_cost);
        onChange();
      });
      return el("span", { class: "qty-field" }, node, limits, error);
    }
    return {
      input,
      value: (line) => rows.get(line.sku).value,
      changes() {
        const out = {};
        for (const [sku, { input: node, line }] of rows) {
          const units = valueOf(node, line);
          if (units !== null && units !== Number(line.quantity)) out[sku] = units;
        }
        return out;
      },
      /** The lines that can be sent, added up; `invalid` names the SKUs left out of the sum. */
      totals() {
        let units = 0, value = 0, kept = 0;
        const invalid = [];
        for (const [sku, { input: node, line }] of rows) {
          const q = valueOf(node, line);
          if (q === null) {
            invalid.push(sku);
            continue;
          }
          units += q;
          value += q * line.unit_cost;
          if (q > 0) kept += 1;
        }
        return { lines: kept, units, value: Math.round(value * 100) / 100, invalid };
      },
      invalid() {
        const skus = [...rows].filter(([, { input: node, line }]) => valueOf(node, line) === null).map(([sku]) => sku);
        if (!skus.length) return null;
        const which = skus.length === 1 ? `the quantity of ${skus[0]}` : `the quantities of ${skus.join(", ")}`;
        return { input: rows.get(skus[0]).input, reason: `Fix ${which} above to approve.` };
      },
      /** A refusal about one SKU's quantity (the API names it in `loc`) goes beside its input. */
      place(error) {
        const sku = (error.errors || []).map((e) => (e.loc || [])[2]).find((s) => rows.has(s));
        if (!sku) return false;
        say(sku, error.message);
        rows.get(sku).input.focus();
        return true;
      },
    };
  }

  function render(detail, controls) {
    const content = detail.content;
    const supplier = content.supplier || {};
    const lines = detail.lines;
    const charts = new Map(detail.chart.map((c) => [c.sku, c]));
    const given = (value) => value !== undefined && value !== null;
    let decision = null;
    const total = el("dd", {});
    const showTotal = (t) => {
      const sum = `${count(t.lines, "line")}, ${count(t.units, "unit")}, ${money(t.value)}`;
      // A line whose quantity cannot be sent has no value, so the sum leaves it out and says so.
      total.textContent = t.invalid.length
        ? `Incomplete: ${sum} without ${t.invalid.join(", ")}, whose quantity cannot be sent`
        : sum;
    };
    const qty = quantities(lines, () => {
      showTotal(qty.totals());
      if (decision) decision.refresh();
    });
    const summary = facts([
      ["Supplier", supplier.name ? `${supplier.name} (${supplier.id})` : supplier.id],
      ["Deliver to", content.location ? `${content.location.name} (${content.location.id})` : detail.location_id],
      ["Lead time", given(supplier.lead_time_mean_days) ? `${number(supplier.lead_time_mean_days, 1)} days` : null],
      ["As of", content.as_of],
      ["Review period", content.review_period_days ? `${content.review_period_days} days` : null],
      ["Proposed by", Aisle.who(detail.proposer)],
      ["Expires", Aisle.when(detail.expires_at)],
    ]);
    const lineTable = lines.length
      ? table([
        { label: "SKU", value: (l) => l.sku },
        { label: "Product", value: (l) => l.product },
        { label: "On hand", value: (l) => l.policy?.on_hand, num: true },
        { label: "On order", value: (l) => l.policy?.on_order, num: true },
        { label: "Safety stock", value: (l) => number(l.policy?.safety_stock, 1), num: true },
        { label: "Quantity", value: qty.input },
        { label: "Unit cost", value: (l) => money(l.unit_cost), num: true },
        { label: "Value", value: qty.value, num: true },
      ], lines)
      : el("p", { class: "empty", text: "This proposal has no lines: reject it with a reason." });
    // The total follows the quantities as they are typed, so it is kept apart from the facts;
    // it is first drawn once the table has made the inputs it adds up.
    summary.append(el("dt", { text: "Total" }), total);
    showTotal(qty.totals());
    decision = controls(qty.changes, { invalid: qty.invalid, place: qty.place });
    return el("div", {},
      summary,
      lineTable,
      el("p", { class: "muted", text: "Quantities are in units and must be whole cases, at least the supplier's minimum order and at most 10 times the proposed line; 0 drops a line." }),
      lines.map((line, i) => el("details", { class: "line", open: i === 0 },
        el("summary", { text: `${line.sku} · ${line.product}` }),
        charts.has(line.sku) ? chart(charts.get(line.sku)) : null,
        policyFacts(line, charts.get(line.sku)),
        line.explanation ? el("p", { text: line.explanation }) : null)),
      decision);
  }

  const orderLines = (lines) => table([
    { label: "SKU", value: (l) => l.variant_id },
    { label: "Product", value: (l) => l.product },
    { label: "Quantity", value: (l) => number(l.quantity), num: true },
    { label: "Unit cost", value: (l) => money(l.unit_cost), num: true },
    { label: "Value", value: (l) => money(l.line_value), num: true },
  ], lines);

  /** "from Acme Outdoor for Downtown": what a reorder proposal orders, in names. */
  function about(detail) {
    const content = detail.content || {};
    const supplier = (content.supplier || {}).name;
    const location = (content.location || {}).name || detail.location_id;
    return [supplier ? `from ${supplier}` : null, location ? `for ${location}` : null].filter(Boolean).join(" ");
  }

  function decided(result, detail) {
    const order = result.purchase_order;
    orders.load();
    if (!order) {
      // The API's message names the proposal by id; the person knows it by what it orders.
      return el("p", { text: result.status === "rejected"
        ? `Rejected: nothing is ordered ${about(detail)}.`
        : `The reorder ${about(detail)} is ${result.status}.` });
    }
    return el("div", {},
      // Named by what it orders, where to; its id is for whoever must quote it, small beside.
      el("h3", {}, `Purchase order created: ${order.supplier_name} → ${order.location_name} `,
        el("small", { class: "ref", text: order.id })),
      facts([
        ["Status", order.status], ["Supplier", `${order.supplier_name} (${order.supplier_id})`],
        ["Deliver to", `${order.location_name} (${order.location_id})`],
        ["Expected on", order.expected_on], ["Total", `${count(order.units, "unit")}, ${money(order.value)}`],
      ]),
      orderLines(order.lines),
      el("p", {}, el("a", { href: "#orders-title", text: "See every purchase order" })));
  }

  /** The purchase orders approvals created (and any imported), newest first, below the queue. */
  const orders = (() => {
    const PAGE = 20;
    const list = el("div", { id: "orders", "aria-live": "polite" });
    const section = el("section", { class: "panel orders", "aria-labelledby": "orders-title" },
      el("div", { class: "panel-head" },
        el("h2", { id: "orders-title", tabindex: "-1", text: "Purchase orders" }),
        el("button", { type: "button", class: "link", onclick: () => load(), text: "Refresh" })),
      el("p", { class: "error", id: "orders-error", role: "alert", hidden: true }),
      list);
    let latest = 0;

    function entry(order) {
      return el("details", { class: "order" },
        el("summary", {},
          el("strong", { text: `${order.supplier_name} → ${order.location_name}` }),
          ` · ${order.status} · ${count(order.lines.length, "line")}, ${count(order.units, "unit")}, ` +
          `${money(order.value)} · created ${Aisle.when(order.created_at)} `,
          el("small", { class: "ref", text: order.id })),
        facts([
          ["Supplier", `${order.supplier_name} (${order.supplier_id})`],
          ["Deliver to", `${order.location_name} (${order.location_id})`],
          ["Status", order.status], ["Created", Aisle.when(order.created_at)],
          ["Expected on", order.expected_on], ["Order number", order.id],
          ["From proposal", order.proposal_id],
        ]),
        orderLines(order.lines));
    }

    async function load(offset = 0) {
      const mine = ++latest;
      showError("orders-error", null);
      if (!Aisle.allowed()) {
        list.replaceChildren();
        return;
      }
      try {
        const data = await api(`/v1/purchase-orders?limit=${PAGE}&offset=${offset}`);
        if (mine !== latest) return;
        const shown = Aisle.items(data);
        if (!shown.length && offset === 0) {
          list.replaceChildren(el("p", { class: "empty", text: "No purchase orders yet: approve a proposal in the queue above and its order appears here." }));
          return;
        }
        const nodes = shown.map(entry);
        const more = data.next_offset === null || data.next_offset === undefined ? [] : [
          el("button", { type: "button", class: "more", text: `Show more (${number(data.total - data.next_offset)} older)`, onclick: () => load(data.next_offset) })];
        if (offset === 0) list.replaceChildren(...nodes, ...more);
        else list.querySelector(":scope > button.more").replaceWith(...nodes, ...more);
      } catch (error) {
        if (mine !== latest) return;
        list.replaceChildren();
        showError("orders-error", error);
      }
    }

    document.querySelector("main .columns.queue").after(section);
    const heading = document.querySelector("main h1");
    heading.after(el("p", {}, el("a", { href: "#orders-title", text: "Purchase orders" }),
      " created from approved proposals are listed below the queue."));
    Aisle.onIdentityChange(() => load());
    load();
    return { load };
  })();

  Queue.init({
    kind: "purchase_order",
    summary: (p) => {
      const t = p.totals || {};
      return [`${p.location_name || p.location_id || "–"} · ${p.supplier || "supplier not named"} · ${money(t.value)}`,
        `${count(t.lines, "line")}, ${count(t.units, "unit")} · by ${Aisle.who(p.proposer)}`];
    },
    heading: (detail) => `Reorder ${about(detail)}`,
    render,
    decided,
    empty: "Nothing is waiting for a decision. Reorder proposals appear here when the replenishment agent finds SKUs to reorder (`aisle replenish run`, or `aisle replenish plan`).",
  });
})();
