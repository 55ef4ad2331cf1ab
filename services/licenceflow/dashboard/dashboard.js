// The backlog dashboard: polls GET /v1/metrics/backlog, writes every value into the elements
// whose data-metric attribute names its JSON path (null shows as "—"), and draws the charts as
// inline SVG. In the organisation's view (?view=org) the backlog is the token's organisation's,
// and three tables list what it owes (information requested), its pending files and the
// licences it holds, from the API's own lists. Plain JavaScript, no framework and no build;
// served under a CSP with no inline script, so everything here is attached from this file.
"use strict";

(() => {
  const ENDPOINT = "/v1/metrics/backlog";
  const TOKEN_KEY = "licenceflow.dashboard.token";
  const DEFAULT_INTERVAL_MS = 5000;
  const MIN_INTERVAL_MS = 500;
  const MAX_POINTS = 360; // the time chart keeps the last 360 polls (30 minutes at 5 s)
  const LIST_LIMIT = 50; // rows per table in the organisation's view (the API lists the rest)
  const SOON_DAYS = 31; // a licence ending within a month is flagged
  const ANSWER_SOON_DAYS = 5; // an answer due within five days is flagged
  const RENEW_BEFORE_MS = 30 * 60 * 1000; // the next token is asked for half an hour ahead
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
  const state = {
    token: takeToken(),
    me: null, // GET /v1/me: who the token names, its organisation, when it ends
    meStale: false, // a new token: read /v1/me again
    polling: null, // the AbortController of the poll under way
    view: new URLSearchParams(location.search).get("view") === "org" ? "org" : "all",
    etag: null,
    data: null,
    history: [],
    timer: null,
  };
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

  // A new token (the first, or the next one before this one ends): the page goes on as it was.
  function useToken(event) {
    event.preventDefault();
    const token = $("token-input").value.trim();
    if (!token) return;
    sessionStorage.setItem(TOKEN_KEY, token);
    state.token = token;
    state.meStale = true; // read again: its expiry, perhaps another organisation
    $("token-input").value = "";
    $("token-panel").hidden = true;
    showNotice(null);
    poll();
  }

  // Half an hour before the token ends, the form asks for the next one; the figures stay.
  function askBeforeExpiry() {
    const ends = Date.parse(state.me.expires_at);
    if (ends - Date.now() > RENEW_BEFORE_MS) return;
    const at = new Date(ends).toLocaleTimeString();
    $("token-reason").textContent = `This page's token ends at ${at}. Paste the next one to keep the page open.`;
    $("token-reason").classList.remove("refused");
    $("token-panel").hidden = false;
    showNotice(`The token ends at ${at}: paste the next one in the form above.`);
  }

  // --- who is looking, and which view ----------------------------------------------------------

  async function fetchMe() {
    const response = await get("/v1/me");
    if (!response) return false;
    if (response.status !== 200) return failed(response);
    const me = await response.json();
    if (state.me === null || me.member_of !== state.me.member_of) restart();
    state.me = me;
    state.meStale = false;
    const ends = new Date(me.expires_at).toLocaleTimeString();
    $("session").textContent = `${me.sub}@${me.org} · ${me.roles.join(", ")} · token until ${ends}`;
    showView();
    return true;
  }

  // An officer has no organisation's view: its organisation files nothing, and its lists hold
  // every organisation's files.
  function showView() {
    const me = state.me;
    const member = me && !me.roles.includes("officer") && me.member_of;
    if (!member) state.view = "all";
    $("views").hidden = !member;
    $("org-name").textContent = member || "";
    for (const button of document.querySelectorAll("#views button")) {
      button.setAttribute("aria-pressed", String(button.dataset.view === state.view));
    }
    $("scope").textContent = state.view === "org" ? member : "all organisations";
    for (const card of document.querySelectorAll(".org-only")) card.hidden = state.view !== "org";
    document.body.dataset.view = state.view;
  }

  function chooseView(event) {
    const view = event.currentTarget.dataset.view;
    if (view === state.view) return;
    state.view = view;
    const query = new URLSearchParams(location.search);
    if (view === "org") query.set("view", "org");
    else query.delete("view");
    history.replaceState(null, "", `${location.pathname}${query.size ? `?${query}` : ""}`);
    restart();
    showView();
    poll();
  }

  // Another scope: its own figures, and a time chart of its own.
  function restart() {
    state.etag = null;
    state.data = null;
    state.history = [];
    delete document.body.dataset.version;
  }

  function backlogPath() {
    return state.view === "org" ? `${ENDPOINT}?org=${encodeURIComponent(state.me.member_of)}` : ENDPOINT;
  }

  // --- polling ---------------------------------------------------------------------------------

  // One poll, then the next one `interval` later, whatever happened (except a refused token).
  // A poll started while another is under way (a new token, another view) supersedes it: the
  // older one's requests are aborted, so its answers are never drawn and it schedules nothing.
  async function poll() {
    clearTimeout(state.timer);
    if (state.polling) state.polling.abort();
    const polling = new AbortController();
    state.polling = polling;
    let keepPolling = true;
    try {
      if (!state.me || state.meStale) keepPolling = await fetchMe();
      if (keepPolling && state.me) keepPolling = await fetchBacklog();
      if (keepPolling && state.me && state.view === "org") keepPolling = await fetchOrganisation();
      if (keepPolling && state.me) askBeforeExpiry();
    } catch (error) {
      if (polling.signal.aborted) return;
      setConnection("unreachable", "warn");
      showNotice(`The service does not answer (${error.message}); trying again.`);
    }
    if (keepPolling && !polling.signal.aborted) state.timer = setTimeout(poll, interval);
  }

  // A GET with the token; null once a 401 has sent the page back to the token form.
  async function get(path, headers = {}) {
    // Conditional requests are made here, so the browser's own cache stays out of the way.
    const response = await fetch(path, {
      headers: { Authorization: `Bearer ${state.token}`, ...headers },
      cache: "no-store",
      signal: state.polling.signal,
    });
    if (response.status !== 401) return response;
    askForToken("The token was refused (401 Unauthorized): it is invalid or has expired. Paste another.", true);
    return null;
  }

  function failed(response) {
    setConnection(`error ${response.status}`, "warn");
    showNotice(`The service answered ${response.status} ${response.statusText}; trying again.`);
    return true;
  }

  async function fetchBacklog() {
    const response = await get(backlogPath(), state.etag ? { "If-None-Match": state.etag } : {});
    if (!response) return false;
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
      return failed(response);
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

  // The organisation's own lists, as the API gives them to its members.
  async function fetchOrganisation() {
    const pending = PENDING.map((status) => `status=${status}`).join("&");
    const answers = await Promise.all([
      get("/v1/clock"),
      get(`/v1/applications?status=info_requested&sort=respond_by&limit=${LIST_LIMIT}`),
      get(`/v1/applications?${pending}&sort=submitted_at&limit=${LIST_LIMIT}`),
      get(`/v1/licences?status=active&status=suspended&sort=valid_until&limit=${LIST_LIMIT}`),
    ]);
    if (answers.includes(null)) return false;
    const refused = answers.find((response) => response.status !== 200);
    if (refused) return failed(refused);
    const [clock, owed, files, licences] = await Promise.all(answers.map((r) => r.json()));
    drawRows($("owed"), owed, (app) => owedCells(app, clock.today), "nothing is owed");
    drawRows($("pending-files"), files, fileCells, "nothing pending");
    drawRows($("licences"), licences, (licence) => licenceCells(licence, clock.today), "no licence held");
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

  // --- the organisation's tables (text only: what a user typed is never read as HTML) ----------

  function drawRows(body, page, cellsOf, empty) {
    body.replaceChildren();
    const columns = body.closest("table").tHead.rows[0].cells.length;
    if (!page.items.length) {
      const cell = body.insertRow().insertCell();
      Object.assign(cell, { colSpan: columns, className: "empty", textContent: empty });
    }
    for (const item of page.items) {
      const row = body.insertRow();
      row.dataset.id = item.id;
      for (const [text, tone] of cellsOf(item)) {
        const cell = row.insertCell();
        cell.textContent = text;
        if (tone) cell.className = tone;
      }
    }
    if (page.next_cursor) {
      const cell = body.insertRow().insertCell();
      Object.assign(cell, { colSpan: columns, className: "more", textContent: `the first ${LIST_LIMIT} shown; the API lists the rest` });
    }
  }

  function daysFrom(today, day) {
    return Math.round((Date.parse(day.slice(0, 10)) - Date.parse(today)) / 86_400_000);
  }

  function inDays(days) {
    if (days < 0) return `${-days} day${days === -1 ? "" : "s"} ago`;
    if (days === 0) return "today";
    return days === 1 ? "tomorrow" : `in ${days} days`;
  }

  function owedCells(app, today) {
    const due = app.info_request.respond_by;
    const days = daysFrom(today, due);
    const tone = days < 0 ? "late" : days <= ANSWER_SOON_DAYS ? "soon" : "";
    return [[app.reference], [app.contract_ref || NONE], [app.info_request.question], [`${due.slice(0, 10)} · ${inDays(days)}`, tone]];
  }

  function fileCells(app) {
    let due = app.due_at ? app.due_at.slice(0, 10) : NONE;
    if (app.status === "submitted") due = "once accepted";
    if (app.status === "delayed") due = "lifted (referred)";
    if (app.status === "info_requested") due = "paused: answer owed";
    return [
      [app.reference],
      [app.contract_ref || NONE],
      [label(app.status)],
      [app.submitted_at.slice(0, 10)],
      app.overdue ? [`${due} · overdue`, "late"] : [due],
    ];
  }

  function licenceCells(licence, today) {
    const days = daysFrom(today, licence.valid_until);
    const kind = licence.kind === "temporary" ? "six-month" : licence.kind;
    const suspended = licence.status === "suspended" ? " · suspended" : "";
    const lines = licence.lines.map((l) => `${l.element} ${Number(l.shippable_kg)} of ${Number(l.quantity_kg)} kg`);
    return [
      [`${licence.number} (${kind})${suspended}`],
      [lines.join(", ")],
      [`${licence.valid_until} · ${inDays(days)}`, days <= SOON_DAYS ? "soon" : ""],
    ];
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
    container.dataset.first = points.length ? String(points[0].at) : "";
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
    for (const button of document.querySelectorAll("#views button")) button.addEventListener("click", chooseView);
    if (state.token) {
      poll();
    } else {
      askForToken("This page needs a bearer token (any role) to read the backlog.");
    }
  });
})();
