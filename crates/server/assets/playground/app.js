// vec2prompt playground: plain browser JavaScript, no dependencies, talks only to the
// server that served it.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { key: sessionStorage.getItem("vec2prompt-key") || "", tab: "target", interpolate: null, lastOptimize: null };

class ApiError extends Error {
  constructor(status, type, message) { super(message); this.status = status; this.type = type; }
}

async function api(path, body) {
  const headers = { "Content-Type": "application/json" };
  if (state.key) headers["Authorization"] = "Bearer " + state.key;
  let res;
  try {
    res = await fetch(path, body === undefined ? { headers } : { method: "POST", headers, body: JSON.stringify(body) });
  } catch (e) {
    throw new ApiError(0, "network", "cannot reach the server: " + e.message);
  }
  const text = await res.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch (_) { /* not JSON */ }
  if (!res.ok) {
    if (res.status === 401) $("auth").hidden = false;
    const msg = json && json.error ? json.error : (text || res.statusText);
    const type = json && json.error_type ? json.error_type : "http_" + res.status;
    throw new ApiError(res.status, type, msg);
  }
  return json;
}

function showError(e) {
  const box = $("error");
  box.hidden = false;
  box.textContent = e instanceof ApiError ? `${e.status || ""} ${e.type}: ${e.message}`.trim() : String(e);
}

function clearError() { $("error").hidden = true; $("error").textContent = ""; }

function fmt(x) { return x === null || x === undefined ? "—" : Number(x).toFixed(3); }

async function loadHealth() {
  try {
    const h = await api("/health");
    const ds = h.dataset ? ` · dataset of ${h.dataset.train_records} train prompts` : " · no dataset";
    const lm = h.learned_models ? " · learned models" : "";
    $("status").textContent = `${h.status} · LLM ${h.llm.name} · embedder ${h.embedder.name} (${h.embedding_dimension} dims)${ds}${lm}`;
    state.dimension = h.embedding_dimension;
    if (h.auth_required && !state.key) $("auth").hidden = false;
  } catch (e) {
    $("status").textContent = "server unreachable";
    showError(e);
  }
}

// --- linear algebra for the map -------------------------------------------------------

function dot(a, b) { let s = 0; for (let i = 0; i < a.length; i++) s += a[i] * b[i]; return s; }
function normalize(v) { const n = Math.sqrt(dot(v, v)) || 1; return v.map((x) => x / n); }
function centroid(vs) {
  const m = new Array(vs[0].length).fill(0);
  for (const v of vs) { const u = normalize(v); for (let i = 0; i < m.length; i++) m[i] += u[i]; }
  return normalize(m);
}

// The top two principal components of the rows of `xs` by power iteration (the map needs
// only a picture, not exact eigenvectors).
function pca2(xs) {
  const d = xs[0].length, n = xs.length;
  const mean = new Array(d).fill(0);
  for (const x of xs) for (let i = 0; i < d; i++) mean[i] += x[i] / n;
  const c = xs.map((x) => x.map((v, i) => v - mean[i]));
  const comps = [];
  for (let k = 0; k < 2; k++) {
    let v = new Array(d).fill(0).map((_, i) => Math.sin(i * 12.9898 + k * 78.233));
    for (let it = 0; it < 60; it++) {
      const proj = c.map((row) => dot(row, v));
      let w = new Array(d).fill(0);
      for (let r = 0; r < n; r++) for (let i = 0; i < d; i++) w[i] += proj[r] * c[r][i];
      for (const p of comps) { const s = dot(w, p); w = w.map((x, i) => x - s * p[i]); }
      const norm = Math.sqrt(dot(w, w));
      if (norm < 1e-12) break;
      v = w.map((x) => x / norm);
    }
    comps.push(v);
  }
  return c.map((row) => [dot(row, comps[0]), dot(row, comps[1])]);
}

// points: [{v: vector, kind: "target"|"predicted"|"answer"|"path", label, highlight}]
// links: [[i, j]] lines between points.
function drawMap(points, links) {
  const canvas = $("map");
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  const usable = points.filter((p) => p.v && p.v.length);
  canvas.dataset.points = String(usable.length);
  if (usable.length < 2) {
    ctx.fillStyle = "#5b6670";
    ctx.font = "14px sans-serif";
    ctx.fillText("The map appears once there is something to compare.", 20, 30);
    return;
  }
  const xy = pca2(usable.map((p) => p.v));
  const xs = xy.map((p) => p[0]), ys = xy.map((p) => p[1]);
  const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  const m = 30, w = canvas.width - 2 * m, h = canvas.height - 2 * m;
  const sx = (x) => m + ((x - x0) / ((x1 - x0) || 1)) * w;
  const sy = (y) => canvas.height - m - ((y - y0) / ((y1 - y0) || 1)) * h;
  const at = new Map(usable.map((p, i) => [p, [sx(xy[i][0]), sy(xy[i][1])]]));
  ctx.lineWidth = 1;
  for (const [a, b] of links) {
    const pa = at.get(points[a]), pb = at.get(points[b]);
    if (!pa || !pb) continue;
    ctx.strokeStyle = points[a].kind === "path" && points[b].kind === "path" ? "#9467bd" : "#c5cbd3";
    ctx.beginPath(); ctx.moveTo(pa[0], pa[1]); ctx.lineTo(pb[0], pb[1]); ctx.stroke();
  }
  const colors = { target: "#d62728", predicted: "#2d6cdf", answer: "#2ca02c", path: "#9467bd" };
  for (const p of usable) {
    const [x, y] = at.get(p);
    ctx.beginPath();
    const r = p.kind === "target" ? 7 : p.highlight ? 7 : 5;
    ctx.arc(x, y, r, 0, 2 * Math.PI);
    if (p.kind === "predicted") { ctx.strokeStyle = colors.predicted; ctx.lineWidth = 2; ctx.stroke(); ctx.lineWidth = 1; }
    else { ctx.fillStyle = colors[p.kind]; ctx.fill(); }
    if (p.highlight) { ctx.strokeStyle = "#000"; ctx.stroke(); }
    if (p.label) { ctx.fillStyle = "#1d232a"; ctx.font = "12px sans-serif"; ctx.fillText(p.label, x + 8, y - 6); }
  }
}

// --- the target tab -------------------------------------------------------------------

function options(budget) {
  const variants = Math.max(1, Math.min(32, parseInt($("variants").value, 10) || 1));
  const margin = parseFloat($("content-margin").value);
  const opts = { budget, variants, return_vectors: true };
  if (Number.isFinite(margin)) opts.content_margin = margin;
  return opts;
}

function renderResult(resp, targetVector) {
  const md = resp.metadata || {};
  $("result").hidden = false;
  $("result-prompt").textContent = resp.prompt;
  const measured = md.similarity !== null && md.similarity !== undefined;
  $("result-similarity").textContent = measured
    ? `measured similarity ${fmt(md.similarity)}`
    : `predicted similarity ${fmt(md.predicted_similarity)} (not measured: fast mode)`;
  $("result-meta").textContent = `${md.method || ""} · ${md.llm_calls ?? 0} LLM calls · ${Math.round(md.timings ? md.timings.total_ms : 0)} ms · source ${md.source || ""}`;
  $("result-answer").textContent = md.answer || "(no answer measured)";
  $("answer-box").open = !!md.answer;
  renderVariants(md.variants || []);
  const points = [{ v: targetVector, kind: "target", label: "target" }];
  const links = [];
  (md.variants || []).forEach((v, i) => {
    const pi = points.length;
    if (v.predicted_vector) points.push({ v: v.predicted_vector, kind: "predicted", label: String(i + 1) });
    if (v.answer_vector) {
      points.push({ v: v.answer_vector, kind: "answer", label: v.predicted_vector ? "" : String(i + 1), highlight: i === 0 });
      if (v.predicted_vector) links.push([pi, pi + 1]);
    }
  });
  drawMap(points, links);
}

function renderVariants(vs) {
  const body = $("variants-table").querySelector("tbody");
  body.textContent = "";
  vs.forEach((v, i) => {
    const tr = document.createElement("tr");
    const cells = [String(i + 1), v.prompt, v.source, fmt(v.predicted_similarity), fmt(v.similarity)];
    cells.forEach((c, j) => {
      const td = document.createElement("td");
      td.textContent = c;
      if (j >= 3) td.className = "num";
      if (j === 1 && v.answer) td.title = "answer: " + v.answer;
      tr.appendChild(td);
    });
    body.appendChild(tr);
  });
}

async function runTarget(budget) {
  const kind = document.querySelector("input[name=target-kind]:checked").value;
  let request, path, targetVector;
  if (kind === "text") {
    const text = $("target-text").value;
    if (!text.trim()) throw new ApiError(0, "invalid_input", "type a target text first");
    const emb = await api("/v1/embeddings", { input: [text] });
    targetVector = emb.data[0].embedding;
    path = "/generate_prompt_from_text";
    request = (b) => ({ text, options: options(b) });
  } else {
    let parsed;
    try { parsed = JSON.parse($("target-vector").value); } catch (e) {
      throw new ApiError(0, "invalid_input", "the vector is not valid JSON: " + e.message);
    }
    if (!Array.isArray(parsed) || parsed.length === 0) throw new ApiError(0, "invalid_input", "paste a JSON array of numbers");
    targetVector = Array.isArray(parsed[0]) ? centroid(parsed) : parsed;
    path = "/generate_prompt";
    request = (b) => ({ target_embedding: parsed, options: options(b) });
  }
  // Fast mode answers at once; with a budget, show its pick first and then the measured one.
  $("progress").textContent = budget > 0 ? "fast pick…" : "searching…";
  renderResult(await api(path, request(0)), targetVector);
  if (budget > 0) {
    $("progress").textContent = `checking the best candidates with the LLM (budget ${budget})…`;
    renderResult(await api(path, request(budget)), targetVector);
  }
}

// --- the interpolation tab ------------------------------------------------------------

async function runInterpolate(budget) {
  const from = $("from-text").value, to = $("to-text").value;
  if (!from.trim() || !to.trim()) throw new ApiError(0, "invalid_input", "give both ends of the path");
  const steps = parseInt($("steps").value, 10) || 5;
  const body = (b) => ({ from: { text: from }, to: { text: to }, steps, path: $("path").value, options: options(b) });
  $("progress").textContent = budget > 0 ? "fast path…" : "interpolating…";
  showInterpolation(await api("/interpolate", body(0)));
  if (budget > 0) {
    $("progress").textContent = `checking each point with the LLM (budget ${budget} per point)…`;
    showInterpolation(await api("/interpolate", body(budget)));
  }
}

function showInterpolation(resp) {
  state.interpolate = resp;
  const slider = $("slider");
  slider.max = String(resp.points.length - 1);
  if (parseInt(slider.value, 10) > resp.points.length - 1) slider.value = "0";
  $("slider-box").hidden = false;
  showPoint();
}

function showPoint() {
  const resp = state.interpolate;
  if (!resp) return;
  const i = parseInt($("slider").value, 10) || 0;
  const p = resp.points[i];
  $("slider-label").textContent = `${i + 1} of ${resp.points.length} (t = ${p.t.toFixed(2)})`;
  $("result").hidden = false;
  $("result-prompt").textContent = p.prompt;
  $("result-similarity").textContent = p.similarity !== null && p.similarity !== undefined
    ? `measured: to point ${fmt(p.similarity)} · to start ${fmt(p.similarity_to_start)} · to end ${fmt(p.similarity_to_end)}`
    : `predicted: to point ${fmt(p.predicted_similarity)} · to start ${fmt(p.predicted_similarity_to_start)} · to end ${fmt(p.predicted_similarity_to_end)}`;
  $("result-meta").textContent = `${p.llm_calls} LLM calls for this point · ${resp.llm_calls} for the path · ends similarity ${fmt(resp.ends_similarity)}`;
  $("result-answer").textContent = p.answer || "(no answer measured)";
  $("answer-box").open = !!p.answer;
  renderVariants(p.variants || []);
  const points = [
    { v: resp.from_vector, kind: "target", label: "from" },
    { v: resp.to_vector, kind: "target", label: "to" },
  ];
  const links = [];
  let prev = null;
  resp.points.forEach((q, j) => {
    const at = points.length;
    points.push({ v: q.vector, kind: "path", label: String(j + 1), highlight: j === i });
    if (prev !== null) links.push([prev, at]);
    prev = at;
    const best = (q.variants || [])[0];
    if (best && best.answer_vector) { points.push({ v: best.answer_vector, kind: "answer", highlight: j === i }); links.push([at, points.length - 1]); }
    else if (best && best.predicted_vector) { points.push({ v: best.predicted_vector, kind: "predicted", highlight: j === i }); links.push([at, points.length - 1]); }
  });
  drawMap(points, links);
}

// --- the optimizer tab ----------------------------------------------------------------

async function runOptimize(budget) {
  const raw = $("raw-prompt").value;
  if (!raw.trim()) throw new ApiError(0, "invalid_input", "type a prompt to improve");
  const n = Math.max(1, Math.min(8, parseInt($("variants").value, 10) || 1));
  let resp;
  try {
    resp = await api("/optimize", { raw_prompt: raw, num_return_sequences: n, style: $("style").value, budget: Math.min(8, budget) });
  } catch (e) {
    if (e.status === 404) throw new ApiError(404, "not_found", "this server has no prompt optimizer (POST /optimize is not available)");
    throw e;
  }
  const list = resp.optimized_prompts || resp.prompts || [];
  const best = list[0];
  const text = typeof best === "string" ? best : (best && (best.prompt || best.text)) || "";
  $("result").hidden = false;
  $("result-prompt").textContent = text;
  $("result-similarity").textContent = "";
  $("result-meta").textContent = `${list.length} suggestion${list.length === 1 ? "" : "s"}, ${resp.llm_calls || 0} LLM calls`;
  renderVariants(list.map((p) => (typeof p === "string" ? { prompt: p, source: "optimizer" } : { source: "optimizer", ...p })));
  state.lastOptimize = { raw_prompt: raw, optimized_prompt: text };
  $("feedback-box").hidden = !text;
}

async function sendFeedback(rating) {
  if (!state.lastOptimize) return;
  try {
    await api("/feedback", { ...state.lastOptimize, rating });
    $("progress").textContent = "feedback stored, thank you";
  } catch (e) { showError(e); }
}

// --- wiring ---------------------------------------------------------------------------

async function run() {
  clearError();
  $("progress").textContent = "working…";
  const button = $("run");
  button.disabled = true;
  const budget = parseInt($("budget").value, 10) || 0;
  try {
    if (state.tab === "target") await runTarget(budget);
    else if (state.tab === "interpolate") await runInterpolate(budget);
    else await runOptimize(budget);
    $("progress").textContent = "done";
  } catch (e) {
    $("progress").textContent = "";
    showError(e);
  } finally {
    button.disabled = false;
  }
}

function selectTab(tab) {
  state.tab = tab;
  document.querySelectorAll(".tabs button").forEach((b) => b.classList.toggle("active", b.dataset.tab === tab));
  document.querySelectorAll(".panel").forEach((p) => { p.hidden = p.dataset.panel !== tab; });
  $("run").textContent = tab === "optimize" ? "Optimize" : tab === "interpolate" ? "Interpolate" : "Generate";
  clearError();
}

document.querySelectorAll(".tabs button").forEach((b) => b.addEventListener("click", () => selectTab(b.dataset.tab)));
document.querySelectorAll("input[name=target-kind]").forEach((r) => r.addEventListener("change", () => {
  const text = document.querySelector("input[name=target-kind]:checked").value === "text";
  $("target-text").hidden = !text;
  $("target-vector").hidden = text;
}));
$("run").addEventListener("click", run);
$("slider").addEventListener("input", showPoint);
$("save-key").addEventListener("click", () => {
  state.key = $("api-key").value.trim();
  sessionStorage.setItem("vec2prompt-key", state.key);
  $("auth").hidden = !!state.key;
  clearError();
  loadHealth();
});
// Ratings run from 1 (bad) to 5 (good): thumbs up is 5, thumbs down is 1.
$("feedback-up").addEventListener("click", () => sendFeedback(5));
$("feedback-down").addEventListener("click", () => sendFeedback(1));
drawMap([], []);
loadHealth();
