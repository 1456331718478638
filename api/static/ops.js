/* The operations page: each model kind's champion, challengers and stage history (GET
   /v1/models, /v1/models/{kind}, /v1/models/{kind}/history; administrators only), the drift
   monitor's alerts (GET /v1/monitor/alerts; a server without the monitor answers 404, and the
   section says monitoring has not run), the latest feed batches with each quarantined one's reason
   (GET /v1/feeds), and the retail KPIs week by week (GET /v1/ops/kpis), each drawn as inline SVG
   beside its definition. */
"use strict";

(() => {
  const { el, svg, api, fill, showError, table, facts, number, money, percent } = Aisle;
  const FEED_LIMIT = 20;
  const FORMAT = {
    ratio: percent,
    count: (v) => number(v),
    turns: (v) => (v === null || v === undefined ? "–" : `${number(v, 1)} turns`),
    money,
  };
  const boxes = {
    models: document.getElementById("models"),
    alerts: document.getElementById("alerts"),
    feeds: document.getElementById("feeds"),
    kpis: document.getElementById("kpis"),
  };
  const weeksChoice = document.getElementById("kpi-weeks");
  const empty = (text) => el("p", { class: "empty", text });

  function history(changes) {
    if (!changes.length) return empty("No stage change has been recorded.");
    return table([
      { label: "When", value: (c) => Aisle.when(c.at) || c.at },
      { label: "Version", value: (c) => c.version },
      { label: "Change", value: (c) => `${c.action} → ${c.stage}` },
      { label: "By", value: (c) => c.by },
      { label: "Why", value: (c) => c.reason || "–" },
      { label: "Gate", value: (c) => (c.forced ? el("span", { class: "bad", text: "forced past a refusing gate" }) : "–") },
    ], [...changes].reverse());
  }

  async function kindPanel(kind) {
    const path = `/v1/models/${encodeURIComponent(kind.kind)}`;
    const [versions, changes] = await Promise.all([api(path), api(`${path}/history`)]);
    const stageOf = new Map(versions.map((v) => [v.version, v.stage]));
    return el("div", { class: "model-kind", "data-kind": kind.kind },
      el("h3", { text: kind.kind }),
      facts([
        ["Champion", kind.champion ? `${kind.champion}${kind.model ? ` (${kind.model})` : ""}` : "none yet"],
        ["Challengers", kind.challengers.length ? kind.challengers.map((v) => `${v} (${stageOf.get(v)})`).join(", ") : "none"],
        ["Versions", number(kind.versions)],
      ]),
      el("h4", { text: "Stage history, newest first" }),
      history(changes));
  }

  async function loadModels() {
    const who = Aisle.identity();
    if (!who || who.role !== "admin") {
      // The registry's API is for administrators: ask it nothing rather than log a refusal.
      return [empty("The model registry is open to administrators only: sign in as one to see each model's champion, challengers and history.")];
    }
    const kinds = await api("/v1/models");
    if (!kinds.length) {
      return [empty("No model has been registered yet.")];
    }
    return Promise.all(kinds.map(kindPanel));
  }

  /** {category: "Tents", location: "S1"} as "category Tents, location S1". */
  const segmentWords = (a) => {
    const parts = Object.entries(a.segment || {}).map(([name, value]) => `${name} ${value}`);
    return parts.length ? parts.join(", ") : "all";
  };

  async function loadAlerts() {
    let alerts;
    try {
      alerts = Aisle.items(await api("/v1/monitor/alerts"));
    } catch (error) {
      if (error.status !== 404) throw error;
      return [empty("Monitoring has not run yet: this server reports no drift alerts.")];
    }
    if (!alerts.length) {
      return [empty("No drift alert is stored: alerts appear once the monitor (aisle monitor run) finds one.")];
    }
    return [table([
      { label: "As of", value: (a) => (a.since && a.since !== a.as_of ? `${a.as_of} (since ${a.since})` : a.as_of) },
      { label: "Kind", value: (a) => (a.feature ? `${a.kind}: ${a.feature}` : a.kind) },
      { label: "Segment", value: segmentWords },
      { label: "Alert", value: (a) => a.message },
    ], alerts)];
  }

  async function loadFeeds() {
    const batches = await api(`/v1/feeds?limit=${FEED_LIMIT}`);
    if (!batches.length) {
      return [empty("No feed batch has been loaded yet."),
        el("p", {}, "Feeds arrive with ", el("code", { text: "aisle data load KIND FILE" }), " on the server's machine.")];
    }
    const quarantined = batches.filter((b) => b.status === "quarantined").length;
    const n = batches.length;
    const scope = n === FEED_LIMIT ? `the latest ${n} feed batches` : `${n} feed batch${n === 1 ? "" : "es"} loaded`;
    return [
      el("p", { class: "feed-summary", text: `Quarantined: ${quarantined} of ${scope}.` }),
      table([
        { label: "Received", value: (b) => Aisle.when(b.received_at) || b.received_at },
        { label: "Kind", value: (b) => b.kind },
        { label: "File", value: (b) => b.file_name },
        { label: "Days", value: (b) => (b.first_day ? (b.last_day && b.last_day !== b.first_day ? `${b.first_day} to ${b.last_day}` : b.first_day) : "–") },
        { label: "Rows read", value: (b) => number(b.rows_read), num: true },
        { label: "Rows applied", value: (b) => number(b.rows_applied), num: true },
        { label: "Status", value: (b) => el("span", { class: b.status === "quarantined" ? "bad" : "ok", text: b.status }) },
        { label: "Why", value: (b) => b.reason || "–" },
      ], batches)];
  }

  /** One KPI's weekly values as a line, in words below it: the latest week's value and the range. */
  function kpiChart(definition, points) {
    const show = FORMAT[definition.unit];
    const known = points.map((p, i) => ({ i, p, v: p[definition.key] })).filter((d) => d.v !== null);
    if (!known.length) return empty("No week in this range has the data to compute it.");
    const W = 360, H = 150, L = 56, R = 8, T = 10, B = 22;
    const top = Math.max(...known.map((d) => d.v)) * 1.1 || 1;
    const x = (i) => L + (points.length > 1 ? (i * (W - L - R)) / (points.length - 1) : (W - L - R) / 2);
    const y = (v) => T + (H - T - B) * (1 - v / top);
    const at = (d) => `${x(d.i).toFixed(1)},${y(d.v).toFixed(1)}`;
    const latest = known[known.length - 1];
    const low = known.reduce((a, b) => (b.v < a.v ? b : a));
    const high = known.reduce((a, b) => (b.v > a.v ? b : a));
    const described = `${definition.label} in the week of ${latest.p.week_start}: ${show(latest.v)}; ` +
      `over the ${known.length} week${known.length === 1 ? "" : "s"} with data, lowest ${show(low.v)} (week of ${low.p.week_start}), ` +
      `highest ${show(high.v)} (week of ${high.p.week_start}).`;
    const first = points[0].week_start, last = points[points.length - 1].week_start;
    return el("figure", {},
      svg("svg", { class: "chart", viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": described },
        svg("title", {}, described),
        svg("line", { class: "axis", x1: L, y1: y(0), x2: W - R, y2: y(0) }),
        svg("line", { class: "axis", x1: L, y1: T, x2: L, y2: y(0) }),
        svg("text", { x: L - 4, y: y(0), "text-anchor": "end", "dominant-baseline": "middle" }, show(0)),
        svg("text", { x: L - 4, y: y(top / 1.1), "text-anchor": "end", "dominant-baseline": "middle" }, show(top / 1.1)),
        svg("polyline", { class: "actual", points: known.map(at).join(" ") }),
        ...known.map((d) => svg("circle", { class: "kpi-point", cx: x(d.i).toFixed(1), cy: y(d.v).toFixed(1), r: 2.5 },
          svg("title", {}, `Week of ${d.p.week_start}: ${show(d.v)}`))),
        svg("text", { x: x(0), y: H - 6, "text-anchor": points.length > 1 ? "start" : "middle" }, first),
        points.length > 1 ? svg("text", { x: x(points.length - 1), y: H - 6, "text-anchor": "end" }, last) : ""),
      el("p", { class: "chart-summary", text: described }));
  }

  async function loadKpis() {
    const kpis = await api(`/v1/ops/kpis?weeks=${encodeURIComponent(weeksChoice.value)}`);
    return [
      el("p", { class: "muted", text: `The ${kpis.points.length} complete weeks (Monday to Sunday) from ${kpis.first_day} to ${kpis.last_day}, by the application's clock; each point is one week, labelled by its Monday.` }),
      el("div", { class: "kpi-grid" }, kpis.definitions.map((d) =>
        el("section", { class: "kpi", "data-kpi": d.key, "aria-label": d.label },
          el("h3", { text: d.label }),
          kpiChart(d, kpis.points),
          el("p", { class: "definition" }, el("strong", { text: "Definition: " }), d.definition))))];
  }

  // Only the latest load of a section draws: one started before the person signed in may
  // answer last.
  const latest = {};

  async function section(name, loader) {
    const mine = (latest[name] = (latest[name] || 0) + 1);
    showError(`${name}-error`, null);
    try {
      const nodes = await loader();
      if (mine === latest[name]) fill(boxes[name], nodes);
    } catch (error) {
      if (mine !== latest[name]) return;
      fill(boxes[name]);
      showError(`${name}-error`, error);
    }
  }

  function load() {
    if (!Aisle.allowed()) {
      Object.values(boxes).forEach((box) => fill(box));
      return;
    }
    section("models", loadModels);
    section("alerts", loadAlerts);
    section("feeds", loadFeeds);
    section("kpis", loadKpis);
  }

  document.getElementById("ops-refresh").addEventListener("click", load);
  weeksChoice.addEventListener("change", () => Aisle.allowed() && section("kpis", loadKpis));
  Aisle.onIdentityChange(load);
  load();
})();
