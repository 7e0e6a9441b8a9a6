// The explorer page: plain JavaScript over the JSON API of `vae serve` (docs/explorer.md).
// State: the selected run, its map, the current latent z (sliders), and the two
// interpolation ends A and B.
"use strict";

const $ = (id) => document.getElementById(id);
// Matplotlib's tab10, the colours of the project's latent scatter plots.
const COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
  "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];
const SIZE = 520;

let runs = [];
let info = null;      // RunInfo of the selected run
let map = null;       // {x, y, label} of its test images, or null
let view = null;      // map bounds {x0, x1, y0, y1}
let pixels = null;    // canvas positions of the points
let base = null;      // the points drawn once, off screen
let z = [];           // the decoder's current input
let ends = { a: { index: 0 }, b: { index: 1 } };
let uploadZ = null;
let uploadMap = null;
let sampleSeed = 0;

const runUrl = (name, what) => `/api/runs/${encodeURIComponent(name)}${what ? "/" + what : ""}`;

async function api(path, body) {
  const options = body === undefined ? {} : {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  };
  const response = await fetch(path, options);
  const json = await response.json();
  if (!response.ok) throw new Error(json.error || response.statusText);
  return json;
}

function showError(e) {
  $("error").hidden = false;
  $("error").textContent = e.message || String(e);
}

function clearError() {
  $("error").hidden = true;
}

function setStatus(state, text) {
  $("status").dataset.state = state;
  $("status").textContent = text;
}

// ---- map ----------------------------------------------------------------

// Bounds from the 1st to the 99th percentile, padded, so a few outliers do not squash the map.
function computeView() {
  if (!map || map.x.length === 0) {
    view = { x0: -3, x1: 3, y0: -3, y1: 3 };
    return;
  }
  const pct = (values, q) => {
    const sorted = Float32Array.from(values).sort();
    return sorted[Math.floor(q * (sorted.length - 1))];
  };
  const span = (values) => {
    const lo = pct(values, 0.01), hi = pct(values, 0.99), pad = 0.12 * (hi - lo || 1);
    return [lo - pad, hi + pad];
  };
  const [x0, x1] = span(map.x);
  const [y0, y1] = span(map.y);
  view = { x0, x1, y0, y1 };
}

const toCanvas = (x, y) => [
  ((x - view.x0) / (view.x1 - view.x0)) * SIZE,
  SIZE - ((y - view.y0) / (view.y1 - view.y0)) * SIZE,
];
const fromCanvas = (px, py) => [
  view.x0 + (px / SIZE) * (view.x1 - view.x0),
  view.y0 + ((SIZE - py) / SIZE) * (view.y1 - view.y0),
];

// Map position of a latent, and the latent at a map position (docs/explorer.md: projection).
function project(v) {
  const p = info.projection;
  const along = (axis) => v.reduce((s, vi, i) => s + (vi - p.center[i]) * axis[i], 0);
  return [along(p.axes[0]), along(p.axes[1])];
}

function unproject(x, y) {
  const p = info.projection;
  return p.center.map((c, i) => c + x * p.axes[0][i] + y * p.axes[1][i]);
}

function drawBase() {
  base = document.createElement("canvas");
  base.width = base.height = SIZE;
  const ctx = base.getContext("2d");
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, SIZE, SIZE);
  ctx.strokeStyle = "#ddd";
  const [ox, oy] = toCanvas(0, 0);
  ctx.beginPath();
  ctx.moveTo(ox, 0); ctx.lineTo(ox, SIZE); ctx.moveTo(0, oy); ctx.lineTo(SIZE, oy);
  ctx.stroke();
  pixels = [];
  if (!map) return;
  ctx.globalAlpha = 0.55;
  for (let i = 0; i < map.x.length; i++) {
    const [px, py] = toCanvas(map.x[i], map.y[i]);
    pixels.push([px, py]);
    ctx.fillStyle = COLORS[map.label[i] % COLORS.length];
    ctx.fillRect(px - 1.5, py - 1.5, 3, 3);
  }
}

function drawMap() {
  const ctx = $("map").getContext("2d");
  ctx.drawImage(base, 0, 0);
  const mark = (pos, color, label) => {
    if (!pos) return;
    const [px, py] = toCanvas(pos[0], pos[1]);
    ctx.strokeStyle = color;
    ctx.lineWidth = 2;
    ctx.beginPath();
    ctx.arc(px, py, 7, 0, 2 * Math.PI);
    ctx.moveTo(px - 11, py); ctx.lineTo(px + 11, py);
    ctx.moveTo(px, py - 11); ctx.lineTo(px, py + 11);
    ctx.stroke();
    if (label) {
      ctx.fillStyle = color;
      ctx.font = "bold 13px sans-serif";
      ctx.fillText(label, px + 9, py - 9);
    }
  };
  const endPos = (end) => end.z ? project(end.z)
    : map && end.index < map.x.length ? [map.x[end.index], map.y[end.index]] : null;
  mark(endPos(ends.a), "#000", "A");
  mark(endPos(ends.b), "#000", "B");
  mark(uploadMap, "#b00020", "upload");
  if (z.length) mark(project(z), "#263238", "z");
}

function nearestPoint(px, py, radius) {
  let best = -1, bestD = radius * radius;
  for (let i = 0; i < pixels.length; i++) {
    const dx = pixels[i][0] - px, dy = pixels[i][1] - py, d = dx * dx + dy * dy;
    if (d < bestD) { best = i; bestD = d; }
  }
  return best;
}

function canvasPos(event) {
  const rect = $("map").getBoundingClientRect();
  return [event.clientX - rect.left, event.clientY - rect.top];
}

function onHover(event) {
  const [px, py] = canvasPos(event);
  const i = nearestPoint(px, py, 8);
  const hover = $("hover");
  if (i < 0) { hover.hidden = true; return; }
  $("hover-img").src = runUrl(info.name, `images/${i}`);
  $("hover-label").textContent = `#${i} ${info.class_names[map.label[i]] ?? map.label[i]}`;
  hover.style.left = `${Math.min(px + 12, SIZE - 100)}px`;
  hover.style.top = `${Math.min(py + 12, SIZE - 110)}px`;
  hover.hidden = false;
}

function onMapClick(event) {
  const [px, py] = canvasPos(event);
  const mode = document.querySelector("input[name=click]:checked").value;
  const [x, y] = fromCanvas(px, py);
  if (mode === "decode") {
    setZ(unproject(x, y));
    return;
  }
  const i = nearestPoint(px, py, 12);
  setEnd(mode, i >= 0 ? { index: i } : { z: unproject(x, y) });
}

function drawLegend() {
  $("legend").replaceChildren(...info.class_names.map((name, k) => {
    const span = document.createElement("span");
    span.style.setProperty("--c", COLORS[k % COLORS.length]);
    span.textContent = name;
    return span;
  }));
}

// ---- decoder and sliders -------------------------------------------------

let decodeBusy = false;
let decodePending = false;

// ---- the class of a conditional run ----------------------------------------

// What a conditional run can be asked for: its classes, or no attribute and each attribute.
function classChoices(run) {
  const c = run.conditioning;
  if (!c) return [];
  return (c.kind === "attributes" ? ["none"] : []).concat(c.names);
}

// The "class" field of a request to `run`: the picked class when the run knows it, else its
// first; nothing for an unconditional run.
function classOf(run) {
  const choices = classChoices(run);
  if (choices.length === 0) return {};
  const picked = $("class").value;
  return { class: choices.includes(picked) ? picked : choices[0] };
}

function fillClasses() {
  const choices = classChoices(info);
  $("class").replaceChildren(...choices.map((c) => new Option(c, c)));
  $("class-label").hidden = choices.length === 0;
  $("every-class-panel").hidden = choices.length === 0;
}

// At most one decode in flight; moves made meanwhile are folded into the next request.
async function decodeNow() {
  if (decodeBusy) { decodePending = true; return; }
  decodeBusy = true;
  try {
    do {
      decodePending = false;
      const r = await api(runUrl(info.name, "decode"), { z: [z.slice()], ...classOf(info) });
      $("decoded").src = r.images[0];
      if (info.conditioning) {
        const every = await api(runUrl(info.name, "decode"), { z: [z.slice()], class: "all" });
        const names = classChoices(info);
        $("every-class").replaceChildren(...every.images.map((src, k) => {
          const img = document.createElement("img");
          img.src = src;
          img.title = names[k];
          return img;
        }));
      }
    } while (decodePending);
    clearError();
  } catch (e) {
    showError(e);
  } finally {
    decodeBusy = false;
  }
}

function buildSliders() {
  const rows = info.dims.map((d) => {
    const row = document.createElement("div");
    row.className = "slider-row" + (d.active ? "" : " inactive");
    const label = document.createElement("span");
    const kl = d.kl == null ? (d.variance == null ? "" : ` var ${d.variance.toFixed(2)}`)
      : ` KL ${d.kl.toFixed(2)}`;
    label.textContent = `z[${d.index}]${kl}${d.active ? "" : " (inactive)"}`;
    const input = document.createElement("input");
    Object.assign(input, { type: "range", min: d.range[0], max: d.range[1], step: "any" });
    input.className = "slider";
    input.dataset.dim = d.index;
    const value = document.createElement("span");
    input.addEventListener("input", () => {
      z[d.index] = Number(input.value);
      value.textContent = z[d.index].toFixed(2);
      drawMap();
      decodeNow();
    });
    row.append(label, input, value);
    return row;
  });
  $("sliders").replaceChildren(...rows);
}

function syncSliders() {
  for (const input of document.querySelectorAll("#sliders input")) {
    const d = Number(input.dataset.dim);
    input.value = z[d];
    input.nextElementSibling.textContent = z[d].toFixed(2);
  }
}

function setZ(values) {
  z = values.slice();
  syncSliders();
  drawMap();
  decodeNow();
}

// ---- interpolation ------------------------------------------------------

function setEnd(which, end) {
  ends[which] = end;
  if (end.index !== undefined) {
    $(`${which}-index`).value = end.index;
    $(`${which}-img`).src = runUrl(info.name, `images/${end.index}`);
  }
  drawMap();
  interpolate();
}

async function interpolate() {
  const method = document.querySelector("input[name=method]:checked").value;
  const steps = Number($("steps").value);
  try {
    const r = await api(runUrl(info.name, "interpolate"),
      { from: ends.a, to: ends.b, steps, method, ...classOf(info) });
    $("interp").replaceChildren(...r.images.map((src, k) => {
      const img = document.createElement("img");
      img.src = src;
      img.title = `t = ${(k / (r.images.length - 1)).toFixed(2)}: click to put on the sliders`;
      img.addEventListener("click", () => setZ(r.z[k]));
      return img;
    }));
    for (const which of ["a", "b"]) {
      if (ends[which].z) $(`${which}-img`).src = r.images[which === "a" ? 0 : r.images.length - 1];
    }
    clearError();
    return r;
  } catch (e) {
    showError(e);
    return null;
  }
}

function randomIndex() {
  return Math.floor(Math.random() * Math.max(info.test_images, 1));
}

// ---- samples ------------------------------------------------------------

async function sampleInto(name, gridId, titleId) {
  const run = runs.find((r) => r.name === name);
  const twoStage = run.two_stage && $("two-stage").checked;
  const asked = classOf(run);
  const r = await api(runUrl(name, "sample"),
    { n: 16, seed: sampleSeed, two_stage: twoStage, ...asked });
  const what = asked.class ? `, class ${asked.class}` : "";
  $(titleId).textContent = `${run.name} (${run.kind === "vae" ? "VAE" : "plain autoencoder"}${twoStage ? ", two-stage" : ""}${what})`;
  $(gridId).replaceChildren(...r.images.map((src) => {
    const img = document.createElement("img");
    img.src = src;
    return img;
  }));
}

async function samples() {
  try {
    await sampleInto(info.name, "samples", "samples-title");
    const other = $("compare").value;
    $("compare-figure").hidden = !other;
    if (other) await sampleInto(other, "samples-compare", "compare-title");
    clearError();
  } catch (e) {
    showError(e);
  }
}

function fillCompare() {
  const previous = $("compare").value;
  const others = runs.filter((r) => r.name !== info.name);
  const options = [new Option("(none)", "")].concat(
    others.map((r) => new Option(`${r.name} (${r.kind})`, r.name)));
  $("compare").replaceChildren(...options);
  // By default contrast the other kind of model: the lecture's VAE-versus-autoencoder point.
  const contrast = others.find((r) => r.kind !== info.kind);
  $("compare").value = others.some((r) => r.name === previous) ? previous
    : contrast ? contrast.name : "";
}

// ---- upload -------------------------------------------------------------

async function upload() {
  const file = $("upload").files[0];
  if (!file) return;
  try {
    const response = await fetch(
      `${runUrl(info.name, "encode")}?${new URLSearchParams({ invert: $("invert").value, ...classOf(info) })}`,
      { method: "POST", headers: { "content-type": "image/png" }, body: file });
    const r = await response.json();
    if (!response.ok) throw new Error(r.error || response.statusText);
    $("upload-input").src = r.input;
    $("upload-recon").src = r.reconstruction;
    $("upload-result").hidden = false;
    uploadZ = r.z_mean;
    uploadMap = r.map;
    drawMap();
    clearError();
  } catch (e) {
    showError(e);
  }
}

// ---- run selection ------------------------------------------------------

async function selectRun(name) {
  setStatus("loading", "loading…");
  info = runs.find((r) => r.name === name) || runs[0];
  $("run").value = info.name;
  history.replaceState(null, "", `#run=${encodeURIComponent(info.name)}`);
  $("run-info").textContent = `${info.kind === "vae" ? "VAE" : "plain autoencoder"} · ${info.arch}`
    + ` · latent ${info.latent_dim} · beta ${info.beta} · ${info.loss} · ${info.dataset}`;
  $("map-title").textContent = info.projection.kind === "z"
    ? "Test set z_mean (the latents themselves)"
    : "Test set z_mean (first two principal components)";
  map = info.test_images > 0 ? await api(runUrl(info.name, "map")) : null;
  $("map-note").hidden = !info.map_note;
  $("map-note").textContent = info.map_note || "";
  uploadZ = uploadMap = null;
  $("upload-result").hidden = true;
  computeView();
  drawBase();
  drawLegend();
  buildSliders();
  fillCompare();
  fillClasses();
  $("two-stage-label").hidden = !info.two_stage;
  ends = info.test_images > 1
    ? { a: { index: 0 }, b: { index: 1 } }
    : { a: { z: info.dims.map(() => -1) }, b: { z: info.dims.map(() => 1) } };
  for (const which of ["a", "b"]) {
    $(`${which}-index`).disabled = info.test_images === 0;
    $(`${which}-random`).disabled = info.test_images === 0;
    if (ends[which].index !== undefined) {
      $(`${which}-index`).value = ends[which].index;
      $(`${which}-img`).src = runUrl(info.name, `images/${ends[which].index}`);
    }
  }
  // Start on test image A: the interpolation's first point is its z_mean.
  const r = await interpolate();
  setZ(r ? r.z[0] : new Array(info.latent_dim).fill(0));
  await samples();
  setStatus("ready", `ready · ${info.test_images} test images on the map`);
}

async function init() {
  try {
    runs = await api("/api/runs");
    $("run").replaceChildren(...runs.map((r) => new Option(`${r.name} (${r.kind})`, r.name)));
    const wanted = new URLSearchParams(location.hash.slice(1)).get("run");
    $("run").addEventListener("change", () => selectRun($("run").value).catch(showError));
    $("map").addEventListener("mousemove", onHover);
    $("map").addEventListener("mouseleave", () => { $("hover").hidden = true; });
    $("map").addEventListener("click", onMapClick);
    $("zero").addEventListener("click", () => setZ(new Array(info.latent_dim).fill(0)));
    for (const which of ["a", "b"]) {
      $(`${which}-index`).addEventListener("change", () =>
        setEnd(which, { index: Math.max(0, Math.floor(Number($(`${which}-index`).value))) }));
      $(`${which}-random`).addEventListener("click", () => setEnd(which, { index: randomIndex() }));
      $(`upload-${which}`).addEventListener("click", () => uploadZ && setEnd(which, { z: uploadZ }));
    }
    for (const input of document.querySelectorAll("input[name=method]")) {
      input.addEventListener("change", interpolate);
    }
    $("steps").addEventListener("change", interpolate);
    $("sample").addEventListener("click", () => { sampleSeed += 1; samples(); });
    $("compare").addEventListener("change", samples);
    $("two-stage").addEventListener("change", samples);
    $("upload").addEventListener("change", upload);
    $("class").addEventListener("change", () => {
      decodeNow();
      interpolate();
      samples();
      if ($("upload").files[0]) upload();
    });
    $("invert").addEventListener("change", upload);
    $("upload-decode").addEventListener("click", () => uploadZ && setZ(uploadZ));
    await selectRun(wanted);
  } catch (e) {
    setStatus("error", "error");
    showError(e);
  }
}

init();
