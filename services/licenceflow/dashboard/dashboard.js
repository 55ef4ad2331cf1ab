// The backlog dashboard: polls GET /v1/metrics/backlog, writes every value into the elements
// whose data-metric attribute names its JSON path (null shows as "—"), and draws the charts as
// inline SVG. Plain JavaScript, no framework and no build; served under a CSP with no inline
// script, so everything here is attached from this file.
"use strict";

(() => {
  const ENDPOINT = "/v1/metrics/backlog";
  const TOKEN_KEY = "licenceflow.dashboard.token";
  const DEFAULT_INTERVAL_MS = 5000;
  const MIN_INTERVAL_MS = 500;
  const MAX_POINTS = 360; // the time chart keeps the last 360 polls (30 minutes at 5 s)
  const NONE = "—";
  const SVG_NS = "http://www.w3.org/2000/svg";
  const PENDING = ["submitted", "under_review", "info_requested", "delayed"];
  const COLOURS = {
    draft: "#b5b0a8",
    submitted: "#4e79a7",
    under_review: "#f28e2b",
    info_requested: "#d4b23a",
    delayed: "#e15759",
    approved: "#59a14f",
    temporarily_approved: "#8cc97a",
    rejected: "#9d6f97",
    withdrawn: "#8f8f8f",
  };

  const interval = pollInterval();
  const state = { token: takeToken(), etag: null, data: null, history: [], timer: null };
  const $ = (id) => document.getElementById(id);

  // --- the token: from the URL fragment (never sent to the server), kept for the tab ---------

  function takeToken() {
    const given = new URLSearchParams(location.hash.slice(1)).get("token");
    if (given) {
      sessionStorage.setItem(TOKEN_KEY, given);
      // Out of the address bar, so it is neither bookmarked nor shown on a shared screen.
      history.replaceState(null, "", location.pathname + location.search);
    }
    return sessionStorage.getItem(TOKEN_KEY);
  }

  function pollInterval() {
    const asked = Number(new URLSearchParams(location.search).get("interval"));
    return Number.isFinite(asked) && asked > 0 ? Math.max(MIN_INTERVAL_MS, asked) : DEFAULT_INTERVAL_MS;
  }

  function askForToken(reason, refused = false) {
    clearTimeout(state.timer);
    state.token = null;
    sessionStorage.removeItem(TOKEN_KEY);
    $("token-reason").textContent = reason;
    $("token-reason").classList.toggle("refused", refused);
    $("token-panel").hidden = false;
    $("board").hidden = true;
    showNotice(null);
    setConnection("signed out", "bad");
    $("token-input").focus();
  }

  function useToken(event) {
    event.preventDefault();
    const token = $("token-input").value.trim();
    if (!token) return;
    sessionStorage.setItem(TOKEN_KEY, token);
    state.token = token;
    $("token-input").value = "";
    $("token-panel").hidden = true;
    poll();
  }

  // --- polling ---------------------------------------------------------------------------------

  // One poll, then the next one `interval` later, whatever happened (except a refused token).
  async function poll() {
    clearTimeout(state.timer);
    let keepPolling = true;
    try {
      keepPolling = await fetchBacklog();
    } catch (error) {
      setConnection("unreachable", "warn");
      showNotice(`The service does not answer (${error.message}); trying again.`);
    }
    if (keepPolling) state.timer = setTimeout(poll, interval);
  }

  async function fetchBacklog() {
    const headers = { Authorization: `Bearer ${state.token}` };
    if (state.etag) headers["If-None-Match"] = state.etag;
    // The ETag is handled here, so the browser's own cache stays out of the way.
    const response = await fetch(ENDPOINT, { headers, cache: "no-store" });
    if (response.status === 401) {
      askForToken("The token was refused (401 Unauthorized): it is invalid or has expired. Paste another.", true);
      return false;
    }
    if (response.status === 503) {
      setConnection("metrics unavailable", "warn");
      showNotice(
        "Metrics unavailable (503): the service cannot read its metrics store right now. " +
          "The figures below are the last ones read; the page keeps trying.",
      );
      return true;
    }
    if (response.status === 200) {
      state.data = await response.json();
      $("board").hidden = false; // before drawing: the charts take the width of their cards
      state.etag = response.headers.get("ETag");
      document.body.dataset.version = state.etag || "";
      render(state.data);
    } else if (response.status !== 304 || !state.data) {
      setConnection(`error ${response.status}`, "warn");
      showNotice(`The service answered ${response.status} ${response.statusText}; trying again.`);
      return true;
    }
    // 200 or 304: either way the figures are current now, and the time chart gets a point.
    record(state.data);
    const now = new Date();
    document.body.dataset.updated = now.toISOString();
    $("polled").textContent = now.toLocaleTimeString();
    setConnection(response.status === 304 ? "live · unchanged" : "live", "ok");
    showNotice(null);
    return true;
  }

  function record(data) {
    state.history.push({ at: Date.now(), counts: { ...data.by_status } });
    if (state.history.length > MAX_POINTS) state.history.shift();
    drawHistory($("history"), state.history);
  }

  function setConnection(text, tone) {
    const pill = $("connection");
    pill.textContent = text;
    pill.className = `pill pill-${tone}`;
  }

  function showNotice(text) {
    const notice = $("notice");
    notice.hidden = text === null;
    notice.textContent = text || "";
  }

  // --- figures -----------------------------------------------------------------------------------

  function valueAt(data, path) {
    let value = data;
    for (const key of path.split(".")) {
      if (value === null || typeof value !== "object" || !(key in value)) return undefined;
      value = value[key];
    }
    return value;
  }

  function shown(value) {
    return value === null || value === undefined ? NONE : String(value);
  }

  function render(data) {
    drawStatuses($("statuses"), data.by_status);
    drawLegend($("history-legend"));
    drawBars(
      $("queues"),
      Object.entries(data.queues).map(([name, queue]) => bar(name, queue.depth, `queues.${name}.depth`)),
      "#4e79a7",
      "no queues",
    );
    drawBars($("elements"), pendingBars(data.by_element, "by_element"), "#f28e2b", "nothing pending");
    drawBars(
      $("destinations"),
      pendingBars(data.by_destination, "by_destination").slice(0, 10),
      "#76b7b2",
      "nothing pending",
    );
    // Last: every element naming a path, static or just drawn, shows the value at that path.
    for (const node of document.querySelectorAll("[data-metric]")) {
      node.textContent = shown(valueAt(data, node.dataset.metric));
    }
  }

  function bar(label, value, path) {
    return { label, value, path };
  }

  function pendingBars(groups, prefix) {
    return Object.entries(groups)
      .filter(([, counts]) => counts.pending > 0)
      .sort(([a, x], [b, y]) => y.pending - x.pending || a.localeCompare(b))
      .map(([name, counts]) => bar(name, counts.pending, `${prefix}.${name}.pending`));
  }

  // --- charts (inline SVG) -------------------------------------------------------------------------

  function svg(tag, attributes = {}, text) {
    const node = document.createElementNS(SVG_NS, tag);
    for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // One SVG unit per CSS pixel, so the labels keep the page's type size in any card width.
  function drawingWidth(container) {
    return Math.max(240, container.clientWidth || 400);
  }

  function niceCeiling(n) {
    if (n <= 4) return 4;
    const step = 10 ** Math.floor(Math.log10(n));
    return [1, 2, 2.5, 5, 10].map((m) => m * step).find((m) => m >= n);
  }

  function label(status) {
    return status.replace(/_/g, " ");
  }

  // Horizontal bars: a name, a bar scaled to the largest value, and the value (data-metric).
  function drawBars(container, rows, colour, empty) {
    container.replaceChildren();
    if (!rows.length) {
      container.append(Object.assign(document.createElement("p"), { className: "empty", textContent: empty }));
      return;
    }
    const width = drawingWidth(container), row = 30, left = 64, right = 48;
    const most = Math.max(1, ...rows.map((r) => r.value));
    const chart = svg("svg", { viewBox: `0 0 ${width} ${rows.length * row}`, role: "img" });
    rows.forEach((r, i) => {
      const y = i * row;
      const length = ((width - left - right) * r.value) / most;
      chart.append(
        svg("text", { x: 0, y: y + 18, class: "bar-label" }, r.label),
        svg("rect", { x: left, y: y + 5, width: Math.max(length, 1.5), height: 18, rx: 3, fill: colour }),
        svg("text", { x: left + length + 6, y: y + 18, class: "bar-value", "data-metric": r.path }, shown(r.value)),
      );
    });
    container.append(chart);
  }

  // The pending statuses stacked over the polls of this tab.
  function drawHistory(container, points) {
    container.replaceChildren();
    container.dataset.points = String(points.length);
    if (points.length < 2) {
      container.append(Object.assign(document.createElement("p"), { className: "empty", textContent: "collecting…" }));
      return;
    }
    const width = drawingWidth(container), height = 240, left = 40, right = 12, top = 10, bottom = 26;
    const first = points[0].at, last = points[points.length - 1].at;
    const totals = points.map((p) => PENDING.reduce((sum, s) => sum + (p.counts[s] || 0), 0));
    const ceiling = niceCeiling(Math.max(...totals));
    const x = (at) => left + ((width - left - right) * (at - first)) / Math.max(1, last - first);
    const y = (n) => top + (height - top - bottom) * (1 - n / ceiling);
    const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", class: "history" });
    for (const tick of [0, ceiling / 2, ceiling]) {
      chart.append(
        svg("line", { x1: left, x2: width - right, y1: y(tick), y2: y(tick), class: "gridline" }),
        svg("text", { x: left - 6, y: y(tick) + 4, class: "axis", "text-anchor": "end" }, String(tick)),
      );
    }
    const below = points.map(() => 0);
    for (const status of PENDING) {
      const above = points.map((p, i) => below[i] + (p.counts[status] || 0));
      const upper = points.map((p, i) => `${x(p.at).toFixed(1)},${y(above[i]).toFixed(1)}`);
      const lower = points.map((p, i) => `${x(p.at).toFixed(1)},${y(below[i]).toFixed(1)}`).reverse();
      chart.append(svg("polygon", { points: [...upper, ...lower].join(" "), fill: COLOURS[status], class: "layer" }));
      // An empty layer's edge would lie on the one below and paint it in the wrong colour.
      if (points.some((p) => p.counts[status])) {
        chart.append(svg("polyline", { points: upper.join(" "), stroke: COLOURS[status], class: "edge" }));
      }
      above.forEach((n, i) => (below[i] = n));
    }
    const time = (at) => new Date(at).toLocaleTimeString();
    chart.append(
      svg("text", { x: left, y: height - 6, class: "axis" }, time(first)),
      svg("text", { x: width - right, y: height - 6, class: "axis", "text-anchor": "end" }, time(last)),
    );
    container.append(chart);
    $("history-span").textContent = `· ${points.length} polls, every ${interval / 1000} s`;
  }

  function drawLegend(list) {
    if (list.childElementCount) return;
    for (const status of PENDING) {
      const item = document.createElement("li");
      const swatch = Object.assign(document.createElement("span"), { className: `swatch status-${status}` });
      const count = Object.assign(document.createElement("b"), { textContent: NONE });
      count.dataset.metric = `by_status.${status}`;
      item.append(swatch, `${label(status)} `, count);
      list.append(item);
    }
  }

  function drawStatuses(body, byStatus) {
    if (body.childElementCount) return; // the rows are fixed; render() fills their values
    for (const status of Object.keys(byStatus)) {
      const row = body.insertRow();
      const name = row.insertCell();
      name.append(Object.assign(document.createElement("span"), { className: `swatch status-${status}` }), label(status));
      const count = row.insertCell();
      count.dataset.metric = `by_status.${status}`;
      if (PENDING.includes(status)) row.className = "pending";
    }
  }

  // --- start -------------------------------------------------------------------------------------

  document.addEventListener("DOMContentLoaded", () => {
    $("token-form").addEventListener("submit", useToken);
    if (state.token) {
      poll();
    } else {
      askForToken("This page needs a bearer token (any role) to read the backlog.");
    }
  });
})();
