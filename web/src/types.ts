// The shapes the engine answers with (serialised by tidings-client).

export type Folder = "inbox" | "request" | "junk";

export interface Status {
  signed_in: boolean;
  server: string;
  account?: number;
  device?: number;
  handles?: string[];
  name?: string | null;
}

export interface Conversation {
  key: string;
  members: string[];
  title: string | null;
  name: string | null;
  muted: boolean;
  archived: boolean;
  pinned: boolean;
  photo: string | null;
  messages: number;
  unread: number;
  updated_at: number;
  last: string;
  last_via: string;
  state: Folder;
}

export interface Attachment {
  row: number;
  name: string;
  content_type: string;
  size: number;
  /** Where the file is in the profile: sent, or received and saved. */
  path: string | null;
  /** `sent`, `pending`, `saved` or `failed: …`. */
  state: string;
  has_thumbnail: boolean;
  /** Base64 JPEG preview that travelled with the message. */
  thumbnail?: string | null;
  width: number | null;
  height: number | null;
  duration_ms: number | null;
}

export interface Message {
  conversation: string;
  from: string;
  id: string;
  outgoing: boolean;
  kind: string;
  body: string;
  sent_at: number;
  state: string;
  via: string;
  read_by: string[];
  delivered_to: string[];
  attachments: Attachment[];
  from_name: string | null;
  edited_at: number | null;
}

export interface RequestSummary {
  conversation: string;
  members: string[];
  title: string | null;
  from: string;
  state: Folder;
  reason: "unknown_sender" | "likely_spam" | "campaign_match";
  messages: number;
  unread: number;
  last: string;
  updated_at: number;
  reportable: boolean;
}
