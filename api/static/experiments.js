/* The experiments: every one the API lists (GET /v1/experiments, newest first); choosing one
   shows its report (GET /v1/experiments/{id}/report): units and visits per arm with the
   sample-ratio check, each arm against the control with its interval, the guardrails, the
   planned sample size, and the primary metric of each arm day by day as inline SVG (the value
   over everything logged up to that day, so the lines settle as the visits grow). Experiments
   are created, started and stopped with `aisle experiments` or the API. */
"use strict";

(() => {
  const { el, svg, api, fill, showError, table, number, percent, money, facts } = Aisle;
  const DAY_MS = 86400000;
  const list = document.getElementById("experiments");
  const detail = document.getElementById("report");
  const LABELS = { ctr: "CTR", add_to_cart_rate: "Add-to-cart rate", conversion: "Conversion", revenue_per_visit: "Revenue per visit" };
  const CREATE_COMMAND = "aisle experiments create --name home-grid --layer home --arm control=1 --arm 'ease=1:{\"model\": \"ease\"}' --metric ctr";

  const show = (metric, value) => (metric === "revenue_per_visit" ? money(value) : percent(value));
  const signed = (value) => (value === null || value === undefined ? "–" : `${value >= 0 ? "+" : ""}${number(value * 100, 1)}%`);

  /** Each arm's cumulative primary metric by day: one line per arm, in the arm's colour. */
  function chart(report) {
    const metric = report.experiment.primary_metric;
    const points = report.over_time.filter((p) => p.value !== null);
    if (!points.length) return el("p", { class: "empty", text: "Nothing to plot yet: no visit has been logged." });
    const arms = report.experiment.arms.map((a) => a.name);
    const days = [...new Set(points.map((p) => p.day))].sort();
    const first = Date.parse(days[0]);
    const span = Math.round((Date.parse(days[days.length - 1]) - first) / DAY_MS);
    const W = 600, H = 220, L = 56, R = 8, T = 10, B = 24;
    const top = Math.max(...points.map((p) => p.value)) * 1.1 || 1;
    const x = (day) => L + (span > 0 ? (Math.round((Date.parse(day) - first) / DAY_MS) * (W - L - R)) / span : (W - L - R) / 2);
    const y = (v) => T + (H - T - B) * (1 - v / top);
    const shapes = [
      svg("line", { class: "axis", x1: L, y1: y(0), x2: W - R, y2: y(0) }),
      svg("line", { class: "axis", x1: L, y1: T, x2: L, y2: y(0) }),
      svg("text", { x: L - 4, y: y(0), "text-anchor": "end", "dominant-baseline": "middle" }, show(metric, 0)),
      svg("text", { x: L - 4, y: y(top / 1.1), "text-anchor": "end", "dominant-baseline": "middle" }, show(metric, top / 1.1)),
    ];
    arms.forEach((arm, i) => {
      const own = points.filter((p) => p.arm === arm);
      if (!own.length) return;
      const cls = `arm arm-${i % 5}`;
      shapes.push(svg("polyline", { class: cls, "data-arm": arm, points: own.map((p) => `${x(p.day).toFixed(1)},${y(p.value).toFixed(1)}`).join(" ") }));
      own.forEach((p) => shapes.push(svg("circle", { class: cls, cx: x(p.day).toFixed(1), cy: y(p.value).toFixed(1), r: 3 },
        svg("title", {}, `${arm}, ${p.day}: ${show(metric, p.value)} over ${number(p.visits)} visits`))));
    });
    const ends = span > 0 ? [[days[0], "start"], [days[days.length - 1], "end"]] : [[days[0], "middle"]];
    for (const [day, anchor] of ends) shapes.push(svg("text", { x: x(day), y: H - 6, "text-anchor": anchor }, day));
    const last = days[days.length - 1];
    const described = `${LABELS[metric]} of each arm over everything logged up to each day, ${days[0]} to ${last}. On ${last}: ` +
      arms.map((arm) => {
        const p = points.find((q) => q.arm === arm && q.day === last);
        return p ? `${arm} ${show(metric, p.value)} (${number(p.visits)} visits)` : `${arm} no visits`;
      }).join(", ") + ".";
    return el("figure", {},
      svg("svg", { class: "chart", viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": described }, svg("title", {}, described), ...shapes),
      el("figcaption", { class: "legend" }, arms.map((arm, i) => el("span", {}, el("span", { class: `swatch arm-${i % 5}` }), arm))),
      el("p", { class: "chart-summary", text: described }));
  }

  function results(report) {
    if (!report.results.length) return null;
    return table([
      { label: "Metric", value: (r) => LABELS[r.metric] + (r.metric === report.experiment.primary_metric ? " (primary)" : "") },
      { label: "Arm", value: (r) => r.arm },
      { label: report.control, value: (r) => show(r.metric, r.control_value), num: true },
      { label: "Arm value", value: (r) => show(r.metric, r.value), num: true },
      // With CUPED the relative change, its interval and the p-value are of the adjusted values,
      // which differ from the plain ones beside them: show the pair the change is of.
      { label: "Relative", value: (r) => signed(r.rel_diff), num: true },
      { label: "CUPED-adjusted values", value: (r) => (r.cuped ? `${show(r.metric, r.adjusted_control_value)} vs ${show(r.metric, r.adjusted_value)}` : "not adjusted"), num: true },
      // Too few events for the test (the server's one rule, `too_few`): no interval, no p-value.
      { label: `${number((1 - report.alpha) * 100)}% interval`, value: (r) => (r.rel_ci ? `${signed(r.rel_ci[0])} to ${signed(r.rel_ci[1])}` : r.rel_diff === null || r.too_few ? "–" : "unbounded: too few control events"), num: true },
      { label: "p-value", value: (r) => (r.p_value === null ? `not tested: ${r.too_few}` : el("span", { class: r.significant ? "ok" : null, text: (r.p_value < 0.001 ? "< 0.001" : number(r.p_value, 3)) + (r.significant ? " significant" : "") })), num: true },
      { label: "CUPED variance cut", value: (r) => (r.variance_reduction === null ? "–" : percent(r.variance_reduction)), num: true },
    ], report.results);
  }

  function summary(report) {
    const arms = report.experiment.arms.map((a) => `${a.name}: ${number(report.units[a.name])} units, ${number(report.visits[a.name])} visits`);
    const planned = report.planned ? report.planned.in_words : null;
    return facts([
      ["Status", `${report.experiment.status}, ${report.experiment.audience === "simulated" ? "simulated visits only" : "live visitors"}, layer ${report.experiment.layer}, ${percent(report.experiment.traffic)} of its traffic`],
      ["Control", report.control],
      ["Arms", arms.join("; ")],
      ["Sample ratio", report.srm_p_value === null
        ? (Object.values(report.units).some((n) => n > 0) ? "not checked yet: too few units to check the split" : "not checked yet: no visit logged")
        : report.srm_mismatch
          ? `MISMATCH (p = ${number(report.srm_p_value, 4)}): the split is not what the weights ask for; do not trust the results`
          : `as the weights ask (p = ${number(report.srm_p_value, 3)})`],
      ["Planned sample", planned],
      ["Units in two arms", report.mixed_units ? number(report.mixed_units) : null],
    ]);
  }

  function guardrails(report) {
    if (!report.guardrails.length) return null;
    const adjusted = (g) => report.results.some((r) => r.metric === g.metric && r.arm === g.arm && r.cuped);
    return el("ul", { class: "checks" }, report.guardrails.map((g) => el("li", { class: g.status === "breach" ? "fail" : g.status === "pass" ? "pass" : null },
      `${LABELS[g.metric]} must not drop more than ${percent(g.max_relative_drop)} (${g.arm}): ${g.status}` +
      (g.rel_diff === null ? "" : `, ${signed(g.rel_diff)}${adjusted(g) ? " CUPED-adjusted" : ""}`))));
  }

  let latestReport = 0;

  async function openReport(experiment, button) {
    const mine = ++latestReport;
    for (const b of list.querySelectorAll("button[aria-pressed]")) b.setAttribute("aria-pressed", String(b === button));
    showError("report-error", null);
    fill(detail, el("p", { class: "muted", text: `Reading the report of ${experiment.name}…` }));
    let report;
    try {
      report = await api(`/v1/experiments/${encodeURIComponent(experiment.id)}/report`);
    } catch (error) {
      if (mine !== latestReport) return;
      fill(detail);
      return showError("report-error", error);
    }
    if (mine !== latestReport) return;
    fill(detail,
      el("h3", { text: `${report.experiment.name} (${report.experiment.id})` }),
      summary(report),
      report.note ? el("p", { class: "muted", text: report.note }) : null,
      el("h4", { text: `${LABELS[report.experiment.primary_metric]} by arm over time` }),
      chart(report),
      results(report),
      guardrails(report));
  }

  // Only the latest load draws: one started before the person signed in may answer last.
  let latest = 0;

  async function load() {
    const mine = ++latest;
    showError("experiments-error", null);
    // Signed out or with another role's key, the page's notice says why; nothing is asked (a
    // request before sign-in was a 401 in the console).
    if (!Aisle.allowed()) {
      fill(list);
      fill(detail);
      return;
    }
    let experiments;
    try {
      experiments = Aisle.items(await api("/v1/experiments"));
      if (mine !== latest) return;
    } catch (error) {
      if (mine !== latest) return;
      fill(list);
      return showError("experiments-error", error);
    }
    if (!experiments.length) {
      fill(list, el("div", { class: "empty-state" },
        el("p", { class: "empty", text: "No experiment has been created yet." }),
        el("p", {}, "Create one on the server's machine, then start it with ", el("code", { text: "aisle experiments start NAME" }), ":"),
        el("pre", {}, el("code", { text: CREATE_COMMAND }))));
      fill(detail);
      return;
    }
    fill(list, table([
      { label: "Experiment", value: (e) => e.name },
      { label: "Status", value: (e) => e.status },
      { label: "Layer", value: (e) => e.layer },
      { label: "Traffic", value: (e) => percent(e.traffic), num: true },
      { label: "Arms", value: (e) => e.arms.map((a) => `${a.name} ×${number(a.weight, 1)}`).join(", ") },
      { label: "Primary metric", value: (e) => LABELS[e.primary_metric] },
      { label: "Started", value: (e) => Aisle.when(e.started_at) || "–" },
      { label: "Report", value: (e) => {
        const button = el("button", { type: "button", "aria-pressed": "false", "aria-label": `Show the report of ${e.name}`, text: "Show report" });
        button.addEventListener("click", () => openReport(e, button));
        return button;
      } },
    ], experiments));
  }

  document.getElementById("experiments-refresh").addEventListener("click", load);
  Aisle.onIdentityChange(load);
  load();
})();
