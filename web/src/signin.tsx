// Sign-up and sign-in: a handle, then the code, then (new accounts) a name.
import { useEffect, useRef, useState } from "preact/hooks";
import { EngineClient, message } from "./engine";
import type { Status } from "./types";

type Step = { at: "handle" } | { at: "code"; handle: string; shown: string } | { at: "name"; handle: string; code: string };

function deviceName(): string {
  const ua = navigator.userAgent;
  const browser = /Edg\//.test(ua) ? "Edge" : /Firefox\//.test(ua) ? "Firefox" : /Chrome\//.test(ua) ? "Chrome" : /Safari\//.test(ua) ? "Safari" : "Browser";
  const os = /Android/.test(ua) ? "Android" : /iPhone|iPad/.test(ua) ? "iOS" : /Windows/.test(ua) ? "Windows" : /Mac OS/.test(ua) ? "macOS" : /Linux/.test(ua) ? "Linux" : "";
  return os ? `${browser} on ${os}` : browser;
}

export function SignIn({ engine, onSignedIn }: { engine: EngineClient; onSignedIn: (s: Status) => void }) {
  const [step, setStep] = useState<Step>({ at: "handle" });
  const [value, setValue] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState("");
  const [work, setWork] = useState<number | null>(null);
  const [resendIn, setResendIn] = useState(0);
  const input = useRef<HTMLInputElement>(null);

  const [devCarrier, setDevCarrier] = useState(false);
  useEffect(() => input.current?.focus(), [step.at]);
  // A development server shows its simulated carrier's inboxes at
  // /carrier (to this machine only, unless --dev): say where codes arrive.
  useEffect(() => {
    fetch("/carrier", { method: "HEAD" })
      .then((r) => setDevCarrier(r.ok))
      .catch(() => {});
  }, []);
  useEffect(
    () =>
      engine.on((e) => {
        if (e.event === "pow") setWork(Math.min(1, e.tried / e.expected));
      }),
    [],
  );
  useEffect(() => {
    if (resendIn <= 0) return;
    const t = setTimeout(() => setResendIn(resendIn - 1), 1000);
    return () => clearTimeout(t);
  }, [resendIn]);

  async function sendCode(handle: string) {
    setBusy(true);
    setError("");
    setWork(null);
    try {
      const sent = await engine.call<{ handle: string }>({ cmd: "request_code", handle });
      setStep({ at: "code", handle, shown: sent.handle });
      setValue("");
      setResendIn(30);
    } catch (e) {
      setError(message(e));
    } finally {
      setBusy(false);
      setWork(null);
    }
  }

  async function useCode(handle: string, code: string) {
    setBusy(true);
    setError("");
    try {
      // An existing account signs in; a new one goes on to choose a name.
      const status = await engine.call<Status>({ cmd: "login", handle, code, device: deviceName() });
      onSignedIn(status);
    } catch (e: any) {
      if (e?.error === "not_found") {
        setStep({ at: "name", handle, code });
        setValue("");
      } else {
        setError(message(e));
      }
    } finally {
      setBusy(false);
    }
  }

  async function register(handle: string, code: string, name: string) {
    setBusy(true);
    setError("");
    try {
      const status = await engine.call<Status>({
        cmd: "register",
        handle,
        code,
        name: name.trim() || null,
        device: deviceName(),
      });
      onSignedIn(status);
    } catch (e) {
      setError(message(e));
    } finally {
      setBusy(false);
    }
  }

  function submit(ev: Event) {
    ev.preventDefault();
    if (busy) return;
    if (step.at === "handle") void sendCode(value.trim());
    else if (step.at === "code") void useCode(step.handle, value.trim());
    else void register(step.handle, step.code, value);
  }

  return (
    <main class="signin">
      <form class="signin-card" onSubmit={submit} aria-labelledby="signin-title">
        <img class="logo" src="/icon.svg" alt="" />
        {step.at === "handle" && (
          <>
            <h1 id="signin-title">Tidings</h1>
            <p>Messages and SMS in one place, end-to-end encrypted between Tidings users.</p>
            <label for="handle">Phone number or e-mail</label>
            <input
              id="handle"
              ref={input}
              class="field"
              type="text"
              inputMode="email"
              autoComplete="username"
              placeholder="+44 7700 900123 or you@example.org"
              value={value}
              onInput={(e) => setValue(e.currentTarget.value)}
              required
            />
            <button class="btn primary progress" type="submit" disabled={busy || !value.trim()}>
              {work !== null && <span class="bar" style={{ width: `${Math.round(work * 100)}%` }} />}
              <span>{work !== null ? "Checking this browser…" : busy ? "Sending…" : "Send code"}</span>
            </button>
          </>
        )}
        {step.at === "code" && (
          <>
            <h1 id="signin-title">Enter the code</h1>
            <p>We sent a code to {step.shown}.</p>
            {devCarrier && (
              <p>
                Development server: the code is in the simulated carrier's inbox at{" "}
                <a href="/carrier" target="_blank" rel="noopener">
                  /carrier
                </a>
                .
              </p>
            )}
            <label for="code">Code</label>
            <input
              id="code"
              ref={input}
              class="field code-input"
              type="text"
              inputMode="numeric"
              autoComplete="one-time-code"
              pattern="[0-9]*"
              maxLength={6}
              value={value}
              onInput={(e) => {
                const v = e.currentTarget.value.replace(/\D/g, "").slice(0, 6);
                setValue(v);
                if (v.length === 6 && !busy) void useCode(step.handle, v);
              }}
              required
            />
            <button class="btn primary" type="submit" disabled={busy || value.length < 6}>
              {busy ? "Checking…" : "Continue"}
            </button>
            <button class="link" type="button" disabled={resendIn > 0 || busy} onClick={() => void sendCode(step.handle)}>
              {resendIn > 0 ? `Resend code in ${resendIn} s` : "Resend code"}
            </button>
            <button class="link" type="button" onClick={() => { setStep({ at: "handle" }); setValue(step.handle); setError(""); }}>
              Wrong number or address?
            </button>
          </>
        )}
        {step.at === "name" && (
          <>
            <h1 id="signin-title">Your name</h1>
            <p>People you write to see it. You can leave it empty.</p>
            <label for="name">Display name</label>
            <input
              id="name"
              ref={input}
              class="field"
              type="text"
              autoComplete="name"
              maxLength={64}
              value={value}
              onInput={(e) => setValue(e.currentTarget.value)}
            />
            <button class="btn primary" type="submit" disabled={busy}>
              {busy ? "Creating your account…" : "Start messaging"}
            </button>
          </>
        )}
        <p class="error" role="alert">{error}</p>
      </form>
    </main>
  );
}
