/* The evaluation reports: every run the API lists (GET /v1/evals/runs, newest first), with its
   scalar fields as columns and a link to its report where it has one. */
"use strict";

(() => {
  const { el, api, request, showError, table } = Aisle;
  const box = document.getElementById("runs");
  const scalar = (v) => v === null || ["string", "number", "boolean"].includes(typeof v);

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
      box.replaceChildren(el("p", { class: "empty", text: "No evaluation run has been recorded yet." }));
      return;
    }
    const keys = [...new Set(runs.flatMap((r) => Object.keys(r).filter((k) => scalar(r[k]) && !["report_url", "has_report"].includes(k))))];
    const columns = keys.map((k) => ({
      label: k.replaceAll("_", " "),
      value: (r) => (r[k] === undefined || r[k] === null ? "–" : String(r[k])),
      num: runs.every((r) => r[k] === undefined || r[k] === null || typeof r[k] === "number"),
    }));
    if (runs.some((r) => r.report_url)) columns.push({ label: "Report", value: link });
    box.replaceChildren(table(columns, runs));
  }

  document.getElementById("runs-refresh").addEventListener("click", load);
  Aisle.onIdentityChange(load);
  load();
})();
