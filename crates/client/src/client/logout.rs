//! Logging out: the server removes this device (its token stops working,
//! its stream is closed and its queue dropped), then the profile forgets
//! the credentials and the local store.
//!
//! A logout that only deleted local files would leave a working token
//! behind (in backups, in a copied profile), so when the server cannot be
//! reached nothing is deleted unless the user insists (`force`), and then
//! they are told the device stays registered.

use serde::Serialize;

use tidings_proto::DeviceId;

use super::{Client, ClientError};
use crate::api::ApiError;

/// What a logout did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum LoggedOut {
    /// The server removed this device; the local data is deleted.
    Removed {
        /// The removed device.
        device: DeviceId,
    },
    /// The server no longer knew this device's token (it was removed from
    /// another device); the local data is deleted.
    AlreadyRemoved {
        /// The device.
        device: DeviceId,
    },
    /// The server could not remove the device and the user forced the
    /// logout: the local data is deleted but the device stays registered
    /// (and its token valid) until another device removes it.
    LocalOnly {
        /// The device that stays registered.
        device: DeviceId,
        /// Why the server did not remove it.
        error: String,
    },
}

/// Decides, from the server's answer to removing this device, whether the
/// local data may go. Only a removal (or a server that already forgot the
/// token) makes the logout real; anything else refuses unless `force`.
pub fn after_removal(
    answer: Result<(), ApiError>,
    device: DeviceId,
    force: bool,
) -> Result<LoggedOut, ClientError> {
    match answer {
        Ok(()) => Ok(LoggedOut::Removed { device }),
        Err(ApiError::Server { status: 401, .. }) => Ok(LoggedOut::AlreadyRemoved { device }),
        Err(e) if force => Ok(LoggedOut::LocalOnly {
            device,
            error: e.to_string(),
        }),
        Err(e) => Err(ClientError::Usage(format!(
            "not signed out: the server did not remove this device ({e}); nothing was deleted. \
             Try again when the server is reachable, or run `tidings logout --force` to delete \
             this profile's data anyway (device {device} then stays registered, and its token \
             valid, until you remove it from another device with `tidings devices remove {device}`)"
        ))),
    }
}

impl Client {
    /// Removes this device on the server, then deletes the profile's
    /// credentials and local store. When the server does not remove it,
    /// nothing is deleted unless `force` (see [`LoggedOut::LocalOnly`]).
    pub async fn logout(self, force: bool) -> Result<LoggedOut, ClientError> {
        let device = self.creds.device;
        let answer = self.api.remove_device(device).await;
        let outcome = after_removal(answer, device, force)?;
        let Client { profile, local, .. } = self;
        // Close the local store before its files go.
        drop(local);
        profile.clear()?;
        Ok(outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(status: u16) -> ApiError {
        ApiError::Server {
            status,
            body: Box::new(tidings_proto::api::ErrorBody {
                error: tidings_proto::ErrorCode::Unknown,
                message: "x".into(),
                mismatches: Vec::new(),
                not_registered: Vec::new(),
                retry_after_secs: None,
                pow: None,
            }),
        }
    }

    fn offline() -> ApiError {
        ApiError::Network {
            url: "http://127.0.0.1:1".into(),
            message: "connection refused".into(),
        }
    }

    fn three() -> DeviceId {
        DeviceId::from(3u32)
    }

    #[test]
    fn only_a_removal_on_the_server_signs_out_unless_forced() {
        assert_eq!(
            after_removal(Ok(()), three(), false).expect("removed"),
            LoggedOut::Removed { device: three() }
        );
        assert_eq!(
            after_removal(Err(server(401)), three(), false).expect("gone already"),
            LoggedOut::AlreadyRemoved { device: three() }
        );
        for e in [offline(), server(500), server(503)] {
            let refused = after_removal(Err(e), three(), false).expect_err("refused");
            let text = refused.to_string();
            assert!(text.contains("nothing was deleted"), "{text}");
            assert!(text.contains("--force"), "{text}");
        }
        match after_removal(Err(offline()), three(), true).expect("forced") {
            LoggedOut::LocalOnly { device, error } => {
                assert_eq!(device, three());
                assert!(error.contains("cannot reach"), "{error}");
            }
            other => panic!("{other:?}"),
        }
    }
}
