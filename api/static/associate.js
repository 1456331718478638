/* The associate console: find a product, see its stock here, online and in nearby stores (by
   distance) and in-stock substitutes; look up a loyalty customer and their recommendations. */
"use strict";

(() => {
  const { el, api, showError, productCard, facts, table, money, number } = Aisle;
  const $ = (id) => document.getElementById(id);

  const options = (o) => Object.values(o || {}).join(" / ") || "–";
  const storeQuery = () => {
    const store = $("store-id").value.trim();
    return store ? `&store_id=${encodeURIComponent(store)}` : "";
  };

  async function findProducts(event) {
    event.preventDefault();
    showError("product-error", null);
    $("stock").replaceChildren();
    $("substitutes").replaceChildren();
    const q = $("product-q").value.trim();
    const results = $("product-results");
    results.replaceChildren(el("p", { class: "muted", text: "Searching…" }));
    try {
      const page = await api(`/v1/products?limit=8&q=${encodeURIComponent(q)}`);
      const found = Aisle.items(page);
      if (!found.length) {
        results.replaceChildren(el("p", { class: "empty", text: `No product's name contains “${q}”.` }));
        return;
      }
      results.replaceChildren(
        el("h3", { text: `Products (${found.length}${page.total > found.length ? ` of ${page.total}` : ""})` }),
        el("ul", { class: "cards" }, found.map((p) =>
          productCard(p, { label: "Stock and substitutes", run: () => showProduct(p.id || p.product_id) }))),
      );
    } catch (error) {
      results.replaceChildren();
      showError("product-error", error);
    }
  }

  async function showProduct(productId) {
    showError("product-error", null);
    const id = encodeURIComponent(productId);
    const [stock, subs] = await Promise.allSettled([
      api(`/v1/stock?product_id=${id}${storeQuery()}`),
      api(`/v1/substitutes?product_id=${id}${storeQuery()}`),
    ]);
    renderStock(stock);
    renderSubstitutes(subs);
    $("stock").querySelector("h3")?.focus();
  }

  function failed(container, result) {
    container.replaceChildren(el("p", { class: "error", role: "alert", text: result.reason.message || String(result.reason) }));
  }

  function nearbyList(nearby) {
    if (!nearby || !nearby.length) return el("span", { class: "muted", text: "none nearby" });
    return el("ul", { class: "plain" }, nearby.map((n) =>
      el("li", { text: `${n.store_name || n.store_id}${n.city ? `, ${n.city}` : ""} — ${n.distance_km === null || n.distance_km === undefined ? "distance unknown" : `${number(n.distance_km, 1)} km`}: ${n.available_to_sell}` })));
  }

  function renderStock(result) {
    const box = $("stock");
    if (result.status === "rejected") return failed(box, result);
    const s = result.value;
    const variants = s.variants || [];
    box.replaceChildren(
      el("h3", { tabindex: "-1", text: `Stock of ${s.product_name} at ${s.store_name || s.store_id}` }),
      s.tracked === false ? el("p", { class: "muted", text: "This product's stock is not tracked here." }) : null,
      variants.length
        ? table([
          { label: "SKU", value: (v) => v.variant_id },
          { label: "Options", value: (v) => options(v.options) },
          { label: "Price", value: (v) => money(v.price), num: true },
          { label: "Here", value: (v) => (v.offered === false ? "not sold" : v.at_store), num: true },
          { label: "Online", value: (v) => v.online, num: true },
          { label: "Nearby stores (nearest first)", value: (v) => nearbyList(v.nearby) },
        ], variants)
        : el("p", { class: "empty", text: "This product has no SKUs." }),
    );
  }

  function renderSubstitutes(result) {
    const box = $("substitutes");
    if (result.status === "rejected") return failed(box, result);
    const s = result.value;
    const subs = s.substitutes || [];
    box.replaceChildren(
      el("h3", { text: `In-stock substitutes at ${s.store_name || s.store_id}` }),
      subs.length
        ? el("ul", { class: "plain" }, subs.map((x) => el("li", {},
          el("strong", { text: x.name }), ` ${options(x.options)} · ${money(x.price)} · ${x.available_to_sell} here`,
          el("br"), el("span", { class: "muted", text: x.reason }))))
        : el("p", { class: "empty", text: "No substitute is in stock at this store." }),
    );
  }

  async function lookUpCustomer(event) {
    event.preventDefault();
    showError("customer-error", null);
    const id = $("customer-id").value.trim();
    const path = `/v1/customers/${encodeURIComponent(id)}`;
    $("customer").replaceChildren(el("p", { class: "muted", text: "Looking up…" }));
    $("recommendations").replaceChildren();
    let profile;
    try {
      profile = await api(path);
    } catch (error) {
      $("customer").replaceChildren();
      showError("customer-error", error);
      return;
    }
    $("customer").replaceChildren(
      el("h3", { text: `Customer ${profile.customer_id}` }),
      facts([
        ["Loyalty tier", profile.loyalty_tier || "not enrolled"],
        ["Home store", profile.home_store_name || profile.home_store_id],
        ["Member since", profile.member_since],
        ["Marketing consent", profile.marketing_consent ? "yes" : "no"],
        ["Orders", profile.order_count],
        ["Total spend", profile.total_spend === null ? null : money(profile.total_spend)],
        ["Last order", profile.last_order_on],
        ["Favourite categories", (profile.favourite_categories || []).join(", ")],
      ]),
      profile.withheld ? el("p", { class: "muted", text: profile.withheld }) : null,
    );
    const box = $("recommendations");
    try {
      const recs = await api(`${path}/recommendations`);
      const found = Aisle.items(recs);
      box.replaceChildren(
        el("h3", { text: "Recommended for them" }),
        recs.note ? el("p", { class: "muted", text: recs.note }) : null,
        found.length
          ? el("ul", { class: "cards" }, found.map((p) => productCard(p)))
          : el("p", { class: "empty", text: "No recommendation for this customer yet." }),
      );
    } catch (error) {
      // A refusal (no marketing consent) is an answer, not a failure: say it where the list would be.
      box.replaceChildren(el("h3", { text: "Recommended for them" }), el("p", { class: "muted", text: error.message }));
    }
  }

  $("product-form").addEventListener("submit", findProducts);
  $("customer-form").addEventListener("submit", lookUpCustomer);
})();
