// Settings and account: name, read receipts, SMS fallback, notifications,
// devices, the /deregister page, signing out and deleting the account.
import { useEffect, useState } from "preact/hooks";
import { EngineClient, message } from "./engine";
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
  const [notifications, setNotifications] = useState(typeof Notification === "undefined" ? "unsupported" : Notification.permission);

  async function load() {
    try {
      const s = await engine.call<Settings>({ cmd: "settings" });
      setSettings(s);
      setName(s.name ?? "");
      setDevices(await engine.call({ cmd: "devices" }));
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

  return (
    <main class="main" aria-label="Settings">
      <header class="topbar">
        <button class="icon-btn back" aria-label="Back to conversations" onClick={props.onBack}>
          ←
        </button>
        <h2>Settings</h2>
      </header>
      <div class="settings" tabIndex={0}>
        <dl>
          <dt>Handles</dt>
          <dd>{props.status.handles?.join(", ")}</dd>
          <dt>Account</dt>
          <dd>{props.status.account}</dd>
        </dl>
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
