// Removes a phone number from Tidings through the /deregister page in a
// real browser, the way a person would: the number typed into the field
// found by its label, the forms sent with the Enter key, the code read from
// the text message (the simulated carrier's inbox). JavaScript is off in the
// page, since the page must work without it.
//
// Usage: node e2e/deregister.mjs SERVER_URL PHONE_NUMBER
// Exits 0 when the final page says the number is not on Tidings any more;
// otherwise prints what went wrong and exits 1 (2 for bad arguments).

import { launch } from './web/lib.mjs';

// How long one step (a page load, a text message) may take.
const STEP_TIMEOUT_MS = 15_000;
const CODE_PATTERN = /\b(\d{6})\b/;

const [url, number] = process.argv.slice(2);
if (!url || !number) {
  console.error('usage: node e2e/deregister.mjs SERVER_URL PHONE_NUMBER');
  process.exit(2);
}
const base = url.replace(/\/+$/, '');

// The texts the simulated carrier delivered to the number, oldest first.
async function inbox() {
  const response = await fetch(`${base}/v1/carrier/${encodeURIComponent(number)}`);
  if (!response.ok) {
    throw new Error(`the simulated carrier's inbox answered ${response.status}: ${await response.text()}`);
  }
  return (await response.json()).map((m) => m.text);
}

// The code in the first text with one that arrived after `seen` texts.
async function newCode(seen) {
  const deadline = Date.now() + STEP_TIMEOUT_MS;
  while (Date.now() < deadline) {
    const code = (await inbox())
      .slice(seen)
      .map((text) => CODE_PATTERN.exec(text))
      .find(Boolean);
    if (code) {
      return code[1];
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`no text message with a code reached ${number} within ${STEP_TIMEOUT_MS / 1000} s`);
}

async function expectHeading(page, name) {
  const heading = page.getByRole('heading', { level: 1, name, exact: true });
  try {
    await heading.waitFor();
  } catch {
    throw new Error(`expected the page "${name}", got:\n${(await page.locator('body').innerText()).slice(0, 1000)}`);
  }
}

async function run() {
  const browser = await launch();
  try {
    const context = await browser.newContext({ javaScriptEnabled: false });
    context.setDefaultTimeout(STEP_TIMEOUT_MS);
    const page = await context.newPage();
    const response = await page.goto(`${base}/deregister`);
    if (!response || response.status() !== 200) {
      throw new Error(`GET /deregister answered ${response ? response.status() : 'nothing'}`);
    }
    await expectHeading(page, 'Remove your phone number from Tidings');
    if ((await page.locator('html').getAttribute('lang')) !== 'en') {
      throw new Error('the page does not say its language');
    }

    const seen = (await inbox()).length;
    const numberField = page.getByLabel('Phone number', { exact: true });
    await numberField.fill(number);
    await numberField.press('Enter');
    await expectHeading(page, 'Enter the code we sent');

    const code = await newCode(seen);
    const codeField = page.getByLabel('Code', { exact: true });
    await codeField.fill(code);
    await codeField.press('Enter');
    await expectHeading(page, 'Your number is not on Tidings any more');
    const text = await page.locator('main').innerText();
    if (!text.includes('is no longer linked to a Tidings account')) {
      throw new Error(`the final page does not say the number was removed:\n${text}`);
    }
    console.log(`deregister: ${number} is not on Tidings any more`);
  } finally {
    await browser.close();
  }
}

try {
  await run();
} catch (e) {
  console.error(`deregister: ${e instanceof Error ? e.message : e}`);
  process.exit(1);
}
