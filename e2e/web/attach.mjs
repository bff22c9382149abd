// Photos, videos and files between two browsers, end to end encrypted:
// - a photo picked with the attach button shows as a preview, then from
//   the file itself, and opens full size;
// - a 20 MB file shows an upload progress bar and downloads on the other
//   side byte-identical (SHA-256 compared);
// - a video recorded in the page plays inside the conversation;
// - a file dropped on the conversation, and a photo pasted into the
//   composer, go like picked ones.
//
// Usage: node e2e/web/attach.mjs SERVER_URL
import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { scenario, person, signUp, openChat, send, bubble, photo, attachFiles, STEP_TIMEOUT_MS } from './lib.mjs';

const base = process.argv[2].replace(/\/+$/, '');
/** The large file's size: what the issue asks to arrive intact. */
const BIG_BYTES = 20 * 1024 * 1024;
/** Encrypting, sending, fetching and decrypting 20 MB in two browsers. */
const BIG_TIMEOUT_MS = 6 * STEP_TIMEOUT_MS;

/** `promise`, or an error naming `what` after `ms`. */
function within(promise, ms, what) {
  let timer;
  const late = new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms)));
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

const sha256 = (bytes) => createHash('sha256').update(bytes).digest('hex');

function sendButton(page) {
  return page.getByRole('button', { name: 'Send', exact: true });
}

await scenario(async (browser, people) => {
  const alice = await person(browser, base);
  const bob = await person(browser, base);
  people.push(alice, bob);
  const a = alice.page;
  const b = bob.page;
  await signUp(a, base, '+12025550301', 'Alice');
  await signUp(b, base, '+12025550302', 'Bob');

  await openChat(a, '+12025550302');
  await send(a, 'Photos from the trip');
  await b.getByRole('button', { name: /Message requests/ }).click();
  await b.getByRole('list', { name: 'Message requests' }).getByText('+12025550301').click();
  await b.getByRole('button', { name: 'Accept' }).click();
  await b.getByLabel('Message', { exact: true }).waitFor();

  // 1. A photo from the attach button.
  const jpeg = await photo(a, 1600, 1000);
  await attachFiles(a, [{ name: 'harbour.jpg', mimeType: 'image/jpeg', buffer: jpeg }]);
  await a.getByLabel('Message', { exact: true }).fill('The harbour at dusk');
  await sendButton(a).click();
  const row = await bubble(b, 'The harbour at dusk');
  const shot = row.getByRole('button', { name: /^Photo harbour\.jpg/ });
  // Downloaded and shown from the file itself, not only its preview.
  await row.locator('.photo img[data-full="1"]').waitFor();
  await shot.click();
  const full = b.locator('dialog.viewer img.full');
  await full.waitFor();
  const size = await full.evaluate(async (img) => {
    await img.decode();
    return [img.naturalWidth, img.naturalHeight];
  });
  if (size[0] !== 1600 || size[1] !== 1000) throw new Error(`the full-size photo is ${size.join('×')}, not 1600×1000`);
  await b.keyboard.press('Escape');
  await b.locator('dialog.viewer').waitFor({ state: 'detached' });
  // The sender sees her own photo too.
  await (await bubble(a, 'The harbour at dusk')).locator('.photo img[data-full="1"]').waitFor();

  // 2. 20 MB, with the progress bar seen on the way.
  const big = randomBytes(BIG_BYTES);
  await a.evaluate(() => {
    window.sawProgress = false;
    new MutationObserver(() => {
      const bar = document.querySelector('.transfer progress');
      if (bar && bar.value > 0 && bar.value < 100) window.sawProgress = true;
    }).observe(document.body, { subtree: true, childList: true, attributes: true });
  });
  let t = Date.now();
  await attachFiles(a, [{ name: 'archive.bin', mimeType: 'application/octet-stream', buffer: big }]);
  console.log(`20 MB attached in ${Date.now() - t} ms`);
  t = Date.now();
  await sendButton(a).click();
  // The bubble shows once the upload is done (a progress bar until then),
  // so its wait is the transfer's, not an ordinary step's.
  await (await bubble(a, 'archive.bin', BIG_TIMEOUT_MS)).getByText(/^(Sent|Delivered|Read)/).waitFor({ timeout: BIG_TIMEOUT_MS });
  console.log(`20 MB sent in ${Date.now() - t} ms`);
  const file = b.getByRole('button', { name: /^archive\.bin, 20\.0 MB, download/ });
  await file.waitFor({ timeout: BIG_TIMEOUT_MS });
  console.log(`20 MB received ${Date.now() - t} ms after sending`);
  if (!(await a.evaluate(() => window.sawProgress))) throw new Error('no upload progress was shown for 20 MB');
  const [download] = await Promise.all([b.waitForEvent('download'), file.click()]);
  if (download.suggestedFilename() !== 'archive.bin') throw new Error(`saved as ${download.suggestedFilename()}`);
  const got = await readFile(await within(download.path(), BIG_TIMEOUT_MS, 'the 20 MB download'));
  if (got.length !== big.length || sha256(got) !== sha256(big)) {
    throw new Error(`the 20 MB file arrived altered: ${got.length} bytes, sha256 ${sha256(got)} (sent ${sha256(big)})`);
  }

  // 3. A video recorded in the page plays in the conversation.
  const webm = Buffer.from(
    await a.evaluate(async () => {
      const c = document.createElement('canvas');
      c.width = 320;
      c.height = 180;
      const g = c.getContext('2d');
      // Frames are pushed one by one (captureStream(0) + requestFrame), so
      // a busy machine still records every one of them.
      const stream = c.captureStream(0);
      const track = stream.getVideoTracks()[0];
      const rec = new MediaRecorder(stream, { mimeType: 'video/webm' });
      const parts = [];
      rec.ondataavailable = (e) => parts.push(e.data);
      const done = new Promise((r) => (rec.onstop = r));
      rec.start();
      for (let i = 0; i < 25; i++) {
        g.fillStyle = `hsl(${i * 14}, 70%, 50%)`;
        g.fillRect(0, 0, 320, 180);
        track.requestFrame();
        await new Promise((r) => setTimeout(r, 40));
      }
      rec.stop();
      await done;
      return [...new Uint8Array(await new Blob(parts).arrayBuffer())];
    }),
  );
  await attachFiles(a, [{ name: 'waves.webm', mimeType: 'video/webm', buffer: webm }]);
  await sendButton(a).click();
  const play = b.getByRole('button', { name: 'Play video waves.webm' });
  await play.click();
  // The element itself: the Play button's label contains this one's.
  const video = b.locator('video[aria-label="Video waves.webm"]');
  await video.waitFor();
  // Played in the page: the browser decoded its frames' size.
  const width = await video.evaluate(
    (v, ms) =>
      new Promise((resolve, reject) => {
        const done = () => resolve(v.videoWidth);
        if (v.readyState >= 1) return done();
        v.addEventListener('loadedmetadata', done);
        v.addEventListener('error', () => reject(new Error(`the video does not play: ${v.error && v.error.message}`)));
        setTimeout(() => reject(new Error(`the video did not load within ${ms} ms (readyState ${v.readyState})`)), ms);
      }),
    STEP_TIMEOUT_MS,
  );
  if (width !== 320) throw new Error(`the video plays ${width} pixels wide, not 320`);

  // 4. A file dropped on the conversation.
  await b.evaluate(() => {
    const dt = new DataTransfer();
    dt.items.add(new File(['Meet at the pier at 9.\n'], 'plan.txt', { type: 'text/plain' }));
    const main = document.querySelector('main.main');
    main.dispatchEvent(new DragEvent('dragover', { dataTransfer: dt, bubbles: true, cancelable: true }));
    main.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
  });
  await b.getByRole('list', { name: 'Attached files' }).getByText('plan.txt').waitFor();
  await sendButton(b).click();
  const plan = a.getByRole('button', { name: /^plan\.txt, 23 B, download/ });
  await plan.waitFor();
  // A message of files alone is previewed in the list by its file's name.
  await a.getByRole('navigation', { name: 'Conversations' }).getByText('📎 plan.txt').waitFor();
  const [planDownload] = await Promise.all([a.waitForEvent('download'), plan.click()]);
  const planText = await readFile(await within(planDownload.path(), STEP_TIMEOUT_MS, 'the dropped file'), 'utf8');
  if (planText !== 'Meet at the pier at 9.\n') throw new Error(`the dropped file arrived as ${JSON.stringify(planText)}`);

  // 5. A photo pasted into the composer.
  const small = await photo(b, 400, 300);
  await b.getByLabel('Message', { exact: true }).evaluate((box, bytes) => {
    const dt = new DataTransfer();
    dt.items.add(new File([new Uint8Array(bytes)], 'pasted.jpg', { type: 'image/jpeg' }));
    box.dispatchEvent(new ClipboardEvent('paste', { clipboardData: dt, bubbles: true, cancelable: true }));
  }, [...small]);
  await b.getByRole('list', { name: 'Attached files' }).getByText('pasted.jpg').waitFor();
  await send(b, 'And the view from the hotel');
  const pasted = await bubble(a, 'And the view from the hotel');
  await pasted.getByRole('button', { name: /^Photo pasted\.jpg/ }).waitFor();
  await pasted.locator('.photo img[data-full="1"]').waitFor();
});
