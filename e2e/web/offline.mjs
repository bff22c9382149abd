// A reload keeps the person signed in with their history, and so does one
// while the server is down (the service worker keeps the app shell); a
// message written while the server is down waits ("Waiting for
// connection…") and goes once when it is back.
//
// Usage: node e2e/web/offline.mjs SERVER_URL
import { scenario, person, signUp, openChat, send, bubble, step } from './lib.mjs';

const base = process.argv[2].replace(/\/+$/, '');

await scenario(async (browser, people) => {
  const alice = await person(browser, base);
  people.push(alice);
  await signUp(alice.page, base, '+12025550121', 'Alice');
  await step('bob-registers');
  await openChat(alice.page, '+12025550122');
  await send(alice.page, 'before the reload');
  await (await bubble(alice.page, 'before the reload')).getByText('Sent').waitFor();

  await alice.page.reload();
  await alice.page.getByRole('heading', { name: 'Chats' }).waitFor();
  await bubble(alice.page, 'before the reload');

  // The service worker has the app shell once it is active.
  await alice.page.evaluate(() => navigator.serviceWorker.ready.then(() => true));

  await step('stop-server');
  // The page knows within moments that the connection is gone.
  await alice.page.getByRole('status').getByText(/Offline|Connecting/).waitFor();
  // With no server at all, the app still opens, with its history.
  await alice.page.reload();
  await alice.page.getByRole('heading', { name: 'Chats' }).waitFor();
  await bubble(alice.page, 'before the reload');
  await alice.page.getByRole('status').getByText(/Offline|Connecting/).waitFor();
  // While the server is down, a message failing to connect throws an
  // error the console reports: it is expected here.
  alice.errors.length = 0;
  await send(alice.page, 'written offline');
  const waiting = await bubble(alice.page, 'written offline');
  await waiting.getByText('Waiting for connection…').waitFor();

  await step('start-server');
  await waiting.getByText(/^(Sent|Delivered)$/).waitFor({ timeout: 60_000 });
  alice.errors.length = 0;
  await step('bob-reads');
});
