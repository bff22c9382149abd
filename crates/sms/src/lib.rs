//! SMS for Tidings: the gateway interface the server sends through, the
//! built-in simulated carrier that makes SMS work on one laptop, and the
//! GSM 03.38 / UCS-2 encoding that real carriers need.

pub mod carrier;
pub mod encoding;
#[cfg(feature = "dev")]
pub mod fakesmsc;
pub mod gateway;
pub mod inbox;
pub mod kannel;

pub use carrier::SimulatedCarrier;
pub use gateway::{GatewayError, OutboundSms, SmsGateway};
pub use inbox::{InboxMessage, Inboxes};
pub use kannel::{DlrStatus, KannelConfig, KannelGateway};
