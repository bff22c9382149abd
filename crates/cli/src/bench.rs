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

/// Runs the benchmark against `server` and prints its figures.
pub async fn run(server: &str, args: &BenchArgs) -> Result<()> {
    if args.devices < 2 || args.devices > MAX_BENCH_DEVICES {
        bail!("--devices must be between 2 and {MAX_BENCH_DEVICES}");
    }
    if args.size < 8 {
        bail!("--size must be at least 8 bytes (the timestamp)");
    }
    if args.messages == 0 || args.in_flight == 0 {
        bail!("--messages and --in-flight must be positive");
    }
    let run_id = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    eprintln!("registering {} devices...", args.devices);
    let mut devices = Vec::with_capacity(args.devices);
    for i in 0..args.devices {
        devices.push(register(server, run_id, i).await?);
    }
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
                        let req = SendRequest {
                            id: format!("b{i}-{k}"),
                            from: None,
                            to: vec![RecipientPayloads {
                                handle: to,
                                devices: vec![DevicePayload {
                                    device: to_device,
                                    payload: base64::engine::general_purpose::STANDARD
                                        .encode(&payload),
                                }],
                            }],
                            own: Vec::new(),
                            ephemeral: false,
                            partial: false,
                            sms: Vec::new(),
                            no_sms_fallback: false,
                        };
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
