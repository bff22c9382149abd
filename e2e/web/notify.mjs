// Notifications: with the tab in the background and notifications allowed,
// a new message from a known person raises one; a stranger's message (a
// request) never does, and a message in the open, visible conversation
// raises none.
//
// Usage: node e2e/web/notify.mjs SERVER_URL
import { scenario, person, signUp, openChat, send, bubble } from './lib.mjs';

const base = process.argv[2].replace(/\/+$/, '');

// Installed before the app's scripts (through the DevTools protocol, which
// the page's CSP allows): records notifications instead of showing them,
// and lets the test say whether the tab is in the background.
function recordNotifications() {
  window.__notes = [];
  window.__hidden = false;
  class Recorded {
    static permission = 'granted';
    static requestPermission() {
      return Promise.resolve('granted');
    }
    constructor(title, options) {
      window.__notes.push({ title, body: options?.body ?? '' });
    }
  }
  window.Notification = Recorded;
  Object.defineProperty(Document.prototype, 'visibilityState', {
    get: () => (window.__hidden ? 'hidden' : 'visible'),
  });
}

await scenario(async (browser, people) => {
  const alice = await person(browser, base);
  const bob = await person(browser, base);
  const carol = await person(browser, base);
  people.push(alice, bob, carol);
  await alice.context.addInitScript(recordNotifications);
  await alice.page.reload();
  await signUp(alice.page, base, '+12025550161', 'Alice');
  await signUp(bob.page, base, '+12025550162', 'Bob');
  await signUp(carol.page, base, '+12025550163', 'Carol');

  // Alice writes to Bob first: he is someone she knows.
  await openChat(alice.page, '+12025550162');
  await send(alice.page, 'Hi Bob');
  await bob.page.getByRole('button', { name: /Message requests/ }).click();
  await bob.page.getByRole('list', { name: 'Message requests' }).getByText('+12025550161').click();
  await bob.page.getByRole('button', { name: 'Accept' }).click();

  await send(bob.page, 'Seen while you look');
  await bubble(alice.page, 'Seen while you look');
  const notes = () => alice.page.evaluate(() => window.__notes);
  if ((await notes()).length) throw new Error(`a visible conversation notified: ${JSON.stringify(await notes())}`);

  await alice.page.evaluate(() => { window.__hidden = true; });
  await openChat(carol.page, '+12025550161');
  await send(carol.page, 'A stranger writes');
  await alice.page.getByRole('button', { name: /Message requests/ }).waitFor();
  await send(bob.page, 'Are you there?');
  await alice.page.waitForFunction(() => window.__notes.length > 0);
  const got = await notes();
  if (got.length !== 1 || got[0].body !== 'Are you there?' || !/Bob|\+12025550162/.test(got[0].title)) {
    throw new Error(`expected one notification from Bob, got ${JSON.stringify(got)}`);
  }
});
