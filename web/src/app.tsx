// The app's shell: start-up, sign-in, the list beside (or, on a phone,
// instead of) the open conversation, and the connection bar.
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import { Chat } from "./chat";
import { EngineClient, message } from "./engine";
import { NewGroup } from "./group";
import { SettingsPage } from "./settings";
import { ConversationList, RequestList } from "./lists";
import { SignIn } from "./signin";
import type { Conversation, RequestSummary, Status } from "./types";

type View = { at: "list" } | { at: "chat"; key: string } | { at: "requests"; junk: boolean } | { at: "settings" } | { at: "new-group" };
type Phase = "starting" | "locked" | "moved" | "fatal" | "signin" | "ready";

/** Tabs of this app tell each other "use here" on this channel. */
const TABS_CHANNEL = "tidings-tabs";

function viewFromUrl(): View {
  const p = new URLSearchParams(location.hash.slice(1));
  const chat = p.get("chat");
  if (chat) return { at: "chat", key: chat };
  if (p.has("requests")) return { at: "requests", junk: p.get("requests") === "junk" };
  if (p.has("settings")) return { at: "settings" };
  if (p.has("new-group")) return { at: "new-group" };
  return { at: "list" };
}

function urlOf(v: View): string {
  switch (v.at) {
    case "chat":
      return `#chat=${encodeURIComponent(v.key)}`;
    case "requests":
      return v.junk ? "#requests=junk" : "#requests";
    case "settings":
      return "#settings";
    case "new-group":
      return "#new-group";
    default:
      return location.pathname;
  }
}

export function App({ engine }: { engine: EngineClient }) {
  const [phase, setPhase] = useState<Phase>("starting");
  const [fatal, setFatal] = useState("");
  const [status, setStatus] = useState<Status | null>(null);
  const [conversations, setConversations] = useState<Conversation[]>([]);
  const [requests, setRequests] = useState<RequestSummary[]>([]);
  const [view, setView] = useState<View>(viewFromUrl());
  const [connection, setConnection] = useState<"connecting" | "online" | "offline">("connecting");
  const [newChat, setNewChat] = useState("");
  const [newError, setNewError] = useState("");
  // Notices the engine raised (a new device signed in, history waiting).
  const [notices, setNotices] = useState<string[]>([]);

  const phaseNow = useRef<Phase>("starting");
  phaseNow.current = phase;
  const tabs = useMemo(() => new BroadcastChannel(TABS_CHANNEL), []);
  useEffect(() => {
    // Another tab asked for the profile: this one lets go of it at once
    // (its worker ends, and with it the profile's lock).
    tabs.onmessage = (m) => {
      if (m.data === "take" && phaseNow.current !== "locked" && phaseNow.current !== "moved") {
        engine.terminate();
        setPhase("moved");
      }
    };
  }, []);

  async function refresh() {
    try {
      setConversations(await engine.call<Conversation[]>({ cmd: "conversations" }));
      if (view.at === "requests") setRequests(await engine.call<RequestSummary[]>({ cmd: "requests", junk: view.junk }));
    } catch {
      /* signed out meanwhile */
    }
  }

  useEffect(() => {
    const off = engine.on(async (e) => {
      switch (e.event) {
        case "ready": {
          const s = await engine.call<Status>({ cmd: "status" });
          setStatus(s);
          setPhase(s.signed_in ? "ready" : "signin");
          break;
        }
        case "locked":
          setPhase("locked");
          break;
        case "fatal":
          setFatal(e.message);
          setPhase("fatal");
          break;
        case "connection":
          setConnection(e.state);
          break;
        case "message":
          if (document.visibilityState !== "visible" && !e.outgoing && !e.muted) notify(e.from_name || e.from, e.body);
          void refresh();
          break;
        case "notice":
          setNotices((n) => (n.includes(e.text) ? n : [...n.slice(-2), e.text]));
          void refresh();
          break;
        case "typing":
        case "live":
          break;
        default:
          void refresh();
      }
    });
    // Ctrl/Cmd+K: start or find a conversation; Escape: back to the list.
    const keys = (e: KeyboardEvent) => {
      if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === "k") {
        e.preventDefault();
        document.getElementById("new-chat")?.focus();
      } else if (e.key === "Escape" && view.at !== "list" && !document.querySelector("dialog[open]")) {
        // An open dialog (the photo viewer) takes its Escape for itself.
        go({ at: "list" });
      }
    };
    window.addEventListener("keydown", keys);
    const back = () => setView(viewFromUrl());
    const online = () => void engine.call({ cmd: "reconnect" }).catch(() => {});
    window.addEventListener("popstate", back);
    window.addEventListener("online", online);
    return () => {
      off();
      window.removeEventListener("popstate", back);
      window.removeEventListener("keydown", keys);
      window.removeEventListener("online", online);
    };
  }, [view]);

  useEffect(() => {
    if (phase === "ready") void refresh();
  }, [phase, view]);

  function go(v: View) {
    history.pushState(null, "", urlOf(v));
    setView(v);
  }

  async function startChat(ev: Event) {
    ev.preventDefault();
    setNewError("");
    try {
      const r = await engine.call<{ conversation: string }>({ cmd: "resolve", to: newChat.split(",").map((s) => s.trim()).filter(Boolean) });
      setNewChat("");
      go({ at: "chat", key: r.conversation });
    } catch (e) {
      setNewError(message(e));
    }
  }

  if (phase === "starting") return <main class="placeholder" aria-busy="true">Opening Tidings…</main>;
  if (phase === "locked" || phase === "moved")
    return (
      <main class="placeholder">
        <p>
          {phase === "locked"
            ? "Tidings is open in another tab. Close it there, and this tab takes over, or use it here now."
            : "Tidings moved to another tab."}
        </p>
        <button
          class="btn primary"
          onClick={() => {
            tabs.postMessage("take");
            // This tab's worker waits for the lock already; a moved tab
            // starts a new one.
            if (phase === "moved") location.reload();
          }}
        >
          Use here
        </button>
      </main>
    );
  if (phase === "fatal")
    return (
      <main class="placeholder" role="alert">
        <p>{fatal}</p>
      </main>
    );
  if (phase === "signin" || !status?.signed_in)
    return (
      <SignIn
        engine={engine}
        onSignedIn={(s) => {
          setStatus(s);
          setPhase("ready");
          go({ at: "list" });
        }}
      />
    );

  const held = {
    requests: conversations.filter((c) => c.state === "request").length,
    junk: conversations.filter((c) => c.state === "junk").length,
  };
  const open = view.at !== "list";
  const activeKey = view.at === "chat" ? view.key : null;
  const me = status.name || status.handles?.[0] || "";

  return (
    <div class={`app ${open ? "open" : ""}`}>
      <h1 class="sr-only">Tidings</h1>
      <aside class="sidebar" aria-label="Conversation list">
        <header class="topbar">
          <h2>Chats</h2>
          <button class="btn" onClick={() => go({ at: "new-group" })}>
            New group
          </button>
          <button class="icon-btn" aria-label={`Settings (${me})`} onClick={() => go({ at: "settings" })}>
            ⚙
          </button>
        </header>
        {connection !== "online" && (
          <div class={`status-bar ${connection}`} role="status">
            {connection === "offline" ? "Offline — messages wait and go when the connection is back" : "Connecting…"}
          </div>
        )}
        {notices.map((text, i) => (
          <div class="notice-bar" role="status" key={i}>
            <span>{text}</span>
            <button class="icon-btn" aria-label="Dismiss" onClick={() => setNotices(notices.filter((_, j) => j !== i))}>
              ×
            </button>
          </div>
        ))}
        <form class="new-chat" onSubmit={startChat} aria-label="New conversation">
          <label class="sr-only" for="new-chat">
            New conversation: phone number or e-mail
          </label>
          <input
            id="new-chat"
            class="field"
            placeholder="New chat: number or e-mail"
            value={newChat}
            onInput={(e) => setNewChat(e.currentTarget.value)}
          />
          <button class="btn primary" type="submit" disabled={!newChat.trim()}>
            Start
          </button>
        </form>
        {newError && (
          <p class="error" role="alert" style={{ padding: "0 12px" }}>
            {newError}
          </p>
        )}
        <ConversationList
          conversations={conversations}
          active={activeKey}
          held={held}
          onOpen={(key) => go({ at: "chat", key })}
          onRequests={(junk) => go({ at: "requests", junk })}
        />
      </aside>
      {view.at === "chat" && (
        <Chat
          engine={engine}
          conversationKey={view.key}
          summary={conversations.find((c) => c.key === view.key) ?? null}
          online={connection === "online"}
          me={status.handles ?? []}
          onBack={() => go({ at: "list" })}
          onChanged={() => void refresh()}
        />
      )}
      {view.at === "new-group" && (
        <NewGroup engine={engine} onCreated={(key) => { void refresh(); go({ at: "chat", key }); }} onBack={() => go({ at: "list" })} />
      )}
      {view.at === "requests" && (
        <main class="main" aria-label={view.junk ? "Junk" : "Message requests"}>
          <header class="topbar">
            <button class="icon-btn back" aria-label="Back to conversations" onClick={() => go({ at: "list" })}>
              ←
            </button>
            <h2>{view.junk ? "Junk" : "Message requests"}</h2>
          </header>
          <RequestList junk={view.junk} requests={requests} onOpen={(key) => go({ at: "chat", key })} />
        </main>
      )}
      {view.at === "settings" && (
        <SettingsPage
          engine={engine}
          status={status}
          onBack={() => go({ at: "list" })}
          onNameChanged={(name) => setStatus({ ...status, name })}
          onSignedOut={() => {
            setStatus({ signed_in: false, server: status.server });
            setConversations([]);
            setPhase("signin");
            go({ at: "list" });
          }}
        />
      )}
      {view.at === "list" && (
        <main class="main placeholder">
          <p>Choose a conversation, or start one with a phone number or e-mail address.</p>
        </main>
      )}
    </div>
  );
}

function notify(from: string, body: string) {
  if (!("Notification" in window) || Notification.permission !== "granted") return;
  new Notification(from, { body: body.slice(0, 140), tag: "tidings" });
}
