//! `tidings bench`: a load generator over the real protocol.
//!
//! It registers N accounts (one device each) through the development
//! outbox, opens a delivery stream per device, sends M messages round-robin
//! from each device to the next with a bounded number in flight per sender,
//! and measures from just before the send request to the moment the
//! recipient's stream hands the envelope over (the recipient acknowledges
//! it at once). Throughput counts messages delivered and acknowledged.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use base64::Engine;
use futures_util::StreamExt;
use tidings_client::Api;
use tidings_proto::api::{DevicePayload, RecipientPayloads, RegisterRequest, SendRequest};
use tidings_proto::stream::{EnvelopeBody, ServerFrame};
use tokio::sync::Mutex;

/// Flags of `tidings bench`.
#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// Devices (accounts) to register.
    #[arg(long, default_value_t = 10)]
    devices: usize,
    /// Messages to send in total.
    #[arg(long, default_value_t = 10_000)]
    messages: usize,
    /// Payload bytes per message (at least 8).
    #[arg(long, default_value_t = 256)]
    size: usize,
    /// Requests in flight per sending device.
    #[arg(long, default_value_t = 8)]
    in_flight: usize,
    /// Soak instead: send at `--rate` for this long (e.g. `30m`, `90s`,
    /// `1h`), sampling the server's memory and open files every 10 s, and
    /// report their slope and every error.
    #[arg(long, value_parser = parse_duration)]
    soak: Option<Duration>,
    /// Messages a second during a soak.
    #[arg(long, default_value_t = 500)]
    rate: u32,
    /// The server's process id, whose RSS and open files a soak samples
    /// (from /proc; the server must run on this machine).
    #[arg(long)]
    server_pid: Option<u32>,
}

/// Longest soak accepted.
pub const MAX_SOAK: Duration = Duration::from_secs(24 * 3600);
/// Fastest soak rate accepted, messages a second.
pub const MAX_SOAK_RATE: u32 = 100_000;
/// How often a soak samples the server.
pub const SOAK_SAMPLE_EVERY: Duration = Duration::from_secs(10);

/// `90s`, `30m`, `2h` or a plain number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => text.split_at(i),
        None => (text, "s"),
    };
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration such as 90s, 30m or 2h"))?;
    let secs = match unit {
        "s" => n,
        "m" => n.saturating_mul(60),
        "h" => n.saturating_mul(3600),
        _ => return Err(format!("{text:?}: use s, m or h, e.g. 30m")),
    };
    let d = Duration::from_secs(secs);
    if d.is_zero() || d > MAX_SOAK {
        return Err(format!(
            "a soak lasts from 1 s to {} h",
            MAX_SOAK.as_secs() / 3600
        ));
    }
    Ok(d)
}

/// One sample of the server during a soak.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// Seconds since the soak began.
    pub at_secs: f64,
    /// Resident memory, KiB.
    pub rss_kib: f64,
    /// Open file descriptors.
    pub fds: f64,
}

/// The least-squares slope of `y` over `x`, per unit of `x`; 0 for fewer
/// than two distinct points.
pub fn slope(points: &[(f64, f64)]) -> f64 {
    let n = points.len() as f64;
    if points.len() < 2 {
        return 0.0;
    }
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    if sxx == 0.0 {
        return 0.0;
    }
    points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum::<f64>() / sxx
}

/// Reads RSS (KiB) and open files of a process from /proc.
fn sample_process(pid: u32) -> Result<(f64, f64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status: is the server running here?"))?;
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse::<f64>().ok())
        .context("no VmRSS in /proc status")?;
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .with_context(|| format!("listing /proc/{pid}/fd"))?
        .count() as f64;
    Ok((rss, fds))
}

/// Most devices a bench registers.
pub const MAX_BENCH_DEVICES: usize = 1000;

fn code_in(text: &str) -> Option<String> {
    text.split(|c: char| !c.is_ascii_digit())
        .find(|w| w.len() == tidings_proto::CODE_DIGITS)
        .map(str::to_string)
}

async fn register(
    server: &str,
    run: u64,
    i: usize,
) -> Result<(Api, tidings_proto::api::DeviceCredentials)> {
    let api = Api::new(server, None)?;
    let handle = format!("bench-{run}-{i}@bench.example");
    api.request_code(&handle).await.with_context(|| {
        "requesting a code (start the server with higher limits, e.g. \
         TIDINGS_CODE_SENDS_PER_ADDRESS_PER_HOUR=100000 TIDINGS_CODE_CHECKS_PER_ADDRESS_PER_HOUR=100000)"
    })?;
    let inbox = api
        .carrier_inbox(&handle)
        .await
        .context("reading the code from the development outbox (the bench needs a server with simulated_carrier on)")?;
    let code = inbox
        .iter()
        .rev()
        .find_map(|m| code_in(&m.text))
        .context("no code in the development outbox")?;
    let creds = api
        .register(&RegisterRequest {
            handle,
            code,
            name: None,
            device_name: format!("bench {i}"),
        })
        .await?;
    Ok((Api::new(server, Some(creds.token.clone()))?, creds))
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

/// Registers `n` fresh devices (one account each) under a new run id.
async fn register_all(
    server: &str,
    n: usize,
) -> Result<Vec<(Api, tidings_proto::api::DeviceCredentials)>> {
    let run_id = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    eprintln!("registering {n} devices...");
    let mut devices = Vec::with_capacity(n);
    for i in 0..n {
        devices.push(register(server, run_id, i).await?);
    }
    Ok(devices)
}

/// A send of `payload` to one device of `to`.
fn one_to_one(
    id: String,
    to: String,
    device: tidings_proto::DeviceId,
    payload: &[u8],
) -> SendRequest {
    SendRequest {
        id,
        from: None,
        to: vec![RecipientPayloads {
            handle: to,
            devices: vec![DevicePayload {
                device,
                payload: base64::engine::general_purpose::STANDARD.encode(payload),
            }],
        }],
        own: Vec::new(),
        ephemeral: false,
        partial: false,
        sms: Vec::new(),
        no_sms_fallback: false,
    }
}

/// Runs the benchmark against `server` and prints its figures.
pub async fn run(server: &str, args: &BenchArgs) -> Result<()> {
    if let Some(duration) = args.soak {
        return soak(server, args, duration).await;
    }
    if args.devices < 2 || args.devices > MAX_BENCH_DEVICES {
        bail!("--devices must be between 2 and {MAX_BENCH_DEVICES}");
    }
    if args.size < 8 {
        bail!("--size must be at least 8 bytes (the timestamp)");
    }
    if args.messages == 0 || args.in_flight == 0 {
        bail!("--messages and --in-flight must be positive");
    }
    let devices = register_all(server, args.devices).await?;
    let start = Instant::now();
    // (latency, receipt time since start) of every delivered message.
    let latencies = Arc::new(Mutex::new(Vec::with_capacity(args.messages)));
    let mut receivers = Vec::new();
    for (api, _) in &devices {
        let mut stream = api.stream().await?;
        let lat = latencies.clone();
        receivers.push(tokio::spawn(async move {
            while let Ok(Some(frame)) = stream.next().await {
                let ServerFrame::Envelope(env) = frame else {
                    continue;
                };
                if let EnvelopeBody::Message { payload, .. } = &env.body {
                    let bytes = base64::engine::general_purpose::STANDARD
                        .decode(payload)
                        .unwrap_or_default();
                    let mut ts = [0u8; 8];
                    if bytes.len() >= 8 {
                        ts.copy_from_slice(&bytes[..8]);
                    }
                    let now = start.elapsed();
                    let sent = Duration::from_nanos(u64::from_le_bytes(ts));
                    lat.lock().await.push((now.saturating_sub(sent), now));
                }
                if stream.ack(vec![env.seq]).await.is_err() {
                    return;
                }
            }
        }));
    }
    eprintln!(
        "sending {} messages of {} bytes...",
        args.messages, args.size
    );
    let n = args.devices;
    let began = Instant::now();
    let mut senders = Vec::new();
    for (i, (api, _)) in devices.iter().enumerate() {
        let api = api.clone();
        let to = devices[(i + 1) % n].1.handles[0].to_string();
        let to_device = devices[(i + 1) % n].1.device;
        let count = args.messages / n + usize::from(i < args.messages % n);
        let size = args.size;
        let in_flight = args.in_flight;
        senders.push(tokio::spawn(async move {
            futures_util::stream::iter(0..count)
                .map(|k| {
                    let api = api.clone();
                    let to = to.clone();
                    async move {
                        let mut payload = vec![0u8; size];
                        let ts = start.elapsed().as_nanos() as u64;
                        payload[..8].copy_from_slice(&ts.to_le_bytes());
                        let req = one_to_one(format!("b{i}-{k}"), to, to_device, &payload);
                        api.send(&req).await
                    }
                })
                .buffer_unordered(in_flight)
                .fold(Ok(()), |acc, r| async move { acc.and(r.map(|_| ())) })
                .await
        }));
    }
    for s in senders {
        s.await.context("sender task")?.context("sending")?;
    }
    let sent_in = began.elapsed();
    let deadline = Instant::now() + Duration::from_secs(300);
    while latencies.lock().await.len() < args.messages && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for r in &receivers {
        r.abort();
    }
    let received = latencies.lock().await.clone();
    if received.len() < args.messages {
        eprintln!("warning: not every message arrived within 300 s");
    }
    let last = received.iter().map(|(_, at)| *at).max().unwrap_or_default();
    let elapsed = last.saturating_sub(began.duration_since(start));
    let mut lat: Vec<Duration> = received.iter().map(|(l, _)| *l).collect();
    lat.sort();
    let delivered = lat.len();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "devices {} messages {} size {} B in-flight/sender {}",
        args.devices, args.messages, args.size, args.in_flight
    );
    println!(
        "accepted: {:.0} msg/s ({} in {:.2} s)",
        args.messages as f64 / sent_in.as_secs_f64(),
        args.messages,
        sent_in.as_secs_f64()
    );
    println!(
        "delivered+acked: {:.0} msg/s ({delivered} in {:.2} s)",
        delivered as f64 / elapsed.as_secs_f64(),
        elapsed.as_secs_f64()
    );
    println!(
        "latency send->receipt: p50 {:.2} ms  p99 {:.2} ms  p999 {:.2} ms  max {:.2} ms",
        ms(percentile(&lat, 0.50)),
        ms(percentile(&lat, 0.99)),
        ms(percentile(&lat, 0.999)),
        ms(lat.last().copied().unwrap_or_default())
    );
    if delivered < args.messages {
        bail!(
            "only {delivered} of {} messages were delivered",
            args.messages
        );
    }
    Ok(())
}

/// `tidings bench --soak D --rate R --server-pid P`: a steady load for a
/// long time, to show that nothing grows (memory, open files) and nothing
/// fails. Every message must be delivered and acknowledged.
async fn soak(server: &str, args: &BenchArgs, duration: Duration) -> Result<()> {
    let Some(pid) = args.server_pid else {
        bail!("--soak needs --server-pid PID (the `tidings serve` process to sample)");
    };
    if args.devices < 2 || args.devices > MAX_BENCH_DEVICES {
        bail!("--devices must be between 2 and {MAX_BENCH_DEVICES}");
    }
    if args.rate == 0 || args.rate > MAX_SOAK_RATE {
        bail!("--rate must be between 1 and {MAX_SOAK_RATE} messages a second");
    }
    sample_process(pid)?;
    let devices = register_all(server, args.devices).await?;
    let delivered = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut receivers = Vec::new();
    for (api, _) in &devices {
        let mut stream = api.stream().await?;
        let delivered = delivered.clone();
        receivers.push(tokio::spawn(async move {
            while let Ok(Some(frame)) = stream.next().await {
                let ServerFrame::Envelope(env) = frame else {
                    continue;
                };
                if matches!(env.body, EnvelopeBody::Message { .. }) {
                    delivered.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                if stream.ack(vec![env.seq]).await.is_err() {
                    return;
                }
            }
        }));
    }
    let errors = Arc::new(Mutex::new(Vec::<String>::new()));
    let sent = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let began = Instant::now();
    let pace = Duration::from_secs_f64(1.0 / f64::from(args.rate));
    let sender = {
        let errors = errors.clone();
        let sent = sent.clone();
        let targets: Vec<(Api, String, tidings_proto::DeviceId)> = (0..devices.len())
            .map(|i| {
                let next = &devices[(i + 1) % devices.len()].1;
                (
                    devices[i].0.clone(),
                    next.handles[0].to_string(),
                    next.device,
                )
            })
            .collect();
        let size = args.size.max(8);
        let in_flight = Arc::new(tokio::sync::Semaphore::new(args.in_flight * devices.len()));
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(pace);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut k = 0usize;
            while began.elapsed() < duration {
                tick.tick().await;
                let permit = in_flight
                    .clone()
                    .acquire_owned()
                    .await
                    .expect("the semaphore is never closed");
                let (api, to, device) = targets[k % targets.len()].clone();
                let req = one_to_one(format!("soak-{k}"), to, device, &vec![0u8; size]);
                let errors = errors.clone();
                let sent = sent.clone();
                tokio::spawn(async move {
                    match api.send(&req).await {
                        Ok(_) => {
                            sent.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                        Err(e) => errors.lock().await.push(e.to_string()),
                    }
                    drop(permit);
                });
                k += 1;
            }
        })
    };
    let mut samples = Vec::new();
    println!("t_s rss_kib fds sent delivered errors");
    loop {
        let (rss_kib, fds) = sample_process(pid)?;
        let at_secs = began.elapsed().as_secs_f64();
        samples.push(Sample {
            at_secs,
            rss_kib,
            fds,
        });
        println!(
            "{at_secs:.0} {rss_kib:.0} {fds:.0} {} {} {}",
            sent.load(std::sync::atomic::Ordering::Relaxed),
            delivered.load(std::sync::atomic::Ordering::Relaxed),
            errors.lock().await.len()
        );
        if began.elapsed() >= duration {
            break;
        }
        tokio::time::sleep(SOAK_SAMPLE_EVERY.min(duration.saturating_sub(began.elapsed()))).await;
    }
    sender.await.context("sender task")?;
    let total = sent.load(std::sync::atomic::Ordering::Relaxed);
    let deadline = Instant::now() + Duration::from_secs(120);
    while delivered.load(std::sync::atomic::Ordering::Relaxed) < total && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for r in &receivers {
        r.abort();
    }
    // The first fifth warms caches and pools; the slope is over the rest.
    let settled: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.at_secs >= duration.as_secs_f64() / 5.0)
        .collect();
    let per_min = |f: fn(&Sample) -> f64| {
        slope(
            &settled
                .iter()
                .map(|s| (s.at_secs / 60.0, f(s)))
                .collect::<Vec<_>>(),
        )
    };
    let errors = errors.lock().await.clone();
    let got = delivered.load(std::sync::atomic::Ordering::Relaxed);
    println!(
        "soak {:.0} s at {} msg/s: sent {total}, delivered+acked {got}, errors {}",
        duration.as_secs_f64(),
        args.rate,
        errors.len()
    );
    println!(
        "RSS slope {:+.1} KiB/min (from {:.0} to {:.0} KiB); open files slope {:+.2}/min (from {:.0} to {:.0})",
        per_min(|s| s.rss_kib),
        settled.first().map_or(0.0, |s| s.rss_kib),
        settled.last().map_or(0.0, |s| s.rss_kib),
        per_min(|s| s.fds),
        settled.first().map_or(0.0, |s| s.fds),
        settled.last().map_or(0.0, |s| s.fds),
    );
    for e in errors.iter().take(10) {
        eprintln!("error: {e}");
    }
    if !errors.is_empty() || got < total {
        bail!("{} errors; {got} of {total} delivered", errors.len());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_people_write_them() {
        assert_eq!(parse_duration("30m"), Ok(Duration::from_secs(1800)));
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_duration("45"), Ok(Duration::from_secs(45)));
        assert!(parse_duration("0m").is_err());
        assert!(parse_duration("25h").is_err());
        assert!(parse_duration("3 days").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn slope_is_least_squares() {
        assert_eq!(slope(&[]), 0.0);
        assert_eq!(slope(&[(1.0, 5.0)]), 0.0);
        assert_eq!(slope(&[(0.0, 1.0), (1.0, 3.0), (2.0, 5.0)]), 2.0);
        assert_eq!(slope(&[(0.0, 7.0), (1.0, 7.0), (2.0, 7.0)]), 0.0);
        // Noise around a flat line has a small slope.
        let s = slope(&[(0.0, 10.0), (1.0, 11.0), (2.0, 9.0), (3.0, 10.0)]);
        assert!(s.abs() < 0.5, "{s}");
    }
}
