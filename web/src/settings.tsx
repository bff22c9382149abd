// Settings and account: photo and name, phone numbers and e-mail
// addresses, read receipts, SMS fallback, notifications, devices, the
// /deregister page, signing out and deleting the account.
import { useEffect, useRef, useState } from "preact/hooks";
import { EngineClient, message, useStoredFile } from "./engine";
import { listTime } from "./format";
import type { Status } from "./types";

interface Settings {
  read_receipts: boolean;
  sms_fallback: boolean;
  name: string | null;
}
interface Device {
  id: number;
  name: string;
  created_at: number;
  last_seen: number;
}

export function SettingsPage(props: { engine: EngineClient; status: Status; onBack: () => void; onSignedOut: () => void; onNameChanged: (name: string) => void }) {
  const { engine } = props;
  const [settings, setSettings] = useState<Settings | null>(null);
  const [devices, setDevices] = useState<{ this: number; devices: Device[] } | null>(null);
  const [name, setName] = useState("");
  const [error, setError] = useState("");
  const [note, setNote] = useState("");
  const [confirmDelete, setConfirmDelete] = useState("");
  const [handles, setHandles] = useState<string[]>(props.status.handles ?? []);
  const [adding, setAdding] = useState("");
  const [codeFor, setCodeFor] = useState<string | null>(null);
  const [code, setCode] = useState("");
  const [photo, setPhoto] = useState<{ path: string; content_type: string } | null>(null);
  const photoUrl = useStoredFile(photo?.path, photo?.content_type ?? "image/*");
  const picker = useRef<HTMLInputElement>(null);
  const [notifications, setNotifications] = useState(typeof Notification === "undefined" ? "unsupported" : Notification.permission);

  async function load() {
    try {
      const s = await engine.call<Settings>({ cmd: "settings" });
      setSettings(s);
      setName(s.name ?? "");
      setDevices(await engine.call({ cmd: "devices" }));
      setPhoto(await engine.call({ cmd: "photo" }));
      setHandles((await engine.call<{ handles: string[] }>({ cmd: "handles" })).handles);
    } catch (e) {
      setError(message(e));
    }
  }
  useEffect(() => {
    void load();
  }, []);

  async function change(change: Partial<Settings>) {
    setError("");
    setNote("");
    try {
      setSettings(await engine.call<Settings>({ cmd: "change_settings", change }));
      setNote("Saved. Your other devices follow.");
      if (change.name) props.onNameChanged(change.name);
    } catch (e) {
      setError(message(e));
      await load();
    }
  }

  async function act(command: Record<string, unknown>, after: () => void) {
    setError("");
    try {
      await engine.call(command);
      after();
    } catch (e) {
      setError(message(e));
    }
  }

  async function choosePhoto(file: File | undefined) {
    if (!file) return;
    setError("");
    setNote("");
    try {
      const path = await engine.importFile(file);
      setPhoto(await engine.call({ cmd: "set_photo", path }));
      setNote("Photo saved. People see it with your next message.");
    } catch (e) {
      setError(message(e));
    }
  }

  async function addHandle(e: Event) {
    e.preventDefault();
    setError("");
    setNote("");
    try {
      if (codeFor === null) {
        const sent = await engine.call<{ code_sent: string }>({ cmd: "add_handle", handle: adding });
        setCodeFor(sent.code_sent);
        setNote(`A code was sent to ${sent.code_sent}.`);
      } else {
        const r = await engine.call<{ handles: string[] }>({ cmd: "add_handle", handle: codeFor, code: code.trim() });
        setHandles(r.handles);
        setNote(`${codeFor} added.`);
        setCodeFor(null);
        setAdding("");
        setCode("");
      }
    } catch (e) {
      setError(message(e));
    }
  }

  return (
    <main class="main" aria-label="Settings">
      <header class="topbar">
        <button class="icon-btn back" aria-label="Back to conversations" onClick={props.onBack}>
          ←
        </button>
        <h2>Settings</h2>
      </header>
      <div class="settings" tabIndex={0}>
        <div class="profile-photo">
          <span class="avatar big" aria-hidden="true">
            {photoUrl ? <img src={photoUrl} alt="" /> : (settings?.name || handles[0] || "?").slice(0, 1).toUpperCase()}
          </span>
          <input ref={picker} type="file" accept="image/*" hidden onChange={(e) => void choosePhoto(e.currentTarget.files?.[0])} />
          <button class="btn" onClick={() => picker.current?.click()}>
            {photo ? "Change photo" : "Choose a photo"}
          </button>
          <span class="sub">Account {props.status.account}</span>
        </div>
        <form
          class="row-form"
          onSubmit={(e) => {
            e.preventDefault();
            void change({ name });
          }}
        >
          <label class="sr-only" for="display-name">
            Display name
          </label>
          <input id="display-name" class="field" maxLength={64} placeholder="Display name" value={name} onInput={(e) => setName(e.currentTarget.value)} />
          <button class="btn" type="submit" disabled={!name.trim() || name === settings?.name}>
            Save name
          </button>
        </form>
        {settings && (
          <fieldset class="toggles">
            <legend>Privacy and delivery</legend>
            <label>
              <input type="checkbox" checked={settings.read_receipts} onChange={(e) => void change({ read_receipts: e.currentTarget.checked })} />
              Send read receipts
            </label>
            <label>
              <input type="checkbox" checked={settings.sms_fallback} onChange={(e) => void change({ sms_fallback: e.currentTarget.checked })} />
              Send as SMS when a message reaches none of a number's devices in time
            </label>
            {notifications !== "unsupported" && (
              <label>
                <input
                  type="checkbox"
                  checked={notifications === "granted"}
                  disabled={notifications !== "default"}
                  onChange={async () => setNotifications(await Notification.requestPermission())}
                />
                Notify me of new messages while this tab is in the background
                {notifications === "denied" ? " (blocked in the browser's site settings)" : ""}
              </label>
            )}
          </fieldset>
        )}
        <p class="sub" role="status">
          {note}
        </p>
        <h3>Phone numbers and e-mail addresses</h3>
        <ul class="members" aria-label="Handles">
          {handles.map((h) => (
            <li key={h}>
              <span>{h}</span>
              {handles.length > 1 && (
                <button class="btn danger" aria-label={`Remove ${h}`} onClick={() => void act({ cmd: "remove_handle", handle: h }, () => void load())}>
                  Remove
                </button>
              )}
            </li>
          ))}
        </ul>
        <form class="row-form" onSubmit={(e) => void addHandle(e)}>
          {codeFor === null ? (
            <>
              <label class="sr-only" for="add-handle">
                Add a phone number or e-mail address
              </label>
              <input id="add-handle" class="field" placeholder="Add a number or e-mail" value={adding} onInput={(e) => setAdding(e.currentTarget.value)} />
              <button class="btn" type="submit" disabled={!adding.trim()}>
                Send code
              </button>
            </>
          ) : (
            <>
              <label class="sr-only" for="handle-code">
                Code sent to {codeFor}
              </label>
              <input id="handle-code" class="field" inputMode="numeric" autoComplete="one-time-code" placeholder={`Code sent to ${codeFor}`} value={code} onInput={(e) => setCode(e.currentTarget.value)} />
              <button class="btn" type="submit" disabled={!code.trim()}>
                Add
              </button>
              <button class="btn" type="button" onClick={() => setCodeFor(null)}>
                Cancel
              </button>
            </>
          )}
        </form>
        <h3>Devices</h3>
        <ul class="members" aria-label="Devices">
          {devices?.devices.map((d) => (
            <li key={d.id}>
              <span>
                {d.name}
                {d.id === devices.this ? " (this browser)" : ""}
                <br />
                <span class="sub">last seen {listTime(d.last_seen) || "never"}</span>
              </span>
              {d.id !== devices.this && (
                <button class="btn danger" aria-label={`Remove ${d.name}`} onClick={() => void act({ cmd: "remove_device", device: d.id }, () => void load())}>
                  Remove
                </button>
              )}
            </li>
          ))}
        </ul>
        <a href="/deregister">Unbind a phone number you no longer use</a>
        <button class="btn" onClick={() => void act({ cmd: "sign_out" }, props.onSignedOut)}>
          Sign out of this browser
        </button>
        <form
          class="danger-zone"
          onSubmit={(e) => {
            e.preventDefault();
            void act({ cmd: "delete_account" }, props.onSignedOut);
          }}
        >
          <label for="confirm-delete">Delete the account for good: type DELETE</label>
          <div class="row-form">
            <input id="confirm-delete" class="field" value={confirmDelete} onInput={(e) => setConfirmDelete(e.currentTarget.value)} />
            <button class="btn danger" type="submit" disabled={confirmDelete !== "DELETE"}>
              Delete account
            </button>
          </div>
        </form>
        <p class="error" role="alert">
          {error}
        </p>
      </div>
    </main>
  );
}
