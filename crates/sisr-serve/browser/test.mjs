// The page in a real browser: open it, upload an image, wait for the result, move the
// slider and zoom, download the result, and compare it with `sisr upscale`'s file byte for
// byte; a screenshot of the page is saved. Usage: node test.mjs [SISR_BIN] [SCREENSHOT]
import { chromium } from "playwright-core";
import { spawn, execFileSync } from "node:child_process";
import { readFileSync, mkdtempSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { createInterface } from "node:readline";

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "../../..");
const bin = process.argv[2] || process.env.SISR_BIN || join(root, "target/release/sisr");
const screenshot = process.argv[3] || join(root, "target/serve-screenshot.png");
const chromiumPath = process.env.CHROMIUM || "/usr/bin/chromium";
const sample = join(root, "crates/sisr-cli/tests/data/sample.png");
const work = mkdtempSync(join(tmpdir(), "sisr-browser-"));

function fail(message) {
  console.error(`browser test: FAILED: ${message}`);
  process.exitCode = 1;
  throw new Error(message);
}

// What the command line writes for the same input and options.
const expected = join(work, "cli.png");
execFileSync(bin, ["upscale", sample, "-o", expected, "--model", "dcscn-compact", "--scale", "3"], { stdio: "inherit" });

const server = spawn(bin, ["serve", "--addr", "127.0.0.1:0"], { stdio: ["ignore", "pipe", "inherit"] });
const url = await new Promise((ok, ko) => {
  const lines = createInterface({ input: server.stdout });
  lines.once("line", (line) => ok(line.split(/\s+/)[2]));
  server.once("exit", (code) => ko(new Error(`sisr serve exited (${code})`)));
});

let browser;
try {
  if (!existsSync(chromiumPath)) fail(`no Chromium at ${chromiumPath} (apt-get install chromium)`);
  browser = await chromium.launch({ executablePath: chromiumPath, args: ["--no-sandbox"] });
  const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1100, height: 900 } });
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto(url);
  // The model list comes from /api/models.
  await page.waitForFunction(() => document.querySelectorAll("#model option").length > 1);
  await page.selectOption("#model", "dcscn-compact");
  await page.selectOption("#scale", "3");
  const note = await page.textContent("#model-note");
  if (!/Set5 \d+\.\d+ dB/.test(note)) fail(`the model note shows no Set5 score: ${note}`);
  await page.setInputFiles("#files", sample);
  await page.waitForSelector(".job a.download:not([hidden])", { timeout: 120000 });
  const state = await page.textContent(".job .state");
  if (state !== "done") fail(`job state ${state}`);

  // The slider moves the split, from the keyboard too.
  const clip = () => page.$eval(".job .after-clip", (e) => e.style.clipPath);
  const before = await clip();
  await page.focus(".job .slider");
  for (let i = 0; i < 20; i++) await page.keyboard.press("ArrowLeft");
  const after = await clip();
  if (before === after || !after.includes("30%")) fail(`the slider did not move the split: ${before} -> ${after}`);
  // Zoom to 400%: the stage is four times the result's size, pixels drawn as blocks.
  await page.selectOption(".job .zoom", "4");
  const [w, h] = await page.$eval(".job .stage", (e) => [e.offsetWidth, e.offsetHeight]);
  const out = await page.$eval(".job img.after", (e) => [e.naturalWidth, e.naturalHeight]);
  if (w !== 4 * out[0] || h !== 4 * out[1]) fail(`zoom 400%: stage ${w}x${h}, result ${out}`);
  // The picture for the README: 200%, the split in the middle.
  await page.selectOption(".job .zoom", "2");
  await page.$eval(".job .slider", (e) => ((e.value = "50"), e.dispatchEvent(new Event("input"))));
  await page.screenshot({ path: screenshot });

  // The download is the command line's file, byte for byte.
  const [download] = await Promise.all([page.waitForEvent("download"), page.click(".job a.download")]);
  const got = join(work, download.suggestedFilename());
  await download.saveAs(got);
  if (!readFileSync(got).equals(readFileSync(expected))) fail("the downloaded result differs from sisr upscale's output");
  if (download.suggestedFilename() !== "sample_x3.png") fail(`download name ${download.suggestedFilename()}`);

  // Download all: a zip holding the same bytes.
  const [zip] = await Promise.all([page.waitForEvent("download"), page.click("#download-all")]);
  const zipPath = join(work, "all.zip");
  await zip.saveAs(zipPath);
  const listing = execFileSync("python3", ["-c", "import sys,zipfile; z=zipfile.ZipFile(sys.argv[1]); z.testzip(); sys.stdout.buffer.write(z.read('sample_x3.png'))", zipPath]);
  if (!listing.equals(readFileSync(expected))) fail("the zip's file differs from sisr upscale's output");

  // The models page: the results table and the chart.
  await page.click("#tab-models");
  const rows = await page.$$eval("#models-table tbody tr", (r) => r.length);
  if (rows < 5) fail(`the models table has ${rows} rows`);
  await page.waitForFunction(() => document.querySelector("#chart").naturalWidth > 0);
  if (errors.length) fail(`page errors: ${errors.join("; ")}`);
  console.log(`browser test: passed (${url}, screenshot ${screenshot})`);
} finally {
  if (browser) await browser.close();
  server.kill("SIGINT");
}
