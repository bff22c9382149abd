//! Connections: accepting them, bounding how many one client holds, and
//! closing those that are slow or idle.
//!
//! `axum::serve` has no header read timeout and no connection cap, so a few
//! thousand half-sent requests (slowloris) used to hold every file
//! descriptor. This module is the accept loop instead. Every connection is
//! counted against `max_connections` and `max_connections_per_address`
//! before anything is read from it (refused connections are closed at
//! once); its request head must arrive within `header_read_timeout_secs`;
//! its answer must start within `request_timeout_secs` (see [`deadline`]);
//! and a connection that moves no byte for `idle_timeout_secs` is closed.
//! The count follows the socket, so a delivery stream (an upgraded
//! connection) stays counted until it closes.
//!
//! Only HTTP/1.1 is spoken: HTTP/2 without TLS (h2c) is refused by the
//! parser, because in production a TLS-terminating proxy in front speaks
//! HTTP/2 to clients and HTTP/1.1 here (see ARCHITECTURE.md).

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::time::Instant;
use tower_service::Service;

use crate::error::ApiError;
use crate::Config;

/// File descriptors kept free for the database, attachment files and
/// outgoing connections when `max_connections` is fitted to the process's
/// open-file limit.
pub const RESERVED_FILES: u64 = 128;

/// Shortest pause after an accept error that is not about one connection
/// (such as running out of file descriptors); it doubles while errors last.
pub const ACCEPT_BACKOFF_MIN: Duration = Duration::from_millis(10);
/// Longest pause after accept errors.
pub const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);

/// Refused connections are summarised in the log at most this often.
pub const REFUSAL_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// The connection limits in force, taken from [`Config`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// `header_read_timeout_secs`.
    pub header_read_timeout: Duration,
    /// `idle_timeout_secs`.
    pub idle_timeout: Duration,
    /// `max_header_bytes`.
    pub max_header_bytes: usize,
    /// `max_connections`, fitted to the open-file limit.
    pub max_connections: usize,
    /// `max_connections_per_address`; `None` behind a trusted proxy.
    pub max_per_address: Option<usize>,
}

impl ConnectionLimits {
    /// The limits of `config`, with `max_connections` lowered to fit
    /// `open_files` (the process's open-file limit, when known).
    pub fn new(config: &Config, open_files: Option<u64>) -> ConnectionLimits {
        ConnectionLimits {
            header_read_timeout: config.header_read_timeout(),
            idle_timeout: config.idle_timeout(),
            max_header_bytes: config.connections.max_header_bytes,
            max_connections: fit_to_open_files(config.connections.max_connections, open_files),
            // Behind a proxy every connection comes from the proxy's
            // address; counting them per address would starve everyone.
            max_per_address: (!config.connections.trust_forwarded_for)
                .then_some(config.connections.max_connections_per_address),
        }
    }
}

/// `max_connections`, lowered so that connections cannot use up the
/// descriptors the server needs for everything else.
pub fn fit_to_open_files(max_connections: usize, open_files: Option<u64>) -> usize {
    let Some(limit) = open_files else {
        return max_connections;
    };
    let room = usize::try_from(limit.saturating_sub(RESERVED_FILES)).unwrap_or(usize::MAX);
    if room >= max_connections {
        return max_connections;
    }
    let fitted = room.max(1);
    tracing::warn!(
        max_connections,
        open_file_limit = limit,
        fitted,
        "max_connections is above the open-file limit; serving at most {fitted} connections (raise `ulimit -n` or LimitNOFILE)"
    );
    fitted
}

/// The soft open-file limit of this process, where the system says it.
pub fn open_file_limit() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    parse_open_file_limit(&text)
}

/// The soft limit on the `Max open files` line of `/proc/self/limits`.
fn parse_open_file_limit(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// What connections from one client count against: an IPv4 address, or
/// the /64 of an IPv6 address (one subscriber's usual allocation, so a
/// client cannot multiply its share by picking addresses in its own
/// network). IPv4 addresses mapped into IPv6 count as IPv4.
pub fn address_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// `max_connections` are open.
    Total,
    /// `max_connections_per_address` are open from this client.
    PerAddress,
}

impl Refused {
    fn limit(self) -> &'static str {
        match self {
            Refused::Total => "max_connections",
            Refused::PerAddress => "max_connections_per_address",
        }
    }
}

#[derive(Default)]
struct Counts {
    total: usize,
    per_address: HashMap<IpAddr, usize>,
}

/// Counts open connections, in total and per client.
pub struct Tracker {
    counts: Mutex<Counts>,
    max_total: usize,
    max_per_address: Option<usize>,
}

/// One counted connection; dropping it (with the socket) frees its place.
pub struct Permit {
    tracker: Arc<Tracker>,
    key: IpAddr,
}

impl Tracker {
    /// A tracker allowing `max_total` connections, at most
    /// `max_per_address` from one client (`None`: no per-client limit).
    pub fn new(max_total: usize, max_per_address: Option<usize>) -> Arc<Tracker> {
        Arc::new(Tracker {
            counts: Mutex::new(Counts::default()),
            max_total,
            max_per_address,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Counts> {
        self.counts
            .lock()
            .expect("connection counts are never poisoned")
    }

    /// Counts a new connection from `ip`, or says which limit refuses it.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Permit, Refused> {
        let key = address_key(ip);
        let mut counts = self.lock();
        if counts.total >= self.max_total {
            return Err(Refused::Total);
        }
        let from_here = counts.per_address.get(&key).copied().unwrap_or(0);
        if self.max_per_address.is_some_and(|max| from_here >= max) {
            return Err(Refused::PerAddress);
        }
        counts.total += 1;
        counts.per_address.insert(key, from_here + 1);
        Ok(Permit {
            tracker: self.clone(),
            key,
        })
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.lock().total
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut counts = self.tracker.lock();
        counts.total = counts.total.saturating_sub(1);
        if let Some(n) = counts.per_address.get_mut(&self.key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                counts.per_address.remove(&self.key);
            }
        }
    }
}

/// Refusals since the last log line, so a flood of them costs one warning
/// per [`REFUSAL_LOG_INTERVAL`] rather than one per connection.
#[derive(Default)]
struct Refusals {
    since_log: u64,
    last_log: Option<Instant>,
}

impl Refusals {
    fn record(&mut self, refused: Refused, peer: IpAddr) {
        tracing::debug!(%peer, limit = refused.limit(), "connection refused");
        self.since_log += 1;
        let now = Instant::now();
        if self
            .last_log
            .is_none_or(|at| now.duration_since(at) >= REFUSAL_LOG_INTERVAL)
        {
            tracing::warn!(
                refused = self.since_log,
                limit = refused.limit(),
                %peer,
                "connections refused over a connection limit"
            );
            self.since_log = 0;
            self.last_log = Some(now);
        }
    }
}

/// How long to pause after accept errors: not at all for errors about one
/// connection (it was reset before we took it), growing pauses for errors
/// about the server (out of file descriptors or memory), so that the loop
/// does not spin while they last.
#[derive(Debug, Default)]
pub struct AcceptBackoff {
    next: Option<Duration>,
}

impl AcceptBackoff {
    /// The pause after `error`, if one is needed.
    pub fn after(&mut self, error: &io::Error) -> Option<Duration> {
        use io::ErrorKind::*;
        if matches!(
            error.kind(),
            ConnectionAborted | ConnectionReset | ConnectionRefused | Interrupted
        ) {
            return None;
        }
        let pause = self.next.unwrap_or(ACCEPT_BACKOFF_MIN);
        self.next = Some((pause * 2).min(ACCEPT_BACKOFF_MAX));
        Some(pause)
    }

    /// A connection was accepted: the next error starts short again.
    pub fn reset(&mut self) {
        self.next = None;
    }
}

/// A source of connections (a TCP listener; tests substitute one).
pub trait Accept: Send {
    /// The connection's byte stream.
    type Io: AsyncRead + AsyncWrite + Unpin + Send + 'static;
    /// The next connection and its peer's address.
    fn accept(&mut self) -> impl Future<Output = io::Result<(Self::Io, SocketAddr)>> + Send;
}

impl Accept for TcpListener {
    type Io = TcpStream;

    async fn accept(&mut self) -> io::Result<(TcpStream, SocketAddr)> {
        let (stream, peer) = TcpListener::accept(self).await?;
        // Small frames (acks, pushed envelopes) go out at once.
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY");
        }
        Ok((stream, peer))
    }
}

/// When a connection last moved a byte, as milliseconds since `base`.
struct Activity {
    base: Instant,
    last_ms: AtomicU64,
}

impl Activity {
    fn new() -> Arc<Activity> {
        Arc::new(Activity {
            base: Instant::now(),
            last_ms: AtomicU64::new(0),
        })
    }

    fn touch(&self) {
        let ms = u64::try_from(self.base.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    fn last(&self) -> Instant {
        self.base + Duration::from_millis(self.last_ms.load(Ordering::Relaxed))
    }
}

/// A connection's socket with its place in the [`Tracker`] and a record
/// of when it last moved a byte. The permit lives as long as the socket,
/// including after an upgrade to a WebSocket.
struct Counted<I> {
    inner: I,
    activity: Arc<Activity>,
    _permit: Permit,
}

impl<I: AsyncRead + Unpin> AsyncRead for Counted<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.touch();
        }
        polled
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Counted<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Serves `router` on connections from `listener` until `shutdown`
/// completes, then stops accepting, lets open requests finish and returns
/// once every connection task has ended. Handlers see the peer's address
/// as `ConnectInfo<SocketAddr>`.
pub async fn serve<L: Accept>(
    mut listener: L,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send,
) {
    let tracker = Tracker::new(limits.max_connections, limits.max_per_address);
    let limits = Arc::new(limits);
    // Connection tasks watch `stop`, and each holds a `done` receiver: when
    // all are dropped, every connection has ended.
    let (stop_tx, stop_rx) = watch::channel(false);
    let (done_tx, done_rx) = watch::channel(());
    let mut backoff = AcceptBackoff::default();
    let mut refusals = Refusals::default();
    let mut shutdown = std::pin::pin!(shutdown);
    'accepting: loop {
        let accepted = tokio::select! {
            biased;
            () = &mut shutdown => break 'accepting,
            accepted = listener.accept() => accepted,
        };
        let (io, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                let Some(pause) = backoff.after(&e) else {
                    tracing::debug!(error = %e, "a connection failed before it was accepted");
                    continue;
                };
                if pause == ACCEPT_BACKOFF_MIN {
                    tracing::warn!(error = %e, "cannot accept connections; pausing");
                }
                tokio::select! {
                    biased;
                    () = &mut shutdown => break 'accepting,
                    () = tokio::time::sleep(pause) => continue,
                }
            }
        };
        backoff.reset();
        let permit = match tracker.admit(peer.ip()) {
            Ok(permit) => permit,
            Err(refused) => {
                refusals.record(refused, peer.ip());
                drop(io);
                continue;
            }
        };
        let io = Counted {
            inner: io,
            activity: Activity::new(),
            _permit: permit,
        };
        tokio::spawn(connection(
            io,
            peer,
            router.clone(),
            limits.clone(),
            stop_rx.clone(),
            done_rx.clone(),
        ));
    }
    stop_tx.send_replace(true);
    drop(listener);
    drop(done_rx);
    done_tx.closed().await;
}

/// Serves one connection until it closes, times out or the server stops.
async fn connection<I>(
    io: Counted<I>,
    peer: SocketAddr,
    router: Router,
    limits: Arc<ConnectionLimits>,
    mut stop: watch::Receiver<bool>,
    _done: watch::Receiver<()>,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let activity = io.activity.clone();
    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
        let mut request = request.map(axum::body::Body::new);
        request.extensions_mut().insert(ConnectInfo(peer));
        // Routers are always ready, and a clone is cheap (shared routes).
        router.clone().call(request)
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        // hyper starts this timer whenever it waits for a request head,
        // so it also closes kept-alive connections that send nothing.
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(limits.max_header_bytes)
        .keep_alive(true);
    let conn = builder
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades();
    let mut conn = std::pin::pin!(conn);
    let idle = limits.idle_timeout;
    let mut idle_check = std::pin::pin!(tokio::time::sleep(idle));
    let mut stopping = false;
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                }
                return;
            }
            _ = stop.changed(), if !stopping => {
                stopping = true;
                conn.as_mut().graceful_shutdown();
            }
            () = &mut idle_check => {
                let due = activity.last() + idle;
                if Instant::now() >= due {
                    tracing::debug!(%peer, "idle connection closed (idle_timeout_secs)");
                    return;
                }
                idle_check.as_mut().reset(due);
            }
        }
    }
}

/// Middleware: a request must be answered within `request_timeout_secs` of
/// its head, body included; otherwise `408 request_timeout` and the
/// connection closes. (Streamed answer bodies are bounded by the idle
/// timeout instead.)
pub async fn deadline(State(limit): State<Duration>, request: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::RequestTimeout {
            secs: limit.as_secs(),
        }
        .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn addresses_count_per_ipv4_address_and_ipv6_slash_64() {
        assert_eq!(address_key(ip("192.0.2.7")), ip("192.0.2.7"));
        assert_ne!(address_key(ip("192.0.2.7")), address_key(ip("192.0.2.8")));
        assert_eq!(
            address_key(ip("2001:db8:1:2:aaaa::1")),
            address_key(ip("2001:db8:1:2:bbbb::9"))
        );
        assert_ne!(
            address_key(ip("2001:db8:1:2::1")),
            address_key(ip("2001:db8:1:3::1"))
        );
        assert_eq!(address_key(ip("::ffff:192.0.2.7")), ip("192.0.2.7"));
    }

    #[test]
    fn per_address_and_total_caps_and_release() {
        let t = Tracker::new(3, Some(2));
        let a1 = t.admit(ip("192.0.2.1")).expect("first");
        let _a2 = t.admit(ip("192.0.2.1")).expect("second");
        assert_eq!(
            t.admit(ip("192.0.2.1")).err(),
            Some(Refused::PerAddress),
            "third from one address"
        );
        // Another address in the same IPv6 /64 is the same client.
        let _b1 = t.admit(ip("2001:db8::1")).expect("other client");
        assert_eq!(t.admit(ip("192.0.2.9")).err(), Some(Refused::Total));
        drop(a1);
        assert_eq!(t.open(), 2);
        let _a3 = t.admit(ip("192.0.2.1")).expect("a place was freed");
        assert_eq!(t.admit(ip("2001:db8::2")).err(), Some(Refused::Total));
        let unlimited = Tracker::new(10, None);
        let held: Vec<_> = (0..10)
            .map(|_| unlimited.admit(ip("10.0.0.1")).expect("no per-address cap"))
            .collect();
        assert_eq!(unlimited.open(), held.len());
        drop(held);
        assert_eq!(unlimited.open(), 0);
        assert!(unlimited.lock().per_address.is_empty(), "no entry is kept");
    }

    #[test]
    fn accept_errors_about_the_server_back_off() {
        let mut b = AcceptBackoff::default();
        let emfile = io::Error::from_raw_os_error(24);
        let reset = io::Error::from(io::ErrorKind::ConnectionAborted);
        assert_eq!(b.after(&reset), None);
        assert_eq!(b.after(&emfile), Some(ACCEPT_BACKOFF_MIN));
        assert_eq!(b.after(&emfile), Some(ACCEPT_BACKOFF_MIN * 2));
        for _ in 0..20 {
            b.after(&emfile);
        }
        assert_eq!(b.after(&emfile), Some(ACCEPT_BACKOFF_MAX));
        b.reset();
        assert_eq!(b.after(&emfile), Some(ACCEPT_BACKOFF_MIN));
    }

    /// A listener that fails as if out of file descriptors.
    struct OutOfFiles {
        calls: Arc<AtomicU64>,
    }

    impl Accept for OutOfFiles {
        type Io = tokio::io::DuplexStream;

        async fn accept(&mut self) -> io::Result<(Self::Io, SocketAddr)> {
            self.calls.fetch_add(1, Ordering::Relaxed);
            tokio::task::yield_now().await;
            Err(io::Error::from_raw_os_error(24))
        }
    }

    #[tokio::test]
    async fn the_accept_loop_does_not_spin_when_out_of_files() {
        let calls = Arc::new(AtomicU64::new(0));
        let limits = ConnectionLimits::new(&Config::default(), None);
        let listener = OutOfFiles {
            calls: calls.clone(),
        };
        let window = Duration::from_millis(300);
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let served = tokio::spawn(serve(listener, Router::new(), limits, async {
            let _ = stop_rx.await;
        }));
        tokio::time::sleep(window).await;
        let seen = calls.load(Ordering::Relaxed);
        let _ = stop_tx.send(());
        tokio::time::timeout(Duration::from_secs(5), served)
            .await
            .expect("stops while backing off")
            .expect("serve task");
        // Pauses of 10, 20, 40, 80 and 160 ms fit in 300 ms at most: at
        // most six attempts, however busy the machine.
        assert!(seen <= 6, "{seen} accept attempts in {window:?}");
        assert!(seen >= 1);
    }

    #[test]
    fn open_file_limit_is_read_and_respected() {
        let text = "Limit                     Soft Limit           Hard Limit           Units\n\
                    Max cpu time              unlimited            unlimited            seconds\n\
                    Max open files            1024                 524288               files\n";
        assert_eq!(parse_open_file_limit(text), Some(1024));
        assert_eq!(
            parse_open_file_limit("Max open files  unlimited unlimited files\n"),
            None
        );
        assert_eq!(
            fit_to_open_files(10_000, Some(1024)),
            1024 - RESERVED_FILES as usize
        );
        assert_eq!(fit_to_open_files(500, Some(1024)), 500);
        assert_eq!(fit_to_open_files(500, None), 500);
        assert_eq!(fit_to_open_files(500, Some(10)), 1);
    }
}
