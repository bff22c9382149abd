// A safety number: digits to read aloud and a QR code to scan in person;
// once compared, the person marks it verified.
import { useEffect, useState } from "preact/hooks";
import { EngineClient, message } from "./engine";

interface Safety {
  handle: string;
  safety_number: string;
  verified: boolean;
  qr_svg: string;
}

export function SafetyNumber(props: { engine: EngineClient; handle: string; name: string }) {
  const [safety, setSafety] = useState<Safety | null>(null);
  const [error, setError] = useState("");

  async function load(mark = false) {
    setError("");
    try {
      setSafety(await props.engine.call<Safety>({ cmd: "safety", handle: props.handle, mark }));
    } catch (e) {
      setError(message(e));
    }
  }
  useEffect(() => {
    void load();
  }, [props.handle]);

  if (!safety) return <div class="settings">{error || "Working out the safety number…"}</div>;
  const groups = safety.safety_number.split(" ");
  const lines = [];
  for (let i = 0; i < groups.length; i += 4) lines.push(groups.slice(i, i + 4).join(" "));
  return (
    <div class="settings safety-panel" role="region" aria-label="Safety number" tabIndex={0}>
      <h3>Safety number with {props.name}</h3>
      <p class="sub">
        Compare these digits with {props.name}'s, in person or on a call, or scan the code on their screen. If they match, nobody is
        listening in between.
      </p>
      <div class="safety-grid">
        <img class="qr" alt={`QR code of the safety number with ${props.name}`} src={`data:image/svg+xml;utf8,${encodeURIComponent(safety.qr_svg)}`} />
        <p class="safety" aria-label={`Safety number: ${safety.safety_number}`}>
          {lines.map((l) => (
            <span key={l}>
              {l}
              <br />
            </span>
          ))}
        </p>
      </div>
      {safety.verified ? (
        <p class="verified">✓ Verified</p>
      ) : (
        <button class="btn primary" onClick={() => void load(true)}>
          Mark as verified
        </button>
      )}
      <p class="error" role="alert">
        {error}
      </p>
    </div>
  );
}
