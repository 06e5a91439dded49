// The dashboard's pages, filled from the read API (/api/...): the numbers on a page are the
// numbers the API answers. No inline scripts: this file is the only code a page runs (with plotly.js).
"use strict";

const PAGE = document.getElementById("page");
const LINKS = {
  course_number: (v) => `/dashboard/courses/${encodeURIComponent(v)}`,
  user_uuid: (v) => `/dashboard/students/${encodeURIComponent(v)}`,
  user_pk: (v) => `/dashboard/students/${encodeURIComponent(v)}`,
  assessment_pk: (v, row) =>
    `/dashboard/tests/${encodeURIComponent(v)}` + (row.course_number ? `?course=${encodeURIComponent(row.course_number)}` : ""),
};
let reportMeta = null;

function text(value) {
  if (value === null || value === undefined) return "";
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

function showError(message) {
  let box = document.getElementById("page-error");
  if (!box) {
    box = document.createElement("p");
    box.id = "page-error";
    box.className = "error";
    box.setAttribute("role", "alert");
    PAGE.prepend(box);
  }
  box.textContent = message;
}

async function api(path) {
  const response = await fetch(path, { credentials: "same-origin", headers: { Accept: "application/json" } });
  if (response.status === 401) {
    window.location.assign("/dashboard/sign-in");
    throw new Error("signed out");
  }
  const body = await response.json();
  if (!response.ok) {
    const error = new Error(body.detail || response.statusText);
    error.status = response.status;
    throw error;
  }
  return body;
}

function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") q.set(k, v);
  const s = q.toString();
  return s ? `?${s}` : "";
}

// A report with only the parameters it accepts (reports are discovered, not assumed).
async function report(name, params) {
  if (reportMeta === null) reportMeta = await api("/api/reports");
  const meta = reportMeta[name];
  if (!meta) return null;
  const accepted = {};
  for (const [k, v] of Object.entries(params)) if (k in meta.parameters || k === "limit") accepted[k] = v;
  return api(`/api/reports/${name}${query(accepted)}`);
}

function accepts(name, param) {
  return Boolean(reportMeta && reportMeta[name] && param in reportMeta[name].parameters);
}

function renderTable(el, data, { onMore } = {}) {
  el.replaceChildren();
  if (!data || data.rows.length === 0) {
    const p = document.createElement("p");
    p.className = "empty";
    p.textContent = "no rows";
    el.append(p);
    return;
  }
  const table = document.createElement("table");
  const head = table.createTHead().insertRow();
  for (const c of data.columns) {
    const th = document.createElement("th");
    th.textContent = c;
    // a column of numbers is right-aligned, its heading too
    if (data.rows.some((r) => typeof r[c] === "number")) th.className = "num";
    head.append(th);
  }
  const body = table.createTBody();
  el.append(table);
  appendRows(body, data);
  addMore(el, body, data, onMore);
}

function appendRows(body, data) {
  for (const row of data.rows) {
    const tr = body.insertRow();
    for (const c of data.columns) {
      const td = tr.insertCell();
      td.dataset.col = c;
      const value = text(row[c]);
      const link = LINKS[c] || (c === "id" && inDeadLetters(body) ? (v) => `/dashboard/deadletters/${v}` : null);
      if (link && value) {
        const a = document.createElement("a");
        a.href = link(row[c], row);
        a.textContent = value;
        td.append(a);
      } else {
        td.textContent = value;
      }
      if (typeof row[c] === "number") td.className = "num";
    }
  }
}

function inDeadLetters(body) {
  return Boolean(body.closest("#table-deadletters"));
}

function addMore(el, body, data, onMore) {
  const old = el.querySelector("button.more");
  if (old) old.remove();
  if (!data.next) return;
  const more = document.createElement("button");
  more.type = "button";
  more.className = "more";
  more.textContent = "more rows";
  more.addEventListener("click", async () => {
    const next = await api(data.next);
    appendRows(body, next);
    if (onMore) onMore(next);
    addMore(el, body, next, onMore);
  });
  el.append(more);
}

// Twenty distinct colours: a site sends a dozen event types or more, and plotly's ten would
// repeat, giving two series of one stacked bar the same colour.
const COLORWAY = [
  "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
  "#393b79", "#f0c419", "#0b6e4f", "#ff9896", "#6b3fa0", "#c49c94", "#3cb44b", "#000075", "#808000", "#aec7e8",
];

function chart(id, traces, layout) {
  const el = document.getElementById(id);
  if (!el) return;
  if (!window.Plotly) {
    el.textContent = "charts need plotly (pip install plotly)";
    return;
  }
  if (traces.length === 0 || traces.every((t) => (t.x || t.z || []).length === 0)) {
    el.textContent = "nothing to draw";
    return;
  }
  const base = {
    margin: { t: 10, r: 10, b: 60, l: 60 }, height: 300, barmode: "stack", legend: { orientation: "h" }, colorway: COLORWAY,
  };
  // axes grow their margin to fit their labels (a long event type on the timeline's y axis)
  const axes = { xaxis: { automargin: true, ...layout.xaxis }, yaxis: { automargin: true, ...layout.yaxis } };
  window.Plotly.newPlot(el, traces, { ...base, ...layout, ...axes }, { displaylogo: false, responsive: true, staticPlot: false });
}

function groupedBars(rows, xCol, yCols) {
  return yCols.map((c) => ({ type: "bar", name: c, x: rows.map((r) => text(r[xCol])), y: rows.map((r) => r[c]) }));
}

function numericColumns(data, pattern) {
  return data.columns.filter((c) => pattern.test(c) && data.rows.some((r) => typeof r[c] === "number"));
}

function stacked(rows, key, group, value) {
  const groups = {};
  for (const r of rows) {
    const g = text(r[group]) || "—";
    (groups[g] ||= {});
    groups[g][r[key]] = (groups[g][r[key]] || 0) + r[value];
  }
  const keys = [...new Set(rows.map((r) => r[key]))].sort();
  return Object.entries(groups).map(([name, counts]) => ({ type: "bar", name, x: keys, y: keys.map((k) => counts[k] || 0) }));
}

async function allRows(path) {
  let data = await api(path);
  const rows = [...data.rows];
  while (data.next && rows.length < 100000) {
    data = await api(data.next);
    rows.push(...data.rows);
  }
  return { ...data, rows };
}

// --- pages ------------------------------------------------------------------------------------

async function sitePage() {
  const daily = await allRows("/api/daily?limit=10000");
  chart("chart-daily-type", stacked(daily.rows, "day", "type", "events"), {});
  chart("chart-daily-source", stacked(daily.rows, "day", "source", "events"), {});
  renderTable(document.getElementById("table-daily"), await api("/api/daily"));
  renderTable(document.getElementById("table-sources"), await api("/api/sources"));
  renderTable(document.getElementById("table-courses"), await report("activity", { by: "course" }));
  renderTable(document.getElementById("table-deadletters"), await api("/api/deadletters"));
}

// Markers of a gradebook cell, from the columns the gradebook report gives (status, source,
// override, deleted_attempts) or, for an older report, the latest grade_action.
function cellMarks(row) {
  const status = `${text(row.status)} ${text(row.grade_action)}`;
  const marks = [];
  if (/overrid/i.test(status) || row.source === "override" || /^active/i.test(text(row.override))) {
    marks.push(["override", "O", "override"]);
  } else if (/clear/i.test(`${text(row.override)} ${status}`)) {
    marks.push(["cleared", "C", "override cleared"]);
  }
  if (/delet/i.test(status) || (typeof row.deleted_attempts === "number" && row.deleted_attempts > 0)) {
    marks.push(["deleted", "D", "attempt deleted"]);
  }
  if (/needs/i.test(status)) marks.push(["needs", "!", "needs grading"]);
  return marks;
}

function userOf(row) {
  return row.user_uuid || row.user_pk || row.user || row.user_id || "";
}

function itemOf(row) {
  return row.gradable_item_pk || row.item || row.gradable_item || "";
}

function label(row, idCol, nameCols) {
  for (const c of nameCols) if (row[c]) return `${row[c]}`;
  return text(row[idCol]);
}

function renderGrid(course, data) {
  const grid = document.getElementById("gradebook-grid");
  grid.replaceChildren();
  if (data.rows.length === 0) {
    grid.textContent = "no grades yet";
    return;
  }
  const userNames = data.columns.filter((c) => /^user_.*name$|^user_name$|^name$/.test(c));
  const itemNames = data.columns.filter((c) => /^(item|gradable_item)_.*name$|^item_name$|^item_title$/.test(c));
  const users = new Map();
  const items = new Map();
  const cells = new Map();
  for (const row of data.rows) {
    const u = userOf(row);
    const i = itemOf(row);
    if (!users.has(u)) users.set(u, label(row, data.columns.includes("user_uuid") ? "user_uuid" : "user_pk", userNames));
    if (!items.has(i)) items.set(i, itemNames.length ? label(row, "gradable_item_pk", itemNames) : i);
    cells.set(`${u}\u0000${i}`, row);
  }
  const table = document.createElement("table");
  table.id = "gradebook";
  const head = table.createTHead().insertRow();
  head.append(document.createElement("th"));
  for (const [i, name] of items) {
    const th = document.createElement("th");
    th.textContent = name;
    th.dataset.item = i;
    head.append(th);
  }
  const body = table.createTBody();
  for (const [u, name] of users) {
    const tr = body.insertRow();
    const th = document.createElement("th");
    const a = document.createElement("a");
    a.href = `/dashboard/students/${encodeURIComponent(u)}`;
    a.textContent = name;
    th.append(a);
    tr.append(th);
    for (const i of items.keys()) {
      const td = tr.insertCell();
      const row = cells.get(`${u}\u0000${i}`);
      if (!row) continue;
      td.className = "cell";
      td.dataset.user = u;
      td.dataset.item = i;
      td.tabIndex = 0;
      const score = document.createElement("span");
      score.className = "score";
      score.textContent = text(row.score);
      td.append(score);
      for (const [cls, letter, title] of cellMarks(row)) {
        const m = document.createElement("span");
        m.className = `mark ${cls}`;
        m.textContent = letter;
        m.title = title;
        td.append(m);
      }
      const open = () => showHistory(course, u, i);
      td.addEventListener("click", open);
      td.addEventListener("keydown", (e) => e.key === "Enter" && open());
    }
  }
  grid.append(table);
}

async function showHistory(course, user, item) {
  const box = document.getElementById("history");
  document.getElementById("history-cell").textContent = `${user} · ${item}`;
  box.hidden = false;
  const data = await api(`/api/gradebook/history${query({ course, user, item })}`);
  renderTable(document.getElementById("table-history"), data);
  box.dataset.loaded = `${user}\u0000${item}`;
  box.scrollIntoView({ block: "nearest" });
}

async function coursePage() {
  const course = PAGE.dataset.course;
  document.getElementById("history-close").addEventListener("click", () => {
    document.getElementById("history").hidden = true;
  });
  const gradebook = await report("gradebook", { course, limit: 10000 });
  if (gradebook) {
    renderGrid(course, gradebook);
    renderTable(document.getElementById("table-gradebook"), gradebook);
  }
  const funnel = await report("funnel", { course });
  if (funnel) {
    renderTable(document.getElementById("table-funnel"), funnel);
    const counts = numericColumns(funnel, /^(started|submitted|graded|abandoned|completed)$/);
    chart("chart-funnel", groupedBars(funnel.rows, "assessment_pk", counts), { barmode: "group" });
  }
  const items = await report("items", { course });
  if (items) {
    renderTable(document.getElementById("table-items"), items);
    const x = items.columns.includes("question_pk") ? "question_pk" : items.columns[0];
    const times = numericColumns(items, /(seconds|time|p90|median)/);
    chart("chart-time", groupedBars(items.rows, x, times.slice(0, 3)), { barmode: "group", yaxis: { title: "seconds" } });
    let hard = numericColumns(items, /(rate|difficulty|correct|score|completion)/);
    if (hard.length === 0) hard = numericColumns(items, /^(started|completed|attempts)$/);
    chart("chart-difficulty", groupedBars(items.rows, x, hard.slice(0, 3)), { barmode: "group" });
  }
  const heat = (await report("activity", { course, by: "hour", limit: 10000 })) || { rows: [] };
  const days = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
  const z = Array.from({ length: 7 }, () => Array(24).fill(0));
  for (const r of heat.rows) {
    const d = typeof r.weekday === "number" ? r.weekday : days.indexOf(text(r.weekday).slice(0, 3));
    if (d >= 0 && r.hour >= 0 && r.hour < 24) z[d][r.hour] += r.events;
  }
  chart("chart-heatmap", heat.rows.length ? [{
    type: "heatmap", z, x: [...Array(24).keys()], y: days, colorscale: "Blues", reversescale: true,
  }] : [], { height: 260, yaxis: { autorange: "reversed" } });
}

async function studentPage() {
  const user = PAGE.dataset.user;
  const events = await api(`/api/events${query({ user, limit: 1000 })}`);
  renderTable(document.getElementById("table-events"), events);
  const byType = {};
  for (const e of events.rows) (byType[e.type || "—"] ||= []).push(e);
  chart("chart-timeline", Object.entries(byType).map(([type, rows]) => ({
    type: "scatter", mode: "markers", name: type, x: rows.map((r) => r.event_time), y: rows.map(() => type),
    text: rows.map((r) => [r.action, r.course_number, r.score].filter((v) => v !== null && v !== undefined).join(" · ")),
  })), { height: 320, margin: { l: 160, t: 10, r: 10, b: 40 } });
  renderTable(document.getElementById("table-grades"), await report("gradebook", { user, limit: 10000 }));
  renderTable(document.getElementById("table-activity"), await report("activity", { user, by: "course" }));
}

async function testPage() {
  const test = PAGE.dataset.test;
  const course = PAGE.dataset.course || undefined;
  let items = await report("items", { test, course, limit: 10000 });
  if (items && !accepts("items", "test")) items = { ...items, rows: items.rows.filter((r) => r.assessment_pk === test) };
  if (items) {
    renderTable(document.getElementById("table-questions"), items);
    const x = items.columns.includes("question_pk") ? "question_pk" : items.columns[0];
    chart("chart-questions", groupedBars(items.rows, x, numericColumns(items, /(seconds|time|p90|median)/).slice(0, 3)),
      { barmode: "group", yaxis: { title: "seconds" } });
  }
  let funnel = await report("funnel", { test, course });
  if (funnel && !accepts("funnel", "test")) funnel = { ...funnel, rows: funnel.rows.filter((r) => r.assessment_pk === test) };
  if (funnel) renderTable(document.getElementById("table-funnel"), funnel);
}

async function deadLetterPage() {
  const letter = await api(`/api/deadletters/${PAGE.dataset.id}`);
  document.getElementById("deadletter-summary").textContent =
    `${letter.bytes} bytes from ${letter.source || "an unknown source"}, received ${letter.received_at}` +
    (letter.replayed_at ? `, replayed ${letter.replayed_at}` : "");
  renderTable(document.getElementById("table-reasons"), { columns: ["path", "message", "severity"], rows: letter.reasons });
}

const PAGES = { site: sitePage, course: coursePage, student: studentPage, test: testPage, deadletter: deadLetterPage };

async function main() {
  const run = PAGES[PAGE.dataset.page];
  if (!run) return;
  try {
    await run();
    PAGE.dataset.ready = "true";
  } catch (error) {
    if (error.message !== "signed out") showError(`could not load this page: ${error.message}`);
    PAGE.dataset.ready = "error";
  }
}

main();
