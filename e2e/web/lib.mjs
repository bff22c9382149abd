// Shared steps of the browser tests (the web app's, and deregister.mjs's
// launch): launching Chromium, signing
// up the way a person does (the code read from the simulated carrier or
// the development mail outbox), and waiting for what a person waits for.

import { tmpdir } from 'node:os';
import { chromium } from 'playwright-core';

const CHROMIUM = process.env.TIDINGS_CHROMIUM || '/usr/bin/chromium';
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
/** How long one step (a page load, a message crossing) may take. */
export const STEP_TIMEOUT_MS = 20_000;
const CODE_PATTERN = /\b(\d{6})\b/;

/** Debian's Chromium, headless, with no calls home (which this machine's
 *  closed network would refuse, many at a time). */
export async function launch() {
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
}

/** A new person: a browser context of their own, with errors collected. */
export async function person(browser, base, options = {}) {
  const context = await browser.newContext({
    viewport: options.viewport ?? { width: 1280, height: 800 },
    colorScheme: options.colorScheme ?? 'light',
    locale: options.locale ?? 'en-US',
  });
  const page = await context.newPage();
  page.setDefaultTimeout(STEP_TIMEOUT_MS);
  const errors = [];
  page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console: ${m.text()}`);
  });
  await page.goto(base);
  return { context, page, errors };
}

/** The texts the simulated carrier (or mail outbox) delivered to `address`. */
export async function inbox(base, address) {
  const r = await fetch(`${base}/v1/carrier/${encodeURIComponent(address)}`);
  if (!r.ok) throw new Error(`the carrier's inbox answered ${r.status}: ${await r.text()}`);
  return (await r.json()).map((m) => m.text);
}

export async function newCode(base, address, seen) {
  const deadline = Date.now() + STEP_TIMEOUT_MS;
  while (Date.now() < deadline) {
    const code = (await inbox(base, address))
      .slice(seen)
      .map((t) => CODE_PATTERN.exec(t))
      .find(Boolean);
    if (code) return code[1];
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`no code reached ${address} within ${STEP_TIMEOUT_MS / 1000} s`);
}

/** Signs up through the three screens: handle, code, name. */
export async function signUp(page, base, handle, name, { typed = handle, shots } = {}) {
  await page.getByLabel('Phone number or e-mail').fill(typed);
  if (shots) await shots('sign-in');
  const seen = (await inbox(base, handle)).length;
  await page.getByRole('button', { name: 'Send code' }).click();
  const code = await newCode(base, handle, seen);
  await page.getByRole('textbox', { name: 'Code', exact: true }).fill(code);
  await page.getByRole('textbox', { name: 'Display name' }).fill(name);
  await page.getByRole('button', { name: 'Start messaging' }).click();
  await page.getByRole('heading', { name: 'Chats' }).waitFor();
}

/** Opens (or starts) the conversation with what a person types. */
export async function openChat(page, who) {
  const field = page.getByLabel('New conversation: phone number or e-mail');
  await field.fill(who);
  await page.getByRole('button', { name: 'Start' }).click();
  // The field empties when the conversation opens. Until then the one
  // open before is still on screen, and what is typed would go there.
  await page.locator('#new-chat:placeholder-shown').waitFor();
  await page.getByLabel('Message', { exact: true }).waitFor();
}

export async function send(page, text) {
  await page.getByLabel('Message', { exact: true }).fill(text);
  await page.keyboard.press('Enter');
}

/**
 * Waits until a bubble with `text` shows in the open conversation; `timeout`
 * (ms) for a bubble that shows only after a transfer of its own.
 */
export async function bubble(page, text, timeout) {
  const b = page.locator('.bubble-row', { hasText: text }).last();
  await b.waitFor(timeout ? { timeout } : {});
  return b;
}

export function fail(message) {
  console.error(message);
  process.exit(1);
}

// Lines the test wrote to our stdin, as `step` consumes them.
let stdinLines = null;
function nextLine() {
  if (!stdinLines) {
    stdinLines = { queue: [], waiting: [] };
    let buffer = '';
    process.stdin.setEncoding('utf8');
    process.stdin.on('data', (chunk) => {
      buffer += chunk;
      let i;
      while ((i = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, i);
        buffer = buffer.slice(i + 1);
        const w = stdinLines.waiting.shift();
        if (w) w(line);
        else stdinLines.queue.push(line);
      }
    });
  }
  const queued = stdinLines.queue.shift();
  if (queued !== undefined) return Promise.resolve(queued);
  return new Promise((resolve) => stdinLines.waiting.push(resolve));
}

/** Asks the test (crates/cli/tests/web.rs) to do `name` and waits for it. */
export async function step(name) {
  console.log(`STEP ${name}`);
  const answer = await nextLine();
  if (answer.trim() !== 'go') throw new Error(`the test answered ${answer} to ${name}`);
}

/** Longest a whole scenario may take: a wait without its own limit
 *  (an evaluate, a download) fails the test instead of hanging it. */
export const SCENARIO_TIMEOUT_MS = 6 * 60_000;

/** Runs a scenario: closes the browser, exits 1 with what went wrong. */
export async function scenario(run) {
  const browser = await launch();
  const people = [];
  let timer;
  const late = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`the scenario took longer than ${SCENARIO_TIMEOUT_MS / 1000} s`)), SCENARIO_TIMEOUT_MS);
  });
  try {
    await Promise.race([run(browser, people), late]);
    const errors = people.flatMap((p) => p.errors);
    if (errors.length) throw new Error(`the page reported errors:\n${errors.join('\n')}`);
  } catch (e) {
    console.error(e && e.stack ? e.stack : String(e));
    process.exitCode = 1;
    // What each person saw when it failed.
    for (const [i, p] of people.entries()) {
      const path = `${tmpdir()}/tidings-web-failure-${process.pid}-${i}.png`;
      if (await p.page.screenshot({ path }).then(() => true, () => false)) console.error(`person ${i} saw: ${path}`);
    }
  } finally {
    clearTimeout(timer);
    await browser.close();
  }
  process.exit(process.exitCode ?? 0);
}

/** A photo drawn in `page` (a harbour at dusk), `width`×`height`, as JPEG bytes. */
export async function photo(page, width, height) {
  const bytes = await page.evaluate(async ([w, h]) => {
    const c = new OffscreenCanvas(w, h);
    const g = c.getContext('2d');
    const sky = g.createLinearGradient(0, 0, 0, h);
    sky.addColorStop(0, '#1f3b73');
    sky.addColorStop(0.55, '#f28c38');
    sky.addColorStop(1, '#ffd08a');
    g.fillStyle = sky;
    g.fillRect(0, 0, w, h);
    g.fillStyle = '#ffe7a8';
    g.beginPath();
    g.arc(w * 0.7, h * 0.52, h * 0.09, 0, Math.PI * 2);
    g.fill();
    g.fillStyle = '#123047';
    g.fillRect(0, h * 0.6, w, h * 0.4);
    g.fillStyle = '#2b2f3a';
    for (let i = 0; i < 9; i++) {
      const x = (i / 9) * w;
      const top = h * (0.38 + 0.12 * Math.sin(i * 1.7));
      g.fillRect(x, top, w / 11, h * 0.6 - top);
    }
    g.strokeStyle = 'rgba(255,220,160,.55)';
    g.lineWidth = Math.max(2, h / 200);
    for (let y = h * 0.64; y < h; y += h / 30) {
      g.beginPath();
      g.moveTo(w * 0.55, y);
      g.lineTo(w * 0.85, y);
      g.stroke();
    }
    const blob = await c.convertToBlob({ type: 'image/jpeg', quality: 0.9 });
    return [...new Uint8Array(await blob.arrayBuffer())];
  }, [width, height]);
  return Buffer.from(bytes);
}

/** Picks files with the composer's attach button, as a person would. */
export async function attachFiles(page, files) {
  const [chooser] = await Promise.all([
    page.waitForEvent('filechooser'),
    page.getByRole('button', { name: 'Attach photos, videos or files' }).click(),
  ]);
  await chooser.setFiles(files);
  const list = page.getByRole('list', { name: 'Attached files' });
  for (const f of files) await list.getByText(f.name).waitFor();
}
