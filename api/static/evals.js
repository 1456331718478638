/* The evaluation reports: every run the API lists (GET /v1/evals/runs, newest first), with its
   wall time, its verdict (goals met and every failing suite) and a link to its report; with no
   run yet, the command that makes one. */
"use strict";

(() => {
  const { el, api, request, showError, table } = Aisle;
  const box = document.getElementById("runs");
  const SMOKE_COMMAND = "aisle eval run --smoke";

  // The report needs the API key, which a plain link would not send: fetch it with the key and
  // open it from memory in a new tab.
  async function openReport(path) {
    const tab = window.open("", "_blank");
    try {
      const html = await (await request(path)).text();
      const url = URL.createObjectURL(new Blob([html], { type: "text/html" }));
      if (tab) tab.location = url;
      else window.location = url;
    } catch (error) {
      if (tab) tab.close();
      showError("runs-error", error);
    }
  }

  function link(run) {
    if (!run.report_url) return "–";
    return el("button", { type: "button", text: "Open report", onclick: () => openReport(run.report_url) });
  }

  // Only the latest load draws: one started before the person signed in may answer last.
  let latest = 0;

  async function load() {
    const mine = ++latest;
    showError("runs-error", null);
    if (!Aisle.allowed()) {
      box.replaceChildren();
      return;
    }
    let runs;
    try {
      runs = Aisle.items(await api("/v1/evals/runs"));
      if (mine !== latest) return;
    } catch (error) {
      if (mine !== latest) return;
      box.replaceChildren();
      return showError("runs-error", error);
    }
    if (!runs.length) {
      box.replaceChildren(el("div", { class: "empty-state" },
        el("p", { class: "empty", text: "No evaluation run has been recorded yet." }),
        el("p", {}, "Make one on the server's machine, with the same ", el("code", { text: "AISLE_VAR_DIR" }), ":"),
        el("pre", {}, el("code", { text: SMOKE_COMMAND })),
        el("p", { class: "muted" }, "That is the CI smoke subset (a few minutes; the first run also builds the evaluation world). ",
          el("code", { text: "aisle eval run" }), " runs every suite. A run is listed here when it ends; press Refresh.")));
      return;
    }
    box.replaceChildren(table([
      { label: "Run", value: (r) => r.run_id },
      { label: "Started", value: (r) => Aisle.when(r.started_at) || "–" },
      { label: "Wall time", value: (r) => r.wall_time, num: true },
      { label: "Verdict", value: (r) => el("span", { class: r.failing_suites || r.goals_met < r.goals ? "bad" : "ok", text: r.headline }) },
      { label: "Suites", value: (r) => r.suites || "–" },
      { label: "Brains", value: (r) => r.brains || "–" },
      { label: "World", value: (r) => r.world || "–" },
      { label: "Report", value: link },
    ], runs));
  }

  document.getElementById("runs-refresh").addEventListener("click", load);
  Aisle.onIdentityChange(load);
  load();
})();
