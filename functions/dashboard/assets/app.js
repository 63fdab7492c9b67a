// The sales dashboard: signs in with OpenID Connect (authorization code with PKCE) against the
// deployment's issuer, keeps the access token in memory only, and reads the report routes with
// it every 10 seconds. Nothing here is rendered by the server.
"use strict";

const REFRESH_MS = 10000;
const WEEK_EARLIER_EVERY_MS = 300000;
const READS_AT_ONCE = 6;
const $ = (id) => document.getElementById(id);
const api = location.pathname.replace(/\/dashboard\/?$/, "");

const state = {
  config: null,
  token: null,
  claims: null,
  day: null,
  flash: [],
  timer: null,
  expiry: null,
  weekEarlier: { day: null, at: 0, byStore: new Map() },
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

async function storesOf(day) {
  if (isHeadOffice()) {
    const chain = await get(`/reports/daily?date=${day}`);
    return { chain, stores: chain.stores.map((s) => s.storeId) };
  }
  return { chain: null, stores: [state.claims.store_id] };
}

function weekBefore(day) {
  const d = new Date(`${day}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() - 7);
  return d.toISOString().slice(0, 10);
}

async function refresh() {
  const day = state.day;
  try {
    const { stores } = await storesOf(day);
    const reports = await inTurns(stores, (s) => get(`/stores/${encodeURIComponent(s)}/reports/daily?date=${day}`));
    const earlier = state.weekEarlier;
    if (earlier.day !== day || Date.now() - earlier.at > WEEK_EARLIER_EVERY_MS) {
      const before = weekBefore(day);
      const old = await inTurns(stores, (s) => get(`/stores/${encodeURIComponent(s)}/reports/daily?date=${before}`));
      state.weekEarlier = { day, at: Date.now(), byStore: new Map(old.map((r) => [r.storeId, r])) };
    }
    const flash = await inTurns(
      stores.flatMap((s) => state.flash.map((sku) => [s, sku])),
      ([s, sku]) => get(`/stores/${encodeURIComponent(s)}/stock/${encodeURIComponent(sku)}`).then((stock) => ({ storeId: s, sku, stock }), (e) => ({ storeId: s, sku, error: e.message })),
    );
    if (day !== state.day || !state.token) return;
    render(reports, flash);
    notice("");
  } catch (e) {
    if (state.token) notice(`The figures could not be read: ${e.message}`);
  }
}

// ---------------------------------------------------------------- drawing

let currency = "CNY";
const money = (minor) => (minor / 100).toLocaleString(undefined, { style: "currency", currency, minimumFractionDigits: 2 });
const count = (n) => Number(n).toLocaleString();

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

function render(reports, flash) {
  if (reports.length && reports[0].currency) currency = reports[0].currency;
  const gross = sum(reports, (r) => r.grossAmount);
  const sales = sum(reports, (r) => r.salesCount);
  figure("grossAmount", money(gross));
  figure("netAmount", money(sum(reports, (r) => r.netAmount)));
  figure("salesCount", count(sales));
  figure("averageBasket", sales ? money(Math.round(gross / sales)) : "–");
  figure("returnsAmount", money(sum(reports, (r) => r.returnsAmount)));
  figure("returnsCount", `${count(sum(reports, (r) => r.returnsCount))} returns`);
  figure("discountAmount", money(sum(reports, (r) => r.discountAmount)));

  fill("stores", reports.map((r) => [
    cell(r.storeId),
    cell(money(r.grossAmount), true),
    cell(money(r.netAmount), true),
    cell(count(r.salesCount), true),
    cell(r.salesCount ? money(Math.round(r.grossAmount / r.salesCount)) : "–", true),
  ]));

  const methods = ["cash", "card", "mobile"];
  const paid = methods.map((m) => sum(reports, (r) => r.byPaymentMethod && r.byPaymentMethod[m]));
  fill("payments", methods.map((m, i) => [cell(m), cell(money(paid[i]), true), cell(gross ? `${Math.round((100 * paid[i]) / gross)} %` : "–", true)]));

  const top = new Map();
  for (const r of reports) for (const c of r.topCommodities || []) {
    const t = top.get(c.sku) || { sku: c.sku, name: c.name, quantity: 0, weightGrams: 0, amount: 0 };
    t.quantity += c.quantity || 0;
    t.weightGrams += c.weightGrams || 0;
    t.amount += c.amount;
    top.set(c.sku, t);
  }
  const ranked = [...top.values()].sort((a, b) => b.amount - a.amount || (a.sku < b.sku ? -1 : 1)).slice(0, 10);
  fill("top", ranked.map((c) => [cell(c.sku), cell(c.name), cell(c.weightGrams ? `${(c.weightGrams / 1000).toFixed(3)} kg` : count(c.quantity), true), cell(money(c.amount), true)]));

  const promos = new Map();
  for (const r of reports) for (const p of r.byPromotion || []) {
    const t = promos.get(p.promotionId) || { salesCount: 0, discount: 0 };
    t.salesCount += p.salesCount;
    t.discount += p.discount;
    promos.set(p.promotionId, t);
  }
  fill("promotions", [...promos].map(([id, p]) => [cell(id), cell(count(p.salesCount), true), cell(money(p.discount), true)]));

  const soldOf = (storeId, sku) => {
    const r = reports.find((x) => x.storeId === storeId);
    const c = r && (r.topCommodities || []).find((x) => x.sku === sku);
    return c ? count(c.quantity || 0) : "–";
  };
  fill("flash", flash.map((f) => [cell(f.storeId), cell(f.sku), cell(soldOf(f.storeId, f.sku), true), cell(f.error ? f.error : count(f.stock.onHand), true)]));

  drawHours(reports);
  drawBars("stores-chart", reports.map((r) => r.storeId), [{ label: "Gross", values: reports.map((r) => r.grossAmount / 100) }]);
  drawBars("payments-chart", methods, [{ label: "Paid", values: paid.map((p) => p / 100) }]);

  const newest = reports.map((r) => r.asOf).filter(Boolean).sort().pop();
  $("as-of").textContent = `as of ${new Date().toLocaleTimeString()}${newest ? `, latest sale ${new Date(newest).toLocaleTimeString()}` : ""}`;
}

const PALETTE = ["#d2232a", "#1f6feb", "#2da44e", "#bf8700", "#8250df", "#cf222e", "#0a7ea4", "#6e7781"];

function chartSize(el) {
  return { width: Math.max(el.clientWidth, 200), height: el.id === "hours" ? 260 : 200 };
}

function drawHours(reports) {
  const hours = Array.from({ length: 24 }, (_, h) => h);
  const byHour = (r) => hours.map((h) => ((r.byHour || [])[h] || {}).grossAmount / 100 || 0);
  const series = [{ label: "Hour", value: (u, h) => (h == null ? "–" : `${h}:00`) }];
  const data = [hours];
  const chainNow = hours.map((h) => reports.reduce((t, r) => t + byHour(r)[h], 0));
  series.push({ label: "All stores", stroke: "#1d2430", width: 2 });
  data.push(chainNow);
  const old = reports.map((r) => state.weekEarlier.byStore.get(r.storeId)).filter(Boolean);
  series.push({ label: "A week earlier", stroke: "rgba(29,36,48,0.25)", width: 2, dash: [4, 4] });
  data.push(hours.map((h) => old.reduce((t, r) => t + byHour(r)[h], 0)));
  if (reports.length > 1) reports.slice(0, PALETTE.length).forEach((r, i) => {
    series.push({ label: r.storeId, stroke: PALETTE[i], width: 1 });
    data.push(byHour(r));
  });
  draw("hours", { series, axes: [{ values: (u, ticks) => ticks.map((h) => `${h}:00`) }, { size: 60 }], scales: { x: { time: false } } }, data);
}

function drawBars(id, labels, sets) {
  const xs = labels.map((_, i) => i);
  const bars = uPlot.paths.bars({ size: [0.6, 64] });
  draw(id, {
    series: [{ label: "", value: (u, i) => (i == null ? "–" : labels[i] ?? "") }, ...sets.map((s, i) => ({ label: s.label, fill: PALETTE[i], stroke: PALETTE[i], paths: bars, points: { show: false } }))],
    axes: [{ values: (u, ticks) => ticks.map((t) => labels[t] ?? "") , splits: () => xs }, { size: 60 }],
    scales: { x: { time: false, range: [-0.5, Math.max(labels.length - 0.5, 0.5)] } },
  }, [xs, ...sets.map((s) => s.values)]);
}

function draw(id, options, data) {
  const el = $(id);
  const key = JSON.stringify(options.series.map((s) => s.label));
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
  state.flash = flashFromHash().length ? flashFromHash() : (state.config.flashSkus || []);
  $("flash-skus").value = state.flash.join(", ");
  $("sign-in").addEventListener("click", () => signIn().catch((e) => notice(e.message)));
  $("sign-out").addEventListener("click", () => signOut(""));
  $("day").addEventListener("change", (e) => {
    state.day = e.target.value || today();
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
