// The app's service worker: it keeps the app shell (the page, its scripts,
// styles and WebAssembly) so the app opens with no network and shows the
// history it stores. The build (vite.config.ts) fills in the file list;
// a new build is a new worker, which drops the old cache.
const PRECACHE = __PRECACHE__;
const CACHE = "tidings-" + __VERSION__;
// Always from the network: the API, the stream, and the server's pages.
const NETWORK_ONLY = ["/v1/", "/carrier", "/deregister", "/l/"];

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches
      .open(CACHE)
      .then((cache) => cache.addAll(PRECACHE))
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((keys) => Promise.all(keys.filter((k) => k.startsWith("tidings-") && k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (request.method !== "GET" || url.origin !== self.location.origin) return;
  if (NETWORK_ONLY.some((p) => url.pathname.startsWith(p))) return;
  if (request.mode === "navigate") {
    // The page from the network when there is one (a new build shows at
    // once), else the stored shell.
    event.respondWith(fetch(request).catch(() => caches.match("/")));
    return;
  }
  event.respondWith(caches.match(request).then((hit) => hit || fetch(request)));
});
