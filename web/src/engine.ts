// The page's side of the worker: commands as promises, events to listeners.
import { createContext } from "preact";
import { useContext, useEffect, useState } from "preact/hooks";

export type EngineError = { error: string; message: string };
export type EngineEvent = { event: string; [key: string]: any };

type Pending = { resolve: (v: any) => void; reject: (e: EngineError) => void };

export class EngineClient {
  private worker: Worker;
  private next = 1;
  private pending = new Map<number, Pending>();
  private listeners = new Set<(e: EngineEvent) => void>();
  ready = false;

  constructor() {
    this.worker = new Worker(new URL("./worker.ts", import.meta.url), { type: "module" });
    this.worker.onmessage = (m: MessageEvent) => {
      const data = m.data;
      if (data.ready) {
        this.ready = true;
        this.dispatch({ event: "ready" });
      } else if (data.event) {
        this.dispatch(data.event);
      } else if (typeof data.id === "number") {
        const p = this.pending.get(data.id);
        this.pending.delete(data.id);
        if (!p) return;
        if ("ok" in data) p.resolve(data.ok);
        else p.reject(data.err as EngineError);
      }
    };
    this.worker.onerror = (e) =>
      this.dispatch({ event: "fatal", message: e.message || "the app's worker failed to start" });
  }

  call<T = any>(command: Record<string, unknown>): Promise<T> {
    return this.request<T>({ command });
  }

  /** Keeps a picked, dropped or pasted file in the profile; its path, for `send`. */
  importFile(file: File): Promise<string> {
    return this.request<string>({ import: { name: file.name || "pasted", file } });
  }

  /** A stored file (sent or received) as a Blob of `type`. */
  readFile(path: string, type: string): Promise<Blob> {
    return this.request<Blob>({ read: { path, type } });
  }

  /** Forgets a file attached but not sent. */
  discardFile(path: string): Promise<void> {
    return this.request<void>({ discard: path });
  }

  private request<T>(body: Record<string, unknown>): Promise<T> {
    const id = this.next++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ id, ...body });
    });
  }

  /** Ends the worker, which lets go of the profile for another tab. */
  terminate() {
    this.worker.terminate();
    this.ready = false;
    for (const p of this.pending.values()) p.reject({ error: "moved", message: "Tidings moved to another tab" });
    this.pending.clear();
  }

  on(listener: (e: EngineEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private dispatch(e: EngineEvent) {
    // `localStorage.setItem("tidings.debug", "1")` logs every event.
    if (localStorage.getItem("tidings.debug")) console.debug("tidings event", JSON.stringify(e));
    for (const l of this.listeners) l(e);
  }
}

export function message(e: unknown): string {
  if (e && typeof e === "object" && "message" in e) return String((e as EngineError).message);
  return String(e);
}

/** The engine, for components deep in the tree (avatars with photos). */
export const EngineContext = createContext<EngineClient | null>(null);

/** A file kept in the profile as a blob: URL while the component lives
 *  (none while it loads, or when `path` is null). */
export function useStoredFile(path: string | null | undefined, type: string): string | null {
  const engine = useContext(EngineContext);
  const [url, setUrl] = useState<string | null>(null);
  useEffect(() => {
    setUrl(null);
    if (!path || !engine) return;
    let made: string | null = null;
    let gone = false;
    engine
      .readFile(path, type)
      .then((blob) => {
        if (gone) return;
        made = URL.createObjectURL(blob);
        setUrl(made);
      })
      .catch((e) => console.warn("stored file not readable:", message(e)));
    return () => {
      gone = true;
      if (made) URL.revokeObjectURL(made);
    };
  }, [path, type, engine]);
  return url;
}
