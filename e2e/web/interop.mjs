// A web user and CLI users talk both ways: Alice in the browser writes to
// Bob, who answers from the terminal; then Alice makes a group with Bob
// and Carol (both on the CLI), and the group's messages cross both ways.
// When Bob adds a device, Alice's conversation warns her. A message that
// failed goes again with "tap to retry", once.
//
// Usage: node e2e/web/interop.mjs SERVER_URL
import { scenario, person, signUp, openChat, send, bubble, step } from './lib.mjs';

const base = process.argv[2].replace(/\/+$/, '');

await scenario(async (browser, people) => {
  const alice = await person(browser, base);
  people.push(alice);
  await signUp(alice.page, base, '+12025550141', 'Alice');
  await step('cli-users-register');

  await openChat(alice.page, '+12025550142');
  await send(alice.page, 'Hi Bob, from the web');
  const hi = await bubble(alice.page, 'Hi Bob, from the web');
  await hi.getByText('Sent', { exact: true }).waitFor();
  await step('bob-answers');
  const answer = await bubble(alice.page, 'Hi Alice, from the terminal');
  // Bob's terminal took the message: it shows as delivered (or read).
  if (!/^(Delivered|Read)/.test(await hi.locator('.msg-state').textContent() ?? '')) {
    await hi.getByText(/^(Delivered|Read)/).waitFor();
  }
  if (await answer.evaluate((e) => e.classList.contains('ours'))) throw new Error("Bob's answer shows as ours");

  // A group with both of them.
  await alice.page.getByRole('button', { name: 'New group' }).click();
  await alice.page.getByLabel('Group name').fill('Lisbon trip');
  await alice.page.getByLabel(/Members/).fill('+12025550142, +12025550143');
  await alice.page.getByRole('button', { name: 'Create group' }).click();
  await alice.page.getByRole('heading', { name: /Lisbon trip/ }).waitFor();
  await alice.page.getByRole('button', { name: 'Members' }).click();
  const members = alice.page.getByRole('region', { name: 'Group members' });
  await members.getByText('3 members').waitFor();
  for (const m of ['+12025550141 (you)', '+12025550142', '+12025550143']) await members.getByText(m).first().waitFor();
  await send(alice.page, 'Group hello from the web');
  await bubble(alice.page, 'Group hello from the web');
  await step('group-answers');
  const reply = await bubble(alice.page, 'Group hello from the terminal');
  // In a group, the first of someone's messages names them.
  await reply.locator('.sender').waitFor();

  // Bob signs in on a second terminal: Alice's next message to him shows
  // the change as a warning, with the way to compare safety numbers.
  await step('bob-adds-a-device');
  await alice.page.goto(`${base}/#chat=${encodeURIComponent('+12025550142')}`);
  await send(alice.page, 'Is that your new laptop?');
  await bubble(alice.page, 'Is that your new laptop?');
  const warning = alice.page.getByRole('note').filter({ hasText: "+12025550142's devices changed" });
  await warning.waitFor();
  await warning.getByRole('button', { name: 'Check the safety number' }).click();
  await alice.page.getByRole('region', { name: 'Safety number' }).getByRole('img', { name: /QR code/ }).waitFor();

  // Dave (e-mail, so no SMS to fall back on) has no device: the message
  // fails visibly; once he is back, "tap to retry" sends it, once.
  await step('dave-has-no-device');
  await openChat(alice.page, 'dave@example.org');
  await send(alice.page, 'Dave, are you there?');
  const failed = await bubble(alice.page, 'Dave, are you there?');
  const retry = failed.getByRole('button', { name: 'Failed — tap to retry' });
  await retry.waitFor();
  await step('dave-returns');
  await retry.click();
  await failed.getByText(/^(Sent|Delivered|Read)$/).waitFor();
  await step('dave-has-it-once');
});
