// Times, days and labels as a messenger shows them, in the browser's zone.

const DAY = 86_400_000;

function startOfDay(ms: number): number {
  const d = new Date(ms);
  d.setHours(0, 0, 0, 0);
  return d.getTime();
}

/** "14:02" */
export function clock(ms: number): string {
  return new Date(ms).toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
}

/** A day separator: Today, Yesterday, a weekday this week, else a date. */
export function dayLabel(ms: number, now = Date.now()): string {
  const days = Math.round((startOfDay(now) - startOfDay(ms)) / DAY);
  if (days === 0) return "Today";
  if (days === 1) return "Yesterday";
  if (days > 1 && days < 7) return new Date(ms).toLocaleDateString(undefined, { weekday: "long" });
  return new Date(ms).toLocaleDateString(undefined, { day: "numeric", month: "long", year: "numeric" });
}

/** The list's time: a clock today, a weekday this week, else a short date. */
export function listTime(ms: number, now = Date.now()): string {
  if (!ms) return "";
  const days = Math.round((startOfDay(now) - startOfDay(ms)) / DAY);
  if (days === 0) return clock(ms);
  if (days === 1) return "Yesterday";
  if (days > 1 && days < 7) return new Date(ms).toLocaleDateString(undefined, { weekday: "short" });
  return new Date(ms).toLocaleDateString(undefined, { day: "numeric", month: "short" });
}

export function sameDay(a: number, b: number): boolean {
  return startOfDay(a) === startOfDay(b);
}

/** What the state line under our last message says. */
export function stateLabel(m: { state: string; via: string; read_by: string[] }, at?: number): string {
  const s = m.state;
  if (s.startsWith("failed")) return "Failed — tap to retry";
  if (s === "waiting" || s === "queued") return "Waiting for connection…";
  if (s === "sending") return "Sending…";
  if (m.via === "sms") return "Sent as SMS";
  if (s === "read") return at ? `Read ${clock(at)}` : "Read";
  if (s === "delivered") return "Delivered";
  return "Sent";
}

export function initials(name: string): string {
  // A number without a name: its last two digits tell numbers apart.
  if (/^\+?[\d\s()-]+$/.test(name)) return name.replace(/\D/g, "").slice(-2);
  const letters = name
    .replace(/^\+/, "")
    .split(/[\s@._-]+/)
    .filter(Boolean)
    .slice(0, 2)
    .map((w) => [...w][0]?.toUpperCase() ?? "");
  return letters.join("") || "?";
}

export function isPhone(handle: string): boolean {
  return handle.startsWith("+");
}
