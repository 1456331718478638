/* The evaluation reports: every run the API lists, newest first as it sends them, with its
   scalar fields as columns and a link to its report where it has one. */
"use strict";

(() => {
  const { el, api, showError, table } = Aisle;
  const box = document.getElementById("runs");
  const scalar = (v) => v === null || ["string", "number", "boolean"].includes(typeof v);

  function link(run) {
    const href = run.report_url || run.url;
    return href ? el("a", { href, text: "report" }) : "–";
  }

  async function load() {
    showError("runs-error", null);
    let runs;
    try {
      runs = Aisle.items(await api("/v1/evals/runs"));
    } catch (error) {
      box.replaceChildren();
      // No evaluation service yet answers like no runs at all.
      if (error.status === 404) runs = [];
      else return showError("runs-error", error);
    }
    if (!runs.length) {
      box.replaceChildren(el("p", { class: "empty", text: "No evaluation run has been recorded yet." }));
      return;
    }
    const keys = [...new Set(runs.flatMap((r) => Object.keys(r).filter((k) => scalar(r[k]) && !["report_url", "url"].includes(k))))];
    const columns = keys.map((k) => ({
      label: k.replaceAll("_", " "),
      value: (r) => (r[k] === undefined || r[k] === null ? "–" : String(r[k])),
      num: runs.every((r) => r[k] === undefined || r[k] === null || typeof r[k] === "number"),
    }));
    if (runs.some((r) => r.report_url || r.url)) columns.push({ label: "Report", value: link });
    box.replaceChildren(table(columns, runs));
  }

  document.getElementById("runs-refresh").addEventListener("click", load);
  Aisle.onIdentityChange(load);
  load();
})();
