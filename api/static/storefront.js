/* The storefront's recommendations: the home grid (for the signed-in shopper, or for an
   anonymous visitor known by a session id this browser keeps), and a product's view with what
   completes the look and what is like it, named in the address (`?product=ID`) so a reload or
   Back shows the same view. Opening a product posts a click naming the recommendation it came
   from, so the grid that follows already reflects it. */
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
  // Only a shopper's key has a customer to pick for (`api.visitors`); anyone else signed in (an
  // associate trying the shop) is this browser's anonymous visitor here, so the grid shows what
  // a visitor sees instead of the API's refusal.
  const asShopper = () => Aisle.identity()?.role === "shopper";

  function recommendations(params) {
    return api(`/v1/recommendations?${new URLSearchParams(params)}`, { headers: visitor(), signed: asShopper() });
  }

  function record(body) {
    return api("/v1/events", { method: "POST", body, headers: visitor(), signed: asShopper() });
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

  // The product on view is in the address (`?product=ID`), so a reload, Back and a shared
  // link show the same view.
  const PRODUCT = "product";
  const productInAddress = () => new URLSearchParams(location.search).get(PRODUCT);

  function address(productId) {
    const url = new URL(location.href);
    if (productId) url.searchParams.set(PRODUCT, productId);
    else url.searchParams.delete(PRODUCT);
    return url;
  }

  /** A recommended card's View: the product goes in the address, and its click is recorded. */
  function open(item, recommendationId) {
    if (productInAddress() !== item.product_id) history.pushState(null, "", address(item.product_id));
    show(item, recommendationId);
  }

  /** The product's view: its name and prices, what completes the look and what is like it.
      With `recommendationId` (a card was clicked), the click is recorded first and the home
      grid follows it; a view restored from the address records no click. */
  async function show(item, recommendationId = null) {
    view.hidden = false;
    document.getElementById("product-title").textContent = item.name;
    document.getElementById("product-facts").textContent = [Aisle.priceRange(item.price_min, item.price_max), item.reason].filter(Boolean).join(" · ");
    const look = document.getElementById("look-grid");
    const like = document.getElementById("like-grid");
    look.setAttribute("aria-busy", "true");
    fill(look);
    fill(like);
    view.focus();
    try {
      // The click first: the product's own lists and the next home grid follow it.
      if (recommendationId) await record({ type: "click", product_id: item.product_id, recommendation_id: recommendationId });
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
    if (recommendationId) showHome();
  }

  /** The view the address names (after a reload, Back or Forward): the product it names, read
      afresh, or no product view. */
  async function fromAddress() {
    const id = productInAddress();
    if (!id) {
      view.hidden = true;
      return;
    }
    try {
      const product = await api(`/v1/products/${encodeURIComponent(id)}`);
      show({ product_id: product.id, name: product.name, price_min: product.price_min, price_max: product.price_max });
    } catch (error) {
      view.hidden = false;
      document.getElementById("product-title").textContent = "Product not found";
      document.getElementById("product-facts").textContent = "";
      fill(document.getElementById("look-grid"));
      fill(document.getElementById("like-grid"));
      showError("product-error", error);
    }
  }

  onIdentityChange(() => {
    // Another person's recommendations: the view of the last one's pick closes.
    if (productInAddress()) history.replaceState(null, "", address(null));
    view.hidden = true;
    showHome();
  });
  window.addEventListener("popstate", fromAddress);
  document.addEventListener("DOMContentLoaded", () => {
    showHome();
    fromAddress();
  });
})();
