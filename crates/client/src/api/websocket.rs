//! The delivery stream's WebSocket on either platform.
//!
//! Natively it is tokio-tungstenite over TCP (rustls for `wss://`); in the
//! web app's worker it is the browser's own WebSocket. Both carry text
//! frames only, and both `next_text` futures are cancel-safe (they read
//! from a queue), so a caller may `select!` on them.

use super::{network_error, ApiError};

#[cfg(not(target_arch = "wasm32"))]
pub(super) use native::Socket;
#[cfg(target_arch = "wasm32")]
pub(super) use web::Socket;

#[cfg(not(target_arch = "wasm32"))]
mod native {
    use super::{network_error, ApiError};
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;

    type Ws = tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >;

    /// A WebSocket connection to one server.
    pub struct Socket {
        ws: Ws,
        base: String,
    }

    impl Socket {
        /// Connects to `url` (`ws://` or `wss://`); `base` names the server
        /// in errors.
        pub async fn connect(url: &str, base: &str) -> Result<Socket, ApiError> {
            let (ws, _) = tokio_tungstenite::connect_async(url)
                .await
                .map_err(|e| network_error(base, e))?;
            Ok(Socket {
                ws,
                base: base.to_string(),
            })
        }

        /// Sends one text frame.
        pub async fn send_text(&mut self, text: String) -> Result<(), ApiError> {
            self.ws
                .send(Message::Text(text.into()))
                .await
                .map_err(|e| network_error(&self.base, e))
        }

        /// The next text frame; `None` once the connection closed.
        pub async fn next_text(&mut self) -> Result<Option<String>, ApiError> {
            loop {
                let Some(msg) = self.ws.next().await else {
                    return Ok(None);
                };
                match msg.map_err(|e| network_error(&self.base, e))? {
                    Message::Text(text) => return Ok(Some(text.to_string())),
                    Message::Close(_) => return Ok(None),
                    _ => continue,
                }
            }
        }

        /// Starts the closing handshake; frames sent before still arrive.
        pub async fn start_close(&mut self) {
            let _ = self.ws.close(None).await;
        }
    }
}

#[cfg(target_arch = "wasm32")]
mod web {
    use super::{network_error, ApiError};
    use futures_util::{SinkExt, StreamExt};
    use gloo_net::websocket::{futures::WebSocket, Message, WebSocketError};

    /// A browser WebSocket connection to one server.
    pub struct Socket {
        ws: Option<WebSocket>,
        base: String,
    }

    impl Socket {
        /// Opens a connection to `url`; it completes with the first send.
        pub async fn connect(url: &str, base: &str) -> Result<Socket, ApiError> {
            let ws = WebSocket::open(url).map_err(|e| network_error(base, e))?;
            Ok(Socket {
                ws: Some(ws),
                base: base.to_string(),
            })
        }

        fn ws(&mut self) -> Result<&mut WebSocket, ApiError> {
            self.ws.as_mut().ok_or_else(|| ApiError::Network {
                url: self.base.clone(),
                message: "the connection is closed".into(),
            })
        }

        /// Sends one text frame (waiting until the connection is open).
        pub async fn send_text(&mut self, text: String) -> Result<(), ApiError> {
            let base = self.base.clone();
            self.ws()?
                .send(Message::Text(text))
                .await
                .map_err(|e| network_error(&base, e))
        }

        /// The next text frame; `None` once the connection closed cleanly.
        pub async fn next_text(&mut self) -> Result<Option<String>, ApiError> {
            let base = self.base.clone();
            let Some(ws) = self.ws.as_mut() else {
                return Ok(None);
            };
            loop {
                match ws.next().await {
                    None => return Ok(None),
                    Some(Ok(Message::Text(text))) => return Ok(Some(text)),
                    Some(Ok(Message::Bytes(_))) => continue,
                    Some(Err(WebSocketError::ConnectionClose(e))) if e.was_clean => {
                        return Ok(None)
                    }
                    Some(Err(e)) => return Err(network_error(&base, e)),
                }
            }
        }

        /// Starts the closing handshake: the browser sends what was queued
        /// before, then the close frame.
        pub async fn start_close(&mut self) {
            if let Some(ws) = self.ws.take() {
                let _ = ws.close(None, None);
            }
        }
    }
}
