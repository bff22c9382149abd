import { render } from "preact";
import "./style.css";
import { App } from "./app";
import { EngineClient } from "./engine";

render(<App engine={new EngineClient()} />, document.getElementById("app")!);
