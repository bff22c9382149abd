/// <reference lib="webworker" />
// The app's dedicated worker: it holds the profile's Web Lock for its whole
// life and runs the Rust engine (tidings-client in WebAssembly). The page
// talks to it with {id, command} messages; answers come back as
// {id, ok} or {id, err}, and the engine's events as {event}.
import init, { Engine } from "./wasm/tidings_web.js";

declare const self: DedicatedWorkerGlobalScope;

// A command for the engine's actor, or a file operation, which the
// engine does beside the actor (files need no turn of it).
type Request = {
  id: number;
  command?: Record<string, unknown>;
  import?: { name: string; file: Blob };
  read?: { path: string; type: string };
  discard?: string;
};

const LOCK = "tidings-profile";
let engine: Engine | null = null;
const waiting: Request[] = [];

function post(message: unknown) {
  self.postMessage(message);
}

async function run(request: Request) {
  try {
    const e = engine!;
    let ok: unknown;
    if (request.import) ok = await e.import(request.import.name, request.import.file);
    else if (request.read) ok = e.read(request.read.path, request.read.type);
    else if (request.discard) ok = e.discard(request.discard) ?? null;
    else ok = JSON.parse((await e.call(JSON.stringify(request.command))) as string);
    post({ id: request.id, ok });
  } catch (e) {
    let err: unknown;
    try {
      err = JSON.parse(String(e));
    } catch {
      err = { error: "internal", message: String(e) };
    }
    post({ id: request.id, err });
  }
}

/** Commands held until the engine has started, as many as it queues. */
const MAX_WAITING = 64;

self.onmessage = (m: MessageEvent<Request>) => {
  if (engine) void run(m.data);
  else if (waiting.length < MAX_WAITING) waiting.push(m.data);
  else post({ id: m.data.id, err: { error: "busy", message: "Tidings is still starting; try again in a moment" } });
};

/** The country that numbers typed without a code are read in. */
function region(): string {
  for (const tag of navigator.languages ?? [navigator.language]) {
    const part = tag.split("-").find((p, i) => i > 0 && /^[A-Za-z]{2}$/.test(p));
    if (part) return part.toUpperCase();
  }
  return "";
}

async function start() {
  await init();
  engine = await Engine.start(self.location.origin, region(), (json: string) =>
    post({ event: JSON.parse(json) }),
  );
  post({ ready: true });
  for (const r of waiting.splice(0)) void run(r);
  // The lock is released when this worker ends (tab closed or reloaded).
  await new Promise(() => {});
}

async function main() {
  try {
    const got = await navigator.locks.request(LOCK, { ifAvailable: true }, async (lock) => {
      if (!lock) return false;
      await start();
      return true;
    });
    if (!got) {
      // Another tab has the profile: say so, and take over when it closes.
      post({ event: { event: "locked" } });
      await navigator.locks.request(LOCK, start);
    }
  } catch (e) {
    post({ event: { event: "fatal", message: e instanceof Error ? e.message : String(e) } });
  }
}

void main();
