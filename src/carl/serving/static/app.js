"use strict";
// The carl explorer: talks to the same server's API (no CDN, no external request).
// Plain SVG drawing; every API error is shown in the #error banner.

const SVG_NS = "http://www.w3.org/2000/svg";
const $ = (id) => document.getElementById(id);
const state = { info: null, words: [], map: null, selected: -1 };

// ------------------------------------------------------------------ API

function apiKey() { return sessionStorage.getItem("carl-api-key") || ""; }

async function api(path, body) {
  const headers = { "Accept": "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (apiKey()) headers["Authorization"] = "Bearer " + apiKey();
  let answer;
  try {
    answer = await fetch(path, { method: body === undefined ? "GET" : "POST", headers,
                                 body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (err) {
    throw new Error("cannot reach the server (" + err.message + ")");
  }
  let payload = null;
  try { payload = await answer.json(); } catch (_) { /* not JSON */ }
  if (!answer.ok) {
    const e = payload && payload.error ? payload.error : { message: answer.statusText };
    let text = "HTTP " + answer.status + " from " + path + ": " + e.message;
    if (answer.status === 429 && answer.headers.get("Retry-After")) text += " (retry in " + answer.headers.get("Retry-After") + " s)";
    if (answer.status === 401) $("key-form").hidden = false;
    throw new Error(text);
  }
  return payload;
}

function showError(err) {
  const box = $("error");
  box.textContent = err ? String(err.message || err) : "";
  box.hidden = !err;
}

async function guarded(button, work) {
  showError(null);
  if (button) button.disabled = true;
  try { await work(); } catch (err) { showError(err); } finally { if (button) button.disabled = false; }
}

// ------------------------------------------------------------------ SVG helpers

function el(name, attrs, parent) {
  const node = document.createElementNS(SVG_NS, name);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  if (parent) parent.appendChild(node);
  return node;
}

function clear(node) { while (node.lastChild && node.lastChild.tagName !== "desc") node.removeChild(node.lastChild); }

function fmt(x, digits = 3) { return Number(x).toFixed(digits); }

// "+0.012" / "-0.034"; a difference that rounds to zero is "0.000", not "-0.000"
function signed(x, digits = 3) { const t = fmt(x, digits); return Number(t) === 0 ? fmt(0, digits) : (x > 0 ? "+" : "") + t; }

// ------------------------------------------------------------------ 1. circumplex

const CIRC = { size: 440, pad: 46 };

function circumplexDomain(extra) {
  const vs = state.words.map((w) => w.valence).concat(extra.map((p) => p.valence));
  const as = state.words.map((w) => w.arousal).concat(extra.map((p) => p.arousal));
  const span = (xs) => {
    let lo = Math.min(...xs, 0.5), hi = Math.max(...xs, 0.5);
    const m = Math.max((hi - lo) * 0.08, 0.01);
    return [lo - m, hi + m];
  };
  return { v: span(vs), a: span(as) };
}

function drawCircumplex(point, nearest) {
  const svg = $("circumplex");
  clear(svg);
  const d = circumplexDomain(point ? [point] : []);
  const inner = CIRC.size - 2 * CIRC.pad;
  const x = (v) => CIRC.pad + (v - d.v[0]) / (d.v[1] - d.v[0]) * inner;
  const y = (a) => CIRC.size - CIRC.pad - (a - d.a[0]) / (d.a[1] - d.a[0]) * inner;
  el("rect", { x: CIRC.pad, y: CIRC.pad, width: inner, height: inner, fill: "#fafbfc", stroke: "#dde1e8" }, svg);
  el("line", { class: "axis", x1: x(0.5), x2: x(0.5), y1: CIRC.pad, y2: CIRC.size - CIRC.pad }, svg);
  el("line", { class: "axis", x1: CIRC.pad, x2: CIRC.size - CIRC.pad, y1: y(0.5), y2: y(0.5) }, svg);
  const label = (text, attrs) => { const t = el("text", Object.assign({ class: "axis-label" }, attrs), svg); t.textContent = text; };
  label("valence →", { x: CIRC.size - CIRC.pad, y: CIRC.size - 12, "text-anchor": "end" });
  label(fmt(d.v[0], 2), { x: CIRC.pad, y: CIRC.size - 28, "text-anchor": "start" });
  label(fmt(d.v[1], 2), { x: CIRC.size - CIRC.pad, y: CIRC.size - 28, "text-anchor": "end" });
  label("arousal ↑", { x: 12, y: CIRC.pad - 14, "text-anchor": "start" });
  label(fmt(d.a[1], 2), { x: CIRC.pad - 4, y: CIRC.pad + 10, "text-anchor": "end" });
  label(fmt(d.a[0], 2), { x: CIRC.pad - 4, y: CIRC.size - CIRC.pad, "text-anchor": "end" });
  const near = new Set((nearest || []).map((n) => n.word));
  // Labels are placed greedily, nearest words first, and a label that would overlap one already
  // placed is left out (the dot stays, with its name as a tooltip): a cluster of 60 names is unreadable.
  const placed = [];
  const order = state.words.slice().sort((a, b) => (near.has(b.word) ? 1 : 0) - (near.has(a.word) ? 1 : 0));
  for (const w of order) {
    const isNear = near.has(w.word);
    const cx = x(w.valence), cy = y(w.arousal);
    const dot = el("circle", { class: "word" + (isNear ? " near" : ""), cx, cy, r: isNear ? 4 : 2.5 }, svg);
    el("title", {}, dot).textContent = w.word + " (valence " + fmt(w.valence) + ", arousal " + fmt(w.arousal) + ")";
    const size = isNear ? 12 : 10, width = w.word.length * size * 0.58;
    // right-above, right-below, left-above, left-below of the dot: the first spot that is free and inside
    const spots = [[cx + 4, cy - 2], [cx + 4, cy + size + 2], [cx - 4 - width, cy - 2], [cx - 4 - width, cy + size + 2]];
    for (const [left, baseline] of spots) {
      const box = { x0: left, x1: left + width, y0: baseline - size, y1: baseline + 2 };
      if (box.x0 < 2 || box.x1 > CIRC.size - 2 || box.y0 < 2 || box.y1 > CIRC.size - 30) continue;
      if (placed.some((b) => b.x0 < box.x1 && box.x0 < b.x1 && b.y0 < box.y1 && box.y0 < b.y1)) continue;
      placed.push(box);
      el("text", { class: "word-label" + (isNear ? " near" : ""), x: left, y: baseline }, svg).textContent = w.word;
      break;
    }
  }
  if (point) {
    const p = el("circle", { id: "sentence-point", cx: x(point.valence), cy: y(point.arousal), r: 8,
                             "data-valence": point.valence, "data-arousal": point.arousal }, svg);
    el("title", {}, p).textContent = "your sentence";
  }
}

async function placeSentence(event) {
  if (event) event.preventDefault();
  const text = $("sentence").value;
  await guarded(event && event.submitter, async () => {
    const answer = await api("/v1/affect", { input: text, top_k: 5, emotions_top_k: 3 });
    const item = answer.data[0];
    drawCircumplex(item, item.nearest);
    $("place-readout").textContent = "valence " + fmt(item.valence) + " · arousal " + fmt(item.arousal) +
      " (0–1; 0.5 is the middle of the training ratings)" + (answer.usage.truncated_inputs ? " · text truncated to the model's maximum" : "");
    const list = $("nearest");
    list.replaceChildren(...item.nearest.map((n) => {
      const li = document.createElement("li");
      li.textContent = n.word + " (distance " + fmt(n.distance) + ")";
      return li;
    }));
    // the model folder's emotion head (emotion_head.json), when it has one
    $("emotions").replaceChildren(...(item.emotions || []).map((e) => {
      const li = document.createElement("li");
      li.textContent = e.label + " " + fmt(e.score);
      return li;
    }));
    $("emotions-note").textContent = item.emotions ? "" :
      "this model folder has no emotion head: fit one with carl fit-heads MODEL and restart";
  });
}

// ------------------------------------------------------------------ 2. compare

function lines(text) { return text.split(/\r?\n/).map((t) => t.trim()).filter((t) => t.length > 0); }

async function compare(event) {
  event.preventDefault();
  const texts = lines($("compare-input").value);
  await guarded(event.submitter, async () => {
    const answer = await api("/v1/compare", { input: texts });
    const hasBase = answer.base_model !== null;
    $("col-model").textContent = "this model (" + answer.model + ")";
    $("col-base").textContent = hasBase ? "base encoder (" + answer.base_model + ")" : "base encoder";
    const ref = answer.reference;
    const spread = "two sentences that differ only in the emotion word (\"" + ref.frame.replace("{word}", "WORD") + "\", " + ref.texts +
      " words) have cosine " + fmt(ref.model_mean) + " ± " + fmt(ref.model_std) + " in this model" +
      (hasBase ? " and " + fmt(ref.base_mean) + " ± " + fmt(ref.base_std) + " in the base encoder" : "");
    $("compare-note").textContent = (hasBase
      ? "Cosine similarity in this model's space beside the frozen encoder it was trained from: an emotion-aware model should pull apart sentences that differ in feeling. "
      : "No base encoder to compare with: " + (answer.base_note || "unknown") + ". ") +
      "Raw cosines of two spaces are not comparable when one space is more crowded, so z standardises each: " + spread + "; z counts standard deviations above that.";
    const body = $("compare-table").tBodies[0];
    body.replaceChildren(...answer.pairs.map((p) => {
      const tr = document.createElement("tr");
      const cells = [texts[p.a], texts[p.b], fmt(p.model), hasBase ? fmt(p.base) : "–",
                     signed(p.model_z, 2), hasBase ? signed(p.base_z, 2) : "–",
                     hasBase ? signed(p.model_z - p.base_z, 2) : "–"];
      cells.forEach((c, i) => { const td = document.createElement("td"); td.textContent = c; if (i >= 2) td.className = "num"; tr.appendChild(td); });
      return tr;
    }));
    $("compare-table").hidden = false;
  });
}

// ------------------------------------------------------------------ 3. map

function decodeFloat32(b64) {
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  return new Float32Array(bytes.buffer);
}

function valenceColour(t) {
  // t in [0, 1]: blue (low) -> light grey -> orange (high); readable for common colour-vision deficiencies.
  const lo = [59, 111, 182], mid = [232, 232, 232], hi = [217, 98, 43];
  const [a, b, u] = t < 0.5 ? [lo, mid, t * 2] : [mid, hi, (t - 0.5) * 2];
  return "rgb(" + a.map((c, i) => Math.round(c + (b[i] - c) * u)).join(",") + ")";
}

function drawMap() {
  const m = state.map;
  const svg = $("map-plot");
  clear(svg);
  const W = 600, H = 440, pad = 18;
  const xs = m.points.map((p) => p[0]), ys = m.points.map((p) => p[1]);
  const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  const sx = (v) => pad + (x1 > x0 ? (v - x0) / (x1 - x0) : 0.5) * (W - 2 * pad);
  const sy = (v) => H - pad - (y1 > y0 ? (v - y0) / (y1 - y0) : 0.5) * (H - 2 * pad);
  const val = m.valence || m.points.map(() => 0.5);
  const [v0, v1] = [Math.min(...val), Math.max(...val)];
  const r = m.points.length > 1500 ? 2.5 : m.points.length > 300 ? 3.5 : 5;
  const group = el("g", {}, svg);
  m.points.forEach((p, i) => {
    el("circle", { class: "pt", cx: sx(p[0]), cy: sy(p[1]), r, "data-index": i,
                   fill: m.valence ? valenceColour(v1 > v0 ? (val[i] - v0) / (v1 - v0) : 0.5) : "#6b7383" }, group);
  });
  $("map-wrap").hidden = false;  // the empty plot stays hidden until there is something to draw
  $("legend").hidden = !m.valence;
}

function neighbours(i, k) {
  const m = state.map, d = m.dimension, e = m.embeddings;
  const sims = [];
  for (let j = 0; j < m.texts.length; j++) {
    if (j === i) continue;
    let s = 0;
    for (let c = 0; c < d; c++) s += e[i * d + c] * e[j * d + c];
    sims.push([s, j]);
  }
  sims.sort((a, b) => b[0] - a[0]);
  return sims.slice(0, k);
}

function select(i) {
  const m = state.map;
  if (!m || i < 0 || i >= m.texts.length) return;
  state.selected = i;
  const near = neighbours(i, 8);
  const nearSet = new Set(near.map((n) => n[1]));
  for (const c of $("map-plot").querySelectorAll(".pt")) {
    const j = Number(c.dataset.index);
    c.classList.toggle("sel", j === i);
    c.classList.toggle("nb", nearSet.has(j));
  }
  const box = $("selection");
  const head = document.createElement("p");
  head.innerHTML = "<strong>Selected:</strong> ";
  head.appendChild(document.createTextNode(m.texts[i] + (m.valence ? " (valence " + fmt(m.valence[i]) + ", arousal " + fmt(m.arousal[i]) + ")" : "")));
  const title = document.createElement("p");
  title.textContent = "Nearest neighbours (cosine in this model's space):";
  const list = document.createElement("ol");
  for (const [s, j] of near) {
    const li = document.createElement("li");
    li.textContent = fmt(s) + " — " + m.texts[j];
    list.appendChild(li);
  }
  box.replaceChildren(head, title, list);
}

function showTooltip(event) {
  const c = event.target.closest(".pt");
  const tip = $("tooltip");
  if (!c) { tip.hidden = true; return; }
  const i = Number(c.dataset.index), m = state.map;
  tip.textContent = m.texts[i] + (m.valence ? " — valence " + fmt(m.valence[i], 2) + ", arousal " + fmt(m.arousal[i], 2) : "");
  const box = $("map-plot").getBoundingClientRect();
  tip.style.left = Math.min(event.clientX - box.left + 12, box.width - 200) + "px";
  tip.style.top = (event.clientY - box.top + 12) + "px";
  tip.hidden = false;
}

// Short texts across the circumplex, for a first map in one click.
const SAMPLE_TEXTS = [
  "We won the championship and everyone is cheering!", "I finally got the job, I can't stop smiling.",
  "What a wonderful surprise party, thank you all!", "The concert tonight was absolutely electric.",
  "A quiet Sunday morning with coffee and a good book.", "I feel calm and rested after the long walk.",
  "Everything went fine today, nothing special.", "The sunset over the lake was so peaceful.",
  "I miss my grandmother more than I can say.", "Another rainy day alone in this empty flat.",
  "I failed the exam again and I feel hopeless.", "Nobody called on my birthday.",
  "I am furious that they cancelled without telling us.", "That driver nearly hit me, I'm shaking with anger.",
  "I'm terrified about the test results tomorrow.", "My heart is racing, I think someone is outside.",
  "The meeting is moved to 3 pm on Thursday.", "The report has twelve pages and two tables.",
  "I'm so bored, nothing ever happens here.", "Wow, I did not expect that ending at all!",
];

async function mapTexts(event) {
  event.preventDefault();
  const texts = lines($("map-input").value);
  $("map-status").classList.remove("hint");
  if (texts.length === 0) {  // checked here: an empty request would only come back as an HTTP 400
    showError(null);
    $("map-status").textContent = "Nothing to map yet: paste texts above, one per line, or upload a .txt file" +
      " — or click “Map sample texts” to see " + SAMPLE_TEXTS.length + " examples.";
    $("map-status").classList.add("hint");
    $("map-sample").focus();
    return;
  }
  await guarded(event.submitter, async () => {
    $("map-status").textContent = "Embedding " + texts.length + " texts…";
    let answer;
    try { answer = await api("/v1/map", { input: texts }); } catch (err) { $("map-status").textContent = ""; throw err; }
    state.map = Object.assign(answer, { texts, embeddings: decodeFloat32(answer.embeddings) });
    state.selected = -1;
    drawMap();
    $("selection").replaceChildren();
    $("download").disabled = false;
    $("map-status").textContent = texts.length + " texts mapped with " + answer.method.toUpperCase() +
      (answer.usage.truncated_inputs ? " (" + answer.usage.truncated_inputs + " truncated to the model's maximum)" : "") +
      ". Hover for the text, click (or focus the map and use the arrow keys) for nearest neighbours.";
  });
}

function csvCell(value) {
  const s = String(value);
  return /[",\n\r]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
}

// A text cell that a spreadsheet would read as a formula (= + - @, or a leading tab / CR) gets a
// leading apostrophe: OWASP's advice against CSV injection.
function csvText(value) {
  const s = String(value);
  return csvCell(/^[=+\-@\t\r]/.test(s) ? "'" + s : s);
}

function downloadCsv() {
  const m = state.map;
  if (!m) return;
  const d = m.dimension;
  const header = ["text", "valence", "arousal", "x", "y"];
  for (let c = 0; c < d; c++) header.push("e" + c);
  const rows = [header.join(",")];
  m.texts.forEach((t, i) => {
    const row = [csvText(t), m.valence ? m.valence[i] : "", m.arousal ? m.arousal[i] : "", m.points[i][0], m.points[i][1]];
    for (let c = 0; c < d; c++) row.push(m.embeddings[i * d + c].toPrecision(7));
    rows.push(row.join(","));
  });
  const url = URL.createObjectURL(new Blob([rows.join("\n") + "\n"], { type: "text/csv" }));
  const a = document.createElement("a");
  a.href = url; a.download = "carl-embeddings.csv";
  document.body.appendChild(a); a.click(); a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

function mapSamples() {
  $("map-input").value = SAMPLE_TEXTS.join("\n");
  $("map-form").requestSubmit();
}

async function downloadOpenApi(event) {
  event.preventDefault();
  await guarded(null, async () => {
    const spec = await api("/openapi.json");
    const url = URL.createObjectURL(new Blob([JSON.stringify(spec, null, 2)], { type: "application/json" }));
    const a = document.createElement("a");
    a.href = url; a.download = "carl-openapi.json";
    document.body.appendChild(a); a.click(); a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  });
}

function readFile(event) {
  const file = event.target.files[0];
  if (!file) return;
  const reader = new FileReader();
  reader.onload = () => { $("map-input").value = String(reader.result); };
  reader.onerror = () => showError(new Error("cannot read " + file.name));
  reader.readAsText(file);
}

// ------------------------------------------------------------------ start

async function start() {
  $("key-form").hidden = !API_KEY_REQUIRED;
  $("api-docs").hidden = API_KEY_REQUIRED;
  $("api-docs-keyed").hidden = !API_KEY_REQUIRED;
  $("api-key").value = apiKey();
  try {
    state.info = await api("/info");
  } catch (err) { showError(err); $("model-line").textContent = "Model information unavailable."; return; }
  const i = state.info;
  $("model-line").textContent = "Model " + i.model_id + " · " + i.backend + " backend · " + i.dimension +
    " dimensions · up to " + i.max_input_length + " tokens" + (i.base_model ? " · base encoder " + i.base_model : "");
  $("map-max").textContent = String(i.max_map_inputs || 5000);
  if (i.va_head) {
    try { state.words = (await api("/v1/affect/words")).words; drawCircumplex(null, []); } catch (err) { showError(err); }
  } else {
    $("place-readout").textContent = "This model has no V-A head (va_head.json): the circumplex and valence colours are unavailable.";
  }
}

$("key-form").addEventListener("submit", (e) => { e.preventDefault(); sessionStorage.setItem("carl-api-key", $("api-key").value.trim()); showError(null); start(); });
$("place-form").addEventListener("submit", placeSentence);
$("compare-form").addEventListener("submit", compare);
$("map-form").addEventListener("submit", mapTexts);
$("map-file").addEventListener("change", readFile);
$("download").addEventListener("click", downloadCsv);
$("map-sample").addEventListener("click", mapSamples);
$("openapi-download").addEventListener("click", downloadOpenApi);
$("map-plot").addEventListener("mousemove", showTooltip);
$("map-plot").addEventListener("mouseleave", () => { $("tooltip").hidden = true; });
$("map-plot").addEventListener("click", (e) => { const c = e.target.closest(".pt"); if (c) select(Number(c.dataset.index)); });
$("map-plot").addEventListener("keydown", (e) => {
  if (!state.map) return;
  const n = state.map.texts.length;
  if (e.key === "ArrowRight" || e.key === "ArrowDown") { select((state.selected + 1) % n); e.preventDefault(); }
  if (e.key === "ArrowLeft" || e.key === "ArrowUp") { select((state.selected - 1 + n) % n); e.preventDefault(); }
});
$("find").addEventListener("keydown", (e) => {
  if (e.key !== "Enter" || !state.map) return;
  e.preventDefault();
  const q = $("find").value.trim().toLowerCase();
  const i = state.map.texts.findIndex((t) => t.toLowerCase().includes(q));
  if (i >= 0) select(i); else showError(new Error("no mapped text contains '" + $("find").value + "'"));
});
start();
