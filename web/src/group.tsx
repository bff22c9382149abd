// Groups: creating one, and a group's members (add, remove, rename, leave).
import { useEffect, useState } from "preact/hooks";
import { EngineClient, message } from "./engine";

export interface GroupState {
  id: string;
  members: string[];
  admins: string[];
  name: string | null;
  version: number;
}

function handles(text: string): string[] {
  return text
    .split(/[,;\n]/)
    .map((s) => s.trim())
    .filter(Boolean);
}

export function NewGroup(props: { engine: EngineClient; onCreated: (key: string) => void; onBack: () => void }) {
  const [name, setName] = useState("");
  const [members, setMembers] = useState("");
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);
  async function create(e: Event) {
    e.preventDefault();
    setBusy(true);
    setError("");
    try {
      const r = await props.engine.call<{ conversation: string }>({ cmd: "create_group", name, members: handles(members) });
      props.onCreated(r.conversation);
    } catch (err) {
      setError(message(err));
    } finally {
      setBusy(false);
    }
  }
  return (
    <main class="main" aria-label="New group">
      <header class="topbar">
        <button class="icon-btn back" aria-label="Back to conversations" onClick={props.onBack}>
          ←
        </button>
        <h2>New group</h2>
      </header>
      <form class="settings" onSubmit={create}>
        <label for="group-name">Group name</label>
        <input id="group-name" class="field" value={name} maxLength={64} onInput={(e) => setName(e.currentTarget.value)} required />
        <label for="group-members">Members: phone numbers or e-mail addresses, separated by commas</label>
        <textarea id="group-members" class="field" rows={3} value={members} onInput={(e) => setMembers(e.currentTarget.value)} required />
        <p class="sub">Members not on Tidings get the group's messages by SMS.</p>
        <button class="btn primary" type="submit" disabled={busy || !name.trim() || !members.trim()}>
          {busy ? "Creating…" : "Create group"}
        </button>
        <p class="error" role="alert">
          {error}
        </p>
      </form>
    </main>
  );
}

export function GroupDetails(props: { engine: EngineClient; conversationKey: string; me: string[]; onChanged: () => void; onLeft: () => void }) {
  const { engine, conversationKey: key } = props;
  const [group, setGroup] = useState<GroupState | null>(null);
  const [add, setAdd] = useState("");
  const [rename, setRename] = useState("");
  const [error, setError] = useState("");

  async function load() {
    try {
      const g = await engine.call<GroupState | null>({ cmd: "group", conversation: key });
      setGroup(g);
      setRename(g?.name ?? "");
    } catch (e) {
      setError(message(e));
    }
  }
  useEffect(() => {
    void load();
  }, [key]);

  async function change(edit: Record<string, unknown> | string) {
    setError("");
    try {
      await engine.call({ cmd: "change_group", conversation: key, edit });
      props.onChanged();
      if (edit === "leave") props.onLeft();
      else await load();
    } catch (e) {
      setError(message(e));
    }
  }

  if (!group) return <div class="settings">{error || "…"}</div>;
  const admin = group.admins.some((a) => props.me.includes(a));
  return (
    <div class="settings group-details" role="region" aria-label="Group members" tabIndex={0}>
      <h3>{group.members.length} members</h3>
      <ul class="members">
        {group.members.map((m) => (
          <li key={m}>
            <span>
              {m}
              {props.me.includes(m) ? " (you)" : ""}
              {group.admins.includes(m) ? " · admin" : ""}
            </span>
            {admin && !props.me.includes(m) && (
              <button class="btn danger" aria-label={`Remove ${m}`} onClick={() => void change({ remove: [m] })}>
                Remove
              </button>
            )}
          </li>
        ))}
      </ul>
      {admin && (
        <form
          class="row-form"
          onSubmit={(e) => {
            e.preventDefault();
            void change({ add: handles(add) }).then(() => setAdd(""));
          }}
        >
          <label class="sr-only" for="add-member">
            Add a member
          </label>
          <input id="add-member" class="field" placeholder="Add: number or e-mail" value={add} onInput={(e) => setAdd(e.currentTarget.value)} />
          <button class="btn" type="submit" disabled={!add.trim()}>
            Add
          </button>
        </form>
      )}
      {admin && (
        <form
          class="row-form"
          onSubmit={(e) => {
            e.preventDefault();
            void change({ rename });
          }}
        >
          <label class="sr-only" for="rename-group">
            Group name
          </label>
          <input id="rename-group" class="field" value={rename} onInput={(e) => setRename(e.currentTarget.value)} />
          <button class="btn" type="submit" disabled={!rename.trim() || rename === group.name}>
            Rename
          </button>
        </form>
      )}
      <button class="btn danger" onClick={() => void change("leave")}>
        Leave group
      </button>
      <p class="error" role="alert">
        {error}
      </p>
    </div>
  );
}
