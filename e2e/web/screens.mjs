// The main screens, checked for accessibility (axe-core: no serious or
// critical violation) and photographed for the README at desktop and phone
// sizes, light and dark, into docs/screenshots/.
//
// Usage: node e2e/web/screens.mjs SERVER_URL OUT_DIR
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { scenario, person, signUp, openChat, send, bubble, step, photo, attachFiles } from './lib.mjs';

const base = process.argv[2].replace(/\/+$/, '');
const out = process.argv[3];
const SIZES = { desktop: { width: 1280, height: 800 }, phone: { width: 390, height: 844 } };
const SCHEMES = ['light', 'dark'];
const axeSource = await readFile(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/** axe-core's serious and critical findings on the page as it is. */
async function audit(page, screen) {
  // Evaluated through the DevTools protocol, which the page's CSP allows.
  await page.evaluate(axeSource);
  const result = await page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const r = await axe.run(document, { resultTypes: ['violations'] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => n.target.join(' ')).slice(0, 3) }));
  });
  const bad = result.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  if (bad.length) throw new Error(`accessibility (${screen}): ${JSON.stringify(bad, null, 1)}`);
  const minor = result.filter((v) => !bad.includes(v));
  if (minor.length) console.log(`note: ${screen}: minor accessibility findings: ${minor.map((v) => v.id).join(', ')}`);
}

/** Shoots `screen` in every size and scheme; `show(size)` brings it up. */
async function shoot(page, screen, show) {
  for (const [size, viewport] of Object.entries(SIZES)) {
    await page.setViewportSize(viewport);
    await show(size);
    for (const scheme of SCHEMES) {
      await page.emulateMedia({ colorScheme: scheme, reducedMotion: 'reduce' });
      await page.waitForTimeout(100);
      await page.screenshot({ path: `${out}/${screen}-${size}-${scheme}.png` });
    }
    await audit(page, `${screen} at ${size}`);
  }
  await page.setViewportSize(SIZES.desktop);
  await page.emulateMedia({ colorScheme: 'light' });
}

await scenario(async (browser, people) => {
  const alice = await person(browser, base);
  const bob = await person(browser, base);
  const carol = await person(browser, base);
  people.push(alice, bob, carol);
  const a = alice.page;

  await shoot(a, 'sign-in', async () => {});
  await signUp(a, base, '+12025550151', 'Alice Martin');
  await signUp(bob.page, base, '+12025550152', 'Bob Chen');
  await signUp(carol.page, base, 'carol@example.org', 'Carol');

  // Bob and Alice talk; Alice texts a friend whose phone has no Tidings.
  await openChat(bob.page, '+12025550151');
  await send(bob.page, 'Are we still on for Lisbon? ✈️');
  await a.getByRole('button', { name: /Message requests/ }).click();
  await a.getByRole('list', { name: 'Message requests' }).getByText('+12025550152').click();
  await a.getByRole('button', { name: 'Accept' }).click();
  await send(a, 'Yes! Flights are booked for Friday.');
  await bubble(bob.page, 'Flights are booked');
  await send(bob.page, 'Perfect. I will bring the guide book 📘');
  await bubble(a, 'guide book');
  await attachFiles(bob.page, [{ name: 'lisbon.jpg', mimeType: 'image/jpeg', buffer: await photo(bob.page, 1200, 800) }]);
  await send(bob.page, 'The view from our flat last time');
  await (await bubble(a, 'The view from our flat')).locator('.photo img[data-full="1"]').waitFor();

  await openChat(a, '+12025550177');
  await send(a, 'Hi Dan, it is Alice. Dinner at 8 on Friday?');
  await (await bubble(a, 'Dinner at 8')).getByText('Sent as SMS').waitFor();
  await step('dan-replies');
  await bubble(a, 'Sounds great');
  await send(a, 'See you there!');
  await bubble(a, 'See you there!');

  // A stranger writes with a link: it waits in Requests, defanged.
  await openChat(carol.page, '+12025550151');
  await send(carol.page, 'Hi Alice, Carol from the book club. Photos are at https://example.org/club');
  await a.getByRole('button', { name: /Message requests/ }).waitFor();

  await shoot(a, 'conversation-list', async (size) => {
    await a.goto(`${base}/`);
    await a.getByRole('heading', { name: 'Chats' }).waitFor();
    if (size === 'desktop') {
      await a.getByRole('navigation', { name: 'Conversations' }).getByText('Bob Chen').click();
      await (await bubble(a, 'The view from our flat')).locator('.photo img[data-full="1"]').waitFor();
    }
  });
  await shoot(a, 'conversation-sms', async () => {
    await a.goto(`${base}/#chat=${encodeURIComponent('+12025550177')}`);
    await bubble(a, 'See you there!');
  });
  await shoot(a, 'safety-number', async () => {
    await a.goto(`${base}/#chat=${encodeURIComponent('+12025550152')}`);
    await bubble(a, 'The view from our flat');
    const button = a.getByRole('button', { name: 'Safety number' });
    if ((await button.getAttribute('aria-expanded')) !== 'true') await button.click();
    const panel = a.getByRole('region', { name: 'Safety number' });
    await panel.getByRole('img', { name: /QR code/ }).waitFor();
    if ((await panel.getByText('✓ Verified').count()) === 0) {
      await panel.getByRole('button', { name: 'Mark as verified' }).click();
      await panel.getByText('✓ Verified').waitFor();
    }
  });
  await shoot(a, 'settings', async () => {
    await a.goto(`${base}/#settings`);
    await a.getByRole('list', { name: 'Devices' }).getByText(/this browser/).waitFor();
  });
  await shoot(a, 'requests', async () => {
    await a.goto(`${base}/#chat=${encodeURIComponent('carol@example.org')}`);
    await a.getByRole('region', { name: 'Message request' }).waitFor();
    const text = await a.locator('.bubble').first().textContent();
    if (text.includes('https://example.org')) throw new Error(`a request's link is not defanged: ${text}`);
  });
});
