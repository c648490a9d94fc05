// RedFire live risk page: plain JavaScript, no build step, no external code.
//
// Data: the WebSocket /ws pushes {"type": "snapshot"|"alert"|"decision", "data": {...}}
// (the buffered recent messages first, then each new one); clicking an account fetches
// GET /accounts/{a}/risk for its positions, live orders and limits. A token given once as
// /?token=... is kept in sessionStorage and sent as a bearer header (fetch) or ?token= (ws).
// Every text from the wire is set with textContent, never parsed as HTML.
"use strict";

(function () {
  const FIRM = "FIRM";
  const FEED_SIZE = 60;
  const HISTORY_POINTS = 600;
  const DETAIL_REFRESH_MS = 1000;
  const LIMIT_POLL_MS = 2000;
  const COLOURS = ["#ff6a3d", "#58a6ff", "#3fb950", "#d29922", "#bc8cff", "#39c5cf"];

  const state = {
    snapshots: new Map(), // account -> latest snapshot
    history: new Map(), // account -> [[ts, var_99]]
    alerts: [],
    decisions: [],
    seenAlerts: new Set(),
    seenDecisions: new Set(),
    limitUse: new Map(), // account -> {name, utilisation}
    limitsServed: true, // false once /risk answered without "limits"
    selected: null,
    detail: null,
    detailError: null,
    messages: 0,
    connected: false,
  };
  window.redfire = state; // for tests and for people poking at the page

  const token = takeToken();
  const money = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });
  const precise = new Intl.NumberFormat("en-US", { maximumFractionDigits: 2 });
  const $ = (id) => document.getElementById(id);

  function takeToken() {
    const url = new URL(window.location.href);
    const given = url.searchParams.get("token");
    if (given) {
      sessionStorage.setItem("redfire.token", given);
      url.searchParams.delete("token");
      window.history.replaceState(null, "", url.pathname + url.search + url.hash);
    }
    return given || sessionStorage.getItem("redfire.token");
  }

  // --- helpers -------------------------------------------------------------------------

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null) continue;
      if (key === "class") node.className = value;
      else if (key === "dataset") Object.assign(node.dataset, value);
      else node.setAttribute(key, value);
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function num(value, format) {
    return typeof value === "number" && isFinite(value) ? (format || money).format(value) : "—";
  }

  function signed(value) {
    const cell = el("td", { class: value > 0 ? "pos" : value < 0 ? "neg" : "" }, num(value));
    return cell;
  }

  function when(ts) {
    if (typeof ts !== "number") return "";
    return new Date(ts).toISOString().slice(11, 19);
  }

  function age(ts) {
    if (typeof ts !== "number") return "—";
    const seconds = Math.max(0, (Date.now() - ts) / 1000);
    if (seconds < 60) return `${seconds.toFixed(0)} s`;
    if (seconds < 3600) return `${(seconds / 60).toFixed(0)} min`;
    return when(ts);
  }

  function bar(utilisation, label) {
    if (typeof utilisation !== "number" || !isFinite(utilisation)) return el("span", { class: "muted" }, "—");
    const width = Math.max(0, Math.min(1, utilisation)) * 100;
    const level = utilisation >= 1 ? "bad" : utilisation >= 0.8 ? "warn" : "";
    return el(
      "span",
      {},
      el("span", { class: "bar", title: label || "" }, el("span", { class: level, style: `width:${width}%` })),
      el("span", { class: "bar-label" }, `${(utilisation * 100).toFixed(0)}%${label ? " " + label : ""}`),
    );
  }

  function authHeaders() {
    return token ? { Authorization: `Bearer ${token}` } : {};
  }

  // --- the WebSocket -------------------------------------------------------------------

  let retryMs = 500;

  function connect() {
    const scheme = window.location.protocol === "https:" ? "wss" : "ws";
    const query = token ? `?token=${encodeURIComponent(token)}` : "";
    const socket = new WebSocket(`${scheme}://${window.location.host}/ws${query}`);
    socket.onopen = () => {
      retryMs = 500;
      setConnected(true, "live");
    };
    socket.onmessage = (event) => {
      state.messages += 1;
      try {
        receive(JSON.parse(event.data));
      } catch (error) {
        console.error("bad message", error, event.data);
      }
    };
    socket.onclose = (event) => {
      const why = event.code === 1008 || event.code === 1006 ? "" : ` (${event.reason || event.code})`;
      setConnected(false, `disconnected${why}; retrying`);
      setTimeout(connect, retryMs);
      retryMs = Math.min(retryMs * 2, 10000);
    };
  }

  function setConnected(online, text) {
    state.connected = online;
    const node = $("connection");
    node.className = `dot ${online ? "online" : "offline"}`;
    node.textContent = text;
  }

  function receive(message) {
    const data = message.data || {};
    if (message.type === "snapshot") onSnapshot(data);
    else if (message.type === "alert") onAlert(data);
    else if (message.type === "decision") onDecision(data);
    scheduleRender();
  }

  function onSnapshot(snapshot) {
    const account = snapshot.account;
    const known = state.snapshots.get(account);
    if (!known || (snapshot.ts || 0) >= (known.ts || 0)) state.snapshots.set(account, snapshot);
    if (typeof snapshot.var_99 === "number") {
      const points = state.history.get(account) || [];
      const last = points[points.length - 1];
      if (!last || snapshot.ts > last[0]) {
        points.push([snapshot.ts, snapshot.var_99]);
        if (points.length > HISTORY_POINTS) points.shift();
      } else if (!points.some((p) => p[0] === snapshot.ts)) {
        points.push([snapshot.ts, snapshot.var_99]);
        points.sort((a, b) => a[0] - b[0]);
      }
      state.history.set(account, points);
    }
    if (account === state.selected) refreshDetail();
  }

  function remember(list, seen, key, record) {
    if (seen.has(key)) return;
    seen.add(key);
    list.push(record);
    list.sort((a, b) => (b.ts || 0) - (a.ts || 0));
    while (list.length > FEED_SIZE) list.pop();
  }

  function onAlert(alert) {
    remember(state.alerts, state.seenAlerts, `${alert.alert_id}|${alert.state}|${alert.ts}`, alert);
  }

  function onDecision(decision) {
    remember(state.decisions, state.seenDecisions, `${decision.order_id}|${decision.ts}`, decision);
  }

  // --- the account detail (GET /accounts/{a}/risk) -------------------------------------

  let detailTimer = null;
  let detailLoaded = 0;

  function refreshDetail() {
    if (detailTimer !== null) return;
    const wait = Math.max(0, DETAIL_REFRESH_MS - (Date.now() - detailLoaded));
    detailTimer = setTimeout(loadDetail, wait);
  }

  async function fetchRisk(account) {
    const response = await fetch(`/accounts/${encodeURIComponent(account)}/risk`, {
      headers: authHeaders(),
    });
    const body = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(body.error || `HTTP ${response.status}`);
    return body;
  }

  async function loadDetail() {
    detailTimer = null;
    detailLoaded = Date.now();
    const account = state.selected;
    if (!account || account === FIRM) return;
    try {
      const body = await fetchRisk(account);
      if (account !== state.selected) return;
      state.detail = body;
      state.detailError = null;
      noteLimits(account, body);
    } catch (error) {
      state.detailError = String(error.message || error);
    }
    scheduleRender();
  }

  function noteLimits(account, body) {
    if (!Array.isArray(body.limits)) {
      state.limitsServed = false;
      return;
    }
    let largest = null;
    for (const limit of body.limits) {
      if (typeof limit.utilisation === "number" && (!largest || limit.utilisation > largest.utilisation)) {
        largest = limit;
      }
    }
    state.limitUse.set(account, largest);
  }

  // The table's "largest limit use" comes from each account's risk route, one account every
  // LIMIT_POLL_MS in turn, as long as the route reports limits at all.
  let pollIndex = 0;
  async function pollLimits() {
    const accounts = [...state.snapshots.keys()].filter((a) => a !== FIRM).sort();
    if (state.limitsServed && accounts.length) {
      const account = accounts[pollIndex++ % accounts.length];
      try {
        noteLimits(account, await fetchRisk(account));
        scheduleRender();
      } catch (error) {
        /* the owner may be rebalancing; next round */
      }
    }
    setTimeout(pollLimits, LIMIT_POLL_MS);
  }

  function select(account) {
    state.selected = state.selected === account ? null : account;
    state.detail = null;
    state.detailError = null;
    if (state.selected) loadDetail();
    scheduleRender();
  }

  // --- rendering -----------------------------------------------------------------------

  let renderQueued = false;
  function scheduleRender() {
    if (renderQueued) return;
    renderQueued = true;
    requestAnimationFrame(() => {
      renderQueued = false;
      render();
    });
  }

  function render() {
    renderAccounts();
    renderChart();
    renderDetail();
    renderAlerts($("alerts"), state.alerts, "No alerts yet.");
    renderDecisions();
    $("counts").textContent =
      `${state.snapshots.size} accounts · ${state.alerts.length} alerts · ${state.messages} messages`;
  }

  function limitCell(account, snapshot) {
    if (typeof snapshot.limit_utilisation === "number") return bar(snapshot.limit_utilisation);
    const largest = state.limitUse.get(account);
    return largest ? bar(largest.utilisation, largest.name) : el("span", { class: "muted" }, "—");
  }

  function accountRow(account, snapshot) {
    const ratio = snapshot.equity > 0 && typeof snapshot.var_99 === "number" ? snapshot.var_99 / snapshot.equity : null;
    const row = el(
      "tr",
      { class: `account${account === state.selected ? " selected" : ""}`, dataset: { account } },
      el("td", { class: "text" }, account),
      el("td", {}, num(snapshot.equity)),
      signed(snapshot.daily_pnl),
      el("td", { class: "var99" }, num(snapshot.var_99)),
      el("td", { class: "es975" }, num(snapshot.es_975)),
      el("td", {}, ratio === null ? "—" : `${(ratio * 100).toFixed(2)}%`),
      el("td", { class: "text" }, limitCell(account, snapshot)),
      el("td", { class: "text" }, el("span", { class: `badge ${snapshot.trading_state}` }, snapshot.trading_state || "—")),
      el("td", { class: "muted" }, age(snapshot.ts)),
    );
    row.addEventListener("click", () => select(account));
    return row;
  }

  function renderAccounts() {
    const body = $("account-rows");
    const accounts = [...state.snapshots.keys()].filter((a) => a !== FIRM).sort();
    if (accounts.length) {
      body.replaceChildren(...accounts.map((a) => accountRow(a, state.snapshots.get(a))));
    }
    const firm = state.snapshots.get(FIRM);
    const foot = $("firm-row");
    if (firm) foot.replaceChildren(accountRow(FIRM, firm));
  }

  function renderAlerts(list, alerts, emptyText) {
    if (!alerts.length) {
      list.replaceChildren(el("li", { class: "empty" }, emptyText));
      return;
    }
    list.replaceChildren(
      ...alerts.map((a) =>
        el(
          "li",
          { class: `${a.state} ${a.severity}` },
          el("span", { class: "when" }, when(a.ts)),
          el("span", { class: "tag" }, `${a.state} ${a.severity}`),
          `${a.account} · ${a.rule_id}: `,
          a.message || `${a.metric} ${a.comparison} ${a.threshold} (value ${num(a.value, precise)})`,
        ),
      ),
    );
  }

  function renderDecisions() {
    const list = $("decisions");
    if (!state.decisions.length) return;
    list.replaceChildren(
      ...state.decisions.map((d) => {
        const reasons = (d.reasons || []).map((r) => el("span", { class: "reason" }, `${r.check}: ${r.message}`));
        const vars =
          typeof d.var_after === "number" ? ` · VaR ${num(d.var_before)} → ${num(d.var_after)}` : "";
        return el(
          "li",
          { class: d.decision },
          el("span", { class: "when" }, when(d.ts)),
          el("span", { class: "tag" }, d.decision),
          `${d.account} ${d.symbol} ${d.order_id} · ${d.latency_us} µs${vars}`,
          ...reasons,
        );
      }),
    );
  }

  function chartSeries() {
    const chosen = [];
    if (state.history.has(FIRM)) chosen.push(FIRM);
    if (state.selected && state.selected !== FIRM && state.history.has(state.selected)) chosen.push(state.selected);
    const byVar = [...state.history.keys()]
      .filter((a) => !chosen.includes(a))
      .sort((a, b) => (state.snapshots.get(b)?.var_99 || 0) - (state.snapshots.get(a)?.var_99 || 0));
    for (const account of byVar) {
      if (chosen.length >= 5) break;
      chosen.push(account);
    }
    return chosen.map((account, i) => ({ account, colour: COLOURS[i % COLOURS.length], points: state.history.get(account) }));
  }

  function renderChart() {
    const canvas = $("var-chart");
    const ratio = window.devicePixelRatio || 1;
    const width = canvas.clientWidth || 1200;
    const height = canvas.clientHeight || 220;
    if (canvas.width !== width * ratio) {
      canvas.width = width * ratio;
      canvas.height = height * ratio;
    }
    const ctx = canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, width, height);
    const series = chartSeries();
    const points = series.flatMap((s) => s.points);
    const legend = $("chart-legend");
    legend.replaceChildren(
      ...series.map((s) => el("span", {}, el("i", { style: `background:${s.colour}` }), s.account)),
    );
    ctx.font = "11px DejaVu Sans, Arial, sans-serif";
    ctx.fillStyle = "#7d8a97";
    if (!points.length) {
      ctx.fillText("VaR history appears here as snapshots arrive.", 12, height / 2);
      return;
    }
    const left = 70, right = width - 12, top = 10, bottom = height - 22;
    let t0 = Math.min(...points.map((p) => p[0]));
    let t1 = Math.max(...points.map((p) => p[0]));
    if (t1 === t0) { t0 -= 30000; t1 += 30000; }
    const vmax = Math.max(...points.map((p) => p[1]), 1) * 1.1;
    const x = (t) => left + ((t - t0) / (t1 - t0)) * (right - left);
    const y = (v) => bottom - (v / vmax) * (bottom - top);
    ctx.strokeStyle = "#26313d";
    ctx.lineWidth = 1;
    for (let i = 0; i <= 4; i++) {
      const v = (vmax * i) / 4;
      ctx.beginPath();
      ctx.moveTo(left, y(v));
      ctx.lineTo(right, y(v));
      ctx.stroke();
      ctx.fillText(money.format(v), 4, y(v) + 4);
    }
    for (let i = 0; i <= 4; i++) {
      const t = t0 + ((t1 - t0) * i) / 4;
      ctx.fillText(when(t), Math.min(x(t) - 20, right - 50), height - 6);
    }
    for (const s of series) {
      ctx.strokeStyle = s.colour;
      ctx.lineWidth = s.account === state.selected ? 2.5 : 1.5;
      ctx.beginPath();
      s.points.forEach(([t, v], i) => (i ? ctx.lineTo(x(t), y(v)) : ctx.moveTo(x(t), y(v))));
      ctx.stroke();
      if (s.points.length === 1) {
        const [t, v] = s.points[0];
        ctx.fillStyle = s.colour;
        ctx.fillRect(x(t) - 2, y(v) - 2, 4, 4);
        ctx.fillStyle = "#7d8a97";
      }
    }
  }

  function summaryItem(label, value) {
    return el("div", {}, el("span", {}, label), value);
  }

  function renderDetail() {
    const panel = $("detail-panel");
    const account = state.selected;
    panel.hidden = !account;
    if (!account) return;
    const snapshot = state.snapshots.get(account) || {};
    const detail = state.detail || {};
    $("detail-title").textContent = account;
    $("detail-note").textContent = state.detailError
      ? `risk route: ${state.detailError}; showing the last snapshot`
      : account === FIRM
        ? "firm-wide: merged exposures of every account"
        : "";
    const varMethod = detail.var_method || snapshot.var_method;
    $("detail-summary").replaceChildren(
      summaryItem("Equity", num(detail.equity ?? snapshot.equity)),
      summaryItem("Cash", num(detail.cash ?? snapshot.cash)),
      summaryItem("Gross", num(detail.gross_exposure ?? snapshot.gross_exposure)),
      summaryItem("Net", num(detail.net_exposure ?? snapshot.net_exposure)),
      summaryItem("VaR 95%", num(detail.var_95 ?? snapshot.var_95)),
      summaryItem("VaR 99%", num(detail.var_99 ?? snapshot.var_99)),
      summaryItem("ES 97.5%", num(detail.es_975 ?? snapshot.es_975)),
      summaryItem("Method", varMethod || "—"),
      summaryItem("Drawdown", typeof snapshot.drawdown === "number" ? `${(snapshot.drawdown * 100).toFixed(2)}%` : "—"),
      summaryItem("Backtest", snapshot.traffic_light ? `${snapshot.traffic_light} (${snapshot.var_exceptions ?? 0} exceptions)` : "—"),
      summaryItem("State", el("span", { class: `badge ${detail.trading_state || snapshot.trading_state}` }, detail.trading_state || snapshot.trading_state || "—")),
    );
    const positions = Array.isArray(detail.positions) ? detail.positions : snapshot.positions || [];
    fillTable("positions", positions, "No positions reported.", "No open positions.", (p) => [
      el("td", { class: "text" }, p.symbol),
      el("td", {}, num(p.qty, precise)),
      el("td", {}, num(p.avg_cost, precise)),
      el("td", {}, num(p.market_value)),
      signed(p.realized_pnl),
      el("td", {}, num(p.component_var)),
    ]);
    fillTable("orders", detail.orders, "Not reported by the risk route yet.", "No live orders.", (o) => [
      el("td", { class: "text" }, o.order_id),
      el("td", { class: "text" }, o.symbol),
      el("td", { class: "text" }, o.side),
      el("td", {}, num(o.qty, precise)),
      el("td", {}, num(o.filled_qty ?? o.filled, precise)),
      el("td", {}, num(o.price, precise)),
      el("td", { class: "text" }, o.state || o.status || ""),
    ]);
    fillTable("limits", detail.limits, "Not reported by the risk route yet.", "No limits in force.", (l) => [
      el("td", { class: "text" }, l.name),
      el("td", {}, num(l.value, precise)),
      el("td", {}, num(l.limit, precise)),
      el("td", { class: "text" }, bar(l.utilisation)),
    ]);
    const alerts = Array.isArray(detail.alerts) ? detail.alerts : state.alerts.filter((a) => a.account === account).slice(0, 10);
    renderAlerts($("detail-alerts"), alerts, "No alerts for this account.");
  }

  // rows undefined: the route does not report them (yet); an empty array: there are none.
  function fillTable(id, rows, missingText, noneText, cells) {
    const body = $(id).querySelector("tbody");
    const columns = $(id).querySelectorAll("thead th").length;
    if (!Array.isArray(rows) || !rows.length) {
      const text = Array.isArray(rows) ? noneText : missingText;
      body.replaceChildren(el("tr", { class: "empty" }, el("td", { colspan: columns }, text)));
      return;
    }
    body.replaceChildren(...rows.map((row) => el("tr", {}, ...cells(row))));
  }

  $("detail-close").addEventListener("click", () => select(state.selected));
  setInterval(scheduleRender, 1000); // keeps the "updated" ages moving
  connect();
  pollLimits();
})();
