//! Rate limits that hold across nodes, counted in Redis.
//!
//! Each node's in-memory limiters (`service::ratelimit`) count only what
//! that node saw, so three nodes would let a guesser try three times as
//! many codes. With `redis_url` set, the limiters count here instead: a
//! fixed window per key (one Lua script: read, refuse or count, so two
//! nodes cannot both take the last place), a GCRA token bucket for sends
//! (Redis's own clock, so nodes whose clocks differ agree), and spent
//! proofs of work (`SET NX`). A Redis that does not answer within
//! [`REDIS_LIMIT_TIMEOUT`] is skipped: the node's own limiters apply, and
//! the limits are per node until Redis is back.

use std::time::Duration;

use tokio::sync::Mutex;

/// Longest a limit check waits for Redis before counting locally.
pub const REDIS_LIMIT_TIMEOUT: Duration = Duration::from_millis(250);

/// Fixed window: KEYS[1] the counter; ARGV max, window (ms), and 1 to
/// count an event or 0 to look. Returns {count, ms until the window ends},
/// count -1 when the window is full.
const WINDOW: &str = r"
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then ttl = tonumber(ARGV[2]) end
if n >= tonumber(ARGV[1]) then return {-1, ttl} end
if ARGV[3] == '1' then
  n = redis.call('INCR', KEYS[1])
  if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
end
return {n, ttl}
";

/// GCRA: KEYS[1] the theoretical arrival time (ms); ARGV emission interval
/// (ms) and burst tolerance (ms). Returns 0 when allowed, else the ms to
/// wait.
const BUCKET: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local allow_at = tat - tolerance
if now < allow_at then return allow_at - now end
local new = tat + interval
redis.call('SET', KEYS[1], new, 'PX', math.max(1, new - now))
return 0
";

/// The limits' connection to Redis.
pub struct SharedLimits {
    client: redis::Client,
    conn: Mutex<Option<redis::aio::MultiplexedConnection>>,
    window: redis::Script,
    bucket: redis::Script,
}

/// What a window holds: events counted, and ms until it ends; `None` count
/// when full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Events counted (after this one, when counting); `None` when the
    /// window was full and nothing was counted.
    pub count: Option<u64>,
    /// Milliseconds until the window ends.
    pub resets_in_ms: u64,
}

impl SharedLimits {
    /// Limits counted in the Redis at `client`.
    pub fn new(client: redis::Client) -> SharedLimits {
        SharedLimits {
            client,
            conn: Mutex::new(None),
            window: redis::Script::new(WINDOW),
            bucket: redis::Script::new(BUCKET),
        }
    }

    async fn connection(&self) -> Option<redis::aio::MultiplexedConnection> {
        let mut conn = self.conn.lock().await;
        if conn.is_none() {
            *conn = tokio::time::timeout(
                REDIS_LIMIT_TIMEOUT,
                self.client.get_multiplexed_async_connection(),
            )
            .await
            .ok()
            .and_then(Result::ok);
        }
        conn.clone()
    }

    async fn forget_connection(&self) {
        *self.conn.lock().await = None;
    }

    /// Counts (`count`) or looks at an event in the fixed window `name` of
    /// `key`; `None` when Redis did not answer in time.
    pub async fn window(
        &self,
        name: &str,
        key: &str,
        max: u32,
        window_ms: u64,
        count: bool,
    ) -> Option<Window> {
        let mut c = self.connection().await?;
        let mut call = self.window.key(format!("tidings:limit:{name}:{key}"));
        call.arg(max)
            .arg(window_ms.max(1))
            .arg(if count { "1" } else { "0" });
        match tokio::time::timeout(REDIS_LIMIT_TIMEOUT, call.invoke_async::<(i64, i64)>(&mut c))
            .await
        {
            Ok(Ok((n, ttl))) => Some(Window {
                count: u64::try_from(n).ok(),
                resets_in_ms: u64::try_from(ttl).unwrap_or(0),
            }),
            failed => {
                if let Ok(Err(e)) = failed {
                    tracing::warn!(error = %e, limit = name, "Redis rate limit failed; counting locally");
                }
                self.forget_connection().await;
                None
            }
        }
    }

    /// Takes a token from the bucket `name` of `key` (`per_minute`, bursts
    /// of `burst`): `Some(0)` when allowed, `Some(ms)` to wait; `None` when
    /// Redis did not answer in time.
    pub async fn take(&self, name: &str, key: &str, per_minute: u32, burst: u32) -> Option<u64> {
        let mut c = self.connection().await?;
        let interval = 60_000 / u64::from(per_minute.max(1));
        let tolerance = interval * u64::from(burst.max(1) - 1);
        let mut call = self.bucket.key(format!("tidings:bucket:{name}:{key}"));
        call.arg(interval.max(1)).arg(tolerance);
        match tokio::time::timeout(REDIS_LIMIT_TIMEOUT, call.invoke_async::<i64>(&mut c)).await {
            Ok(Ok(wait)) => Some(u64::try_from(wait).unwrap_or(0)),
            _ => {
                self.forget_connection().await;
                None
            }
        }
    }

    /// Marks a proof of work spent for `ttl_ms`: `Some(true)` the first
    /// time on any node, `Some(false)` after; `None` when Redis did not
    /// answer in time.
    pub async fn spend(&self, challenge: &str, ttl_ms: u64) -> Option<bool> {
        let mut c = self.connection().await?;
        let mut cmd = redis::cmd("SET");
        cmd.arg(format!("tidings:pow:{challenge}"))
            .arg(1)
            .arg("NX")
            .arg("PX")
            .arg(ttl_ms.max(1));
        match tokio::time::timeout(
            REDIS_LIMIT_TIMEOUT,
            cmd.query_async::<Option<String>>(&mut c),
        )
        .await
        {
            Ok(Ok(set)) => Some(set.is_some()),
            _ => {
                self.forget_connection().await;
                None
            }
        }
    }
}
