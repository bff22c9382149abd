//! `cargo bench -p tidings-core`: Olm encryption and decryption throughput,
//! per message (small texts) and per MiB (large payloads).

use std::hint::black_box;
use std::time::Instant;
use tidings_proto::DeviceId;

use tidings_core::crypto::{Olm, Sessions};

fn pair() -> (Olm, Sessions, Olm, Sessions) {
    let alice = Olm::new();
    let mut bob = Olm::new();
    let otk = bob.new_one_time_keys(1).remove(0);
    let mut a = Sessions::new();
    let mut b = Sessions::new();
    let first = alice
        .encrypt(
            DeviceId::from(2u32),
            &mut a,
            Some((&bob.identity().curve25519, &otk.key)),
            b"hello",
        )
        .expect("encrypts");
    bob.decrypt(DeviceId::from(1u32), &mut b, None, &first)
        .expect("decrypts");
    // One reply so that both sides have moved past pre-key messages.
    let reply = bob
        .encrypt(DeviceId::from(1u32), &mut b, None, b"hi")
        .expect("encrypts");
    let mut alice = alice;
    alice
        .decrypt(DeviceId::from(2u32), &mut a, None, &reply)
        .expect("decrypts");
    (alice, a, bob, b)
}

fn run(label: &str, size: usize, count: usize) {
    let (alice, mut a, mut bob, mut b) = pair();
    let plaintext = vec![0x5au8; size];
    let mut ciphertexts = Vec::with_capacity(count);
    let t = Instant::now();
    for _ in 0..count {
        ciphertexts.push(
            alice
                .encrypt(DeviceId::from(2u32), &mut a, None, black_box(&plaintext))
                .expect("encrypts"),
        );
    }
    let enc = t.elapsed();
    let t = Instant::now();
    for c in &ciphertexts {
        black_box(
            bob.decrypt(DeviceId::from(1u32), &mut b, None, c)
                .expect("decrypts"),
        );
    }
    let dec = t.elapsed();
    let mib = (size * count) as f64 / (1024.0 * 1024.0);
    println!(
        "{label:>12}: encrypt {:>9.0} msg/s {:>8.1} MiB/s | decrypt {:>9.0} msg/s {:>8.1} MiB/s",
        count as f64 / enc.as_secs_f64(),
        mib / enc.as_secs_f64(),
        count as f64 / dec.as_secs_f64(),
        mib / dec.as_secs_f64(),
    );
}

fn session_setup(count: usize) {
    let t = Instant::now();
    for _ in 0..count {
        black_box(pair());
    }
    println!(
        "{:>12}: {:>9.0} new sessions/s (both sides, pre-key message and reply)",
        "setup",
        count as f64 / t.elapsed().as_secs_f64()
    );
}

fn attachments(mib: usize) {
    use tidings_core::attachment::{Decryptor, Digester, Encryptor, CHUNK_SIZE};
    let key = [9u8; 32];
    let chunk = vec![0x33u8; CHUNK_SIZE];
    let chunks = mib * 1024 * 1024 / CHUNK_SIZE;
    let t = Instant::now();
    let mut enc = Encryptor::new(&key);
    let mut digest = Digester::new();
    let mut sealed = Vec::with_capacity(chunks);
    for i in 0..chunks {
        let c = enc
            .encrypt_chunk(black_box(&chunk), i + 1 == chunks)
            .expect("encrypts");
        digest.update(&c);
        sealed.push(c);
    }
    black_box(digest.finish());
    let e = t.elapsed();
    let t = Instant::now();
    let mut dec = Decryptor::new(&key);
    for (i, c) in sealed.iter().enumerate() {
        black_box(dec.decrypt_chunk(c, i + 1 == chunks).expect("decrypts"));
    }
    dec.finish().expect("complete");
    let d = t.elapsed();
    println!(
        "{:>12}: encrypt+digest {:>8.1} MiB/s | decrypt {:>8.1} MiB/s",
        "attachment",
        mib as f64 / e.as_secs_f64(),
        mib as f64 / d.as_secs_f64()
    );
}

fn main() {
    // `cargo test --benches` runs this with `--bench` absent: keep it quick.
    let quick = !std::env::args().any(|a| a == "--bench");
    let scale = if quick { 1 } else { 20 };
    run("100 B text", 100, 500 * scale);
    run("4 KiB", 4096, 250 * scale);
    run("64 KiB", 64 * 1024, 20 * scale);
    session_setup(20 * scale);
    attachments(4 * scale);
}
