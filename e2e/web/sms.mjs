// A message to a number that is not on Tidings goes as SMS: it shows as a
// green bubble marked "Sent as SMS" and reaches the simulated carrier's
// inbox; the phone's reply (`tidings carrier send`, run by the test) lands
// in the same conversation, shown as SMS.
//
// Usage: node e2e/web/sms.mjs SERVER_URL
import { scenario, person, signUp, openChat, send, bubble, inbox, step, STEP_TIMEOUT_MS } from './lib.mjs';

const base = process.argv[2].replace(/\/+$/, '');
const PHONE = '+12025550177';

await scenario(async (browser, people) => {
  const alice = await person(browser, base);
  people.push(alice);
  await signUp(alice.page, base, '+12025550111', 'Alice');
  await openChat(alice.page, PHONE);
  await send(alice.page, 'Dinner at 8? 🍝');
  const mine = await bubble(alice.page, 'Dinner at 8?');
  await mine.getByText('Sent as SMS').waitFor();
  if ((await mine.getAttribute('data-via')) !== 'sms') throw new Error('the message did not go as SMS');

  const deadline = Date.now() + STEP_TIMEOUT_MS;
  while (!(await inbox(base, PHONE)).some((t) => t.includes('Dinner at 8? 🍝'))) {
    if (Date.now() > deadline) throw new Error(`the SMS never reached ${PHONE}`);
    await new Promise((r) => setTimeout(r, 200));
  }

  await step('reply-by-sms');
  const reply = await bubble(alice.page, 'Yes, by SMS!');
  if ((await reply.getAttribute('data-via')) !== 'sms') throw new Error('the reply is not shown as SMS');
  // One conversation, marked SMS in the list and the header.
  await alice.page.getByRole('heading', { name: /\+12025550177/ }).getByText('SMS').waitFor();
  const rows = alice.page.getByRole('navigation', { name: 'Conversations' }).getByRole('button');
  if ((await rows.count()) !== 1) throw new Error(`expected one conversation, saw ${await rows.count()}`);
});
