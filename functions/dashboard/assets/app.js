// The sales dashboard: signs in with OpenID Connect (authorization code with PKCE) against the
// deployment's issuer, keeps the access token in memory only, and reads the report routes with
// it every 10 seconds. Nothing here is rendered by the server.
"use strict";

const REFRESH_MS = 10000;
const READS_AT_ONCE = 6;
const READS_PER_REFRESH = 48;
const MOST_BARS = 20;
const $ = (id) => document.getElementById(id);
const api = location.pathname.replace(/\/dashboard\/?$/, "");

const state = {
  config: null,
  token: null,
  claims: null,
  day: null,
  flash: [],
  timer: null,
  reading: false,
  again: false,
  expiry: null,
  charts: {},
};

// ---------------------------------------------------------------- sign-in (OIDC, PKCE)

const b64url = (bytes) => btoa(String.fromCharCode(...new Uint8Array(bytes))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
const random = (n) => b64url(crypto.getRandomValues(new Uint8Array(n)));

async function discovery() {
  const r = await fetch(state.config.discoveryUrl);
  if (!r.ok) throw new Error(`the identity provider's configuration did not load (${r.status})`);
  return r.json();
}

function redirectUri() {
  return location.origin + location.pathname;
}

async function signIn() {
  const oidc = await discovery();
  const verifier = random(32);
  const challenge = b64url(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)));
  const st = random(16);
  // Only the PKCE verifier and state survive the redirect (sessionStorage, this tab); the token never is stored.
  sessionStorage.setItem("dashboard.pkce", JSON.stringify({ verifier, state: st, hash: location.hash }));
  const q = new URLSearchParams({
    response_type: "code",
    client_id: state.config.clientId,
    redirect_uri: redirectUri(),
    scope: ["openid", state.config.scopes].filter(Boolean).join(" "),
    state: st,
    code_challenge: challenge,
    code_challenge_method: "S256",
  });
  location.assign(`${oidc.authorization_endpoint}?${q}`);
}

async function exchange(code, returnedState) {
  const saved = JSON.parse(sessionStorage.getItem("dashboard.pkce") || "null");
  sessionStorage.removeItem("dashboard.pkce");
  history.replaceState(null, "", location.pathname + (saved && saved.hash ? saved.hash : ""));
  if (!saved || saved.state !== returnedState) throw new Error("the sign-in came back for another attempt: sign in again");
  const oidc = await discovery();
  const r = await fetch(oidc.token_endpoint, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "authorization_code",
      code,
      redirect_uri: redirectUri(),
      client_id: state.config.clientId,
      code_verifier: saved.verifier,
    }),
  });
  const answer = await r.json().catch(() => ({}));
  if (!r.ok || !answer.access_token) throw new Error(`sign-in refused: ${answer.error_description || answer.error || r.status}`);
  return answer.access_token;
}

function claimsOf(token) {
  const part = token.split(".")[1] || "";
  const json = atob(part.replace(/-/g, "+").replace(/_/g, "/"));
  return JSON.parse(decodeURIComponent(escape(json)));
}

function scopesOf(claims) {
  const raw = Array.isArray(claims.scope) ? claims.scope.join(" ") : String(claims.scope || claims.scp || "");
  return raw.split(/\s+/).filter(Boolean);
}

function signOut(why) {
  state.token = null;
  seen.clear();
  state.claims = null;
  clearInterval(state.timer);
  clearTimeout(state.expiry);
  $("board").hidden = true;
  $("sign-out").hidden = true;
  $("who").textContent = "";
  $("day").disabled = true;
  $("signed-out").hidden = false;
  notice(why || "");
}

function notice(text) {
  $("notice").textContent = text;
  $("notice").hidden = !text;
}

// ---------------------------------------------------------------- reading the reports

async function get(path) {
  const r = await fetch(api + path, { headers: { Authorization: `Bearer ${state.token}` } });
  if (r.status === 401) {
    signOut("Your sign-in has expired: sign in again.");
    throw new Error("signed out");
  }
  const body = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(body.detail || body.message || `${path}: ${r.status}`);
  return body;
}

async function inTurns(items, read) {
  const out = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await read(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(READS_AT_ONCE, items.length) }, worker));
  return out;
}

function isHeadOffice() {
  return scopesOf(state.claims).includes("headoffice");
}

function weekBefore(day) {
  const d = new Date(`${day}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() - 7);
  return d.toISOString().slice(0, 10);
}

// What the page has read, by key, with when. A chain of a thousand stores cannot have every
// store's report read every 10 seconds by every open dashboard: the chain report (one read)
// keeps the headline figures and the store table fresh, and the per-store reads (hours,
// payments, top commodities, flash stock) take turns within READS_PER_REFRESH, stalest first.
const seen = new Map();
// Half a refresh: what was read at the last refresh is due again at this one.
const fresh = (key) => seen.has(key) && Date.now() - seen.get(key).at < REFRESH_MS / 2;
const known = (key) => (seen.has(key) ? seen.get(key).value : undefined);

// Units sold of `skus` in a store that day, from its commodity pages (by sku, so reading stops
// past the last one wanted). Used only for flash skus outside the store's top ten.
async function soldOf(storeId, day, skus) {
  const wanted = [...skus].sort();
  const sold = new Map();
  let cursor = "";
  do {
    const page = await get(`/stores/${encodeURIComponent(storeId)}/reports/daily/commodities?date=${day}&limit=1000${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
    for (const c of page.items) if (wanted.includes(c.sku)) sold.set(c.sku, c);
    const last = page.items.length ? page.items[page.items.length - 1].sku : null;
    cursor = last !== null && last < wanted[wanted.length - 1] ? page.nextCursor : null;
  } while (cursor);
  return sold;
}

// One refresh at a time: one asked for while another reads runs when it ends.
async function refresh() {
  if (state.reading) {
    state.again = true;
    return;
  }
  state.reading = true;
  try {
    await readAndRender();
  } finally {
    state.reading = false;
  }
  if (state.again && state.token) {
    state.again = false;
    refresh();
  }
}

async function readAndRender() {
  const day = state.day;
  try {
    const chain = isHeadOffice() ? await get(`/reports/daily?date=${day}`) : null;
    const stores = chain ? chain.stores.map((s) => s.storeId) : [state.claims.store_id];
    const before = weekBefore(day);
    const reads = [];
    for (const s of stores) {
      const at = encodeURIComponent(s);
      reads.push({ key: `day|${day}|${s}`, rank: 0, read: () => get(`/stores/${at}/reports/daily?date=${day}`) });
      // A week earlier is a closed day: read once.
      if (!seen.has(`day|${before}|${s}`)) reads.push({ key: `day|${before}|${s}`, rank: 3, read: () => get(`/stores/${at}/reports/daily?date=${before}`), once: true });
      for (const sku of state.flash) {
        reads.push({ key: `stock|${s}|${sku}`, rank: 1, read: () => get(`/stores/${at}/stock/${encodeURIComponent(sku)}`).catch((e) => ({ error: e.message })) });
      }
      const report = known(`day|${day}|${s}`);
      const outside = state.flash.filter((sku) => !(report && (report.topCommodities || []).some((c) => c.sku === sku)));
      if (report && outside.length) reads.push({ key: `sold|${day}|${s}|${outside}`, rank: 2, read: () => soldOf(s, day, outside) });
    }
    const due = reads
      .filter((r) => !fresh(r.key) && !(r.once && seen.has(r.key)))
      // Stalest first; of those never read, the day's reports, then stock, then a week earlier.
      .sort((a, b) => (seen.has(a.key) ? seen.get(a.key).at : 0) - (seen.has(b.key) ? seen.get(b.key).at : 0) || a.rank - b.rank)
      .slice(0, READS_PER_REFRESH);
    await inTurns(due, async (r) => {
      const value = await r.read();
      seen.set(r.key, { value, at: Date.now() });
    });
    if (day !== state.day || !state.token) return;
    const reports = stores.map((s) => known(`day|${day}|${s}`)).filter(Boolean);
    render(day, chain, stores, reports);
    notice("");
  } catch (e) {
    if (state.token) notice(`The figures could not be read: ${e.message}`);
  }
}

// ---------------------------------------------------------------- drawing

let currency = "CNY";
const money = (minor) => (minor / 100).toLocaleString(undefined, { style: "currency", currency, minimumFractionDigits: 2 });
const count = (n) => Number(n).toLocaleString();
// Tables leave the currency sign to the headline figures, which keeps them narrow on a phone.
const amount = (minor) => (minor / 100).toLocaleString(undefined, { minimumFractionDigits: 2, maximumFractionDigits: 2 });

// What a commodity line of a report sold: kilograms for weighed ones, else units.
const sold = (c) => (c.weightGrams ? `${(c.weightGrams / 1000).toFixed(3)} kg` : count(c.quantity || 0));

function sum(reports, f) {
  return reports.reduce((t, r) => t + (f(r) || 0), 0);
}

function cell(text, numeric) {
  const td = document.createElement("td");
  td.textContent = text;
  if (numeric) td.className = "n";
  return td;
}

function fill(testid, rows) {
  const body = document.querySelector(`[data-testid="${testid}"] tbody`);
  body.replaceChildren(...rows.map((cells) => {
    const tr = document.createElement("tr");
    tr.append(...cells);
    return tr;
  }));
}

function figure(name, text) {
  document.querySelector(`[data-figure="${name}"]`).textContent = text;
}

function render(day, chain, stores, reports) {
  if (reports.length && reports[0].currency) currency = reports[0].currency;
  if (chain && chain.currency) currency = chain.currency;
  // The headline: the chain report for head office, the store's own report for its manager.
  const head = chain || reports[0] || {};
  const gross = head.grossAmount || 0;
  const sales = head.salesCount || 0;
  figure("grossAmount", money(gross));
  figure("netAmount", money(head.netAmount || 0));
  figure("salesCount", count(sales));
  figure("averageBasket", sales ? money(Math.round(gross / sales)) : "–");
  figure("returnsAmount", money(head.returnsAmount || 0));
  figure("returnsCount", `${count(sum(reports, (r) => r.returnsCount))} returns`);
  figure("discountAmount", money(head.discountAmount || 0));

  const rows = chain ? [...chain.stores].sort((a, b) => b.grossAmount - a.grossAmount || (a.storeId < b.storeId ? -1 : 1)) : reports;
  fill("stores", rows.map((r) => [
    cell(r.storeId),
    cell(amount(r.grossAmount), true),
    cell(amount(r.netAmount), true),
    cell(count(r.salesCount), true),
    cell(r.salesCount ? amount(Math.round(r.grossAmount / r.salesCount)) : "–", true),
  ]));

  // What only the stores' own reports hold: over those read, and the page says when that is
  // not all of them within the last refresh.
  const current = stores.filter((s) => fresh(`day|${day}|${s}`)).length;
  $("coverage").hidden = current === stores.length;
  $("coverage").textContent = `Hours, payments, top commodities and promotions: ${count(reports.length)} of ${count(stores.length)} stores read, ${count(current)} in the last ${REFRESH_MS / 1000} s; the rest are read in turns.`;

  const methods = ["cash", "card", "mobile"];
  const paid = methods.map((m) => sum(reports, (r) => r.byPaymentMethod && r.byPaymentMethod[m]));
  const paidTotal = paid.reduce((a, b) => a + b, 0);
  fill("payments", methods.map((m, i) => [cell(m), cell(amount(paid[i]), true), cell(paidTotal ? `${Math.round((100 * paid[i]) / paidTotal)} %` : "–", true)]));

  const top = new Map();
  for (const r of reports) for (const c of r.topCommodities || []) {
    const t = top.get(c.sku) || { sku: c.sku, name: c.name, quantity: 0, weightGrams: 0, amount: 0 };
    t.quantity += c.quantity || 0;
    t.weightGrams += c.weightGrams || 0;
    t.amount += c.amount;
    top.set(c.sku, t);
  }
  const ranked = [...top.values()].sort((a, b) => b.amount - a.amount || (a.sku < b.sku ? -1 : 1)).slice(0, 10);
  fill("top", ranked.map((c) => [cell(c.sku), cell(c.name), cell(sold(c), true), cell(amount(c.amount), true)]));

  const promos = new Map();
  for (const r of reports) for (const p of r.byPromotion || []) {
    const t = promos.get(p.promotionId) || { salesCount: 0, discount: 0 };
    t.salesCount += p.salesCount;
    t.discount += p.discount;
    promos.set(p.promotionId, t);
  }
  fill("promotions", [...promos].map(([id, p]) => [cell(id), cell(count(p.salesCount), true), cell(amount(p.discount), true)]));

  const flashRows = [];
  for (const s of stores) for (const sku of state.flash) {
    const stock = known(`stock|${s}|${sku}`);
    if (!stock) continue;
    flashRows.push([cell(s), cell(sku), cell(soldFigure(day, s, sku), true), cell(stock.error ? stock.error : count(stock.onHand), true)]);
  }
  fill("flash", flashRows);

  const biggest = [...reports].sort((a, b) => b.grossAmount - a.grossAmount || (a.storeId < b.storeId ? -1 : 1));
  const before = weekBefore(day);
  drawHours(reports, stores.map((s) => known(`day|${before}|${s}`)).filter(Boolean), biggest.slice(0, PALETTE.length));
  const bars = rows.slice(0, MOST_BARS);
  drawBars("stores-chart", bars.map((r) => r.storeId), [{ label: "Gross", values: bars.map((r) => r.grossAmount / 100) }]);
  drawBars("payments-chart", methods, [{ label: "Paid", values: paid.map((p) => p / 100) }]);

  const newest = [head.asOf, ...reports.map((r) => r.asOf)].filter(Boolean).sort().pop();
  $("as-of").textContent = `as of ${new Date().toLocaleTimeString()}${newest ? `, latest sale ${new Date(newest).toLocaleTimeString()}` : ""}`;
}

// A flash sku's units (or kilograms) sold in a store: from its top ten, else its commodity pages.
function soldFigure(day, storeId, sku) {
  const report = known(`day|${day}|${storeId}`);
  let c = report && (report.topCommodities || []).find((x) => x.sku === sku);
  if (!c) {
    for (const [key, entry] of seen) if (key.startsWith(`sold|${day}|${storeId}|`) && entry.value.has(sku)) c = entry.value.get(sku);
  }
  if (!c) return report ? "0" : "–";
  return sold(c);
}

const PALETTE = ["#d2232a", "#1f6feb", "#2da44e", "#bf8700", "#8250df", "#cf222e", "#0a7ea4", "#6e7781"];

function chartSize(el) {
  return { width: Math.max(el.clientWidth, 200), height: el.id === "hours" ? 260 : 200 };
}

function drawHours(reports, weekEarlier, lines) {
  const hours = Array.from({ length: 24 }, (_, h) => h);
  const byHour = (r) => hours.map((h) => ((r.byHour || [])[h] || {}).grossAmount / 100 || 0);
  const series = [{ label: "Hour", value: (u, h) => (h == null ? "–" : `${h}:00`) }];
  const data = [hours];
  series.push({ label: "All stores", stroke: "#1d2430", width: 2 });
  data.push(hours.map((h) => reports.reduce((t, r) => t + byHour(r)[h], 0)));
  series.push({ label: "A week earlier", stroke: "rgba(29,36,48,0.25)", width: 2, dash: [4, 4] });
  data.push(hours.map((h) => weekEarlier.reduce((t, r) => t + byHour(r)[h], 0)));
  if (reports.length > 1) lines.forEach((r, i) => {
    series.push({ label: r.storeId, stroke: PALETTE[i], width: 1 });
    data.push(byHour(r));
  });
  draw("hours", { series, axes: [{ values: (u, ticks) => ticks.map((h) => `${h}:00`) }, { size: 60 }], scales: { x: { time: false } } }, data);
}

function drawBars(id, labels, sets) {
  const xs = labels.map((_, i) => i);
  const bars = uPlot.paths.bars({ size: [0.6, 64] });
  const slanted = labels.length * Math.max(0, ...labels.map((l) => l.length)) > 40;
  draw(id, {
    series: [{ label: "", value: (u, i) => (i == null ? "–" : labels[i] ?? "") }, ...sets.map((s, i) => ({ label: s.label, fill: PALETTE[i], stroke: PALETTE[i], paths: bars, points: { show: false } }))],
    // Long names (a thousand stores' ids) slant so that they do not run into each other.
    axes: [{ values: (u, ticks) => ticks.map((t) => labels[t] ?? ""), splits: () => xs, ...(slanted ? { rotate: -45, size: 70 } : {}) }, { size: 60 }],
    // Bars stand on zero.
    scales: { x: { time: false, range: [-0.5, Math.max(labels.length - 0.5, 0.5)] }, y: { range: (u, min, max) => [0, max > 0 ? max * 1.1 : 1] } },
  }, [xs, ...sets.map((s) => s.values)], labels);
}

// A chart is drawn again from scratch when its series or its x labels change (its axis keeps
// the labels it was made with); otherwise it only takes the new figures.
function draw(id, options, data, labels) {
  const el = $(id);
  const key = JSON.stringify([options.series.map((s) => s.label), labels || null]);
  const existing = state.charts[id];
  if (existing && existing.key === key) {
    existing.chart.setData(data);
    return;
  }
  if (existing) existing.chart.destroy();
  const chart = new uPlot({ ...chartSize(el), legend: { show: true }, ...options }, data, el);
  state.charts[id] = { chart, key };
}

addEventListener("resize", () => {
  for (const [id, { chart }] of Object.entries(state.charts)) chart.setSize(chartSize($(id)));
});

// ---------------------------------------------------------------- the page's life

function today() {
  // en-CA formats as YYYY-MM-DD.
  return new Intl.DateTimeFormat("en-CA", { timeZone: state.config.timezone, year: "numeric", month: "2-digit", day: "2-digit" }).format(new Date());
}

function start(token) {
  const claims = claimsOf(token);
  const scopes = scopesOf(claims);
  if (!scopes.includes("headoffice") && !scopes.includes("store")) {
    signOut("This dashboard is for head office and store managers: a till's token cannot open it.");
    return;
  }
  state.token = token;
  state.claims = claims;
  // The address names the flash skus to watch (kept through the sign-in), else the deployment.
  state.flash = flashFromHash().length ? flashFromHash() : state.config.flashSkus || [];
  $("flash-skus").value = state.flash.join(", ");
  $("signed-out").hidden = true;
  $("board").hidden = false;
  $("sign-out").hidden = false;
  $("who").textContent = scopes.includes("headoffice") ? "Head office" : `Store ${claims.store_id}`;
  const dayInput = $("day");
  dayInput.disabled = false;
  dayInput.value = state.day = state.day || today();
  if (claims.exp) {
    state.expiry = setTimeout(() => signOut("Your sign-in has expired: sign in again."), Math.max(claims.exp * 1000 - Date.now(), 0));
  }
  refresh();
  state.timer = setInterval(refresh, REFRESH_MS);
}

function flashFromHash() {
  const m = /(?:^#|&)flash=([^&]*)/.exec(location.hash);
  return m ? decodeURIComponent(m[1]).split(",").map((s) => s.trim()).filter(Boolean) : [];
}

async function boot() {
  state.config = await (await fetch("dashboard/config.json")).json();
  $("sign-in").addEventListener("click", () => signIn().catch((e) => notice(e.message)));
  $("sign-out").addEventListener("click", () => signOut(""));
  $("day").addEventListener("change", (e) => {
    state.day = e.target.value || today();
    seen.clear();
    refresh();
  });
  $("flash-form").addEventListener("submit", (e) => {
    e.preventDefault();
    state.flash = $("flash-skus").value.split(",").map((s) => s.trim()).filter(Boolean);
    history.replaceState(null, "", `${location.pathname}#flash=${encodeURIComponent(state.flash.join(","))}`);
    refresh();
  });
  const q = new URLSearchParams(location.search);
  if (q.get("error")) {
    history.replaceState(null, "", location.pathname);
    signOut(`Sign-in refused: ${q.get("error_description") || q.get("error")}`);
  } else if (q.get("code")) {
    try {
      start(await exchange(q.get("code"), q.get("state")));
    } catch (e) {
      signOut(e.message);
    }
  } else {
    signOut("");
  }
}

boot().catch((e) => notice(`The dashboard could not start: ${e.message}`));
