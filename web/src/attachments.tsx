// Photos, videos and files in a conversation: what a bubble shows of an
// attachment, the files waiting in the composer, transfer progress, and
// the full-size viewer. Files live in the profile (the engine's file
// store); the page gets them as Blobs and shows them through blob: URLs,
// which it revokes when they leave the screen.
import { useEffect, useRef, useState } from "preact/hooks";
import { EngineClient, message, useStoredFile } from "./engine";
import type { Attachment } from "./types";

/** Largest photo shown from the file itself in a bubble; bigger ones show their preview until opened. */
const MAX_INLINE_PHOTO_BYTES = 12 * 1024 * 1024;

/** A file in the composer, kept in the profile and not sent yet. */
export interface Attached {
  path: string;
  name: string;
  size: number;
  type: string;
  /** A blob: URL of a photo, for its chip. */
  preview: string | null;
}

/** A transfer under way: bytes done of total. */
export interface Transfer {
  direction: "upload" | "download";
  name: string;
  done: number;
  total: number;
}

export function formatSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(0)} KB`;
  if (bytes < 1024 * 1024 * 1024) return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
  return `${(bytes / 1024 / 1024 / 1024).toFixed(1)} GB`;
}

function duration(ms: number | null): string {
  if (!ms) return "";
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

/** Whether the file itself is on this device. */
function here(a: Attachment): boolean {
  return !!a.path && (a.state === "saved" || a.state === "sent");
}

/** A stored file as a blob: URL while the component lives, once wanted. */
function useFileUrl(a: Attachment, wanted: boolean): string | null {
  return useStoredFile(wanted && here(a) ? a.path : null, a.content_type);
}

/** Saves a stored file to the person's downloads, decrypted. */
async function save(engine: EngineClient, a: Attachment) {
  const blob = await engine.readFile(a.path!, a.content_type);
  const url = URL.createObjectURL(blob);
  const link = document.createElement("a");
  link.href = url;
  link.download = a.name;
  document.body.append(link);
  link.click();
  link.remove();
  // The download has taken its copy by the next turn.
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

function waiting(a: Attachment, held: boolean): string {
  if (a.state === "pending") return held ? "Accept to download" : "Downloading…";
  if (a.state.startsWith("failed")) return `Not available: ${a.state.replace(/^failed:\s*/, "")}`;
  return "";
}

/** One attachment inside a bubble. */
export function AttachmentView(props: {
  engine: EngineClient;
  a: Attachment;
  /** In a message request: nothing is downloaded until it is accepted. */
  held: boolean;
  onOpen: (a: Attachment) => void;
}) {
  const { engine, a } = props;
  const photo = a.content_type.startsWith("image/");
  const video = a.content_type.startsWith("video/");
  const [playing, setPlaying] = useState(false);
  const inline = useFileUrl(a, (photo && a.size <= MAX_INLINE_PHOTO_BYTES) || (video && playing));
  const status = waiting(a, props.held);

  if (photo && (a.thumbnail || inline)) {
    const src = inline ?? `data:image/jpeg;base64,${a.thumbnail}`;
    return (
      <button
        type="button"
        class="photo"
        aria-label={`Photo ${a.name}${status ? `, ${status}` : ", open full size"}`}
        disabled={!here(a)}
        onClick={() => props.onOpen(a)}
      >
        <img src={src} alt="" width={a.width ?? undefined} height={a.height ?? undefined} data-full={inline ? "1" : "0"} />
        {status && <span class="overlay">{status}</span>}
      </button>
    );
  }
  if (video && here(a)) {
    return playing && inline ? (
      <video class="video" controls autoPlay src={inline} aria-label={`Video ${a.name}`} />
    ) : (
      <button type="button" class="file" disabled={playing} onClick={() => setPlaying(true)} aria-label={`Play video ${a.name}`}>
        <span class="file-icon" aria-hidden="true">▶</span>
        <span class="file-name">{a.name}</span>
        <span class="file-size">{playing ? "Opening…" : `${duration(a.duration_ms)} ${formatSize(a.size)}`.trim()}</span>
      </button>
    );
  }
  return (
    <button
      type="button"
      class="file"
      disabled={!here(a)}
      onClick={() => void save(engine, a).catch((e) => alert(message(e)))}
      aria-label={`${a.name}, ${formatSize(a.size)}${status ? `, ${status}` : ", download"}`}
    >
      <span class="file-icon" aria-hidden="true">{video ? "▶" : "📄"}</span>
      <span class="file-name">{a.name}</span>
      <span class="file-size">{status || `${formatSize(a.size)} · Download`}</span>
    </button>
  );
}

/** A photo at full size, over the conversation; Escape or the button closes it. */
export function Viewer(props: { engine: EngineClient; a: Attachment; onClose: () => void }) {
  const { engine, a } = props;
  const url = useFileUrl(a, true);
  const dialog = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    dialog.current?.showModal();
  }, []);
  return (
    <dialog class="viewer" ref={dialog} aria-label={`Photo ${a.name}`} onClose={props.onClose}>
      <div class="viewer-bar">
        <span>{a.name}</span>
        <button class="btn" onClick={() => void save(engine, a)}>
          Save
        </button>
        <button class="btn" autoFocus onClick={() => dialog.current?.close()}>
          Close
        </button>
      </div>
      {url ? <img class="full" src={url} alt={a.name} /> : <p class="notice">Opening…</p>}
    </dialog>
  );
}

/** The files about to be sent, each with a button to take it off. */
export function AttachedList(props: { files: Attached[]; onRemove: (f: Attached) => void }) {
  if (!props.files.length) return null;
  return (
    <ul class="attached" aria-label="Attached files">
      {props.files.map((f) => (
        <li key={f.path}>
          {f.preview ? <img src={f.preview} alt="" /> : <span class="file-icon" aria-hidden="true">📄</span>}
          <span class="file-name">{f.name}</span>
          <span class="file-size">{formatSize(f.size)}</span>
          <button type="button" class="icon-btn" aria-label={`Remove ${f.name}`} onClick={() => props.onRemove(f)}>
            ×
          </button>
        </li>
      ))}
    </ul>
  );
}

/** A transfer's progress bar. */
export function TransferBar(props: { transfer: Transfer }) {
  const t = props.transfer;
  const pct = t.total ? Math.min(100, Math.round((t.done / t.total) * 100)) : 0;
  const verb = t.direction === "upload" ? "Sending" : "Receiving";
  return (
    <div class="transfer" role="status">
      <span>
        {verb} {t.name} — {pct}%
      </span>
      <progress max={100} value={pct} aria-label={`${verb} ${t.name}`} />
    </div>
  );
}
