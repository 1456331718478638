/* The associate console: find a product, see its stock here, online and in nearby stores (by
   distance, within the configured bound) and in-stock substitutes; find a loyalty customer by
   name, e-mail or id, and see their profile and recommendations. */
"use strict";

(() => {
  const { el, fill, api, showError, productCard, facts, table, money, number, STOCK } = Aisle;
  const $ = (id) => document.getElementById(id);

  // An option a source left empty (null) is left out rather than printed.
  const options = (o) => Object.values(o || {}).filter((v) => v !== null && v !== undefined && v !== "").join(" / ") || "–";
  const storeQuery = () => {
    const store = $("store-id").value;
    return store ? `&store_id=${encodeURIComponent(store)}` : "";
  };

  /** The store choice, by name, from the API's list of stores; "Your store" (the associate's
      own, the API's default) stays first. */
  async function loadStores() {
    const select = $("store-id");
    const chosen = select.value;
    select.replaceChildren(el("option", { value: "", text: "Your store" }));
    if (!Aisle.allowed()) return;
    let stores;
    try {
      stores = await api("/v1/stores");
    } catch (error) {
      showError("product-error", error);
      return;
    }
    const own = Aisle.identity()?.store_id;
    for (const s of stores) {
      if (s.id === own) select.firstChild.textContent = `Your store: ${s.name}`;
      else select.append(el("option", { value: s.id, "data-name": s.name, text: `${s.name}${s.city && !s.name.includes(s.city) ? `, ${s.city}` : ""} (${s.id})` }));
    }
    select.value = [...select.options].some((o) => o.value === chosen) ? chosen : "";
  }

  /** Signed out or in with another role's key, a search says why it cannot run. */
  function refused(errorId) {
    if (Aisle.allowed()) return false;
    showError(errorId, new Aisle.ApiError(0, Aisle.refusal()));
    return true;
  }

  async function findProducts(event) {
    event.preventDefault();
    showError("product-error", null);
    if (refused("product-error")) return;
    $("stock").replaceChildren();
    $("substitutes").replaceChildren();
    const q = $("product-q").value.trim();
    const results = $("product-results");
    results.replaceChildren(el("p", { class: "muted", text: "Searching…" }));
    try {
      // A chosen store makes the cards' stock that store's; "Your store", it is the chain's (the
      // table below then says how many are here).
      const select = $("store-id");
      const page = await api(`/v1/products?limit=8&q=${encodeURIComponent(q)}${storeQuery()}`);
      const where = select.value ? `at ${select.selectedOptions[0].dataset.name}` : "in the chain";
      const found = Aisle.items(page);
      if (!found.length) {
        // The search's own rule (`retail.catalog_queries`): every word, in the product's name or
        // its category's, so fewer words find more ("hiking boots" does find the hiking boots).
        results.replaceChildren(el("p", { class: "empty", text: `No product has every word of “${q}” in its name or its category's name, and no product or SKU has that id. Try fewer words, or the SKU on the label (“P00035-GRP-L”).` }));
        return;
      }
      results.replaceChildren(
        el("h3", { text: `Products (${found.length}${page.total > found.length ? ` of ${page.total}` : ""})` }),
        el("ul", { class: "cards" }, found.map((p) =>
          productCard(p, { label: "Stock and substitutes", run: () => showProduct(p.id || p.product_id) }, where))),
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

  function nearbyList(nearby, withinKm) {
    if (!nearby || !nearby.length) return el("span", { class: "muted", text: `none within ${number(withinKm)} km` });
    return el("ul", { class: "plain" }, nearby.map((n) =>
      el("li", { text: `${n.store_name || n.store_id}${n.city ? `, ${n.city}` : ""} — ${number(n.distance_km, 1)} km: ${n.available_to_sell}` })));
  }

  // A SKU nobody keeps stock records for has no count to show: its zeros would read as sold out.
  // Nor has one this store does not stock, here: it is not carried, which is not sold out.
  const untracked = (v) => v.stock_status === "not_tracked";
  const count = (v, units) => (v.offered === false ? "not sold" : untracked(v) ? STOCK.not_tracked.text : units);
  const here = (v) => (v.stock_status === "not_carried" ? `${STOCK.not_carried.text} here` : count(v, v.at_store));

  function renderStock(result) {
    const box = $("stock");
    if (result.status === "rejected") return failed(box, result);
    const s = result.value;
    const variants = s.variants || [];
    const within = s.nearby_within_km;
    fill(box,
      el("h3", { tabindex: "-1", text: `Stock of ${s.product_name} at ${s.store_name || s.store_id}` }),
      s.tracked === false ? el("p", { class: "muted", text: "This product's stock is not tracked at any store or online: whether it is on a shelf is not known." }) : null,
      variants.length
        ? table([
          { label: "SKU", value: (v) => v.variant_id },
          { label: "Options", value: (v) => options(v.options) },
          { label: "Price", value: (v) => money(v.price), num: true },
          { label: "Here", value: (v) => el("span", { class: (STOCK[v.stock_status] || {}).tone, text: String(here(v)) }), num: true },
          { label: "Online", value: (v) => count(v, v.online), num: true },
          { label: `Stores within ${number(within)} km (nearest first)`, value: (v) => (v.offered === false || untracked(v) ? count(v) : nearbyList(v.nearby, within)) },
        ], variants)
        : el("p", { class: "empty", text: "This product has no SKUs." }),
    );
  }

  function renderSubstitutes(result) {
    const box = $("substitutes");
    if (result.status === "rejected") return failed(box, result);
    const s = result.value;
    const subs = s.substitutes || [];
    fill(box,
      el("h3", { text: `In-stock substitutes at ${s.store_name || s.store_id}` }),
      subs.length
        ? el("ul", { class: "plain" }, subs.map((x) => el("li", {},
          el("strong", { text: x.name }), ` ${options(x.options)} · ${money(x.price)} · ${x.available_to_sell} here`,
          el("br"), el("span", { class: "muted", text: x.reason }))))
        : el("p", { class: "empty", text: "No substitute is in stock at this store. Check the nearby stores above, or search another product." }),
    );
  }

  async function findCustomers(event) {
    event.preventDefault();
    showError("customer-error", null);
    if (refused("customer-error")) return;
    const q = $("customer-q").value.trim();
    const results = $("customer-results");
    $("customer").replaceChildren();
    $("recommendations").replaceChildren();
    results.replaceChildren(el("p", { class: "muted", text: "Searching…" }));
    let found;
    try {
      found = await api(`/v1/customers?limit=10&q=${encodeURIComponent(q)}`);
    } catch (error) {
      results.replaceChildren();
      showError("customer-error", error);
      return;
    }
    const customers = found.customers || [];
    if (!customers.length) {
      results.replaceChildren(el("p", { class: "empty", text: `No customer's name, e-mail or id contains “${found.query}”. Check the spelling, or try part of the e-mail address.` }));
      return;
    }
    results.replaceChildren(
      el("h3", { text: `Customers (${customers.length}${found.total > customers.length ? ` of ${found.total}: add more of the name to narrow it` : ""})` }),
      el("ul", { class: "plain" }, customers.map((c) => el("li", {},
        el("strong", { text: c.name }),
        ` · ${c.customer_id}${c.email ? ` · ${c.email}` : ""}${c.loyalty_tier ? ` · ${c.loyalty_tier}` : ""} `,
        el("button", { type: "button", class: "secondary", "aria-label": `Open profile: ${c.name}`, onclick: () => showCustomer(c), text: "Open profile" })))),
    );
    if (customers.length === 1) showCustomer(customers[0]);
  }

  async function showCustomer(match) {
    showError("customer-error", null);
    const path = `/v1/customers/${encodeURIComponent(match.customer_id)}`;
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
    fill($("customer"),
      el("h3", { tabindex: "-1" }, `${match.name} `, el("small", { class: "ref", text: profile.customer_id })),
      facts([
        ["Loyalty tier", profile.loyalty_tier || "not enrolled"],
        ["Home store", profile.home_store_name || profile.home_store_id || "none on record"],
        ["Member since", profile.member_since || "not on record"],
        ["Marketing consent", profile.marketing_consent ? "yes" : "no"],
        ["Orders", profile.order_count],
        ["Total spend", profile.total_spend === null ? null : money(profile.total_spend)],
        ["Last order", profile.last_order_on || (profile.order_count === 0 ? "no order yet" : null)],
        ["Favourite categories", (profile.favourite_categories || []).join(", ")],
      ]),
      profile.withheld ? el("p", { class: "muted", text: profile.withheld }) : null,
    );
    $("customer").querySelector("h3").focus();
    const box = $("recommendations");
    try {
      const recs = await api(`${path}/recommendations`);
      const found = Aisle.items(recs);
      fill(box,
        el("h3", { text: "Recommended for them" }),
        recs.note ? el("p", { class: "muted", text: recs.note }) : null,
        found.length
          ? el("ul", { class: "cards" }, found.map((p) => productCard(p)))
          : el("p", { class: "empty", text: "Nothing to recommend that is in stock here right now; ask what they are looking for and search the products." }),
      );
    } catch (error) {
      // A refusal (no marketing consent) is an answer, not a failure: say it where the list would be.
      box.replaceChildren(el("h3", { text: "Recommended for them" }), el("p", { class: "muted", text: error.message }));
    }
  }

  $("product-form").addEventListener("submit", findProducts);
  $("customer-form").addEventListener("submit", findCustomers);
  Aisle.onIdentityChange(loadStores);
  loadStores();
})();
