// The page's side of the worker: commands as promises, events to listeners.

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
    const id = this.next++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ id, command });
    });
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
