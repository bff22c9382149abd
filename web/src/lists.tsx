// The conversation list and the Requests / Junk lists.
import type { Conversation, RequestSummary } from "./types";
import { initials, isPhone, listTime } from "./format";
import { useStoredFile } from "./engine";

export function title(c: { key: string; name?: string | null; title?: string | null; members: string[] }): string {
  if (c.key.startsWith("group:")) return c.title || c.members.join(", ") || "Group";
  return c.name || c.key;
}

/** A person's photo where there is one, else their initials. */
export function Avatar({ label, kind, photo }: { label: string; kind: "ip" | "sms" | "group"; photo?: string | null }) {
  const url = useStoredFile(photo, "image/*");
  return (
    <span class={`avatar ${kind === "ip" ? "" : kind}`} aria-hidden="true">
      {url ? <img src={url} alt="" /> : initials(label)}
    </span>
  );
}

export function ConversationList(props: {
  conversations: Conversation[];
  active: string | null;
  held: { requests: number; junk: number };
  onOpen: (key: string) => void;
  onRequests: (junk: boolean) => void;
}) {
  const inbox = props.conversations
    .filter((c) => c.state === "inbox" && !c.archived)
    .sort((a, b) => Number(b.pinned) - Number(a.pinned) || b.updated_at - a.updated_at);
  return (
    <nav aria-label="Conversations" class="list-wrap" style={{ display: "contents" }}>
      <ul class="list">
        {props.held.requests > 0 && (
          <li>
            <button class="row folder-row" onClick={() => props.onRequests(false)}>
              <span class="body">Message requests</span>
              <span class="badge">{props.held.requests}</span>
            </button>
          </li>
        )}
        {props.held.junk > 0 && (
          <li>
            <button class="row folder-row" onClick={() => props.onRequests(true)}>
              <span class="body">Junk</span>
              <span class="badge">{props.held.junk}</span>
            </button>
          </li>
        )}
        {inbox.length === 0 && (
          <li class="empty">No conversations yet. Start one with a phone number or e-mail address.</li>
        )}
        {inbox.map((c) => {
          const name = title(c);
          const group = c.key.startsWith("group:");
          const sms = !group && isPhone(c.key) && c.last_via.includes("sms");
          return (
            <li key={c.key}>
              <button
                class={`row ${props.active === c.key ? "active" : ""}`}
                aria-current={props.active === c.key ? "true" : undefined}
                onClick={() => props.onOpen(c.key)}
                aria-label={`${name}${c.unread ? `, ${c.unread} unread` : ""}${sms ? ", SMS" : ""}: ${c.last}`}
              >
                <Avatar label={name} kind={group ? "group" : sms ? "sms" : "ip"} photo={c.photo} />
                <span class="body">
                  <span class="line">
                    <span class="name">{name}</span>
                    {sms && <span class="tag">SMS</span>}
                    <span class="time">{listTime(c.updated_at)}</span>
                  </span>
                  <span class="line">
                    <span class="preview">{c.last}</span>
                    {c.unread > 0 && <span class="badge">{c.unread}</span>}
                  </span>
                </span>
              </button>
            </li>
          );
        })}
      </ul>
    </nav>
  );
}

const REASONS: Record<RequestSummary["reason"], string> = {
  unknown_sender: "Not in your contacts",
  likely_spam: "Looks like spam",
  campaign_match: "Part of a reported campaign",
};

export function RequestList(props: {
  junk: boolean;
  requests: RequestSummary[];
  onOpen: (key: string) => void;
}) {
  return (
    <ul class="list" aria-label={props.junk ? "Junk" : "Message requests"}>
      {props.requests.length === 0 && <li class="empty">{props.junk ? "No junk." : "No message requests."}</li>}
      {props.requests.map((r) => {
        const name = r.title || r.conversation;
        return (
          <li key={r.conversation}>
            <button class="row" onClick={() => props.onOpen(r.conversation)} aria-label={`${name}: ${r.last}`}>
              <Avatar label={name} kind={r.conversation.startsWith("group:") ? "group" : "ip"} />
              <span class="body">
                <span class="line">
                  <span class="name">{name}</span>
                  <span class="time">{listTime(r.updated_at)}</span>
                </span>
                <span class="line">
                  <span class="preview">{r.last}</span>
                </span>
                <span class="line">
                  <span class="preview">{REASONS[r.reason]}</span>
                </span>
              </span>
            </button>
          </li>
        );
      })}
    </ul>
  );
}
