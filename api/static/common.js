/* What every page shares: the API key the person chose, calls to the /v1 API with it, reading
   a server-sent event stream from a POST, and small DOM builders that only ever set text (never
   HTML), so nothing the API returns can inject markup. */
"use strict";

const Aisle = (() => {
  // The role a page is made for; empty where anyone signed in may use it (the storefront).
  const audience = document.body.dataset.audience || "";
  // One sign-in for every page: the key and who it acts as, kept in this browser.
  const keyItem = "aisle.key";
  // Each role as a person reads it: alone, of many, and whose key.
  const ROLE_WORDS = {
    shopper: ["shopper", "shoppers", "a shopper's"],
    associate: ["associate", "store associates", "an associate's"],
    planner: ["planner", "planners", "a planner's"],
    pricing_manager: ["pricing manager", "pricing managers", "a pricing manager's"],
    evaluator: ["evaluator", "evaluators", "an evaluator's"],
    admin: ["administrator", "administrators", "an administrator's"],
  };

  class ApiError extends Error {
    /** `errors`: a 422's list of {loc, msg}, saying which input each problem is about. */
    constructor(status, detail, errors = []) {
      super(detail);
      this.status = status;
      this.errors = errors;
    }
  }

  /** {key, id, role, store_id} of the person signed in, or null. */
  function identity() {
    try {
      const who = JSON.parse(localStorage.getItem(keyItem) || "null");
      return who && who.key && ROLE_WORDS[who.role] ? who : null;
    } catch {
      return null;
    }
  }

  /** "quinn (planner)" */
  const describe = (who) => `${who.id} (${ROLE_WORDS[who.role][0]})`;

  /** Why the person signed in (or nobody) cannot use this page, as a sentence; null when they
      can. Pages ask before they call the API, so a visitor the API would refuse sees this
      sentence and the browser never logs a refused request. */
  function refusal() {
    if (!audience) return null;
    const [, people, whose] = ROLE_WORDS[audience];
    const who = identity();
    if (!who) return `This page is for ${people}. Please sign in with ${whose} key under “Sign in” at the top right.`;
    if (who.role === audience || who.role === "admin") return null;
    return `This page is for ${people}. You are signed in as ${describe(who)}. Sign in with ${whose} key.`;
  }

  const allowed = () => refusal() === null;

  /** On a page open to everyone signed in but made for one role (the storefront), a note for
      anyone else that it is made for others, and what they get here; null when none is due. */
  function otherRoleNote() {
    const role = document.body.dataset.role;
    const who = identity();
    if (audience || !role || !ROLE_WORDS[role] || !who || who.role === role || who.role === "admin") return null;
    const [, people, whose] = ROLE_WORDS[role];
    return `This page is for ${people}. You are signed in as ${describe(who)}: the assistant answers what ${ROLE_WORDS[who.role][2]} key may ask. Sign in with ${whose} key to shop.`;
  }

  const changeListeners = [];

  function changed() {
    showIdentity();
    changeListeners.forEach((listener) => listener(identity()));
  }

  /** Sign in as `who` ({key, id, role}) on every page of this browser, or sign out (null). */
  function setIdentity(who) {
    if (who) localStorage.setItem(keyItem, JSON.stringify({ key: who.key, id: who.id, role: who.role, store_id: who.store_id || null }));
    else localStorage.removeItem(keyItem);
    changed();
  }

  // Signing in or out in another tab applies here too.
  window.addEventListener("storage", (event) => {
    if (event.key === keyItem || event.key === null) changed();
  });

  /** Call `listener(identity)` whenever the person signs in as someone else or forgets the key. */
  function onIdentityChange(listener) {
    changeListeners.push(listener);
  }

  function showIdentity() {
    const who = identity();
    document.getElementById("identity-prefix").textContent = who ? "Signed in as " : "";
    document.getElementById("identity-label").textContent = who ? describe(who) : "Sign in";
    document.getElementById("sign-out").hidden = !who;
    const access = document.getElementById("access");
    const why = refusal() || otherRoleNote();
    access.textContent = why || "";
    access.hidden = !why;
  }

  /** The request's headers; with `signed` false, without the key (as a visitor who is not
      signed in, for routes that serve one). */
  function headers(extra, signed = true) {
    const who = signed ? identity() : null;
    const h = { Accept: "application/json", ...extra };
    if (who) h.Authorization = `Bearer ${who.key}`;
    return h;
  }

  async function failure(response) {
    let detail = `${response.status} ${response.statusText}`.trim();
    let errors = [];
    try {
      const body = await response.json();
      if (body && typeof body.detail === "string") detail = body.detail;
      if (body && Array.isArray(body.errors)) errors = body.errors;
    } catch {
      /* not JSON: keep the status line */
    }
    // A person at a page signs in with the panel; the API's own 401 sentence is for programs
    // (it spells out the header to send).
    if (response.status === 401) {
      detail = identity()
        ? "This key was not accepted: sign in again under “Signed in as” at the top right."
        : "Please sign in: choose a demo user or paste an API key under “Sign in” at the top right.";
    }
    return new ApiError(response.status, detail, errors);
  }

  /** fetch with the chosen key (none with `signed: false`); resolves to the response when it is
      2xx, else throws ApiError. */
  async function request(path, { method = "GET", body, headers: extra, signed = true } = {}) {
    const init = { method, headers: headers(extra, signed) };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch {
      throw new ApiError(0, "The server could not be reached; check the connection and retry.");
    }
    if (!response.ok) throw await failure(response);
    return response;
  }

  async function api(path, options) {
    const response = await request(path, options);
    return response.status === 204 ? null : response.json();
  }

  /** Read a text/event-stream body, calling onEvent(name, data) per event as it arrives. */
  async function readEvents(response, onEvent) {
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value.replace(/\r\n?/g, "\n");
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        dispatch(buffer.slice(0, end), onEvent);
        buffer = buffer.slice(end + 2);
      }
    }
    if (buffer.trim()) dispatch(buffer, onEvent);
  }

  function dispatch(block, onEvent) {
    let name = "message";
    const data = [];
    for (const line of block.split("\n")) {
      if (line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
      if (field === "event") name = value;
      else if (field === "data") data.push(value);
    }
    if (!data.length) return;
    const text = data.join("\n");
    let parsed = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      /* plain text data */
    }
    onEvent(name, parsed);
  }

  /** el("p", {class: "x"}, "text", child, ...): attributes starting with "on" become listeners. */
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
      else if (name === "text") node.textContent = value;
      else node.setAttribute(name, value === true ? "" : value);
    }
    for (const child of children.flat(Infinity)) {
      if (child === undefined || child === null || child === false) continue;
      node.append(child instanceof Node ? child : String(child));
    }
    return node;
  }

  /** An SVG element for the pages' charts: svg("line", {x1: 0, ...}, child, ...). */
  function svg(tag, attrs, ...children) {
    const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
    for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, value);
    node.append(...children);
    return node;
  }

  /** node.replaceChildren(...) that skips missing children as el() does: the DOM's own
      method writes a null child as the text "null". */
  function fill(node, ...children) {
    node.replaceChildren(...children.flat(Infinity).filter((c) => c !== undefined && c !== null && c !== false));
  }

  function showError(id, error) {
    const node = document.getElementById(id);
    if (!error) {
      node.hidden = true;
      node.textContent = "";
      return;
    }
    node.textContent = error instanceof ApiError ? error.message : `Something went wrong: ${error}`;
    node.hidden = false;
  }

  /** `value` rounded to `digits` decimals as Python rounds the server's sentences: from its
      exact binary value (2.675 is 2.67499...: 2.67), an exact tie to even (12.25: 12.2).
      toLocaleString rounds the shortest decimal that reads back as the float ("2.675": 2.68)
      and a tie away from zero, so a table could contradict the sentence beside it. toFixed
      rounds the exact value but a tie up; a float is an exact tie only when it is an odd
      multiple of 2^-(digits + 1), which scaling by a power of two tests exactly. */
  function pythonRound(value, digits) {
    const halves = Math.abs(value) * 2 ** (digits + 1);
    if (Number.isInteger(halves) && halves % 2 === 1) {
      const below = Math.floor(Math.abs(value) * 10 ** digits);
      return (Math.sign(value) * (below % 2 === 0 ? below : below + 1)) / 10 ** digits;
    }
    return Number(value.toFixed(digits));
  }

  function number(value, digits = 0) {
    if (value === null || value === undefined || Number.isNaN(Number(value))) return "–";
    return pythonRound(Number(value), digits).toLocaleString(undefined, {
      minimumFractionDigits: digits,
      maximumFractionDigits: digits,
    });
  }

  const money = (value) => (value === null || value === undefined ? "–" : `$${number(value, 2)}`);
  const percent = (value) => (value === null || value === undefined ? "–" : `${number(value * 100, 1)}%`);

  /** When something happened or will, counted from now ("12 min ago", "in 7 days"). The header's
      "Today" is the business date (a demo world's own day): an event's calendar date beside it
      would read as a contradiction, while its distance from now is true in either frame. Past a
      month the date itself is clearer. */
  const ago = new Intl.RelativeTimeFormat("en", { numeric: "auto" });
  const UNITS = [["day", 86400], ["hour", 3600], ["minute", 60], ["second", 1]];
  function when(iso) {
    if (!iso) return null;
    const seconds = (Date.parse(iso) - Date.now()) / 1000;
    if (Number.isNaN(seconds)) return null;
    if (Math.abs(seconds) > 31 * 86400) return `${iso.slice(0, 16).replace("T", " ")} UTC`;
    const [unit, size] = UNITS.find(([, n]) => Math.abs(seconds) >= n) || UNITS[UNITS.length - 1];
    return ago.format(Math.round(seconds / size), unit);
  }

  function priceRange(low, high) {
    if (low === null || low === undefined) return "price on request";
    return high !== undefined && high !== null && high !== low
      ? `${money(low)} – ${money(high)}`
      : money(low);
  }

  /** dl.facts from [[term, value], ...], skipping rows whose value is missing. */
  function facts(rows) {
    return el(
      "dl",
      { class: "facts" },
      rows
        .filter(([, value]) => value !== undefined && value !== null && value !== "")
        .map(([term, value]) => [el("dt", { text: term }),
          value instanceof Node ? el("dd", {}, value) : el("dd", { text: String(value) })]),
    );
  }

  function table(columns, rows) {
    // columns: [{label, value: row => text, num?: bool}]
    const head = el("tr", {}, columns.map((c) => el("th", { scope: "col", class: c.num ? "num" : null, text: c.label })));
    const body = rows.map((row) =>
      el("tr", {}, columns.map((c) => {
        const value = c.value(row);
        return el("td", { class: c.num ? "num" : null }, value instanceof Node ? value : String(value ?? "–"));
      })),
    );
    return el("div", { class: "table-wrap" }, el("table", {}, el("thead", {}, head), el("tbody", {}, body)));
  }

  function placeholder(name) {
    const initials = (name || "?").split(/\s+/).filter(Boolean).slice(0, 2).map((w) => w[0].toUpperCase()).join("");
    return el("div", { class: "placeholder", "aria-hidden": "true", text: initials });
  }

  // The words for the API's `stock_status` (decided on the server, one rule for every page):
  // stock nobody records is "not tracked", never "in stock"; a SKU the store does not stock is
  // "not carried" there, never "out of stock" (it did not sell out; other stores may have it).
  const STOCK = {
    in_stock: { text: "In stock", tone: "ok" },
    out_of_stock: { text: "Out of stock", tone: "bad" },
    not_tracked: { text: "Stock not tracked", tone: "muted" },
    not_carried: { text: "Not carried", tone: "muted" },
  };

  /** A product card; `action` is an optional {label, run} for its button, `where` what its
      stock line is about when that is not plain ("at S001", "in the chain"). */
  function productCard(p, action, where) {
    const name = p.name || p.product_id || p.id;
    const image = p.image;
    let picture = placeholder(name);
    if (image) {
      picture = el("img", { src: image, alt: "", loading: "lazy", width: 220, height: 165 });
      // Offline or missing images fall back to the placeholder rather than a broken icon.
      picture.addEventListener("error", () => picture.replaceWith(placeholder(name)), { once: true });
    }
    const brand = p.brand ?? p.brand_name;
    const stock = STOCK[p.stock_status];
    return el(
      "li",
      { class: "card" },
      picture,
      el("h3", { text: name }),
      brand ? el("span", { class: "muted", text: brand }) : null,
      el("span", { class: "price", text: priceRange(p.price_min, p.price_max) }),
      stock ? el("span", { class: stock.tone, text: where && p.stock_status !== "not_tracked" ? `${stock.text} ${where}` : p.stock_status === "not_carried" ? `${stock.text} here` : stock.text }) : null,
      p.reason ? el("span", { class: "muted", text: p.reason }) : null,
      // Every card's button says the same; its accessible name says which product it is about.
      action ? el("button", { type: "button", class: "secondary", "aria-label": `${action.label}: ${name}`, onclick: action.run, text: action.label }) : null,
    );
  }

  /** A random RFC 4122 version-4 id; crypto.randomUUID exists only on secure origins. */
  function uuid4() {
    if (crypto.randomUUID) return crypto.randomUUID();
    const b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const h = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }

  /** Items of a list response, whether the API sends a bare list or {items: [...]}. */
  const items = (data) => (Array.isArray(data) ? data : (data && (data.items || data.runs)) || []);

  /** Who a pasted key acts as, asked of the API; null when the key is not accepted. */
  async function whoHolds(key) {
    const response = await fetch("/v1/me", { headers: { Accept: "application/json", Authorization: `Bearer ${key}` } });
    if (response.status === 401) return null;
    if (!response.ok) throw await failure(response);
    const me = await response.json();
    return { key, id: me.id, role: me.role, store_id: me.store_id };
  }

  function wireIdentityPanel() {
    const panel = document.getElementById("identity");
    const demo = document.getElementById("demo-form");
    const select = document.getElementById("demo-user");
    // Closing the panel hides the control that had focus; focus stays where the panel opens.
    const close = () => {
      panel.open = false;
      panel.querySelector("summary").focus();
    };
    if (select) {
      // Offer the role this page is made for first.
      const own = [...select.querySelectorAll("optgroup")].find((g) => g.label === (audience || document.body.dataset.role));
      if (own) select.prepend(own);
      const who = identity();
      const current = who && [...select.options].find((o) => o.value === who.key);
      (current || select.options[0] || {}).selected = true;
    }
    if (demo) {
      demo.addEventListener("submit", (event) => {
        event.preventDefault();
        const option = select.selectedOptions[0];
        if (!option) return;
        const { id, role: chosenRole, store } = option.dataset;
        setIdentity({ key: option.value, id, role: chosenRole, store_id: store });
        close();
      });
    }
    document.getElementById("key-form").addEventListener("submit", async (event) => {
      event.preventDefault();
      const input = document.getElementById("api-key");
      const key = input.value.trim();
      if (!key) return;
      showError("key-error", null);
      try {
        const who = await whoHolds(key);
        if (!who) {
          showError("key-error", new ApiError(401, "This key was not accepted: check it and paste it again."));
          return;
        }
        setIdentity(who);
      } catch (error) {
        showError("key-error", error);
        return;
      }
      input.value = "";
      close();
    });
    document.getElementById("sign-out").addEventListener("click", () => setIdentity(null));
    if (!identity()) panel.open = true;
    showIdentity();
  }

  document.addEventListener("DOMContentLoaded", wireIdentityPanel);

  /** Who proposed or decided something, as a person names them: an operations agent's service
      principal ("agent:replenishment") is "the replenishment agent"; anyone else by their id. */
  const who = (principal) => {
    const match = /^agent:(.+)$/.exec(principal || "");
    return match ? `the ${match[1]} agent` : principal;
  };

  return {
    ApiError, api, request, readEvents, el, svg, fill, showError, number, money, percent, when, who,
    priceRange, facts, table, productCard, STOCK, uuid4, items, identity, onIdentityChange, allowed, refusal,
  };
})();
