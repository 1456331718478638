/* The storefront's recommendations: the home grid (for the signed-in shopper, or for an
   anonymous visitor known by a session id this browser keeps), and a product's view with what
   completes the look and what is like it. Opening a product posts a click naming the
   recommendation it came from, so the grid that follows already reflects it. */
"use strict";

(() => {
  const { el, api, fill, showError, productCard, uuid4, onIdentityChange } = Aisle;
  const sessionItem = "aisle.session";
  const SESSION_ID = /^[A-Za-z0-9_-]{8,40}$/;
  const grid = document.getElementById("home-grid");
  const view = document.getElementById("product-view");
  const GRID_SIZE = 8;
  const VIEW_SIZE = 8;

  /** This browser's session id: made once, kept across reloads. */
  function sessionId() {
    let id = localStorage.getItem(sessionItem);
    if (!id || !SESSION_ID.test(id)) {
      id = uuid4();
      localStorage.setItem(sessionItem, id);
    }
    return id;
  }

  const visitor = () => ({ "X-Session-Id": sessionId() });

  function recommendations(params) {
    return api(`/v1/recommendations?${new URLSearchParams(params)}`, { headers: visitor() });
  }

  function record(body) {
    return api("/v1/events", { method: "POST", body, headers: visitor() });
  }

  /** A card for a recommended item (its price range, as every card shows one); its button
      opens the product and records the click. */
  function card(item, served) {
    return productCard(item, { label: "View", run: () => open(item, served.recommendation_id) });
  }

  async function showHome() {
    grid.setAttribute("aria-busy", "true");
    try {
      const served = await recommendations({ placement: "home", k: GRID_SIZE });
      fill(grid, served.items.length ? served.items.map((item) => card(item, served)) : el("li", { class: "empty", text: "Nothing to suggest yet." }));
      showError("picks-error", null);
    } catch (error) {
      fill(grid);
      showError("picks-error", error);
    } finally {
      grid.setAttribute("aria-busy", "false");
    }
  }

  async function open(item, recommendationId) {
    view.hidden = false;
    document.getElementById("product-title").textContent = item.name;
    document.getElementById("product-facts").textContent = `${Aisle.priceRange(item.price_min, item.price_max)} · ${item.reason}`;
    const look = document.getElementById("look-grid");
    const like = document.getElementById("like-grid");
    look.setAttribute("aria-busy", "true");
    fill(look);
    fill(like);
    view.focus();
    try {
      // The click first: the product's own lists and the next home grid follow it.
      await record({ type: "click", product_id: item.product_id, recommendation_id: recommendationId });
      const served = await recommendations({ placement: "product", product_id: item.product_id, k: VIEW_SIZE });
      const together = served.items.filter((i) => i.source === "bought_together");
      const alike = served.items.filter((i) => i.source !== "bought_together");
      fill(look, together.length ? together.map((i) => card(i, served)) : el("li", { class: "empty", text: "Nothing bought with it yet." }));
      fill(like, alike.map((i) => card(i, served)));
      showError("product-error", null);
    } catch (error) {
      showError("product-error", error);
    } finally {
      look.setAttribute("aria-busy", "false");
    }
    showHome();
  }

  onIdentityChange(() => {
    view.hidden = true;
    showHome();
  });
  document.addEventListener("DOMContentLoaded", showHome);
})();
