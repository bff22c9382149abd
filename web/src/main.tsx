import { render } from "preact";
import "./style.css";
import { App } from "./app";
import { EngineClient, EngineContext } from "./engine";

const engine = new EngineClient();
render(
  <EngineContext.Provider value={engine}>
    <App engine={engine} />
  </EngineContext.Provider>,
  document.getElementById("app")!,
);

// The service worker keeps the app shell for opening with no network.
if ("serviceWorker" in navigator) {
  navigator.serviceWorker.register("/sw.js").catch((e) => console.warn("no offline app shell:", e));
}
