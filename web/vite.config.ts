import { createHash } from "node:crypto";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { defineConfig, type Plugin } from "vite";

/** Writes dist/sw.js from sw-template.js with the list of built files. */
function serviceWorker(): Plugin {
  return {
    name: "tidings-service-worker",
    apply: "build",
    closeBundle() {
      const dist = join(__dirname, "dist");
      const assets = readdirSync(join(dist, "assets"))
        .filter((f) => !f.endsWith(".gz"))
        .map((f) => `/assets/${f}`)
        .sort();
      const files = ["/", "/manifest.webmanifest", "/icon.svg", ...assets];
      const version = createHash("sha256").update(files.join("\n")).digest("hex").slice(0, 16);
      const sw = readFileSync(join(__dirname, "sw-template.js"), "utf8")
        .replace("__PRECACHE__", JSON.stringify(files))
        .replace("__VERSION__", JSON.stringify(version));
      writeFileSync(join(dist, "sw.js"), sw);
    },
  };
}

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
  plugins: [serviceWorker()],
});
