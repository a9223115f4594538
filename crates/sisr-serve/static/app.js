// The sisr page: uploads images as jobs, follows their progress, compares input and result
// with a before/after slider and a shared zoom, downloads one result or all as a zip.
"use strict";

const $ = (sel, root = document) => root.querySelector(sel);
const state = { catalogue: null, jobs: [] };

// ---- pages ---------------------------------------------------------------------------
function showPage(name) {
  for (const page of ["upscale", "models"]) {
    $(`#page-${page}`).hidden = page !== name;
    $(`#tab-${page}`).setAttribute("aria-pressed", String(page === name));
  }
}
$("#tab-upscale").addEventListener("click", () => showPage("upscale"));
$("#tab-models").addEventListener("click", () => showPage("models"));

// ---- models --------------------------------------------------------------------------
const fmtParams = (n) => (n >= 1e6 ? (n / 1e6).toFixed(2) + "M" : (n / 1e3).toFixed(1) + "k");
const fmtScore = (s) => (s ? `${s.psnr.toFixed(2)} / ${s.ssim == null ? "–" : s.ssim.toFixed(4)}` : "–");

// Shipped models, then the weights files the server was started with (`--weights`).
const served = () => state.catalogue.models.concat(state.catalogue.files);

function modelNames() {
  const names = [...new Set(served().map((m) => m.model))];
  return names.concat(["bicubic"]);
}

function scalesOf(name) {
  if (name === "bicubic") return state.catalogue.bicubic;
  return [...new Set(served().filter((m) => m.model === name).map((m) => m.scale))].sort();
}

function describe(name, scale) {
  if (name === "bicubic") return "MATLAB-exact bicubic interpolation (no network).";
  const file = state.catalogue.files.find((e) => e.model === name && e.scale === scale);
  if (file) return `${name} x${scale} from ${file.file} (given to sisr serve --weights).`;
  const m = state.catalogue.models.find((e) => e.model === name && e.scale === scale);
  if (!m) return "";
  const set5 = m.scores.set5;
  const score = set5 ? `Set5 ${set5.psnr.toFixed(2)} dB / ${set5.ssim.toFixed(4)}` : "not scored";
  return `${name} x${scale}: ${fmtParams(m.params)} parameters, ${score}` + (m.most_accurate ? " — the most accurate shipped model at this scale." : ".");
}

function fillScales() {
  const name = $("#model").value;
  const scaleSel = $("#scale");
  const keep = Number(scaleSel.value) || 2;
  scaleSel.replaceChildren(...scalesOf(name).map((s) => new Option(`x${s}`, s)));
  scaleSel.value = scalesOf(name).includes(keep) ? keep : scalesOf(name)[0];
  $("#model-note").textContent = describe(name, Number(scaleSel.value));
}

function fillModels() {
  const sel = $("#model");
  sel.replaceChildren(
    ...modelNames().map((name) => {
      const m = state.catalogue.models.find((e) => e.model === name);
      const label = m ? `${name} (${fmtParams(m.params)})` : name;
      return new Option(label, name);
    })
  );
  sel.value = state.catalogue.default;
  fillScales();
}
$("#model").addEventListener("change", fillScales);
$("#scale").addEventListener("change", () => ($("#model-note").textContent = describe($("#model").value, Number($("#scale").value))));

function fillTable() {
  const table = $("#models-table");
  const head = table.createTHead().insertRow();
  for (const h of ["model", "source", "scale", "params", "Set5", "Set14", "B100"]) {
    const th = document.createElement("th");
    th.textContent = h;
    head.appendChild(th);
  }
  const body = table.createTBody();
  const rows = state.catalogue.results.rows.slice().sort((a, b) => a.scale - b.scale || a.params - b.params);
  for (const r of rows) {
    const tr = body.insertRow();
    for (const v of [r.model, r.source, `x${r.scale}`, r.params ? fmtParams(r.params) : "–", fmtScore(r.scores.set5), fmtScore(r.scores.set14), fmtScore(r.scores.b100)]) {
      tr.insertCell().textContent = v;
    }
  }
  for (const p of state.catalogue.published) {
    const tr = body.insertRow();
    tr.className = "published";
    for (const v of [p.method + " (published)", p.source, `x${p.scale}`, "", fmtScore(p.scores.set5), fmtScore(p.scores.set14), fmtScore(p.scores.b100)]) {
      tr.insertCell().textContent = v;
    }
  }
}
$("#chart-scale").addEventListener("change", (e) => ($("#chart").src = `/api/charts/${e.target.value}`));

async function loadModels() {
  const r = await fetch("/api/models");
  state.catalogue = await r.json();
  fillModels();
  fillTable();
}

// ---- jobs ----------------------------------------------------------------------------
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function summary() {
  const done = state.jobs.filter((j) => j.blob).length;
  $("#summary").textContent = state.jobs.length ? `${done} of ${state.jobs.length} done` : "";
  $("#download-all").disabled = done === 0;
}

function setState(job, text, failed = false) {
  $(".state", job.el).textContent = text;
  job.el.classList.toggle("failed", failed);
}

async function errorText(r) {
  try {
    return (await r.json()).error || r.statusText;
  } catch {
    return `${r.status} ${r.statusText}`;
  }
}

async function submit(job) {
  const form = new FormData();
  form.append("image", job.file, job.file.name);
  form.append("model", job.model);
  form.append("scale", String(job.scale));
  form.append("tile", $("#tile").value || "256");
  form.append("ensemble", $("#ensemble").checked ? "true" : "false");
  for (;;) {
    const r = await fetch("/api/jobs", { method: "POST", body: form });
    if (r.status === 202) return (await r.json()).id;
    if (r.status === 503) {
      // The queue is full: wait as the server asks, then try again.
      setState(job, "waiting for a free slot…");
      await sleep(1000 * Number(r.headers.get("Retry-After") || 5));
      continue;
    }
    throw new Error(await errorText(r));
  }
}

async function follow(job) {
  for (;;) {
    const r = await fetch(`/api/jobs/${job.id}`);
    if (!r.ok) throw new Error(await errorText(r));
    const v = await r.json();
    $("progress", job.el).value = v.progress;
    if (v.state === "done") return v;
    if (v.state === "failed" || v.state === "cancelled") throw new Error(v.error || v.state);
    setState(job, v.state === "queued" ? "queued" : `running ${Math.round(v.progress * 100)}%`);
    await sleep(300);
  }
}

async function run(job) {
  try {
    setState(job, "uploading…");
    job.id = await submit(job);
    job.el.dataset.id = job.id;
    const view = await follow(job);
    const r = await fetch(`/api/jobs/${job.id}/result`);
    if (!r.ok) throw new Error(await errorText(r));
    job.blob = await r.blob();
    job.filename = view.filename;
    showResult(job, view);
    setState(job, "done");
  } catch (e) {
    setState(job, String(e.message || e), true);
  }
  summary();
}

function addFiles(files) {
  const model = $("#model").value;
  const scale = Number($("#scale").value);
  for (const file of files) {
    const el = $("#job-template").content.firstElementChild.cloneNode(true);
    const job = { file, model, scale, el, id: null, blob: null };
    $(".name", el).textContent = file.name;
    $(".meta", el).textContent = `${model} x${scale}`;
    $(".remove", el).addEventListener("click", () => removeJob(job));
    $("#jobs").appendChild(el);
    state.jobs.push(job);
    run(job);
  }
  summary();
}

function removeJob(job) {
  if (job.id) fetch(`/api/jobs/${job.id}`, { method: "DELETE" });
  for (const img of job.el.querySelectorAll("img")) if (img.src.startsWith("blob:")) URL.revokeObjectURL(img.src);
  job.el.remove();
  state.jobs = state.jobs.filter((j) => j !== job);
  summary();
}

// ---- comparison ----------------------------------------------------------------------
function showResult(job, view) {
  const el = job.el;
  const [w, h] = view.output;
  $(".meta", el).textContent = `${view.model} x${view.scale}: ${view.input[0]}×${view.input[1]} → ${w}×${h}`;
  const link = $(".download", el);
  link.href = URL.createObjectURL(job.blob);
  link.download = view.filename;
  link.hidden = false;
  const compare = $(".compare", el);
  const stage = $(".stage", el);
  const before = $("img.before", el);
  const after = $("img.after", el);
  before.src = URL.createObjectURL(job.file);
  after.src = link.href;
  compare.hidden = false;
  const slider = $(".slider", el);
  const zoom = $(".zoom", el);
  const mode = $(".before-mode", el);
  const viewport = $(".viewport", el);
  const layout = () => {
    // One stage holds both images, so zoom and panning always match.
    const z = zoom.value === "fit" ? Math.min(1, viewport.clientWidth / w) : Number(zoom.value);
    stage.style.width = `${w * z}px`;
    stage.style.height = `${h * z}px`;
    stage.classList.toggle("nearest", zoom.value !== "fit" || mode.value === "nearest");
    before.classList.toggle("pixelated", mode.value === "nearest");
    before.classList.toggle("smooth", mode.value !== "nearest");
  };
  const split = () => {
    $(".after-clip", el).style.clipPath = `inset(0 0 0 ${slider.value}%)`;
    $(".divider", el).style.left = `${slider.value}%`;
  };
  slider.addEventListener("input", split);
  zoom.addEventListener("change", layout);
  mode.addEventListener("change", layout);
  window.addEventListener("resize", layout);
  layout();
  split();
}

// ---- zip of every result (stored, no compression: the images are compressed already) --
const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function crc32(bytes) {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

async function zip(entries) {
  const enc = new TextEncoder();
  const parts = [];
  const central = [];
  let offset = 0;
  const used = new Set();
  for (const { name, blob } of entries) {
    let unique = name;
    for (let k = 2; used.has(unique); k++) unique = name.replace(/(\.[^.]*)?$/, `-${k}$1`);
    used.add(unique);
    const data = new Uint8Array(await blob.arrayBuffer());
    const fname = enc.encode(unique);
    const crc = crc32(data);
    const local = new DataView(new ArrayBuffer(30));
    local.setUint32(0, 0x04034b50, true);
    local.setUint16(4, 20, true);
    local.setUint16(6, 0x0800, true); // UTF-8 names
    local.setUint32(14, crc, true);
    local.setUint32(18, data.length, true);
    local.setUint32(22, data.length, true);
    local.setUint16(26, fname.length, true);
    const cd = new DataView(new ArrayBuffer(46));
    cd.setUint32(0, 0x02014b50, true);
    cd.setUint16(4, 20, true);
    cd.setUint16(6, 20, true);
    cd.setUint16(8, 0x0800, true);
    cd.setUint32(16, crc, true);
    cd.setUint32(20, data.length, true);
    cd.setUint32(24, data.length, true);
    cd.setUint16(28, fname.length, true);
    cd.setUint32(42, offset, true);
    parts.push(local, fname, data);
    central.push(cd, fname);
    offset += 30 + fname.length + data.length;
  }
  const size = central.reduce((n, p) => n + p.byteLength, 0);
  const end = new DataView(new ArrayBuffer(22));
  end.setUint32(0, 0x06054b50, true);
  end.setUint16(8, entries.length, true);
  end.setUint16(10, entries.length, true);
  end.setUint32(12, size, true);
  end.setUint32(16, offset, true);
  return new Blob([...parts, ...central, end], { type: "application/zip" });
}

$("#download-all").addEventListener("click", async () => {
  const done = state.jobs.filter((j) => j.blob).map((j) => ({ name: j.filename, blob: j.blob }));
  const a = document.createElement("a");
  a.href = URL.createObjectURL(await zip(done));
  a.download = "sisr-results.zip";
  document.body.appendChild(a);
  a.click();
  a.remove();
});

// ---- input ---------------------------------------------------------------------------
$("#files").addEventListener("change", (e) => {
  addFiles([...e.target.files]);
  e.target.value = "";
});
const drop = $("#drop");
for (const ev of ["dragenter", "dragover"]) drop.addEventListener(ev, (e) => (e.preventDefault(), drop.classList.add("over")));
for (const ev of ["dragleave", "drop"]) drop.addEventListener(ev, () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => {
  e.preventDefault();
  addFiles([...e.dataTransfer.files]);
});
$("#controls").addEventListener("submit", (e) => e.preventDefault());

loadModels().catch((e) => ($("#model-note").textContent = `cannot load the models: ${e}`));
