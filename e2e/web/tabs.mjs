// Two tabs of one profile: the second waits, saying the app is open in
// another tab, and takes over (signed in, with the history) when the first
// closes, or at once with "Use here". The profile's Web Lock makes sure
// only one ever writes.
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

  // A third tab need not wait: "Use here" takes the profile from the
  // second at once, which says where it went.
  const third = await alice.context.newPage();
  await third.goto(base);
  await third.getByText('Tidings is open in another tab').waitFor();
  await third.getByRole('button', { name: 'Use here' }).click();
  await third.getByRole('heading', { name: 'Chats' }).waitFor();
  await second.getByText('Tidings moved to another tab.').waitFor();
  await openChat(third, '+12025550199');
  await send(third, 'from the third tab');
  await bubble(third, 'from the third tab');
});
