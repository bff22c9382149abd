//! Three `tidings serve` nodes on one PostgreSQL database and one Redis,
//! with senders and receivers spread across them, under load; one node is
//! killed with SIGKILL halfway. Every acknowledged message must reach every
//! recipient device exactly once (one queue entry per message) and in the
//! order it was sent, the devices of the dead node must carry on from
//! another one, and no SMS may reach the carrier twice: each one either
//! arrives once or is reported failed to its sender.
//!
//! Needs `TIDINGS_TEST_CLUSTER_POSTGRES` (a PostgreSQL server to make a
//! database on) and `TIDINGS_TEST_REDIS`; `scripts/test` starts both. Run
//! without them, the test says so and checks nothing.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;

/// Messages each sender sends.
const MESSAGES: usize = 40;
/// Every this many messages also goes as an SMS to a number off Tidings.
const SMS_EVERY: usize = 5;
/// The message of sender 0 after which node 2 is killed.
const KILL_AFTER: usize = MESSAGES / 2;
/// How long anything in this test may take to happen.
const PATIENCE: Duration = Duration::from_secs(60);
/// Seconds a stream waits before polling without a wake-up: far longer
/// than the test, so a message on another node arrives only if the Redis
/// wake-up works.
const NO_POLL_SECS: &str = "600";
/// The SMS lease of the nodes: an SMS claimed by the killed node is
/// reported failed this long after.
const SMS_LEASE_SECS: &str = "3";

/// One `tidings serve` process on a free port.
type Node = common::Server;

fn start_node(data: &std::path::Path, env: &[(&str, String)]) -> Node {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    common::Server::start_with(data, "127.0.0.1:0", &env)
}

/// A fresh database on the test server, or why the test cannot run.
fn database() -> Result<(String, String), String> {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let base = std::env::var("TIDINGS_TEST_CLUSTER_POSTGRES")
        .map_err(|_| "TIDINGS_TEST_CLUSTER_POSTGRES is not set".to_string())?;
    let redis = std::env::var("TIDINGS_TEST_REDIS")
        .map_err(|_| "TIDINGS_TEST_REDIS is not set".to_string())?;
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let name = format!("cluster_{}_{n}", std::process::id());
    // Presence and limits are keyed by account and device ids, which each
    // test's database starts again from 1: each test its own Redis database
    // (the shared server's 16), as each cluster has its own Redis.
    let redis = format!("{}/{}", redis.trim_end_matches('/'), n + 1);
    // Set up, the servers must work: only their absence skips the test.
    let mut c = postgres::Client::connect(&base, postgres::NoTls)
        .unwrap_or_else(|e| panic!("cannot reach {base}: {e}"));
    for statement in [
        format!("DROP DATABASE IF EXISTS {name}"),
        format!("CREATE DATABASE {name}"),
    ] {
        c.batch_execute(&statement)
            .unwrap_or_else(|e| panic!("{statement}: {e}"));
    }
    let (server, _) = base.rsplit_once('/').expect("the URL names a database");
    Ok((format!("{server}/{name}"), redis))
}

/// The database and Redis for one test, or `None` (said on stderr) when
/// the run has none.
fn servers() -> Option<(String, String)> {
    // The synchronous client may not run on an async task: use a thread.
    match std::thread::spawn(database)
        .join()
        .expect("making the database")
    {
        Ok(found) => Some(found),
        Err(why) => {
            eprintln!("skipped: {why} (scripts/test starts PostgreSQL and Redis)");
            None
        }
    }
}

/// A stand-in for Kannel's `sendsms`: answers as smsbox does and counts
/// every SMS text it is handed.
async fn carrier() -> (String, Arc<Mutex<HashMap<String, usize>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!(
        "http://{}/cgi-bin/sendsms",
        listener.local_addr().expect("addr")
    );
    let seen: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    let counts = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let counts = counts.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&buf).into_owned();
                let target = head.split_whitespace().nth(1).unwrap_or_default();
                let query = target.split_once('?').map(|(_, q)| q).unwrap_or_default();
                let text = query
                    .split('&')
                    .find_map(|kv| kv.strip_prefix("text="))
                    .and_then(|v| tidings_sms::encoding::url_decode_bytes(v).ok())
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .unwrap_or_default();
                *counts.lock().expect("counts").entry(text).or_default() += 1;
                let body = "0: Accepted for delivery";
                let reply = format!(
                    "HTTP/1.1 202 Accepted\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(reply.as_bytes()).await;
            });
        }
    });
    (url, seen)
}

/// A registered device.
#[derive(Clone, Debug)]
struct Dev {
    device: u64,
    token: String,
    handle: String,
}

fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("a client")
}

/// Registers `handle`: the code is asked for on `node` and redeemed on
/// `redeem_on`, which must agree on how codes are hashed.
async fn register(node: &str, redeem_on: &str, handle: &str) -> Dev {
    let c = http();
    let r = c
        .post(format!("{node}/v1/codes"))
        .json(&json!({ "handle": handle }))
        .send()
        .await
        .expect("code request");
    assert_eq!(r.status(), 202, "{}", r.text().await.unwrap_or_default());
    let inbox: Value = c
        .get(format!("{node}/v1/carrier/{handle}"))
        .send()
        .await
        .expect("inbox")
        .json()
        .await
        .expect("JSON inbox");
    let text = inbox
        .as_array()
        .and_then(|a| a.last())
        .and_then(|m| m["text"].as_str())
        .expect("a code in the outbox")
        .to_string();
    let code = text
        .split(|c: char| !c.is_ascii_digit())
        .find(|w| w.len() == 6)
        .expect("a 6-digit code");
    let body: Value = c
        .post(format!("{redeem_on}/v1/accounts"))
        .json(&json!({ "handle": handle, "code": code, "device_name": "load" }))
        .send()
        .await
        .expect("registration")
        .json()
        .await
        .expect("JSON");
    Dev {
        device: body["device"].as_u64().expect("device"),
        token: body["token"].as_str().expect("token").to_string(),
        handle: body["handles"][0].as_str().expect("handle").to_string(),
    }
}

/// What a receiver saw: per message id, every queue position it came at.
type Seen = Arc<Mutex<BTreeMap<String, BTreeSet<u64>>>>;

/// Keeps a delivery stream of `dev` open on the first live node of
/// `order`, acking everything, and moves to the next node when its node
/// dies. Records messages in `seen` and every other envelope in `other`.
async fn receive(dev: Dev, order: Vec<String>, seen: Seen, other: Arc<Mutex<Vec<Value>>>) {
    let mut at = 0;
    loop {
        let node = &order[at % order.len()];
        let url = node.replace("http://", "ws://") + "/v1/stream";
        let Ok((mut ws, _)) = tokio_tungstenite::connect_async(&url).await else {
            at += 1;
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        let auth = json!({"type": "auth", "token": dev.token}).to_string();
        if ws.send(Message::Text(auth.into())).await.is_err() {
            at += 1;
            continue;
        }
        while let Some(Ok(frame)) = ws.next().await {
            let Message::Text(text) = frame else { continue };
            let f: Value = serde_json::from_str(&text).expect("JSON frame");
            if f["type"] != "envelope" {
                continue;
            }
            let seq = f["seq"].as_u64().expect("seq");
            if f["body"]["kind"] == "message" {
                let id = f["body"]["id"].as_str().expect("id").to_string();
                seen.lock()
                    .expect("seen")
                    .entry(id)
                    .or_default()
                    .insert(seq);
            } else {
                other.lock().expect("other").push(f["body"].clone());
            }
            let ack = json!({"type": "ack", "seqs": [seq]}).to_string();
            if ws.send(Message::Text(ack.into())).await.is_err() {
                break;
            }
        }
        // The node went away: carry on from the next one.
        at += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Sends one message to every receiver (and every `SMS_EVERY`th also as an
/// SMS) from the first live node of `order`, retrying the same id on the
/// next node until one acknowledges it. Returns the id and SMS text.
async fn send_until_acked(
    from: &Dev,
    to: &[Dev],
    order: &[String],
    id: &str,
    sms: Option<(String, String)>,
) {
    let b64 = base64::engine::general_purpose::STANDARD;
    let recipients: Vec<Value> = to
        .iter()
        .map(|d| json!({"handle": d.handle, "devices": [{"device": d.device, "payload": b64.encode(id)}]}))
        .collect();
    let sms: Vec<Value> = sms
        .into_iter()
        .map(|(handle, text)| json!({"handle": handle, "text": text}))
        .collect();
    let body = json!({"id": id, "to": recipients, "own": [], "sms": sms, "no_sms_fallback": true});
    let started = Instant::now();
    let mut at = 0;
    loop {
        assert!(started.elapsed() < PATIENCE, "{id} was never acknowledged");
        let node = &order[at % order.len()];
        match http()
            .post(format!("{node}/v1/messages"))
            .bearer_auth(&from.token)
            .json(&body)
            .send()
            .await
        {
            Ok(r) if r.status() == 200 => return,
            Ok(r) if r.status().is_server_error() => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Ok(r) => panic!(
                "{id}: {} {}",
                r.status(),
                r.text().await.unwrap_or_default()
            ),
            // The node is gone (or went while answering): the same id on
            // the next one; idempotency makes it count once.
            Err(_) => at += 1,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_nodes_lose_one_and_every_acknowledged_message_arrives_once_in_order() {
    let Some((db, redis)) = servers() else { return };
    let (sendsms, carrier_seen) = carrier().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let env = vec![
        ("TIDINGS_DATABASE_URL", db),
        ("TIDINGS_REDIS_URL", redis),
        ("TIDINGS_CLUSTER_POLL_SECS", NO_POLL_SECS.to_string()),
        ("TIDINGS_CLUSTER_SAFETY_POLL_SECS", NO_POLL_SECS.to_string()),
        ("TIDINGS_SMS_LEASE_SECS", SMS_LEASE_SECS.to_string()),
        ("TIDINGS_SMS_GATEWAY", "kannel".to_string()),
        ("TIDINGS_KANNEL_SENDSMS_URL", sendsms),
        ("TIDINGS_KANNEL_PASSWORD", "test".to_string()),
        (
            "TIDINGS_KANNEL_SECRET",
            "cluster-test-shared-secret".to_string(),
        ),
        (
            "TIDINGS_CODE_SENDS_PER_ADDRESS_PER_HOUR",
            "100000".to_string(),
        ),
        (
            "TIDINGS_CODE_CHECKS_PER_ADDRESS_PER_HOUR",
            "100000".to_string(),
        ),
        (
            "TIDINGS_REGISTRATIONS_PER_RANGE_PER_DAY",
            "100000".to_string(),
        ),
        ("TIDINGS_REGISTRATION_SPIKE_PER_HOUR", "100000".to_string()),
        ("TIDINGS_SENDS_PER_ACCOUNT_PER_MINUTE", "100000".to_string()),
        ("TIDINGS_SEND_BURST", "100000".to_string()),
        ("TIDINGS_SMS_PER_ACCOUNT_PER_HOUR", "100000".to_string()),
        ("TIDINGS_SMS_PER_ACCOUNT_PER_DAY", "100000".to_string()),
    ];
    let mut nodes: Vec<Option<Node>> = (0..3)
        .map(|i| Some(start_node(&dir.path().join(format!("node{i}")), &env)))
        .collect();
    let urls: Vec<String> = nodes
        .iter()
        .map(|n| n.as_ref().expect("running").url.clone())
        .collect();
    // Node i first, then the others: where a person on node i goes next.
    let order = |i: usize| -> Vec<String> { (0..3).map(|k| urls[(i + k) % 3].clone()).collect() };

    let mut senders = Vec::new();
    let mut receivers = Vec::new();
    for (i, url) in urls.iter().enumerate() {
        // A code sent by one node checks on another: they share the secret.
        let next = &urls[(i + 1) % 3];
        senders.push(register(url, next, &format!("sender{i}@example.org")).await);
        receivers.push(register(url, next, &format!("receiver{i}@example.org")).await);
    }
    // Receiver i listens on node i; sender i sends through node i.
    let seen: Vec<Seen> = (0..3).map(|_| Seen::default()).collect();
    let mut listeners = Vec::new();
    for i in 0..3 {
        listeners.push(tokio::spawn(receive(
            receivers[i].clone(),
            order(i),
            seen[i].clone(),
            Arc::default(),
        )));
    }
    // The senders' own devices hear what became of their SMS.
    let sender_notices: Vec<Arc<Mutex<Vec<Value>>>> = (0..3).map(|_| Arc::default()).collect();
    for i in 0..3 {
        listeners.push(tokio::spawn(receive(
            senders[i].clone(),
            order(i),
            Seen::default(),
            sender_notices[i].clone(),
        )));
    }

    // Before any load: a message accepted on node 0 reaches receiver 1 on
    // node 1 through a Redis wake-up (nothing polls for ten minutes).
    send_until_acked(&senders[0], &receivers[1..2], &order(0), "hello", None).await;
    let started = Instant::now();
    while !seen[1].lock().expect("seen").contains_key("hello") {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "a message accepted on one node never woke a stream on another"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!("cross-node wake-up: {} ms", started.elapsed().as_millis());

    // The load: three senders at once, each message to all three receivers.
    let sms_texts: Arc<Mutex<Vec<(usize, String)>>> = Arc::default();
    let (kill_tx, kill_rx) = tokio::sync::oneshot::channel::<()>();
    let mut kill_tx = Some(kill_tx);
    let mut load = Vec::new();
    for (i, sender) in senders.iter().enumerate() {
        let (from, to, path) = (sender.clone(), receivers.clone(), order(i));
        let sms_texts = sms_texts.clone();
        let mut kill = if i == 0 { kill_tx.take() } else { None };
        load.push(tokio::spawn(async move {
            for n in 0..MESSAGES {
                let id = format!("s{i}-{n:03}");
                let sms = (n % SMS_EVERY == 0).then(|| {
                    let text = format!("sms {id}");
                    sms_texts.lock().expect("texts").push((i, text.clone()));
                    (format!("+1202555{i}{n:03}"), text)
                });
                send_until_acked(&from, &to, &path, &id, sms).await;
                if n == KILL_AFTER {
                    if let Some(k) = kill.take() {
                        let _ = k.send(());
                    }
                }
            }
        }));
    }
    kill_rx.await.expect("sender 0 got halfway");
    let victim = nodes[2].take().expect("node 2 runs");
    drop(victim); // SIGKILL: no chance to flush anything.
    println!("node 2 killed");
    for l in load {
        l.await.expect("a sender finished");
    }

    // Every acknowledged message reaches every receiver once, in order.
    let expected: BTreeSet<String> = (0..3)
        .flat_map(|i| (0..MESSAGES).map(move |n| format!("s{i}-{n:03}")))
        .collect();
    let started = Instant::now();
    for (r, seen) in seen.iter().enumerate() {
        loop {
            let have: BTreeSet<String> = seen
                .lock()
                .expect("seen")
                .keys()
                .filter(|k| k.starts_with('s'))
                .cloned()
                .collect();
            if have == expected {
                break;
            }
            assert!(
                started.elapsed() < PATIENCE,
                "receiver {r} is missing {:?}",
                expected.difference(&have).collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let seen = seen.lock().expect("seen");
        for (id, seqs) in seen.iter() {
            assert_eq!(
                seqs.len(),
                1,
                "receiver {r}: {id} is queued more than once: {seqs:?}"
            );
        }
        for i in 0..3 {
            let seqs: Vec<u64> = (0..MESSAGES)
                .map(|n| *seen[&format!("s{i}-{n:03}")].iter().next().expect("a seq"))
                .collect();
            assert!(
                seqs.windows(2).all(|w| w[0] < w[1]),
                "receiver {r}: sender {i}'s messages out of order: {seqs:?}"
            );
        }
    }

    // No SMS reached the carrier twice; each arrived or was reported failed
    // (the killed node may have claimed some; their lease runs out).
    let started = Instant::now();
    let texts = sms_texts.lock().expect("texts").clone();
    for (i, text) in texts {
        let id = text.trim_start_matches("sms ").to_string();
        loop {
            let arrived = carrier_seen
                .lock()
                .expect("carrier")
                .get(&text)
                .copied()
                .unwrap_or(0);
            assert!(arrived <= 1, "{text:?} reached the carrier {arrived} times");
            let failed = sender_notices[i].lock().expect("notices").iter().any(|b| {
                b["kind"] == "sms_status" && b["id"] == id.as_str() && b["status"] == "failed"
            });
            if arrived == 1 || failed {
                break;
            }
            assert!(
                started.elapsed() < PATIENCE,
                "{text:?} neither arrived nor failed"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let total: usize = carrier_seen.lock().expect("carrier").values().sum();
    println!(
        "{} messages to 3 receivers each, {} SMS handed to the carrier",
        3 * MESSAGES,
        total
    );
    for l in listeners {
        l.abort();
    }
    drop(nodes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_hold_across_nodes() {
    let Some((db, redis)) = servers() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let env = vec![
        ("TIDINGS_DATABASE_URL", db),
        ("TIDINGS_REDIS_URL", redis),
        ("TIDINGS_REGISTRATION_SPIKE_PER_HOUR", "100000".to_string()),
        // Five lookups a minute for the whole cluster, not for each node.
        ("TIDINGS_LOOKUPS_PER_ACCOUNT_PER_MINUTE", "5".to_string()),
    ];
    let nodes: Vec<Node> = (0..3)
        .map(|i| start_node(&dir.path().join(format!("node{i}")), &env))
        .collect();
    let alice = register(&nodes[0].url, &nodes[0].url, "alice@example.org").await;
    let mut answers = Vec::new();
    for n in 0..8 {
        let node = &nodes[n % 3].url;
        let r = http()
            .post(format!("{node}/v1/directory"))
            .bearer_auth(&alice.token)
            .json(&json!({ "handles": [format!("nobody{n}@example.org")] }))
            .send()
            .await
            .expect("a lookup");
        answers.push(r.status().as_u16());
    }
    assert_eq!(
        answers,
        [200, 200, 200, 200, 200, 429, 429, 429],
        "the sixth lookup is refused whichever node it reaches"
    );
}
