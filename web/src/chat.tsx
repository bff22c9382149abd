// One conversation: bubbles (blue over Tidings, green by SMS) with their
// photos, videos and files, day separators, the state of our last message,
// typing, and the composer, which takes files from its button, a drop on
// the conversation, or a paste.
import { useEffect, useLayoutEffect, useRef, useState } from "preact/hooks";
import { EngineClient, EngineEvent, message } from "./engine";
import { clock, dayLabel, isPhone, sameDay, stateLabel } from "./format";
import { GroupDetails } from "./group";
import { SafetyNumber } from "./safety";
import { Avatar, title } from "./lists";
import { AttachedList, Attached, AttachmentView, Transfer, TransferBar, Viewer } from "./attachments";
import type { Attachment, Conversation, Message, RequestSummary } from "./types";

/** How often "typing" is told while the person keeps typing. */
const TYPING_EVERY_MS = 3000;
/** How long a "typing" from the other side is shown without a new one. */
const TYPING_SHOWN_MS = 6000;

export function Chat(props: {
  engine: EngineClient;
  conversationKey: string;
  summary: Conversation | null;
  online: boolean;
  me: string[];
  onBack: () => void;
  onChanged: () => void;
}) {
  const { engine, conversationKey: key } = props;
  const [messages, setMessages] = useState<Message[]>([]);
  const [request, setRequest] = useState<RequestSummary | null>(null);
  const [draft, setDraft] = useState("");
  const [error, setError] = useState("");
  const [typing, setTyping] = useState<{ from: string; until: number } | null>(null);
  const [announce, setAnnounce] = useState("");
  const [details, setDetails] = useState(false);
  const [safety, setSafety] = useState(false);
  const [attached, setAttached] = useState<Attached[]>([]);
  const [adding, setAdding] = useState(0);
  const [transfer, setTransfer] = useState<Transfer | null>(null);
  const [viewing, setViewing] = useState<Attachment | null>(null);
  const [dragging, setDragging] = useState(false);
  const [askLinks, setAskLinks] = useState(false);
  const list = useRef<HTMLDivElement>(null);
  const picker = useRef<HTMLInputElement>(null);
  const composer = useRef<HTMLTextAreaElement>(null);
  const lastTyping = useRef(0);
  // The conversation on screen now: an answer for one left meanwhile (a
  // send or a load still on its way when another was opened) must not
  // replace what this one shows.
  const shown = useRef(key);
  shown.current = key;

  async function load() {
    const asked = key;
    try {
      const got = await engine.call<{ messages: Message[]; request: RequestSummary | null }>({
        cmd: "messages",
        conversation: asked,
      });
      if (shown.current !== asked) return;
      setMessages(got.messages);
      setRequest(got.request);
      const unread = got.messages.some((m) => !m.outgoing && m.state !== "read" && m.kind === "text");
      if (!got.request && unread && document.visibilityState === "visible") {
        await engine.call({ cmd: "read", conversation: key }).catch(() => {});
        props.onChanged();
      }
    } catch (e) {
      setError(message(e));
    }
  }

  useEffect(() => {
    setMessages([]);
    setRequest(null);
    setError("");
    setTyping(null);
    setDetails(false);
    setSafety(false);
    setViewing(null);
    setAskLinks(false);
    void load();
    composer.current?.focus();
    const off = engine.on((e: EngineEvent) => {
      if (e.event === "upload" || e.event === "download") {
        const t = { direction: e.event, name: e.name, done: e.done, total: e.total } as Transfer;
        setTransfer(e.done >= e.total ? null : t);
      } else if (e.event === "typing" && e.conversation === key) {
        setTyping({ from: e.from, until: Date.now() + TYPING_SHOWN_MS });
      } else if (e.conversation === key || e.event === "changed") {
        if (e.event === "message") {
          setTyping(null);
          if (!e.outgoing) setAnnounce(`${e.from_name || e.from}: ${e.body}`);
        }
        void load();
      }
    });
    const onVisible = () => document.visibilityState === "visible" && void load();
    document.addEventListener("visibilitychange", onVisible);
    return () => {
      off();
      document.removeEventListener("visibilitychange", onVisible);
    };
  }, [key]);

  useEffect(() => {
    if (!typing) return;
    const t = setTimeout(() => setTyping(null), typing.until - Date.now());
    return () => clearTimeout(t);
  }, [typing]);

  useLayoutEffect(() => {
    const el = list.current;
    if (el) el.scrollTop = el.scrollHeight;
  }, [messages.length, key]);

  async function send(text: string, smsLinks = false) {
    const files = attached;
    if ((!text.trim() && !files.length) || adding) return;
    setError("");
    setAskLinks(false);
    setDraft("");
    setAttached([]);
    // A sent message ends this bout of typing: the next keystroke says so.
    lastTyping.current = 0;
    try {
      await engine.call({ cmd: "send", to: [key], text, files: files.map((f) => f.path), sms_links: smsLinks });
      for (const f of files) if (f.preview) URL.revokeObjectURL(f.preview);
    } catch (e) {
      setDraft(text);
      setAttached(files);
      setError(message(e));
      // Files reach people not on Tidings as links the server could read:
      // only when the person agrees.
      if (message(e).includes("download links in an SMS")) setAskLinks(true);
    }
    setTransfer(null);
    await load();
    props.onChanged();
  }

  /** Sends a failed message again, as itself (no copy for those who got it). */
  async function retry(id: string) {
    setError("");
    try {
      await engine.call({ cmd: "retry", id });
    } catch (e) {
      setError(message(e));
    }
    setTransfer(null);
    await load();
    props.onChanged();
  }

  /** Keeps picked, dropped or pasted files in the profile, ready to send. */
  async function attach(files: FileList | File[] | null | undefined) {
    const list = [...(files ?? [])];
    if (!list.length || request) return;
    setError("");
    setAdding((n) => n + list.length);
    for (const file of list) {
      try {
        const path = await engine.importFile(file);
        const preview = file.type.startsWith("image/") ? URL.createObjectURL(file) : null;
        setAttached((a) => [...a, { path, name: file.name || "pasted", size: file.size, type: file.type, preview }]);
      } catch (e) {
        setError(message(e));
      } finally {
        setAdding((n) => n - 1);
      }
    }
    composer.current?.focus();
  }

  function unattach(f: Attached) {
    setAttached((a) => a.filter((x) => x.path !== f.path));
    if (f.preview) URL.revokeObjectURL(f.preview);
    void engine.discardFile(f.path).catch(() => {});
  }

  function onInput(value: string) {
    setDraft(value);
    const now = Date.now();
    if (value && !request && props.online && now - lastTyping.current > TYPING_EVERY_MS) {
      lastTyping.current = now;
      void engine.call({ cmd: "typing", conversation: key }).catch((e) => console.warn("typing not sent:", message(e)));
    }
  }

  async function act(cmd: string, field: "conversation" | "handle", value: string) {
    setError("");
    try {
      await engine.call({ cmd, [field]: value });
      props.onChanged();
      if (cmd === "accept") await load();
      else props.onBack();
    } catch (e) {
      setError(message(e));
    }
  }

  const group = key.startsWith("group:");
  const name = props.summary ? title(props.summary) : request?.title || key;
  const lastText = [...messages].reverse().find((m) => m.kind === "text");
  const sms = !group && isPhone(key) && !!lastText && lastText.via.includes("sms");
  const lastOurs = [...messages].reverse().find((m) => m.outgoing && m.kind === "text");

  let previous: Message | null = null;
  const items = messages.map((m) => {
    const out = [];
    if (!previous || !sameDay(previous.sent_at, m.sent_at)) {
      out.push(
        <div class="day" role="separator" key={`d${m.id}`}>
          {dayLabel(m.sent_at)}
        </div>,
      );
    }
    if (m.kind !== "text" && m.id.startsWith("keys-")) {
      // Someone's devices changed: a warning, with the way to check them.
      out.push(
        <p class="notice key-change" key={m.id} role="note">
          <span aria-hidden="true">⚠️ </span>
          {m.body.replace(/ with `tidings verify`$/, "")}
          {!group && !request && (
            <button class="link-btn" onClick={() => setSafety(true)}>
              Check the safety number
            </button>
          )}
        </p>,
      );
    } else if (m.kind !== "text") {
      out.push(
        <p class="notice" key={m.id}>
          {m.body}
        </p>,
      );
    } else {
      const first = !previous || previous.from !== m.from || previous.kind !== "text" || !sameDay(previous.sent_at, m.sent_at);
      const bySms = m.via.includes("sms");
      const failed = m.outgoing && m.state.startsWith("failed");
      out.push(
        <div class={`bubble-row ${m.outgoing ? "ours" : "theirs"} ${first ? "first" : ""}`} key={m.id} data-state={m.state} data-via={m.via}>
          {group && !m.outgoing && first && <span class="sender">{m.from_name || m.from}</span>}
          <div class={`bubble ${bySms ? "sms" : "ip"}`}>
            <span class="sr-only">{m.outgoing ? "You" : m.from_name || m.from}{bySms ? " by SMS" : ""}: </span>
            {m.attachments.map((a) => (
              <AttachmentView key={a.row} engine={engine} a={a} held={!!request} onOpen={setViewing} />
            ))}
            {m.body && <span class="text">{m.body}</span>}
            <span class="meta">{clock(m.sent_at)}</span>
          </div>
          {m === lastOurs &&
            (failed ? (
              <button class="msg-state failed" onClick={() => void retry(m.id)}>
                {stateLabel(m)}
              </button>
            ) : (
              <span class="msg-state" aria-live="polite">
                {stateLabel(m)}
              </span>
            ))}
        </div>,
      );
    }
    previous = m;
    return out;
  });

  return (
    <main
      class={`main ${dragging ? "dragging" : ""}`}
      aria-label={`Conversation with ${name}`}
      onDragOver={(e) => {
        if (request || !e.dataTransfer?.types.includes("Files")) return;
        e.preventDefault();
        setDragging(true);
      }}
      onDragLeave={(e) => {
        if (e.currentTarget === e.target) setDragging(false);
      }}
      onDrop={(e) => {
        if (request) return;
        e.preventDefault();
        setDragging(false);
        void attach(e.dataTransfer?.files);
      }}
    >
      <header class="topbar">
        <button class="icon-btn back" aria-label="Back to conversations" onClick={props.onBack}>
          ←
        </button>
        <Avatar label={name} kind={group ? "group" : sms ? "sms" : "ip"} photo={props.summary?.photo} />
        <h2>
          {name} {sms && <span class="tag">SMS</span>}
          {name !== key && !group && (
            <>
              <br />
              <span class="sub">{key}</span>
            </>
          )}
        </h2>
        {group && (
          <button class="btn" aria-expanded={details} onClick={() => setDetails(!details)}>
            Members
          </button>
        )}
        {!group && !sms && !request && (
          <button class="btn" aria-expanded={safety} onClick={() => setSafety(!safety)}>
            Safety number
          </button>
        )}
      </header>
      {!group && safety && <SafetyNumber engine={engine} handle={key} name={name} />}
      {group && details && (
        <GroupDetails engine={engine} conversationKey={key} me={props.me} onChanged={() => { props.onChanged(); void load(); }} onLeft={props.onBack} />
      )}
      {request && (
        <div class="request-banner" role="region" aria-label="Message request">
          <strong>
            {request.state === "junk" ? "This looks like junk." : `${request.from} is not in your contacts.`}
          </strong>
          <span>They won't know you have seen this until you accept. Links are shown defanged.</span>
          <div class="actions">
            <button class="btn primary" onClick={() => void act("accept", "conversation", key)}>
              Accept
            </button>
            <button class="btn" onClick={() => void act("block", "handle", request.from)}>
              Block
            </button>
            <button class="btn danger" onClick={() => void act("report", "handle", request.from)}>
              Report junk
            </button>
            <button class="btn" onClick={() => void act("delete_request", "conversation", key)}>
              Delete
            </button>
          </div>
        </div>
      )}
      <div class="messages" ref={list} role="log" aria-label="Messages" tabIndex={0}>
        <div class="spacer" />
        {items}
      </div>
      <div class="sr-only" aria-live="polite">
        {announce}
      </div>
      <div class="typing" aria-live="polite">
        {typing ? `${typing.from} is typing…` : ""}
      </div>
      {error && (
        <p class="error" role="alert" style={{ padding: "0 16px" }}>
          {error}
          {askLinks && (
            <>
              {" "}
              <button class="btn" onClick={() => void send(draft, true)}>
                Send as download links
              </button>
            </>
          )}
        </p>
      )}
      {transfer && <TransferBar transfer={transfer} />}
      {!request && <AttachedList files={attached} onRemove={unattach} />}
      {viewing && <Viewer engine={engine} a={viewing} onClose={() => setViewing(null)} />}
      {!request && (
        <form
          class="composer"
          onSubmit={(e) => {
            e.preventDefault();
            void send(draft);
          }}
        >
          <input
            ref={picker}
            type="file"
            multiple
            hidden
            onChange={(e) => {
              void attach(e.currentTarget.files);
              e.currentTarget.value = "";
            }}
          />
          <button type="button" class="icon-btn attach" aria-label="Attach photos, videos or files" onClick={() => picker.current?.click()}>
            +
          </button>
          <label class="sr-only" for="composer">
            Message
          </label>
          <textarea
            id="composer"
            ref={composer}
            rows={1}
            placeholder={sms ? "SMS message" : "Message"}
            value={draft}
            onInput={(e) => onInput(e.currentTarget.value)}
            onPaste={(e) => {
              if (e.clipboardData?.files.length) {
                e.preventDefault();
                void attach(e.clipboardData.files);
              }
            }}
            onKeyDown={(e) => {
              if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
                e.preventDefault();
                void send(draft);
              }
            }}
          />
          <button class={`send ${sms ? "sms" : ""}`} type="submit" disabled={(!draft.trim() && !attached.length) || adding > 0}>
            Send
          </button>
        </form>
      )}
    </main>
  );
}
