import { defineConfig } from "vite";

// The app is served by `tidings serve` from web/dist. No inline script or
// style ends up in index.html, so the server's Content-Security-Policy can
// forbid both.
export default defineConfig({
  build: {
    target: "es2022",
    outDir: "dist",
    emptyOutDir: true,
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
  },
  worker: { format: "es" },
});
