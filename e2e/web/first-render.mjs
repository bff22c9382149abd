// Measures the web app's time to first render: from navigation to the
// first screen a person can use (the sign-in form, which shows once the
// WebAssembly engine has opened the profile). Once with an empty cache,
// then RUNS times reloading with a warm cache (HTTP cache and service
// worker). A benchmark, not a test: it prints figures and checks nothing.
//
// Usage: node e2e/web/first-render.mjs SERVER_URL [RUNS]
import { launch } from './lib.mjs';

const base = process.argv[2].replace(/\/+$/, '');
const runs = Number(process.argv[3] ?? 10);

async function timeToSignIn(page, go) {
  const start = Date.now();
  await go();
  await page.getByLabel('Phone number or e-mail').waitFor();
  return Date.now() - start;
}

const browser = await launch();
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  const cold = await timeToSignIn(page, () => page.goto(base));
  await page.evaluate(() => navigator.serviceWorker.ready.then(() => true));
  const warm = [];
  for (let i = 0; i < runs; i++) warm.push(await timeToSignIn(page, () => page.reload()));
  warm.sort((a, b) => a - b);
  const median = warm[Math.floor(warm.length / 2)];
  console.log(`first render, empty cache: ${cold} ms`);
  console.log(`first render, warm cache: median ${median} ms, best ${warm[0]} ms, worst ${warm[warm.length - 1]} ms (${runs} reloads)`);
} finally {
  await browser.close();
}
