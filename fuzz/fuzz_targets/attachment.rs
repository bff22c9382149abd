//! Attachment decryption in tidings-core: a download is untrusted (the
//! server, or anyone who swapped the blob, chooses its bytes), and so is
//! the pointer's key, size and name (a malicious peer chooses those).
//!
//! Three modes, picked by the first byte:
//! - arbitrary chunks (any lengths, any `last` flags) under a random key
//!   into a `Decryptor`: no panic, and once it has refused a chunk it
//!   refuses everything after;
//! - a real attachment (0 to a little over two chunks, around the chunk
//!   boundaries) sealed under a random key, then tampered with (a flipped
//!   bit, a dropped, repeated, swapped or extra chunk, a cut, a non-final
//!   chunk presented as final) or not: the untouched stream opens to the
//!   plaintext, every tampered one fails before `finish` says `Ok`;
//! - the pointer's other fields: lengths (`plaintext_len` and
//!   `ciphertext_len` are inverse), `decode_key`, `sanitise_name`,
//!   `sniff_content_type`.
#![no_main]

use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use tidings_core::attachment::*;

fn arbitrary_chunks(u: &mut Unstructured<'_>) -> Result<()> {
    let key: [u8; KEY_SIZE] = u.arbitrary()?;
    let mut decryptor = Decryptor::new(&key);
    let mut refused = false;
    while !u.is_empty() {
        let len = match u.int_in_range(0..=3)? {
            0 => ENCRYPTED_CHUNK_SIZE,
            1 => TAG_SIZE,
            2 => u.int_in_range(0..=ENCRYPTED_CHUNK_SIZE + 1)?,
            _ => u.int_in_range(0..=64)?,
        };
        let fill: u8 = u.arbitrary()?;
        let mut chunk = vec![fill; len];
        let given = u.bytes(len.min(u.len()))?;
        chunk[..given.len()].copy_from_slice(given);
        let last = u.arbitrary()?;
        let result = decryptor.decrypt_chunk(&chunk, last);
        if refused {
            assert!(result.is_err(), "a refused stream took another chunk");
        }
        refused |= result.is_err();
    }
    let _ = decryptor.finish();
    Ok(())
}

#[derive(Debug)]
enum Tamper {
    None,
    FlipBit { chunk: usize, bit: usize },
    Drop(usize),
    Repeat(usize),
    Swap(usize, usize),
    Extra,
    Cut(usize),
    CutAndMarkLast(usize),
}

fn tampered_stream(u: &mut Unstructured<'_>) -> Result<()> {
    let key: [u8; KEY_SIZE] = u.arbitrary()?;
    let len = match u.int_in_range(0..=3)? {
        0 => u.int_in_range(0..=300)?,
        1 => CHUNK_SIZE - 2 + u.int_in_range(0..=4)?,
        2 => 2 * CHUNK_SIZE - 2 + u.int_in_range(0..=4)?,
        _ => u.int_in_range(0..=2 * CHUNK_SIZE + 300)?,
    };
    let pattern = u.bytes(u.len().min(64))?.to_vec();
    let plaintext: Vec<u8> = (0..len)
        .map(|i| pattern.get(i % pattern.len().max(1)).copied().unwrap_or(0) ^ (i as u8))
        .collect();

    let mut encryptor = Encryptor::new(&key);
    let mut sealed = Vec::new();
    let pieces: Vec<&[u8]> = if plaintext.is_empty() {
        vec![&[]]
    } else {
        plaintext.chunks(CHUNK_SIZE).collect()
    };
    for (i, piece) in pieces.iter().enumerate() {
        let last = i + 1 == pieces.len();
        sealed.push(
            encryptor
                .encrypt_chunk(piece, last)
                .expect("a valid chunk seals"),
        );
    }
    let total: usize = sealed.iter().map(Vec::len).sum();
    assert_eq!(ciphertext_len(len as u64), total as u64);
    assert_eq!(plaintext_len(total as u64).ok(), Some(len as u64));

    let n = sealed.len();
    let tamper = match u.int_in_range(0..=7)? {
        0 => Tamper::None,
        1 => Tamper::FlipBit {
            chunk: u.choose_index(n)?,
            bit: u.arbitrary()?,
        },
        2 => Tamper::Drop(u.choose_index(n)?),
        3 => Tamper::Repeat(u.choose_index(n)?),
        4 if n > 1 => {
            let a = u.choose_index(n)?;
            let b = (a + 1 + u.choose_index(n - 1)?) % n;
            Tamper::Swap(a, b)
        }
        5 => Tamper::Extra,
        6 if n > 1 => Tamper::Cut(u.int_in_range(1..=n - 1)?),
        7 if n > 1 => Tamper::CutAndMarkLast(u.int_in_range(1..=n - 1)?),
        _ => Tamper::None,
    };
    let mut stream = sealed.clone();
    match tamper {
        Tamper::None => {}
        Tamper::FlipBit { chunk, bit } => {
            let bit = bit % (stream[chunk].len() * 8);
            stream[chunk][bit / 8] ^= 1 << (bit % 8);
        }
        Tamper::Drop(i) => {
            stream.remove(i);
        }
        Tamper::Repeat(i) => {
            let copy = stream[i].clone();
            stream.insert(i, copy);
        }
        Tamper::Swap(a, b) => stream.swap(a, b),
        Tamper::Extra => {
            // A chunk sealed with the right key as if the file went on.
            let mut other = Encryptor::new(&key);
            let mut extra = Vec::new();
            for _ in 0..=n {
                extra = other
                    .encrypt_chunk(&[0; CHUNK_SIZE], false)
                    .expect("a full chunk seals");
            }
            stream.push(extra);
        }
        Tamper::Cut(at) | Tamper::CutAndMarkLast(at) => stream.truncate(at),
    }
    let mark_last_on_cut = matches!(tamper, Tamper::CutAndMarkLast(_));

    let mut decryptor = Decryptor::new(&key);
    let mut opened = Vec::new();
    let mut failed = false;
    for (i, chunk) in stream.iter().enumerate() {
        // The receiver marks the chunk that ends the download as last.
        let last = i + 1 == stream.len() && (mark_last_on_cut || !matches!(tamper, Tamper::Cut(_)));
        match decryptor.decrypt_chunk(chunk, last) {
            Ok(plain) => opened.extend_from_slice(&plain),
            Err(_) => {
                failed = true;
                break;
            }
        }
    }
    let complete = !failed && decryptor.finish().is_ok();
    match tamper {
        Tamper::None => {
            assert!(complete, "an untouched attachment opens");
            assert_eq!(opened, plaintext);
        }
        _ => assert!(!complete, "a tampered attachment opened: {tamper:?}"),
    }
    Ok(())
}

fn pointer_fields(u: &mut Unstructured<'_>) -> Result<()> {
    let length: u64 = u.arbitrary()?;
    if let Ok(plain) = plaintext_len(length) {
        assert_eq!(ciphertext_len(plain), length);
    }
    if length <= MAX_PLAINTEXT_LEN {
        assert_eq!(plaintext_len(ciphertext_len(length)).ok(), Some(length));
    }
    let key: &str = u.arbitrary()?;
    if let Ok(bytes) = AttachmentPointer::decode_key(key) {
        assert_eq!(
            AttachmentPointer::decode_key(&AttachmentPointer::encode_key(&bytes)).ok(),
            Some(bytes)
        );
    }
    let name: &str = u.arbitrary()?;
    let safe = sanitise_name(name);
    assert!(!safe.is_empty() && safe.len() <= 128, "{safe:?}");
    assert!(!safe.starts_with('.'), "{safe:?}");
    assert!(
        !safe.contains(['/', '\\']) && !safe.chars().any(char::is_control),
        "{safe:?}"
    );
    let first = u.bytes(u.len())?;
    let _ = sniff_content_type(first, name);
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let mut u = Unstructured::new(rest);
    let _ = match pick % 3 {
        0 => arbitrary_chunks(&mut u),
        1 => tampered_stream(&mut u),
        _ => pointer_fields(&mut u),
    };
});
