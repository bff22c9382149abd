// Two tabs of one profile: the second waits, saying the app is open in
// another tab, and takes over (signed in, with the history) when the first
// closes. The profile's Web Lock makes sure only one ever writes.
//
// Usage: node e2e/web/tabs.mjs SERVER_URL
import { scenario, person, signUp, openChat, send, bubble } from './lib.mjs';

const base = process.argv[2].replace(/\/+$/, '');

await scenario(async (browser, people) => {
  const alice = await person(browser, base);
  people.push(alice);
  await signUp(alice.page, base, '+12025550171', 'Alice');
  await openChat(alice.page, '+12025550199');
  await send(alice.page, 'from the first tab');
  await bubble(alice.page, 'from the first tab');

  const second = await alice.context.newPage();
  await second.goto(base);
  await second.getByText('Tidings is open in another tab').waitFor();
  await alice.page.close();
  await second.getByRole('heading', { name: 'Chats' }).waitFor();
  await second.getByRole('navigation', { name: 'Conversations' }).getByText('from the first tab').waitFor();
});
