// pushcap dashboard: one EventSource on /api/events, rates from consecutive snapshots, and
// the DOM updated in place (rows keep their canvases). Plain browser JavaScript, no build step.
"use strict";

const HISTORY = 60;           // sparkline points
const LAG_WARN_SECONDS = 5;   // a target further behind than this is "lagging"
const MAX_FILES = 15;
const MAX_EVENTS = 12;

const view = {
  previous: null,             // last snapshot, for rates
  history: new Map(),         // key -> [{pps, bps}]
  lastDataAt: 0,              // Date.now() when a message last arrived
  intervalMs: 1000,
  connected: false,
  files: [],
  events: [],
};

const $ = (sel) => document.querySelector(sel);
const num = (v) => Number(v || 0);  // proto3 JSON sends 64-bit integers as strings

function si(v, unit) {
  const abs = Math.abs(v);
  for (const [f, p] of [[1e12, "T"], [1e9, "G"], [1e6, "M"], [1e3, "k"]]) {
    if (abs >= f) return (v / f).toFixed(abs >= 100 * f ? 0 : 1) + " " + p + unit;
  }
  return (abs >= 100 || v === 0 ? v.toFixed(0) : v.toFixed(1)) + (unit ? " " + unit : "");
}
function bytes(v) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return (i === 0 ? v.toFixed(0) : v.toFixed(1)) + " " + units[i];
}
function count(v) { return v.toLocaleString("en-US"); }
function clock(ms) { return new Date(ms).toLocaleTimeString(); }
function duration(s) {
  s = Math.floor(s);
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
  return h ? `${h}h ${m}m` : m ? `${m}m ${s % 60}s` : `${s}s`;
}
function baseName(path) { return path.slice(path.lastIndexOf("/") + 1); }

function el(tag, attrs = {}, text) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

function remember(key, pps, bps) {
  let h = view.history.get(key);
  if (!h) view.history.set(key, (h = []));
  h.push({ pps, bps });
  if (h.length > HISTORY) h.shift();
  return h;
}

function sparkline(canvas, points, color) {
  const ratio = window.devicePixelRatio || 1;
  const w = canvas.clientWidth || 120, h = canvas.clientHeight || 26;
  canvas.width = w * ratio; canvas.height = h * ratio;
  const g = canvas.getContext("2d");
  g.scale(ratio, ratio);
  g.clearRect(0, 0, w, h);
  if (points.length < 2) return;
  const max = Math.max(...points, 1);
  const step = w / (HISTORY - 1);
  const x0 = w - step * (points.length - 1);
  g.beginPath();
  points.forEach((p, i) => {
    const x = x0 + i * step, y = h - 2 - (p / max) * (h - 4);
    i ? g.lineTo(x, y) : g.moveTo(x, y);
  });
  g.strokeStyle = color; g.lineWidth = 1.5; g.stroke();
  g.lineTo(w, h); g.lineTo(x0, h); g.closePath();
  g.globalAlpha = 0.12; g.fillStyle = color; g.fill();
}

// Rates per key between this snapshot and the previous one (0 for the first).
function rates(snap) {
  const out = new Map();
  const prev = view.previous;
  const dt = prev ? (num(snap.unix_time_ns) - num(prev.unix_time_ns)) / 1e9 : 0;
  const valid = prev && prev.instance === snap.instance && dt > 0;
  const before = new Map();
  if (valid) {
    for (const c of prev.captures) before.set("c:" + c.source, [num(c.packets), num(c.bytes), 0]);
    for (const t of prev.targets) before.set("t:" + t.desc, [num(t.packets_written), num(t.bytes_written), num(t.packets_lost)]);
  }
  const rate = (key, p, b, l) => {
    const o = before.get(key);
    // A counter that went back (worker or pushcapd restarted) gives no rate this round.
    if (!o || p < o[0] || b < o[1]) return out.set(key, { pps: 0, bps: 0, lost: 0 });
    out.set(key, { pps: (p - o[0]) / dt, bps: ((b - o[1]) * 8) / dt, lost: Math.max(0, l - o[2]) });
  };
  for (const c of snap.captures) rate("c:" + c.source, num(c.packets), num(c.bytes), 0);
  for (const t of snap.targets) rate("t:" + t.desc, num(t.packets_written), num(t.bytes_written), num(t.packets_lost));
  return out;
}

function renderCaptures(snap, r) {
  const box = $("#captures");
  for (const c of snap.captures) {
    const key = "c:" + c.source;
    let card = box.querySelector(`[data-source="${CSS.escape(c.source)}"]`);
    if (!card) {
      card = el("div", { class: "card", "data-source": c.source });
      card.innerHTML = `<h3>capture <span data-field="source"></span> <span class="state" data-field="state"></span></h3>
        <div class="grid">
          <div><div class="big" data-field="pps"></div><div class="label">packets/s</div></div>
          <div><div class="big" data-field="bps"></div><div class="label">throughput</div></div>
          <div><canvas class="spark" width="160" height="34" style="width:160px;height:34px"></canvas><div class="label">packets/s, last minute</div></div>
          <div><div class="bar"><div data-field="fill"></div></div><div class="label" data-field="fill-text"></div></div>
          <div><div data-field="packets"></div><div class="label">packets</div></div>
          <div><div data-field="bytes"></div><div class="label">captured</div></div>
          <div><div data-field="drops"></div><div class="label">kernel / interface drops</div></div>
          <div><div data-field="input"></div><div class="label" data-field="input-label">restarts</div></div>
        </div>`;
      box.appendChild(card);
    }
    const set = (f, v) => (card.querySelector(`[data-field="${f}"]`).textContent = v);
    const rr = r.get(key) || { pps: 0, bps: 0 };
    const h = remember(key, rr.pps, rr.bps);
    set("source", c.source);
    const st = card.querySelector('[data-field="state"]');
    st.textContent = c.state || "?";
    st.className = "state " + (c.state === "running" ? "RUNNING" : c.state === "restarting" ? "RESTARTING" : "");
    set("pps", si(rr.pps, ""));
    set("bps", si(rr.bps, "bit/s"));
    set("packets", count(num(c.packets)));
    card.querySelector('[data-field="packets"]').dataset.value = num(c.packets);
    set("bytes", bytes(num(c.bytes)));
    set("drops", `${count(num(c.kernel_drops))} / ${count(num(c.kernel_if_drops))}`);
    const fill = Math.min(1, Math.max(0, c.ring_fill || 0));
    card.querySelector('[data-field="fill"]').style.width = (fill * 100).toFixed(1) + "%";
    set("fill-text", `ring ${(fill * 100).toFixed(0)}% full`);
    const total = num(c.input_bytes_total);
    if (total > 0) {
      set("input", `${((100 * num(c.input_bytes_done)) / total).toFixed(1)}%  (restarts ${num(c.restarts)})`);
      set("input-label", `input ${bytes(num(c.input_bytes_done))} of ${bytes(total)}`);
    } else {
      set("input", count(num(c.restarts)));
      set("input-label", "restarts");
    }
    sparkline(card.querySelector("canvas"), h.map((p) => p.pps), "#2f6fdb");
  }
}

const TARGET_FIELDS = ["desc", "state", "pps", "spark", "bps", "packets_written", "files_completed",
                       "lag", "lost", "restarts", "errors", "file"];

function renderTargets(snap, r) {
  const body = $("#targets tbody");
  const seen = new Set();
  for (const t of snap.targets) {
    seen.add(t.desc);
    const key = "t:" + t.desc;
    let row = body.querySelector(`tr[data-target="${CSS.escape(t.desc)}"]`);
    if (!row) {
      row = el("tr", { class: "target", "data-target": t.desc });
      for (const f of TARGET_FIELDS) {
        const cls = ["pps", "bps", "packets_written", "files_completed", "lag", "lost", "restarts", "errors"].includes(f) ? "num " + f : "col-" + f;
        const td = el("td", { "data-field": f, class: cls });
        if (f === "spark") td.appendChild(el("canvas", { class: "spark", style: "width:120px;height:26px" }));
        if (f === "state") td.appendChild(el("span", { class: "state" }));
        row.appendChild(td);
      }
      body.appendChild(row);
    }
    const cell = (f) => row.querySelector(`[data-field="${f}"]`);
    const set = (f, text, value) => {
      const c = cell(f);
      c.textContent = text;
      if (value !== undefined) c.dataset.value = value;
    };
    const rr = r.get(key) || { pps: 0, bps: 0, lost: 0 };
    const h = remember(key, rr.pps, rr.bps);
    const state = t.state || "TARGET_STATE_UNSPECIFIED";
    const lagging = t.lag_seconds > LAG_WARN_SECONDS || rr.lost > 0;
    row.classList.toggle("failed", state === "FAILED");
    row.classList.toggle("lagging", state !== "FAILED" && lagging);
    set("desc", t.desc);
    const badge = cell("state").querySelector(".state");
    badge.textContent = state;
    badge.className = "state " + state;
    cell("state").dataset.value = state;
    set("pps", si(rr.pps, ""), rr.pps.toFixed(1));
    set("bps", si(rr.bps, "bit/s"), rr.bps.toFixed(0));
    set("packets_written", count(num(t.packets_written)), num(t.packets_written));
    cell("packets_written").title = `seen ${count(num(t.packets_seen))}, matched ${count(num(t.packets_matched))}, ${bytes(num(t.bytes_written))} written`;
    set("files_completed", count(num(t.files_completed)), num(t.files_completed));
    set("lag", `${(t.lag_seconds || 0).toFixed(2)} s / ${bytes(num(t.lag_bytes))}`, t.lag_seconds || 0);
    set("lost", count(num(t.packets_lost)), num(t.packets_lost));
    set("restarts", count(num(t.restarts)), num(t.restarts));
    set("errors", count(num(t.write_errors)), num(t.write_errors));
    const showError = state === "FAILED" || (!t.current_file && t.last_error);
    set("file", showError ? t.last_error || "failed" : t.current_file ? baseName(t.current_file) : "–");
    cell("file").title = showError ? t.last_error : t.current_file;
    sparkline(row.querySelector("canvas"), h.map((p) => p.pps), state === "FAILED" ? "#c3202b" : "#1c7c3c");
  }
  for (const row of [...body.querySelectorAll("tr.target")]) {
    if (!seen.has(row.dataset.target)) row.remove();
  }
  $("#no-targets").style.display = snap.targets.length ? "none" : "";
}

function renderFiles() {
  const body = $("#files tbody");
  body.replaceChildren(...view.files.slice(-MAX_FILES).reverse().map((f) => {
    const row = el("tr");
    const when = num(f.last_packet_unix_ns) / 1e6;
    row.append(el("td", {}, f.at ? clock(f.at) : clock(when)), el("td", {}, f.target),
               el("td", { class: "file", title: f.path }, baseName(f.path)),
               el("td", { class: "num" }, bytes(num(f.bytes))), el("td", { class: "num" }, count(num(f.packets))));
    return row;
  }));
}

function renderEvents() {
  $("#events").replaceChildren(...view.events.slice(-MAX_EVENTS).reverse().map((e) => {
    return el("li", { class: e.bad ? "bad" : "" }, `${clock(e.at)}  ${e.text}`);
  }));
}

function onSnapshot(msg) {
  const snap = msg.snapshot;
  const now = Date.now();
  if (view.lastDataAt && now > view.lastDataAt) {
    view.intervalMs = Math.min(60000, 0.8 * view.intervalMs + 0.2 * (now - view.lastDataAt));
  }
  view.lastDataAt = now;
  $("#instance").textContent = "instance " + snap.instance;
  $("#version").textContent = "v" + snap.version;
  $("#uptime").textContent = "up " + duration(snap.uptime_seconds || 0);
  const r = rates(snap);
  renderCaptures(snap, r);
  renderTargets(snap, r);
  view.previous = snap;
  updateLink();
}

function onEvent(kind, e) {
  view.lastDataAt = Date.now();
  const at = num(e.unix_time_ns) / 1e6;
  if (kind === "file_completed") {
    view.files.push({ ...e.file_completed, at });
    if (view.files.length > 100) view.files.shift();
    renderFiles();
    return;
  }
  if (kind === "child_exited") {
    const c = e.child_exited;
    view.events.push({ at, bad: c.action === "failed", text: `${c.child} exited (${c.signal ? "signal " + c.signal : "code " + c.exit_code}): ${c.action}${c.reason ? " – " + c.reason : ""}` });
  } else if (kind === "config_changed") {
    const c = e.config_changed;
    view.events.push({ at, bad: !c.accepted, text: c.accepted ? `config reloaded: ${c.started.length} started, ${c.restarted.length} restarted, ${c.stopped.length} stopped` : `config rejected: ${c.error}` });
  }
  if (view.events.length > 100) view.events.shift();
  renderEvents();
}

// The link pill: live, or how long since data stopped (pushcapd gone), or pushcap-web gone.
function updateLink() {
  const link = $("#link");
  const staleAfter = Math.max(3000, 3 * view.intervalMs);
  let state, text;
  if (!view.connected) {
    state = "down";
    text = view.lastDataAt ? `pushcap-web unreachable; no data since ${clock(view.lastDataAt)}` : "pushcap-web unreachable";
  } else if (!view.lastDataAt) {
    state = "waiting"; text = "waiting for data";
  } else if (Date.now() - view.lastDataAt > staleAfter) {
    state = "stale"; text = `no data since ${clock(view.lastDataAt)}`;
  } else {
    state = "live"; text = "live";
  }
  link.className = "pill " + state;
  link.dataset.link = state;
  link.textContent = text;
  document.body.classList.toggle("stale", state === "stale" || state === "down");
}

async function start() {
  try {
    const status = await (await fetch("/api/status", { cache: "no-store" })).json();
    for (const f of status.recent_files || []) {
      view.files.push({ ...f.file_completed, at: num(f.unix_time_ns) / 1e6 });
    }
    renderFiles();
    if (status.received_unix_ms) view.lastDataAt = status.received_unix_ms;
  } catch (err) {
    // The stream below retries; nothing else to do.
  }
  const source = new EventSource("/api/events");
  source.onopen = () => { view.connected = true; updateLink(); };
  source.onerror = () => { view.connected = false; updateLink(); };
  source.addEventListener("snapshot", (m) => onSnapshot(JSON.parse(m.data)));
  for (const kind of ["file_completed", "child_exited", "config_changed"]) {
    source.addEventListener(kind, (m) => onEvent(kind, JSON.parse(m.data)));
  }
  setInterval(updateLink, 1000);
}

start();
