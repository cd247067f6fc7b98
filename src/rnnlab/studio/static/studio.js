// rnnlab studio: draws what POST /trace returns. Plain JavaScript, no build step, nothing fetched from
// outside this server.
//
// The page knows no task: it draws the prediction schema of rnnlab.tasks.base (`Prediction`), which
// every task's predict returns and its trace extends with the recorded states:
//   {task, text, tokens: [t0, t1, ...],                  what the network read, one per step
//    unknown: [bool per token],                          read as <unk>
//    answer: {label, probability}, answer_kind,          the decision ("intent", "next character", ...)
//    ranking: [{label, probability}, ...],               every candidate answer, best first
//    steps: [{token, ranking: [...], tag, rank, score}], the guess after each token (a tagger's tag; a
//                                                        token's rank and surprise: drawn as a strip)
//    spans: [{type, start, end, text}],                  labelled stretches (slots)
//    influence: {scores: [per token], method, target},   each token's share of the answer
//    layers: [{layer, direction, h: [T][H], c?: [T][H], gates: {in_gate|forget_gate|...: [T][H]}}],
//    sequence: [output pieces], target_tokens: [output pieces, </s> included],   an output sequence (translation)
//    attention: [one row per target token][one weight per input token],          where each output piece looked
//    forecast: {columns, history_times, history: [rows][columns], times, steps: [rows][columns],
//               lower?, upper?, interval?},              a series' next steps (forecast models: a CSV upload)
//    audio: {seconds, frame_seconds, steps, symbols, posteriors: [steps][symbols], words: [{word, start, end}],
//            spectrogram: {values: [T][mels], frame_seconds, mels}}   a recording (speech models: POST /upload)}
// so an intent model (a guess after each word, one answer), a tagger (a tag per word) and a character
// language model (a next-character distribution after each character) all draw with the same code.
// Tasks without a trace (the model card's can_trace is false) are drawn from /predict: no states.
"use strict";

const $ = (id) => document.getElementById(id);
let limits = { max_chars: 2000 };
let endpoint = "/trace"; // "/predict" for tasks without a trace (the card says): predictions only
let requestSeq = 0; // only the newest answer is drawn when requests overlap

// What each recorded quantity means, in the tutorial's words. Keys are the names the cells use.
const QUANTITIES = {
  h: ["hidden state h", "the memory passed to the next step and to the output", "signed"],
  c: ["cell state c", "the LSTM's conveyor belt: the long-term memory", "signed"],
  f: ["forget gate f", "what is kept of the cell state (1 = keep everything)", "unit"],
  i: ["input gate i", "what is written to the cell state", "unit"],
  o: ["output gate o", "what of the cell state is shown as h", "unit"],
  g: ["candidate g", "what could be written", "signed"],
  r: ["reset gate r", "how much of the past the candidate sees", "unit"],
  z: ["update gate z", "how much of the old state is kept (1 = keep the old h)", "unit"],
  n: ["candidate n", "the proposed new state", "signed"],
  attention: ["attention", "where each output token looked: one column per output token, one row per input token",
    "unit"],
};
// Long names (as rnnlab.Recurrent.trace records them) -> the short names above.
const ALIASES = { hidden: "h", cell: "c", in_gate: "i", input_gate: "i", forget_gate: "f", cell_candidate: "g",
  out_gate: "o", output_gate: "o", reset_gate: "r", update_gate: "z", candidate: "n" };
const short = (k) => ALIASES[k] || k;
const GATE_ORDER = ["f", "i", "o", "c", "g", "r", "z", "n"]; // LSTM: kept, written, shown, belt; GRU: r, z

// ------------------------------------------------------------------------------------------ helpers

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("data-")) node.setAttribute(k, v);
    else node[k] = v;
  }
  for (const c of children) if (c != null) node.append(c);
  return node;
}

function pct(p) {
  return p == null || Number.isNaN(p) ? "" : `${(100 * p).toFixed(p >= 0.995 || p < 0.1 ? 1 : 0)}%`;
}

// A number in a few characters: 0.42, -0.07, 3.1e-4 (influences of a confident model are tiny).
function small(v) {
  return v === 0 || Math.abs(v) >= 0.01 ? v.toFixed(2) : v.toExponential(1);
}

// A token as shown: spaces and newlines made visible (a character model reads them too).
function showToken(t) {
  return String(t).replace(/ /g, "\u2423").replace(/\n/g, "\u21b5").replace(/\t/g, "\u21e5");
}

// One step of the schema: its ranking (best first) and a tagger's tag.
function normaliseStep(step) {
  return { top: (step && step.ranking) || [], tag: (step && step.tag) ?? null };
}

// The final decision, as the task named it.
function finalAnswer(p) {
  if (!p.answer) return null;
  const kind = p.answer_kind ? p.answer_kind[0].toUpperCase() + p.answer_kind.slice(1) : "Answer";
  return { label: p.answer.label, prob: p.answer.probability, kind };
}

// ------------------------------------------------------------------------------------------ colours

// signed values: blue (negative) - white (0) - red (positive); unit values: white (0) - indigo (1)
function signedColour(v) {
  const t = Math.max(-1, Math.min(1, v));
  const [r, g, b] = t >= 0 ? [255 - 61 * t, 255 - 200 * t, 255 - 206 * t] : [255 + 211 * t, 255 + 132 * t, 255 + 73 * t];
  return `rgb(${r | 0},${g | 0},${b | 0})`;
}
function unitColour(v) {
  const t = Math.max(0, Math.min(1, v));
  return `rgb(${(255 - 222 * t) | 0},${(255 - 200 * t) | 0},${(255 - 110 * t) | 0})`;
}

// ------------------------------------------------------------------------------------------ drawing

function drawSteps(trace) {
  const steps = (trace.steps || []).map(normaliseStep);
  const list = $("steps");
  list.replaceChildren();
  trace.tokens.forEach((tok, t) => {
    const step = steps[t] || { top: [] };
    const guess = el("div", { class: "guess" });
    step.top.slice(0, 3).forEach((e, k) => {
      guess.append(el("span", { class: k === 0 ? "lab first" : "lab", text: showToken(e.label) }),
        el("span", { text: pct(e.probability) }));
      if (e.probability != null) {
        const bar = el("span", {});
        bar.style.width = `${Math.round(100 * e.probability)}%`;
        guess.append(el("div", { class: "bar" }, bar));
      }
    });
    const unknown = Array.isArray(trace.unknown) && trace.unknown[t];
    const li = el("li", { class: `step${t === trace.tokens.length - 1 ? " final" : ""}${unknown ? " unknown" : ""}`,
        "data-token-index": String(t), title: unknown ? "not in the training vocabulary: read as <unk>" : "" },
      el("div", { class: "num", text: `${String(t + 1).padStart(2, "0")} · after` }),
      el("div", { class: "tok", text: showToken(tok) }),
      step.tag && step.tag !== "O" ? el("div", { class: "tag", text: step.tag }) : null,
      guess);
    list.append(li);
  });
  const answer = finalAnswer(trace);
  const box = $("answer");
  box.replaceChildren();
  if (answer) {
    // a token's spaces are made visible; a text of several words (a translation) reads as text
    const label = /\S\s+\S/.test(answer.label) ? answer.label : showToken(answer.label);
    box.append(`${answer.kind}: `, el("span", { class: "label", id: "final-label", text: label }),
      answer.prob != null ? ` (${pct(answer.prob)})` : "");
  }
  if (Array.isArray(trace.spans) && trace.spans.length) {
    box.append(el("div", { class: "muted", text: "slots: " + trace.spans.map((s) => `${s.type}=${s.text}`).join(", ") }));
  }
  $("steps-section").hidden = false;
}

// Steps that carry a score (how unexpected each token was: a surprise, -log p, as a log-anomaly model gives
// it): one strip of cells, one per token, white (expected) to dark red (surprising). Colour from the score
// itself, 1 - exp(-score / 2), not from the strip's maximum, so the same surprise looks the same in every input.
function surpriseColour(score) {
  const t = 1 - Math.exp(-Math.max(0, score) / 2);
  return `rgb(255,${(255 - 215 * t) | 0},${(255 - 225 * t) | 0})`;
}
function drawStrip(trace) {
  let holder = $("score-strip");
  const steps = trace.steps || [];
  const scored = steps.length === trace.tokens.length && steps.length && steps.every((s) => typeof s.score === "number");
  if (!scored) { if (holder) holder.hidden = true; return; }
  if (!holder) {
    holder = el("div", { id: "score-strip" });
    $("steps-section").append(holder);
  }
  // a token's name where the model knows one (a system call's: "read" for 3), its id beside it on hover
  const named = (t) => (steps[t].name ? `${steps[t].name} (${trace.tokens[t]})` : trace.tokens[t]);
  const cells = steps.map((s, t) => {
    const cell = el("span", { class: "strip-cell", "data-token-index": String(t), "data-score": String(s.score),
      text: s.name ? s.name : showToken(trace.tokens[t]),
      title: `${named(t)}: surprise ${s.score.toFixed(2)}` + (s.rank != null ? `, rank ${s.rank}` : "") });
    cell.style.cssText = "display:inline-block;min-width:1.6em;padding:4px 3px;margin:0 1px;text-align:center;" +
      "font-family:monospace;border:1px solid #ddd;border-radius:3px;";
    cell.style.background = surpriseColour(s.score);
    return cell;
  });
  const peak = steps.reduce((best, s, t) => (s.score > steps[best].score ? t : best), 0);  // the first maximum
  const line = el("div", { class: "strip" }, ...cells);
  line.style.cssText = "display:flex;flex-wrap:wrap;gap:1px;margin:0.4rem 0;";
  holder.replaceChildren(el("h3", { text: "How unexpected each token was" }),
    el("p", { class: "muted", text: "Surprise -log p of each token given the ones before it: white = expected, " +
      "dark red = surprising (hover for the value and its rank among the model's guesses)." }),
    el("p", { id: "strip-peak", text: `most surprising: ${named(peak)}, token ${peak + 1} of ${steps.length} ` +
      `(surprise ${steps[peak].score.toFixed(2)})` }), line);
  holder.hidden = false;
}

function drawInfluence(trace) {
  const section = $("influence-section");
  const infl = trace.influence;
  const scores = infl && infl.scores;
  if (!Array.isArray(scores) || !scores.length) { section.hidden = true; return; }
  const box = $("influence");
  box.replaceChildren();
  const max = Math.max(1e-12, ...scores.map((s) => Math.abs(s)));
  scores.forEach((s, t) => {
    const fill = el("span", { class: s < 0 ? "neg" : "" });
    fill.style.height = `${Math.round((80 * Math.abs(s)) / max)}px`;
    box.append(el("div", { class: "infl", "data-token-index": String(t), title: `${trace.tokens[t]}: ${s}` },
      el("div", { class: "track" }, fill),
      el("div", { class: "tok", text: showToken(trace.tokens[t]) }),
      el("div", { class: "val", text: small(s) })));
  });
  const method = infl && infl.method ? ` Method: ${infl.method}.` : "";
  const target = infl && infl.target != null ? ` on "${infl.target}"` : "";
  $("influence-note").textContent = `How much each token contributed to the final decision${target}: ` +
    `green pushed towards it, red away from it.${method}`;
  section.hidden = false;
}

// One heatmap: columns = tokens (one canvas each, so a test can count .hm-col), rows = units, or, given
// rowLabels, the tokens each row stands for (an attention matrix: rows = input tokens).
function heatmap(kind, matrix, tokens, layerInfo, rowLabels = null) {
  const [name, what, scale] = QUANTITIES[kind] || [kind, "", "signed"];
  const T = matrix.length, H = T ? matrix[0].length : 0;
  const rowH = rowLabels ? 18 : Math.max(2, Math.min(8, Math.floor(192 / Math.max(1, H))));
  const colW = tokens.length > 60 ? 10 : tokens.length > 24 ? 22 : 34;
  let maxAbs = 1;
  if (scale === "signed") for (const row of matrix) for (const v of row) maxAbs = Math.max(maxAbs, Math.abs(v));
  const colour = scale === "unit" ? unitColour : (v) => signedColour(v / maxAbs);
  const grid = el("div", { class: "hm-grid" });
  matrix.forEach((column, t) => {
    const canvas = el("canvas", { width: colW, height: H * rowH });
    const ctx = canvas.getContext("2d");
    column.forEach((v, u) => { ctx.fillStyle = colour(v); ctx.fillRect(0, u * rowH, colW, rowH); });
    canvas.addEventListener("mousemove", (ev) => {
      const u = Math.min(H - 1, Math.floor(ev.offsetY / rowH));
      showTip(ev, rowLabels ? `${name}: ${JSON.stringify(tokens[t])} on ${JSON.stringify(rowLabels[u])}: ${column[u].toFixed(3)}`
        : `${name}, unit ${u}\nafter ${JSON.stringify(tokens[t])}: ${column[u].toFixed(3)}`);
    });
    canvas.addEventListener("mouseleave", hideTip);
    grid.append(el("div", { class: "hm-col", "data-token-index": String(t) }, canvas,
      colW >= 20 ? el("span", { class: "hm-label", text: showToken(tokens[t]) }) : null));
  });
  const where = layerInfo ? ` · layer ${layerInfo.layer}${layerInfo.direction !== "forward" ? ", " + layerInfo.direction : ""}` : "";
  if (rowLabels) {
    const labels = el("div", { class: "hm-rows" });
    labels.style.paddingTop = "0px";
    rowLabels.forEach((tok) => {
      const lab = el("div", { class: "hm-row-label", text: showToken(tok) });
      lab.style.height = `${rowH}px`;
      lab.style.lineHeight = `${rowH}px`;
      labels.append(lab);
    });
    grid.prepend(labels);
  }
  const legend = el("div", { class: "legend" },
    el("span", { text: scale === "unit" ? "0" : (-maxAbs).toFixed(1) }), legendCanvas(colour, scale),
    el("span", { text: scale === "unit" ? "1" : maxAbs.toFixed(1) }),
    el("span", { text: rowLabels ? `${H} input tokens` : `${H} units` }));
  return el("figure", { class: "heatmap", "data-kind": kind, "data-columns": String(T), "data-rows": String(H),
      "data-layer": String(layerInfo?.layer ?? 0), "data-direction": layerInfo?.direction ?? "forward" },
    el("figcaption", {}, el("b", { text: name }), el("span", { class: "what", text: `${what}${where}` })),
    el("div", { class: "hm-scroll" }, grid), legend);
}

function legendCanvas(colour, scale) {
  const c = el("canvas", { width: 120, height: 8 });
  const ctx = c.getContext("2d");
  for (let x = 0; x < 120; x++) {
    const v = scale === "unit" ? x / 119 : (2 * x) / 119 - 1;
    ctx.fillStyle = scale === "unit" ? colour(v) : signedColour(v);
    ctx.fillRect(x, 0, 1, 8);
  }
  return c;
}

function drawStates(trace) {
  // bottom layer first, forward before backward, whatever order the task listed them in
  const layers = [...(trace.layers || [])].sort((a, b) =>
    (a.layer ?? 0) - (b.layer ?? 0) || (a.direction === "backward") - (b.direction === "backward"));
  const hidden = $("hidden-maps"), gates = $("gate-maps");
  hidden.replaceChildren();
  gates.replaceChildren();
  const many = layers.length > 1;
  let gateKinds = new Set();
  for (const layer of layers) {
    const info = many ? layer : null;
    if (layer.h) hidden.append(heatmap("h", layer.h, trace.tokens, info));
    const quantities = {};
    for (const [k, v] of Object.entries(layer.gates || {})) quantities[short(k)] = v;
    if (layer.c) quantities.c = layer.c;
    const names = Object.keys(quantities).sort((a, b) => rank(a) - rank(b));
    if (!names.length) continue;
    const group = el("div", { class: "gate-group" });
    if (many) group.append(el("h3", { text: `layer ${layer.layer}, ${layer.direction}` }));
    for (const k of names) { group.append(heatmap(k, quantities[k], trace.tokens, null)); gateKinds.add(k); }
    gates.append(group);
  }
  $("hidden-section").hidden = !hidden.childElementCount;
  $("gates-section").hidden = !gateKinds.size;
  const lstm = gateKinds.has("f"), gru = gateKinds.has("z");
  $("gates-title").textContent = lstm ? "The LSTM's gates: what is kept, what is written, what is shown"
    : gru ? "The GRU's gates: reset and update" : "The gates";
  $("gates-note").textContent = lstm
    ? "The forget gate decides what stays on the conveyor belt (the cell state), the input gate what is written to it, the output gate what of it is shown as the hidden state."
    : gru ? "The reset gate decides how much of the past the new candidate looks at; the update gate how much of the old state is kept instead of the candidate."
      : "";
}
// An output sequence and where each of its tokens looked (a translation): the text, then the attention matrix
// with one column per output token and one row per input token. Drawn for any task whose trace has both.
function drawSequence(trace) {
  const section = $("sequence-section");
  const rows = trace.attention, targets = trace.target_tokens || trace.sequence;
  if (!Array.isArray(trace.sequence) || !Array.isArray(rows) || !Array.isArray(targets) ||
      rows.length !== targets.length) { section.hidden = true; return; }
  const kind = trace.answer_kind ? trace.answer_kind[0].toUpperCase() + trace.answer_kind.slice(1) : "Output";
  $("sequence-kind").textContent = kind;
  $("sequence-text").textContent = trace.answer ? trace.answer.label : trace.sequence.join(" ");
  const map = $("attention-map");
  map.replaceChildren(heatmap("attention", rows, targets, null, trace.tokens));
  drawAlternatives(trace.alternatives, targets);
  section.hidden = false;
}
// Per output token, its top alternatives (label and probability, best first): one table row each.
function drawAlternatives(alternatives, targets) {
  const holder = $("alternatives-section"), table = $("alternatives");
  if (!Array.isArray(alternatives) || alternatives.length !== targets.length) { holder.hidden = true; return; }
  table.replaceChildren(...alternatives.map((alts, t) => {
    const tr = document.createElement("tr"), head = document.createElement("th");
    head.textContent = targets[t];
    tr.append(head, ...alts.map((a) => {
      const td = document.createElement("td");
      td.textContent = `${a.label} ${(100 * a.probability).toFixed(1)}%`;
      td.classList.toggle("chosen", a.label === targets[t]);
      return td;
    }));
    return tr;
  }));
  holder.hidden = false;
}

const rank = (k) => (GATE_ORDER.indexOf(k) < 0 ? 99 : GATE_ORDER.indexOf(k));

// ------------------------------------------------------------------------------------------ tooltip

function showTip(ev, text) {
  const tip = $("tooltip");
  tip.textContent = text;
  tip.style.left = `${ev.clientX + 12}px`;
  tip.style.top = `${ev.clientY + 12}px`;
  tip.hidden = false;
}
function hideTip() { $("tooltip").hidden = true; }

// ------------------------------------------------------------------------------------------ forecasts

// The SVG namespace, read from an <svg> the HTML parser made (so no URL is written in the page's code: the page
// and its assets hold no absolute URLs at all, tests/studio/test_api.py checks it).
const SVG = (() => { const d = document.createElement("div"); d.innerHTML = "<svg></svg>"; return d.firstChild.namespaceURI; })();
function svgEl(tag, attrs = {}) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  return node;
}

// One chart per forecast column: the history read, the forecast after it and its interval (a band).
function drawForecast(trace) {
  const section = $("forecast-section"), holder = $("forecast-charts");
  const f = trace.forecast;
  holder.replaceChildren();
  if (!f || !Array.isArray(f.steps) || !f.steps.length) { section.hidden = true; return; }
  const history = f.history || [], n = history.length, h = f.steps.length;
  const W = 720, H = 180, left = 48, right = 8, top = 10, bottom = 22;
  f.columns.slice(0, 6).forEach((col, j) => {
    const values = history.map((r) => r[j]).concat(f.steps.map((r) => r[j]),
      (f.lower || []).map((r) => r[j]), (f.upper || []).map((r) => r[j]));
    let lo = Math.min(...values), hi = Math.max(...values);
    if (hi === lo) { hi += 1; lo -= 1; }
    const x = (t) => left + ((t + n) / Math.max(1, n + h - 1)) * (W - left - right); // t < 0: history
    const y = (v) => top + (1 - (v - lo) / (hi - lo)) * (H - top - bottom);
    const line = (pts) => pts.map(([t, v], k) => `${k ? "L" : "M"}${x(t).toFixed(1)},${y(v).toFixed(1)}`).join("");
    const svg = svgEl("svg", { class: "forecast-chart", viewBox: `0 0 ${W} ${H}`, width: W, height: H,
      "data-column": col, "data-steps": h, "data-history": n, role: "img",
      "aria-label": `${col}: ${n} rows read, ${h} steps forecast` });
    if (f.lower && f.upper) {
      const band = f.upper.map((r, t) => [t, r[j]]).concat(f.lower.map((r, t) => [t, r[j]]).reverse());
      svg.append(svgEl("path", { class: "interval", d: line(band) + "Z" }));
    }
    if (n) svg.append(svgEl("path", { class: "history", d: line(history.map((r, t) => [t - n, r[j]])) }));
    // the forecast starts from the last row read, so the two lines join
    const start = n ? [[-1, history[n - 1][j]]] : [];
    svg.append(svgEl("path", { class: "forecast", d: line(start.concat(f.steps.map((r, t) => [t, r[j]]))) }));
    svg.append(svgEl("line", { class: "now", x1: x(-0.5), x2: x(-0.5), y1: top, y2: H - bottom }));
    const label = (text, ax, ay, anchor = "start") => {
      const node = svgEl("text", { x: ax, y: ay, "text-anchor": anchor });
      node.textContent = text;
      svg.append(node);
    };
    label(hi.toPrecision(4), left - 4, top + 8, "end");
    label(lo.toPrecision(4), left - 4, H - bottom, "end");
    label(`${col}`, left + 4, top + 10);
    if (f.history_times && f.history_times.length) label(f.history_times[0], left, H - 6);
    if (f.times && f.times.length) label(f.times[f.times.length - 1], W - right, H - 6, "end");
    holder.append(svg);
  });
  const interval = f.lower ? ` The shaded band is the model's ${Math.round(100 * (f.interval || 0.8))} % interval.` : "";
  $("forecast-note").textContent = `The last ${n} rows the network read (grey), then its forecast of the next ${h} ` +
    `(blue), from ${f.times[0]} to ${f.times[f.times.length - 1]}.${interval}`;
  section.hidden = false;
}

// An uploaded CSV series: its header and the last rows the model reads (the card's data.lookback; all rows when
// the card does not say), so a long file is not sent whole.
let lookbackRows = null;
function lastRows(text) {
  const lines = text.replace(/^\ufeff/, "").split(/\r?\n/).filter((l) => l.trim());
  if (!lookbackRows || lines.length <= lookbackRows + 1) return lines.join("\n") + "\n";
  return [lines[0], ...lines.slice(-lookbackRows)].join("\n") + "\n";
}

// ------------------------------------------------------------------------------------------ recordings

// Speech models (the card's input is "audio": speech = CTC transcripts, spoken_word = one word per recording) read
// recordings, not text: a file dropped on the page, chosen, or recorded from the microphone (PCM captured with a
// ScriptProcessor, written as a 16-bit mono WAV here) is POSTed as the body of /upload?name=FILE, which answers the
// trace: the prediction plus audio.spectrogram {values: T x mels in [0, 1], frame_seconds, mels}, and for CTC
// audio.symbols (the blank first, as ""), audio.posteriors (steps x symbols), audio.words [{word, start, end}]
// and audio.greedy. Everything is drawn on one time axis, seconds -> pixels, so a spectrogram column (10 ms) and a
// model step (frame_seconds: 10 ms times the model's frame stacking) line up wherever they fall.
let audioTask = false;
const GUTTER = 44; // px left of the time axis, for row labels

// dark blue (quiet) - teal - yellow (loud), a perceptual ramp in a few lines
function heatColour(v) {
  const t = Math.max(0, Math.min(1, v));
  const stops = [[20, 24, 60], [36, 110, 150], [60, 170, 120], [250, 230, 80]];
  const x = t * (stops.length - 1), i = Math.min(stops.length - 2, Math.floor(x)), f = x - i;
  return stops[i].map((c, k) => Math.round(c + f * (stops[i + 1][k] - c)));
}

// A matrix (columns x rows, values in [0, 1]) as an image, one pixel per cell, row 0 at the top unless flipped.
function matrixImage(columns, rows, value, flip) {
  const off = document.createElement("canvas");
  off.width = Math.max(1, columns);
  off.height = Math.max(1, rows);
  const ctx = off.getContext("2d"), img = ctx.createImageData(off.width, off.height);
  for (let t = 0; t < columns; t++) {
    for (let r = 0; r < rows; r++) {
      const [R, G, B] = heatColour(value(t, r));
      const y = flip ? rows - 1 - r : r, k = 4 * (y * off.width + t);
      img.data[k] = R; img.data[k + 1] = G; img.data[k + 2] = B; img.data[k + 3] = 255;
    }
  }
  ctx.putImageData(img, 0, 0);
  return off;
}

function showSymbol(s) {
  return s === "" ? "blank" : s === " " ? "\u2423" : showToken(s);
}

function drawAudio(trace) {
  const section = $("audio-section"), a = trace.audio;
  if (!a) { section.hidden = true; return; }
  const seconds = Math.max(a.seconds || 0, 1e-3);
  const perSecond = Math.max(100, Math.min(600, 1000 / seconds));
  const W = Math.max(1, Math.round(seconds * perSecond)); // the time axis, px
  const x = (t) => GUTTER + (t / seconds) * W;

  // what was heard: the transcript (CTC) or the word and every candidate (a classifier)
  const answer = $("audio-answer"), ranking = $("audio-ranking"), greedy = $("audio-greedy");
  ranking.replaceChildren();
  greedy.textContent = "";
  if (Array.isArray(trace.sequence)) {
    $("audio-title").textContent = "What the network heard: the transcript";
    answer.replaceChildren(el("span", { id: "transcript", text: trace.sequence.join(" ") }));
    if (!trace.sequence.length) answer.append(el("span", { class: "muted", text: "(nothing: only blanks)" }));
    if (a.decoder === "beam" && typeof a.greedy === "string") {
      greedy.textContent = `beam search (word list and language model); greedy, best symbol per step: ` +
        `"${a.greedy.trim()}"`;
    } else if (a.decoder) greedy.textContent = "greedy decoding: the best symbol per step, repeats merged, blanks dropped";
  } else if (trace.answer) {
    $("audio-title").textContent = "What the network heard: the word";
    answer.replaceChildren("Word: ", el("span", { class: "label", id: "final-label", text: trace.answer.label }),
      ` (${pct(trace.answer.probability)})`);
    for (const r of trace.ranking || []) {
      const bar = el("span", { class: "bar" });
      bar.style.width = `${Math.round(60 * r.probability)}px`;
      ranking.append(el("li", { "data-label": r.label }, el("b", { text: r.label }), ` ${pct(r.probability)}`, bar));
    }
  }

  // the spectrogram: one pixel per 10 ms column and mel band, stretched to the time axis
  const spec = a.spectrogram, sc = $("spectrogram");
  const H = 160;
  sc.width = GUTTER + W;
  sc.height = H;
  const sctx = sc.getContext("2d");
  sctx.fillStyle = "#fff";
  sctx.fillRect(0, 0, sc.width, H);
  if (spec && Array.isArray(spec.values) && spec.values.length) {
    const T = spec.values.length, M = spec.values[0].length;
    const image = matrixImage(T, M, (t, m) => spec.values[t][m], true);
    sctx.imageSmoothingEnabled = false;
    sctx.drawImage(image, GUTTER, 0, Math.max(1, x(T * spec.frame_seconds) - GUTTER), H);
    sc.dataset.columns = String(T);
    sc.dataset.mels = String(M);
  } else {
    sc.dataset.columns = "0";
  }
  sctx.fillStyle = "#5d6677";
  sctx.font = "11px system-ui, sans-serif";
  sctx.fillText("high", 4, 12);
  sctx.fillText("pitch", 4, H / 2 + 4);
  sctx.fillText("low", 4, H - 4);

  // the CTC posteriors: one column per model step, one row per symbol (the blank first), on the same axis
  const pc = $("posteriors"), post = a.posteriors, symbols = a.symbols || [];
  if (Array.isArray(post) && post.length && symbols.length) {
    const V = symbols.length, rowH = Math.max(5, Math.min(14, Math.floor(240 / V)));
    pc.width = GUTTER + W;
    pc.height = V * rowH;
    const pctx = pc.getContext("2d");
    pctx.fillStyle = "#fff";
    pctx.fillRect(0, 0, pc.width, pc.height);
    const image = matrixImage(post.length, V, (t, v) => post[t][v], false);
    pctx.imageSmoothingEnabled = false;
    pctx.drawImage(image, GUTTER, 0, Math.max(1, x(post.length * a.frame_seconds) - GUTTER), V * rowH);
    pctx.fillStyle = "#1d2330";
    pctx.font = `${Math.min(11, rowH)}px system-ui, sans-serif`;
    pctx.textBaseline = "middle";
    symbols.forEach((s, v) => pctx.fillText(showSymbol(s), 4, v * rowH + rowH / 2, GUTTER - 8));
    pc.dataset.steps = String(post.length);
    pc.dataset.symbols = String(V);
    pc.onmousemove = (ev) => {
      const t = Math.floor(((ev.offsetX - GUTTER) / W) * seconds / a.frame_seconds);
      const v = Math.floor(ev.offsetY / rowH);
      if (t < 0 || t >= post.length || v < 0 || v >= V) { hideTip(); return; }
      const best = Array.isArray(a.best_path) ? a.best_path[t] : post[t].indexOf(Math.max(...post[t]));
      showTip(ev, `step ${t + 1} · ${(t * a.frame_seconds).toFixed(2)} s\n` +
        `${showSymbol(symbols[v])}: ${pct(post[t][v])}\nbest: ${showSymbol(symbols[best])} ${pct(post[t][best])}`);
    };
    pc.onmouseleave = hideTip;
    pc.hidden = false;
  } else {
    pc.hidden = true;
    pc.dataset.steps = "0";
  }

  // where each word was heard (the alignment of the transcript to the steps)
  const track = $("word-track");
  track.replaceChildren();
  track.style.width = `${GUTTER + W}px`;
  for (const w of a.words || []) {
    const span = el("span", { class: "word-span", text: w.word, title: `${w.word}: ${w.start.toFixed(2)}-${w.end.toFixed(2)} s`,
      "data-start": String(w.start), "data-end": String(w.end) });
    span.style.left = `${x(w.start)}px`;
    span.style.width = `${Math.max(12, x(w.end) - x(w.start))}px`; // a CTC spike is one step: keep the word readable
    track.append(span);
  }
  track.hidden = !(a.words || []).length;

  // the time axis: a tick every 0.1 s (labelled every 0.5 s), every second for long recordings
  const axis = $("time-axis");
  axis.width = GUTTER + W;
  axis.height = 18;
  const actx = axis.getContext("2d");
  actx.clearRect(0, 0, axis.width, axis.height);
  actx.fillStyle = "#5d6677";
  actx.font = "10px system-ui, sans-serif";
  const step = seconds > 20 ? 1 : 0.1, every = 5;
  for (let k = 0; k * step <= seconds + 1e-9; k++) {
    const px = x(k * step);
    actx.fillRect(px, 0, 1, k % every ? 3 : 6);
    if (k % every === 0) actx.fillText(`${(k * step).toFixed(step < 1 ? 1 : 0)} s`, px + 2, 15);
  }
  section.dataset.seconds = String(a.seconds);
  section.hidden = false;
}

function hideTextSections() {
  for (const id of ["steps-section", "sequence-section", "influence-section", "hidden-section", "gates-section",
    "forecast-section"]) $(id).hidden = true;
}

// ------------------------------------------------------------------------------------------ photos

// Captioning models (the card's input is "image") read a photo: it is uploaded as it is (the server resizes it as
// in training) and shown here from the local file. The trace: answer (the caption), target_tokens (its words and
// </s>), attention (one row per word: a weight per region, row-major over image.grid = [rows, columns]).
let imageTask = false;
let photoURL = null;

function loadPhoto(url) {
  return new Promise((resolve, reject) => {
    const img = new Image();
    img.onload = () => resolve(img);
    img.onerror = () => reject(new Error("the browser cannot show this image"));
    img.src = url;
  });
}

// The photo with one word's attention: a rows x columns alpha mask, scaled up smoothly, darkens what the word
// did not look at.
function attentionCanvas(img, weights, rows, cols, size) {
  const canvas = el("canvas", { width: size, height: size, class: "caption-canvas" });
  const ctx = canvas.getContext("2d");
  ctx.drawImage(img, 0, 0, size, size);
  const mask = document.createElement("canvas");
  mask.width = cols; mask.height = rows;
  const mctx = mask.getContext("2d"), pixels = mctx.createImageData(cols, rows);
  const top = Math.max(...weights, 1e-9);
  weights.forEach((w, k) => { pixels.data[4 * k + 3] = Math.round(200 * (1 - w / top)); });
  mctx.putImageData(pixels, 0, 0);
  ctx.imageSmoothingEnabled = true;
  ctx.drawImage(mask, 0, 0, size, size);
  return canvas;
}

async function drawCaption(trace, url) {
  const section = $("caption-section"), box = $("caption-words");
  $("caption-text").textContent = trace.answer ? trace.answer.label : "";
  box.replaceChildren();
  const [rows, cols] = (trace.image && trace.image.grid) || [0, 0];
  const words = trace.target_tokens || trace.sequence || [];
  let img = null;
  try { img = url ? await loadPhoto(url) : null; } catch (err) { img = null; }
  if (img) {
    const whole = el("figure", { class: "caption-word" }, el("figcaption", {}, "the photo"));
    const c = el("canvas", { width: 160, height: 160, class: "caption-canvas" });
    c.getContext("2d").drawImage(img, 0, 0, 160, 160);
    whole.prepend(c);
    box.append(whole);
  }
  words.forEach((word, k) => {
    const weights = (trace.attention || [])[k] || [];
    const figure = el("figure", { class: "caption-word", "data-word": word },
      el("figcaption", {}, word));
    if (img && weights.length === rows * cols) {
      figure.prepend(attentionCanvas(img, weights, rows, cols, 160));
      const peak = weights.indexOf(Math.max(...weights));
      figure.title = `${word}: looked most at row ${Math.floor(peak / cols) + 1}, column ${peak % cols + 1} ` +
        `(weight ${weights[peak].toFixed(2)})`;
    }
    box.append(figure);
  });
  section.dataset.words = String(words.length);
  section.hidden = false;
}

async function uploadPhoto(file) {
  if (limits.max_audio_bytes && file.size > limits.max_audio_bytes) {
    setStatus(`${file.name}: ${file.size} bytes, more than this server takes (${limits.max_audio_bytes})`, true);
    return;
  }
  const seq = ++requestSeq;
  setStatus(`looking at ${file.name}…`);
  document.body.dataset.state = "busy";
  try {
    const response = await fetch(`/upload?name=${encodeURIComponent(file.name)}`, {
      method: "POST", headers: { "Content-Type": file.type || "application/octet-stream" }, body: file,
    });
    const body = await response.json();
    if (seq !== requestSeq) return;
    if (!response.ok) { setStatus(body.error || `error ${response.status}`, true); $("caption-section").hidden = true; return; }
    hideTextSections();
    if (photoURL) URL.revokeObjectURL(photoURL);
    photoURL = URL.createObjectURL(file);
    await drawCaption(body, photoURL);
    const im = body.image || {};
    setStatus(`${file.name}: ${im.width} x ${im.height} pixels, ${(im.grid || []).join(" x ")} regions`);
  } catch (err) {
    if (seq === requestSeq) setStatus(`could not reach the server: ${err.message}`, true);
  } finally {
    if (seq === requestSeq) document.body.dataset.state = "done";
  }
}

function setUpImage() {
  $("image-input").hidden = false;
  $("text-row").hidden = true;
  $("series-row").hidden = true;
  $("text-label").textContent = "Give it a photo and see the caption it writes, and where it looked for each word.";
  takeFiles("image-drop-zone", "image-file", uploadPhoto);
}

async function upload(blob, name) {
  if (limits.max_audio_bytes && blob.size > limits.max_audio_bytes) {
    setStatus(`${name}: ${blob.size} bytes, more than this server takes (${limits.max_audio_bytes})`, true);
    return;
  }
  const seq = ++requestSeq;
  setStatus(`listening to ${name}…`);
  document.body.dataset.state = "busy";
  try {
    const response = await fetch(`/upload?name=${encodeURIComponent(name)}`, {
      method: "POST", headers: { "Content-Type": blob.type || "application/octet-stream" }, body: blob,
    });
    const body = await response.json();
    if (seq !== requestSeq) return;
    if (!response.ok) { setStatus(body.error || `error ${response.status}`, true); return; }
    hideTextSections();
    drawAudio(body);
    const a = body.audio || {};
    setStatus(`${name}: ${Number(a.seconds).toFixed(2)} s, ${a.steps} steps of ${Math.round(1000 * a.frame_seconds)} ms`);
  } catch (err) {
    if (seq === requestSeq) setStatus(`could not reach the server: ${err.message}`, true);
  } finally {
    if (seq === requestSeq) document.body.dataset.state = "done";
  }
}

// 16-bit PCM mono WAV (RIFF header + samples clipped to [-1, 1]).
function encodeWav(samples, rate) {
  const buffer = new ArrayBuffer(44 + 2 * samples.length), v = new DataView(buffer);
  const text = (at, s) => { for (let i = 0; i < s.length; i++) v.setUint8(at + i, s.charCodeAt(i)); };
  text(0, "RIFF"); v.setUint32(4, 36 + 2 * samples.length, true); text(8, "WAVE");
  text(12, "fmt "); v.setUint32(16, 16, true); v.setUint16(20, 1, true); v.setUint16(22, 1, true);
  v.setUint32(24, rate, true); v.setUint32(28, 2 * rate, true); v.setUint16(32, 2, true); v.setUint16(34, 16, true);
  text(36, "data"); v.setUint32(40, 2 * samples.length, true);
  for (let i = 0; i < samples.length; i++) {
    const s = Math.max(-1, Math.min(1, samples[i]));
    v.setInt16(44 + 2 * i, s < 0 ? s * 0x8000 : s * 0x7fff, true);
  }
  return new Blob([buffer], { type: "audio/wav" });
}

let recorder = null;
async function startRecording() {
  if (recorder) return;
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    setStatus("this browser cannot record here (the microphone needs https or a localhost address)", true);
    return;
  }
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({
      audio: { channelCount: 1, echoCancellation: false, noiseSuppression: false, autoGainControl: false } });
  } catch (err) {
    setStatus(`no microphone: ${err.message || err.name}`, true);
    return;
  }
  const ctx = new AudioContext();
  if (ctx.state === "suspended") await ctx.resume();
  const source = ctx.createMediaStreamSource(stream);
  const node = ctx.createScriptProcessor(4096, 1, 1);
  const rec = { stream, ctx, source, node, chunks: [], samples: 0, started: performance.now() };
  const maxSamples = (limits.max_audio_seconds || 60) * ctx.sampleRate;
  node.onaudioprocess = (ev) => {
    if (recorder !== rec) return;
    rec.chunks.push(new Float32Array(ev.inputBuffer.getChannelData(0)));
    rec.samples += ev.inputBuffer.length;
    if (rec.samples >= maxSamples) stopRecording();
  };
  source.connect(node);
  node.connect(ctx.destination); // a ScriptProcessor only runs when connected; it writes silence
  rec.timer = setInterval(() => {
    $("record-time").textContent = `recording… ${((performance.now() - rec.started) / 1000).toFixed(1)} s`;
  }, 100);
  recorder = rec;
  $("record").disabled = true;
  $("record").classList.add("recording");
  $("stop").disabled = false;
  document.body.dataset.recording = "on";
  setStatus("recording: press Stop when done");
}

async function stopRecording() {
  const rec = recorder;
  if (!rec) return;
  recorder = null;
  clearInterval(rec.timer);
  rec.node.onaudioprocess = null;
  rec.source.disconnect();
  rec.node.disconnect();
  rec.stream.getTracks().forEach((t) => t.stop());
  const rate = rec.ctx.sampleRate;
  rec.ctx.close();
  $("record").disabled = false;
  $("record").classList.remove("recording");
  $("stop").disabled = true;
  document.body.dataset.recording = "off";
  const samples = new Float32Array(rec.samples);
  let at = 0;
  for (const c of rec.chunks) { samples.set(c, at); at += c.length; }
  $("record-time").textContent = `${(samples.length / rate).toFixed(1)} s recorded at ${rate} Hz`;
  if (!samples.length) { setStatus("nothing was recorded: record a little longer", true); return; }
  await upload(encodeWav(samples, rate), "recording.wav");
}

// A file dropped on the zone `zoneId` or chosen in the file input `inputId` goes to `take(file)`.
function takeFiles(zoneId, inputId, take) {
  const zone = $(zoneId), input = $(inputId);
  zone.addEventListener("dragover", (ev) => { ev.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (ev) => {
    ev.preventDefault();
    zone.classList.remove("over");
    const file = ev.dataTransfer && ev.dataTransfer.files[0];
    if (file) take(file);
  });
  input.addEventListener("change", () => {
    const file = input.files[0];
    if (file) take(file);
  });
}

function setUpAudio() {
  $("audio-input").hidden = false;
  $("text-row").hidden = true;
  $("series-row").hidden = true;
  $("text-label").textContent = "Give it a recording and see what the network hears, step by step.";
  takeFiles("drop-zone", "audio-file", (file) => upload(file, file.name));
  $("record").addEventListener("click", startRecording);
  $("stop").addEventListener("click", stopRecording);
}

// ------------------------------------------------------------------------------------------ requests

function setStatus(text, isError = false) {
  const s = $("status");
  s.textContent = text;
  s.classList.toggle("error", isError);
}

async function run(given = null) {
  const text = given ?? $("text").value;
  if (!text.trim()) { setStatus("Type something first."); return; }
  const seq = ++requestSeq;
  setStatus("reading…");
  document.body.dataset.state = "busy";
  try {
    const response = await fetch(endpoint, {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ text }),
    });
    const body = await response.json();
    if (seq !== requestSeq) return; // a newer request is on its way
    if (!response.ok) { setStatus(body.error || `error ${response.status}`, true); return; }
    drawSteps(body);
    drawStrip(body);
    drawSequence(body);
    drawInfluence(body);
    drawStates(body);
    drawForecast(body);
    setStatus(`${body.tokens.length} tokens` +
      (endpoint === "/trace" ? "" : " · this task has no trace: predictions only, no states or gates"));
  } catch (err) {
    if (seq === requestSeq) setStatus(`could not reach the server: ${err.message}`, true);
  } finally {
    if (seq === requestSeq) document.body.dataset.state = "done";
  }
}

async function loadCard() {
  try {
    const response = await fetch("/model");
    const card = await response.json();
    if (!response.ok) { setStatus(card.error || "could not load the model card", true); return; }
    limits = card.limits || limits;
    if (card.can_trace === false) endpoint = "/predict";
    audioTask = card.input === "audio";
    imageTask = card.input === "image";
    if (audioTask) setUpAudio();
    if (imageTask) setUpImage();
    $("text").maxLength = limits.max_chars;
    if (card.example) $("text").placeholder = card.example;
    $("model-summary").textContent = card.summary || `task: ${card.task}`;
    const data = (card.config && card.config.data) || {};
    if (Number.isInteger(data.lookback)) lookbackRows = data.lookback + (data.transform === "log_return" ? 1 : 0);
  } catch (err) {
    setStatus(`could not reach the server: ${err.message}`, true);
  }
}

let debounce = null;
document.addEventListener("DOMContentLoaded", () => {
  $("input-form").addEventListener("submit", (ev) => { ev.preventDefault(); clearTimeout(debounce); if (!audioTask && !imageTask) run(); });
  $("text").addEventListener("input", () => {
    clearTimeout(debounce);
    if ($("text").value.trim()) debounce = setTimeout(run, 400);
  });
  $("series-file").addEventListener("change", async () => {
    const file = $("series-file").files[0];
    if (!file) return;
    clearTimeout(debounce);
    try {
      run(lastRows(await file.text()));
    } catch (err) {
      setStatus(`could not read ${file.name}: ${err.message}`, true);
    }
  });
  loadCard();
});
