// Two people sign up in two browsers. Alice writes to Bob: a stranger's
// message lands in Bob's Requests, not in his list, and he accepts it from
// there. Then they chat in real time: Bob sees Alice typing, Alice sees her
// message delivered and then read. Bob turns read receipts off, chooses a
// photo (Alice's list shows it), and adds and removes an e-mail address.
//
// Usage: node e2e/web/chat.mjs SERVER_URL
import { scenario, person, signUp, openChat, send, bubble, photo, inbox, newCode } from './lib.mjs';

const base = process.argv[2].replace(/\/+$/, '');

await scenario(async (browser, people) => {
  const alice = await person(browser, base);
  const bob = await person(browser, base);
  people.push(alice, bob);
  await signUp(alice.page, base, '+12025550101', 'Alice');
  await signUp(bob.page, base, '+12025550102', 'Bob');

  // A number typed as people type it.
  await openChat(alice.page, '(202) 555-0102');
  await send(alice.page, 'Hello Bob, from the browser');
  const first = await bubble(alice.page, 'Hello Bob, from the browser');
  await first.getByText('Delivered').waitFor();

  // Bob: not in his list, but in Requests.
  const requests = bob.page.getByRole('button', { name: /Message requests/ });
  await requests.waitFor();
  const list = bob.page.getByRole('navigation', { name: 'Conversations' });
  if ((await list.getByText('Hello Bob, from the browser').count()) !== 0) {
    throw new Error("a stranger's message showed in the conversation list");
  }
  await requests.click();
  await bob.page.getByRole('list', { name: 'Message requests' }).getByText('+12025550101').click();
  await bob.page.getByText('+12025550101 is not in your contacts.').waitFor();
  await bubble(bob.page, 'Hello Bob, from the browser');
  await bob.page.getByRole('button', { name: 'Accept' }).click();
  await bob.page.getByLabel('Message', { exact: true }).waitFor();

  // Accepting read the message: Alice sees "Read".
  await first.getByText(/^Read/).waitFor();

  // Alice types: Bob sees it; she sends, he has it at once.
  await alice.page.getByLabel('Message', { exact: true }).pressSequentially('Are you th', { delay: 20 });
  await bob.page.getByText(/is typing…/).waitFor();
  await alice.page.getByLabel('Message', { exact: true }).pressSequentially('ere?');
  await alice.page.keyboard.press('Enter');
  await bubble(bob.page, 'Are you there?');
  const second = await bubble(alice.page, 'Are you there?');
  await second.getByText(/^Read/).waitFor();

  // And back.
  await send(bob.page, 'Yes! 👋');
  await bubble(alice.page, 'Yes! 👋');
  // The list shows the conversation by name, newest message first.
  await alice.page.getByRole('navigation', { name: 'Conversations' }).getByText('Yes! 👋').waitFor();

  // Bob turns read receipts off: Alice's next message stays "Delivered"
  // after Bob has read it (his answer comes after any receipt would).
  await bob.page.getByRole('button', { name: /^Settings/ }).click();
  await bob.page.getByLabel('Send read receipts').uncheck();
  await bob.page.getByText('Saved. Your other devices follow.').waitFor();

  // Bob chooses a photo, and adds and removes an e-mail address.
  const settings = bob.page.getByRole('main', { name: 'Settings' });
  const [chooser] = await Promise.all([
    bob.page.waitForEvent('filechooser'),
    settings.getByRole('button', { name: 'Choose a photo' }).click(),
  ]);
  await chooser.setFiles({ name: 'bob.jpg', mimeType: 'image/jpeg', buffer: await photo(bob.page, 400, 400) });
  await settings.getByText('Photo saved.').waitFor();
  await settings.locator('.profile-photo img').waitFor();
  const seen = (await inbox(base, 'bob@example.org')).length;
  await settings.getByLabel('Add a phone number or e-mail address').fill('bob@example.org');
  await settings.getByRole('button', { name: 'Send code' }).click();
  const code = await newCode(base, 'bob@example.org', seen);
  await settings.getByLabel('Code sent to bob@example.org').fill(code);
  await settings.getByRole('button', { name: 'Add', exact: true }).click();
  const handles = settings.getByRole('list', { name: 'Handles' });
  await handles.getByText('bob@example.org').waitFor();
  await settings.getByRole('button', { name: 'Remove bob@example.org' }).click();
  await handles.getByText('bob@example.org').waitFor({ state: 'detached' });
  if ((await settings.getByRole('button', { name: /^Remove \+/ }).count()) !== 0) {
    throw new Error('the last handle can be removed');
  }
  await bob.page.goBack();
  await send(alice.page, 'Did you read this?');
  await bubble(bob.page, 'Did you read this?');
  await send(bob.page, 'No receipts from me now');
  await bubble(alice.page, 'No receipts from me now');
  const unread = await bubble(alice.page, 'Did you read this?');
  const state = await unread.locator('.msg-state').textContent();
  if (state !== 'Delivered') throw new Error(`with read receipts off, Alice saw "${state}"`);
  // Bob's photo came with his message: Alice's list shows it.
  await alice.page.getByRole('navigation', { name: 'Conversations' }).locator('.avatar img').waitFor();
});
