//! Whether this node can serve, storage included.
//!
//! A process that answers HTTP but whose storage threads are wedged is not
//! healthy: a load balancer or supervisor must see it. So the check runs a
//! real read and a real (empty) write transaction through the same paths
//! that requests use, bounded in time.

use std::time::Duration;

use crate::store::StoreError;
use crate::App;

/// Longest a health check waits for storage before calling it unhealthy:
/// longer than SQLite's busy timeout (5 s), so that a database locked by
/// another process is reported as `busy` rather than as a `timeout`.
pub const HEALTH_TIMEOUT: Duration = Duration::from_secs(8);

/// The word `/v1/health` uses for a storage outcome.
pub fn storage_state(
    outcome: &Result<Result<(), StoreError>, tokio::time::error::Elapsed>,
) -> &'static str {
    match outcome {
        Ok(Ok(())) => "ok",
        Ok(Err(StoreError::Full)) => "full",
        Ok(Err(StoreError::Busy)) => "busy",
        Ok(Err(_)) => "failed",
        Err(_) => "timeout",
    }
}

/// The state of this node's storage, as `/v1/health` names it (`ok` when a
/// read and an empty write transaction both finish in time); logs failures.
pub async fn storage(app: &App) -> &'static str {
    let outcome = tokio::time::timeout(HEALTH_TIMEOUT, app.store.health()).await;
    let storage = storage_state(&outcome);
    if storage != "ok" {
        tracing::warn!(storage, "health check failed");
    }
    storage
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_storage_failure_is_named() {
        assert_eq!(storage_state(&Ok(Ok(()))), "ok");
        assert_eq!(storage_state(&Ok(Err(StoreError::Full))), "full");
        assert_eq!(storage_state(&Ok(Err(StoreError::Busy))), "busy");
        assert_eq!(storage_state(&Ok(Err(StoreError::Closed))), "failed");
    }
}
