//! Streaming encryption of attachments (photos, videos, any file up to
//! several GiB) in fixed-size chunks, so that a 2 GiB video never has to sit
//! in memory on either end.
//!
//! # Format
//!
//! The plaintext is cut into chunks of [`CHUNK_SIZE`] bytes; only the final
//! chunk may be shorter. Each chunk is sealed with ChaCha20-Poly1305 under a
//! per-attachment random key (supplied by the caller, never reused across
//! attachments), producing the chunk plus a [`TAG_SIZE`]-byte tag. The
//! ciphertext of the attachment is the concatenation of the sealed chunks.
//!
//! Nonces follow the STREAM construction (Hoang, Reyhanitabar, Rogaway and
//! Vizár, "Online Authenticated-Encryption and its Nonce-Reuse
//! Misuse-Resistance", CRYPTO 2015): the 12-byte nonce is the chunk counter
//! as an 11-byte big-endian number followed by one flag byte, 1 for the final
//! chunk and 0 for every other chunk. Because the position and "this is the
//! end" are authenticated, a receiver detects
//!
//! * tampering with any byte (the chunk's tag fails),
//! * reordering chunks (chunk *i* only opens with counter *i*),
//! * truncation at a chunk boundary (the new last chunk was sealed with flag
//!   0, so opening it as final fails; a stream that simply stops without a
//!   final chunk is caught by [`Decryptor::finish`]),
//! * extension after the final chunk ([`Decryptor`] refuses anything after
//!   it).
//!
//! The encoding is canonical: an empty file is exactly one empty final chunk,
//! and a non-empty file never ends with an empty chunk (a file whose length
//! is a multiple of [`CHUNK_SIZE`] ends with a full final chunk). So the
//! ciphertext length follows from the plaintext length and back
//! ([`ciphertext_len`], [`plaintext_len`]).
//!
//! # Flow
//!
//! Sender: draw a fresh 32-byte key from the platform's randomness, feed the
//! file through an [`Encryptor`] one chunk at a time, hash every produced
//! chunk with a [`Digester`], upload the ciphertext, and send an
//! [`AttachmentPointer`] inside the end-to-end encrypted message.
//!
//! Receiver: download the blob, check that its length is
//! `ciphertext_len(pointer.size)` and that its [`digest`] matches
//! `pointer.digest`, then feed it through a [`Decryptor`] in chunks of
//! [`ENCRYPTED_CHUNK_SIZE`] bytes (the last one marked `last`), and only
//! accept the file once [`Decryptor::finish`] returns `Ok`.
//!
//! Nothing here does IO or draws randomness; the caller supplies the key and
//! the bytes, so the module runs natively and in WebAssembly alike.

use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;

/// Plaintext bytes per chunk. Large enough that the 16-byte tag per chunk is
/// negligible overhead (0.02 %), small enough that a chunk fits comfortably
/// in memory and in one network read on every platform.
pub const CHUNK_SIZE: usize = 64 * 1024;

/// Bytes of Poly1305 authentication tag appended to every chunk; needed to
/// compute ciphertext sizes and to split a download into chunks.
pub const TAG_SIZE: usize = 16;

/// Bytes of an attachment key (a ChaCha20-Poly1305 key). The caller draws it
/// from its platform's randomness, since this crate has none of its own.
pub const KEY_SIZE: usize = 32;

/// Bytes of one sealed non-final chunk: the unit in which a receiver feeds a
/// download to the [`Decryptor`].
pub const ENCRYPTED_CHUNK_SIZE: usize = CHUNK_SIZE + TAG_SIZE;

/// Largest number of chunks in one attachment.
///
/// The nonce has room for an 11-byte (88-bit) counter, which no realistic
/// file could exhaust; the cap is set far lower, at 2^32 chunks, so that the
/// counter (a `u64`, occupying the low 8 of the 11 counter bytes) can never
/// wrap and every length computation stays far away from `u64` overflow.
/// The resulting maximum file size is 2^32 × 64 KiB = 2^48 bytes = 256 TiB
/// of plaintext ([`MAX_PLAINTEXT_LEN`]).
pub const MAX_CHUNKS: u64 = 1 << 32;

/// Largest plaintext that can be encrypted as one attachment, in bytes
/// (256 TiB): [`MAX_CHUNKS`] full chunks.
pub const MAX_PLAINTEXT_LEN: u64 = MAX_CHUNKS * CHUNK_SIZE_U64;

/// Bytes of a ChaCha20-Poly1305 nonce.
const NONCE_SIZE: usize = 12;

/// Bytes of the big-endian chunk counter at the start of the nonce.
const COUNTER_SIZE: usize = 11;

/// Index of the flag byte in the nonce.
const FLAG_INDEX: usize = COUNTER_SIZE;

/// Flag byte of every chunk but the final one.
const FLAG_NOT_LAST: u8 = 0;

/// Flag byte of the final chunk.
const FLAG_LAST: u8 = 1;

/// Longest sanitised file name, in bytes.
const MAX_NAME_BYTES: usize = 128;

/// Longest extension (dot included) that [`sanitise_name`] keeps when it has
/// to shorten a name.
const MAX_KEPT_EXTENSION_BYTES: usize = 16;

/// Name used when a file name sanitises to nothing.
const FALLBACK_NAME: &str = "attachment";

/// Content type of anything not recognised.
const OCTET_STREAM: &str = "application/octet-stream";

/// How far into a Matroska header [`sniff_content_type`] looks for the
/// document type.
const EBML_DOCTYPE_SEARCH_BYTES: usize = 64;

const CHUNK_SIZE_U64: u64 = CHUNK_SIZE as u64;
const TAG_SIZE_U64: u64 = TAG_SIZE as u64;
const ENCRYPTED_CHUNK_SIZE_U64: u64 = ENCRYPTED_CHUNK_SIZE as u64;

// The counter is a u64 written into the low 8 of the 11 counter bytes, and
// the nonce is counter plus flag.
const _: () = assert!(COUNTER_SIZE >= std::mem::size_of::<u64>());
const _: () = assert!(COUNTER_SIZE + 1 == NONCE_SIZE);
// The largest ciphertext must be representable, so length arithmetic on
// valid attachments never overflows.
const _: () = assert!(MAX_CHUNKS.checked_mul(ENCRYPTED_CHUNK_SIZE_U64).is_some());
// A sanitised name must have room for a stem besides a kept extension.
const _: () = assert!(MAX_KEPT_EXTENSION_BYTES < MAX_NAME_BYTES / 2);

/// Everything that can go wrong with an attachment, phrased so that the
/// message tells a user or developer what happened. Chunk numbers count
/// from 0, like the STREAM counter.
#[derive(Debug, thiserror::Error)]
pub enum AttachmentError {
    /// A non-final plaintext chunk was not exactly [`CHUNK_SIZE`] bytes.
    #[error(
        "attachment chunk {index} has {actual} bytes but every chunk except the last must have exactly {expected}"
    )]
    ChunkSize {
        /// Chunk number.
        index: u64,
        /// Required length.
        expected: usize,
        /// Length given.
        actual: usize,
    },
    /// The final plaintext chunk was longer than [`CHUNK_SIZE`].
    #[error(
        "final attachment chunk {index} has {actual} bytes, more than the chunk size of {max}"
    )]
    FinalChunkTooLarge {
        /// Chunk number.
        index: u64,
        /// Largest allowed length.
        max: usize,
        /// Length given.
        actual: usize,
    },
    /// An empty final chunk followed full chunks; the last full chunk should
    /// have been marked final, so that every file has exactly one encoding.
    #[error(
        "attachment chunk {index} is an empty final chunk after full chunks; only an empty file may end with an empty chunk (mark the last full chunk as final instead)"
    )]
    EmptyFinalChunk {
        /// Chunk number.
        index: u64,
    },
    /// A sealed chunk had a length no valid chunk can have.
    #[error(
        "attachment chunk {index} is {actual} bytes of ciphertext but must be {expected}: the download is cut short or corrupted"
    )]
    CiphertextChunkSize {
        /// Chunk number.
        index: u64,
        /// Required length, or the range of allowed lengths, in words.
        expected: String,
        /// Length given.
        actual: usize,
    },
    /// A chunk did not authenticate: wrong key, altered bytes, chunks out of
    /// order, or a non-final chunk presented as the final one (truncation).
    #[error(
        "attachment chunk {index} failed authentication: the file was altered, truncated or reordered, or the key is wrong"
    )]
    Authentication {
        /// Chunk number.
        index: u64,
    },
    /// A chunk came after the final chunk.
    #[error(
        "attachment chunk {index} comes after the final chunk: the file was extended or chunks were repeated"
    )]
    AfterFinalChunk {
        /// Chunk number the extra chunk would have had.
        index: u64,
    },
    /// The stream ended without its final chunk.
    #[error(
        "attachment ended after {chunks} chunks without its final chunk: the file was truncated"
    )]
    Truncated {
        /// Chunks received.
        chunks: u64,
    },
    /// The attachment needs more chunks than [`MAX_CHUNKS`].
    #[error(
        "attachment is too large: at most {MAX_CHUNKS} chunks ({MAX_PLAINTEXT_LEN} bytes) are supported"
    )]
    TooLarge,
    /// The decryptor already rejected a chunk and refuses to continue, so
    /// that a caller cannot skip a bad chunk and keep going.
    #[error(
        "the attachment decryptor already rejected a chunk and cannot continue; discard the partial file and download it again"
    )]
    Poisoned,
    /// A ciphertext length that no attachment can have.
    #[error("{len} bytes is not a valid attachment ciphertext length: {reason}")]
    CiphertextLength {
        /// The length given.
        len: u64,
        /// Why it is impossible.
        reason: &'static str,
    },
    /// The key in a pointer is not valid base64.
    #[error("attachment key is not valid base64: {0}")]
    KeyEncoding(#[from] base64::DecodeError),
    /// The key in a pointer has the wrong length.
    #[error("attachment key is {actual} bytes but must be {KEY_SIZE}")]
    KeyLength {
        /// Decoded length.
        actual: usize,
    },
}

/// The STREAM nonce for chunk `counter`: 11-byte big-endian counter, then
/// the last-chunk flag.
fn chunk_nonce(counter: u64, last: bool) -> Nonce {
    debug_assert!(counter < MAX_CHUNKS, "chunk counter beyond MAX_CHUNKS");
    let mut nonce = [0u8; NONCE_SIZE];
    let counter_bytes = counter.to_be_bytes();
    nonce[COUNTER_SIZE - counter_bytes.len()..COUNTER_SIZE].copy_from_slice(&counter_bytes);
    nonce[FLAG_INDEX] = if last { FLAG_LAST } else { FLAG_NOT_LAST };
    Nonce::from(nonce)
}

/// Seals an attachment chunk by chunk, so the sender never holds more than
/// one chunk of the file in memory.
pub struct Encryptor {
    cipher: ChaCha20Poly1305,
    /// Number of the next chunk.
    next: u64,
    /// Whether the final chunk has been sealed.
    finished: bool,
}

impl fmt::Debug for Encryptor {
    // Hand-written so the key never ends up in logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Encryptor")
            .field("next", &self.next)
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}

impl Encryptor {
    /// Starts encrypting one attachment under `key`, which must be fresh
    /// randomness used for this attachment only: the nonces restart at 0 for
    /// every attachment, so reusing a key would reuse nonces.
    pub fn new(key: &[u8; KEY_SIZE]) -> Self {
        Self {
            cipher: ChaCha20Poly1305::new(&Key::from(*key)),
            next: 0,
            finished: false,
        }
    }

    /// Seals the next chunk and returns it (plaintext plus [`TAG_SIZE`]
    /// bytes). `plaintext` must be exactly [`CHUNK_SIZE`] bytes unless `last`
    /// is set; the final chunk holds 1 to [`CHUNK_SIZE`] bytes, or 0 for an
    /// empty file. Nothing may follow the final chunk.
    ///
    /// On error nothing is sealed and the encryptor is unchanged.
    pub fn encrypt_chunk(
        &mut self,
        plaintext: &[u8],
        last: bool,
    ) -> Result<Vec<u8>, AttachmentError> {
        let index = self.next;
        if self.finished {
            return Err(AttachmentError::AfterFinalChunk { index });
        }
        if last {
            if plaintext.len() > CHUNK_SIZE {
                return Err(AttachmentError::FinalChunkTooLarge {
                    index,
                    max: CHUNK_SIZE,
                    actual: plaintext.len(),
                });
            }
            if plaintext.is_empty() && index > 0 {
                return Err(AttachmentError::EmptyFinalChunk { index });
            }
        } else if plaintext.len() != CHUNK_SIZE {
            return Err(AttachmentError::ChunkSize {
                index,
                expected: CHUNK_SIZE,
                actual: plaintext.len(),
            });
        }
        // A non-final chunk needs room for at least one more chunk after it.
        let needed = if last { index + 1 } else { index + 2 };
        if needed > MAX_CHUNKS {
            return Err(AttachmentError::TooLarge);
        }

        let sealed = self
            .cipher
            .encrypt(&chunk_nonce(index, last), plaintext)
            .expect(
            "ChaCha20-Poly1305 only refuses messages over 256 GiB and a chunk is at most 64 KiB",
        );
        debug_assert_eq!(sealed.len(), plaintext.len() + TAG_SIZE);
        self.next += 1;
        self.finished = last;
        Ok(sealed)
    }
}

/// Where a [`Decryptor`] stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DecryptState {
    /// Waiting for more chunks.
    Open,
    /// The final chunk authenticated.
    Finished,
    /// A chunk was rejected; nothing more is accepted.
    Failed,
}

/// Opens an attachment chunk by chunk, checking each chunk's authenticity,
/// position and finality, so the receiver never holds more than one chunk
/// in memory.
///
/// Each chunk returned is authentic, but the file is only complete once
/// [`Decryptor::finish`] returns `Ok`: write chunks somewhere temporary and
/// show the file only after that. After any error the decryptor refuses
/// further chunks.
pub struct Decryptor {
    cipher: ChaCha20Poly1305,
    /// Number of the next chunk.
    next: u64,
    state: DecryptState,
}

impl fmt::Debug for Decryptor {
    // Hand-written so the key never ends up in logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Decryptor")
            .field("next", &self.next)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl Decryptor {
    /// Starts decrypting one attachment with the key from its
    /// [`AttachmentPointer`].
    pub fn new(key: &[u8; KEY_SIZE]) -> Self {
        Self {
            cipher: ChaCha20Poly1305::new(&Key::from(*key)),
            next: 0,
            state: DecryptState::Open,
        }
    }

    /// Opens the next sealed chunk and returns its plaintext. `ciphertext`
    /// must be exactly [`ENCRYPTED_CHUNK_SIZE`] bytes unless `last` is set;
    /// set `last` for the chunk that ends the download. Presenting a
    /// non-final chunk as final (a truncated download) fails authentication.
    pub fn decrypt_chunk(
        &mut self,
        ciphertext: &[u8],
        last: bool,
    ) -> Result<Vec<u8>, AttachmentError> {
        match self.state {
            DecryptState::Open => {}
            DecryptState::Finished => {
                self.state = DecryptState::Failed;
                return Err(AttachmentError::AfterFinalChunk { index: self.next });
            }
            DecryptState::Failed => return Err(AttachmentError::Poisoned),
        }
        match self.open(ciphertext, last) {
            Ok(plaintext) => {
                self.next += 1;
                if last {
                    self.state = DecryptState::Finished;
                }
                Ok(plaintext)
            }
            Err(error) => {
                self.state = DecryptState::Failed;
                Err(error)
            }
        }
    }

    /// Checks the chunk's shape and opens it, without changing state.
    fn open(&self, ciphertext: &[u8], last: bool) -> Result<Vec<u8>, AttachmentError> {
        let index = self.next;
        let needed = if last { index + 1 } else { index + 2 };
        if needed > MAX_CHUNKS {
            return Err(AttachmentError::TooLarge);
        }
        if last {
            if ciphertext.len() < TAG_SIZE || ciphertext.len() > ENCRYPTED_CHUNK_SIZE {
                return Err(AttachmentError::CiphertextChunkSize {
                    index,
                    expected: format!("between {TAG_SIZE} and {ENCRYPTED_CHUNK_SIZE}"),
                    actual: ciphertext.len(),
                });
            }
            if ciphertext.len() == TAG_SIZE && index > 0 {
                return Err(AttachmentError::EmptyFinalChunk { index });
            }
        } else if ciphertext.len() != ENCRYPTED_CHUNK_SIZE {
            return Err(AttachmentError::CiphertextChunkSize {
                index,
                expected: format!("exactly {ENCRYPTED_CHUNK_SIZE}"),
                actual: ciphertext.len(),
            });
        }
        let plaintext = self
            .cipher
            .decrypt(&chunk_nonce(index, last), ciphertext)
            .map_err(|_| AttachmentError::Authentication { index })?;
        debug_assert_eq!(plaintext.len() + TAG_SIZE, ciphertext.len());
        Ok(plaintext)
    }

    /// Confirms that the final chunk arrived and authenticated. Without this
    /// check a download cut off at a chunk boundary would look like a
    /// complete, shorter file.
    pub fn finish(self) -> Result<(), AttachmentError> {
        match self.state {
            DecryptState::Finished => Ok(()),
            DecryptState::Open => Err(AttachmentError::Truncated { chunks: self.next }),
            DecryptState::Failed => Err(AttachmentError::Poisoned),
        }
    }
}

/// Number of chunks a plaintext of `plaintext_len` bytes is cut into: at
/// least one, since an empty file is one empty final chunk. Lets callers
/// plan reads and progress bars.
pub fn chunk_count(plaintext_len: u64) -> u64 {
    plaintext_len.div_ceil(CHUNK_SIZE_U64).max(1)
}

/// Size of the ciphertext (what is uploaded and stored) for a plaintext of
/// `plaintext_len` bytes, so the sender can announce the upload size and the
/// receiver can check a download's length before decrypting. For lengths
/// beyond [`MAX_PLAINTEXT_LEN`], which cannot be encrypted, the result
/// saturates at `u64::MAX` rather than wrapping.
pub fn ciphertext_len(plaintext_len: u64) -> u64 {
    let len = plaintext_len.saturating_add(chunk_count(plaintext_len).saturating_mul(TAG_SIZE_U64));
    debug_assert!(
        plaintext_len > MAX_PLAINTEXT_LEN || plaintext_len_checked(len).ok() == Some(plaintext_len),
        "ciphertext_len and plaintext_len disagree"
    );
    len
}

/// Size of the plaintext inside a ciphertext of `ciphertext_len` bytes, or
/// an error if no attachment has that ciphertext length (a truncated or
/// padded download). The inverse of [`ciphertext_len`].
pub fn plaintext_len(ciphertext_len: u64) -> Result<u64, AttachmentError> {
    plaintext_len_checked(ciphertext_len)
}

/// [`plaintext_len`] itself, separate so [`ciphertext_len`]'s debug check
/// and the public function share one definition.
fn plaintext_len_checked(len: u64) -> Result<u64, AttachmentError> {
    let invalid = |reason| AttachmentError::CiphertextLength { len, reason };
    if len < TAG_SIZE_U64 {
        return Err(invalid("shorter than one authentication tag"));
    }
    let full = len / ENCRYPTED_CHUNK_SIZE_U64;
    let rest = len % ENCRYPTED_CHUNK_SIZE_U64;
    let (chunks, plaintext) = if rest == 0 {
        // Ends with a full final chunk.
        (full, full * CHUNK_SIZE_U64)
    } else if full == 0 {
        // A single short (possibly empty) final chunk.
        (1, rest - TAG_SIZE_U64)
    } else if rest > TAG_SIZE_U64 {
        (full + 1, full * CHUNK_SIZE_U64 + rest - TAG_SIZE_U64)
    } else if rest == TAG_SIZE_U64 {
        return Err(invalid(
            "it would end with an empty chunk after full chunks, which is never produced",
        ));
    } else {
        return Err(invalid(
            "the last chunk is shorter than its authentication tag",
        ));
    };
    if chunks > MAX_CHUNKS {
        return Err(invalid("more chunks than an attachment may have"));
    }
    Ok(plaintext)
}

/// Incremental SHA-256 of an attachment's ciphertext, fed chunk by chunk as
/// it is produced or downloaded, so the digest never needs the whole file in
/// memory. The receiver compares it with [`AttachmentPointer::digest`] before
/// decrypting, to reject a corrupt or substituted blob early.
#[derive(Debug, Clone, Default)]
pub struct Digester {
    hasher: Sha256,
}

impl Digester {
    /// Starts a digest over no bytes.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the next bytes of the ciphertext; any split gives the same
    /// digest as hashing the concatenation.
    pub fn update(&mut self, bytes: &[u8]) {
        self.hasher.update(bytes);
    }

    /// The digest of everything fed so far, as lowercase hex (the form
    /// carried in [`AttachmentPointer::digest`]).
    pub fn finish(self) -> String {
        hex::encode(self.hasher.finalize())
    }
}

/// SHA-256 of `bytes` as lowercase hex: the one-shot form of [`Digester`]
/// for ciphertexts already in memory.
pub fn digest(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// What travels inside the end-to-end encrypted message to let the
/// recipient fetch, verify and decrypt an attachment. The server only ever
/// sees the blob, never this.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct AttachmentPointer {
    /// Server blob id of the ciphertext.
    pub blob: String,
    /// Standard base64 of the 32-byte attachment key (see
    /// [`AttachmentPointer::encode_key`]).
    pub key: String,
    /// Lowercase hex SHA-256 of the whole ciphertext (see [`digest`]).
    pub digest: String,
    /// Plaintext size in bytes; the download must be
    /// [`ciphertext_len`]`(size)` bytes.
    pub size: u64,
    /// File name, already passed through [`sanitise_name`] by the sender; the
    /// receiver should sanitise it again rather than trust the sender.
    pub name: String,
    /// MIME type, e.g. from [`sniff_content_type`]. Declared by the sender,
    /// so only a hint for display.
    pub content_type: String,
    /// Small preview, base64 of a JPEG, shown before the download.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thumbnail: Option<String>,
    /// Image or video width in pixels, to lay out the message before the
    /// download.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    /// Image or video height in pixels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    /// Audio or video duration in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
}

impl AttachmentPointer {
    /// Encodes a key for the [`AttachmentPointer::key`] field, so sender and
    /// receiver agree on the encoding.
    pub fn encode_key(key: &[u8; KEY_SIZE]) -> String {
        base64::engine::general_purpose::STANDARD.encode(key)
    }

    /// Decodes [`AttachmentPointer::key`] for [`Decryptor::new`], rejecting
    /// anything that is not exactly 32 bytes of standard base64.
    pub fn key_bytes(&self) -> Result<[u8; KEY_SIZE], AttachmentError> {
        Self::decode_key(&self.key)
    }

    /// Decodes a key as [`AttachmentPointer::encode_key`] wrote it (the
    /// server needs this for SMS download links, without a whole pointer).
    pub fn decode_key(key: &str) -> Result<[u8; KEY_SIZE], AttachmentError> {
        let bytes = base64::engine::general_purpose::STANDARD.decode(key)?;
        <[u8; KEY_SIZE]>::try_from(bytes.as_slice()).map_err(|_| AttachmentError::KeyLength {
            actual: bytes.len(),
        })
    }
}

/// Characters that reorder displayed text (bidirectional controls), which
/// can disguise an extension ("photo\u{202E}gpj.exe" shows as "photoexe.jpg").
fn is_bidi_control(c: char) -> bool {
    matches!(
        c,
        '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
    )
}

/// Characters that Windows forbids in file names besides path separators.
fn is_reserved_in_file_names(c: char) -> bool {
    matches!(c, '<' | '>' | ':' | '"' | '|' | '?' | '*')
}

/// Makes a sender-supplied file name safe to show and to save: keeps only
/// the last path component (so "../../etc/passwd" becomes "passwd"), drops
/// control and bidirectional-override characters, replaces characters that
/// Windows forbids with '_', strips leading dots (no hidden files, no "..")
/// and surrounding whitespace, and limits the result to 128 bytes, keeping a
/// short extension when it has to shorten. Falls back to "attachment" when
/// nothing is left.
pub fn sanitise_name(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .filter(|c| !c.is_control() && !is_bidi_control(*c))
        .map(|c| if is_reserved_in_file_names(c) { '_' } else { c })
        .collect();
    let component = cleaned
        .split(['/', '\\'])
        .rfind(|part| !part.trim().is_empty())
        .unwrap_or("");
    let trimmed = component
        .trim_start_matches(|c: char| c == '.' || c.is_whitespace())
        .trim_end();
    let shortened = truncate_name(trimmed);
    if shortened.is_empty() {
        FALLBACK_NAME.to_owned()
    } else {
        debug_assert!(shortened.len() <= MAX_NAME_BYTES);
        shortened
    }
}

/// Shortens `name` to at most [`MAX_NAME_BYTES`] bytes on a character
/// boundary, keeping a short extension so the file still opens with the
/// right application.
fn truncate_name(name: &str) -> String {
    if name.len() <= MAX_NAME_BYTES {
        return name.to_owned();
    }
    let extension = match name.rfind('.') {
        Some(dot) if dot > 0 && name.len() - dot <= MAX_KEPT_EXTENSION_BYTES => &name[dot..],
        _ => "",
    };
    let stem = prefix_within(name, MAX_NAME_BYTES - extension.len()).trim_end();
    let mut out = String::with_capacity(MAX_NAME_BYTES);
    out.push_str(stem);
    out.push_str(extension);
    out
}

/// The longest prefix of `s` of at most `max` bytes that ends on a
/// character boundary.
fn prefix_within(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Content types by lowercase file extension, for files whose magic bytes
/// are not recognised. Deliberately no HTML or SVG: those can carry script,
/// and a declared type must never make a receiver render active content.
const EXTENSION_TYPES: &[(&str, &str)] = &[
    ("jpg", "image/jpeg"),
    ("jpeg", "image/jpeg"),
    ("png", "image/png"),
    ("gif", "image/gif"),
    ("webp", "image/webp"),
    ("heic", "image/heic"),
    ("heif", "image/heif"),
    ("avif", "image/avif"),
    ("mp4", "video/mp4"),
    ("m4v", "video/mp4"),
    ("mov", "video/quicktime"),
    ("webm", "video/webm"),
    ("mkv", "video/x-matroska"),
    ("mp3", "audio/mpeg"),
    ("m4a", "audio/mp4"),
    ("ogg", "audio/ogg"),
    ("opus", "audio/ogg"),
    ("wav", "audio/wav"),
    ("pdf", "application/pdf"),
    ("txt", "text/plain"),
    ("zip", "application/zip"),
];

/// Guesses an attachment's MIME type from its first bytes (a few dozen are
/// enough) and, failing that, its file name's extension, so the sender can
/// fill [`AttachmentPointer::content_type`] without trusting the platform's
/// guess or pulling in a dependency. Recognises JPEG, PNG, GIF, WebP,
/// ISO base media files (MP4, MOV, HEIC/HEIF, AVIF, M4A, 3GP), WebM and
/// Matroska, and PDF; anything else is `application/octet-stream`.
pub fn sniff_content_type(first_bytes: &[u8], name: &str) -> &'static str {
    sniff_magic(first_bytes)
        .or_else(|| type_from_extension(name))
        .unwrap_or(OCTET_STREAM)
}

/// The content type announced by magic bytes, if any.
fn sniff_magic(b: &[u8]) -> Option<&'static str> {
    const JPEG: &[u8] = &[0xFF, 0xD8, 0xFF];
    const PNG: &[u8] = &[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];
    const EBML: &[u8] = &[0x1A, 0x45, 0xDF, 0xA3];
    if b.starts_with(JPEG) {
        return Some("image/jpeg");
    }
    if b.starts_with(PNG) {
        return Some("image/png");
    }
    if b.starts_with(b"GIF87a") || b.starts_with(b"GIF89a") {
        return Some("image/gif");
    }
    if b.starts_with(b"RIFF") && b.get(8..12) == Some(b"WEBP") {
        return Some("image/webp");
    }
    if b.starts_with(b"%PDF-") {
        return Some("application/pdf");
    }
    if b.starts_with(EBML) {
        let header = &b[..b.len().min(EBML_DOCTYPE_SEARCH_BYTES)];
        return Some(if header.windows(4).any(|w| w == b"webm") {
            "video/webm"
        } else {
            "video/x-matroska"
        });
    }
    // ISO base media file format: a box size, then the box type. Files
    // begin with an `ftyp` box naming the major brand; old QuickTime files
    // may begin directly with a movie or media box.
    match b.get(4..8)? {
        b"ftyp" => Some(ftyp_brand_type(b.get(8..12)?)),
        b"moov" | b"mdat" | b"wide" => Some("video/quicktime"),
        _ => None,
    }
}

/// The content type of an ISO base media file with major brand `brand`.
/// Photos from phones are often HEIC, which shares the MP4 container, so
/// the brand must be checked before calling anything with `ftyp` a video.
fn ftyp_brand_type(brand: &[u8]) -> &'static str {
    match brand {
        b"qt  " => "video/quicktime",
        b"heic" | b"heix" | b"heim" | b"heis" | b"hevc" | b"hevx" => "image/heic",
        b"mif1" | b"msf1" => "image/heif",
        b"avif" | b"avis" => "image/avif",
        b"M4A " | b"M4B " => "audio/mp4",
        _ if brand.starts_with(b"3g") => "video/3gpp",
        _ => "video/mp4",
    }
}

/// The content type for `name`'s extension, if it is a known one.
fn type_from_extension(name: &str) -> Option<&'static str> {
    let file = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let (stem, extension) = file.rsplit_once('.')?;
    if stem.is_empty() {
        // ".mp4" is a hidden file called "mp4", not an MP4.
        return None;
    }
    EXTENSION_TYPES
        .iter()
        .find(|(known, _)| known.eq_ignore_ascii_case(extension))
        .map(|(_, content_type)| *content_type)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; KEY_SIZE] = [7; KEY_SIZE];

    /// Deterministic, non-repeating test data.
    fn data(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 31 % 251) as u8).collect()
    }

    /// Encrypts `plaintext` the way a sender streams it; returns the sealed
    /// chunks.
    fn seal(key: &[u8; KEY_SIZE], plaintext: &[u8]) -> Vec<Vec<u8>> {
        let mut enc = Encryptor::new(key);
        if plaintext.is_empty() {
            return vec![enc
                .encrypt_chunk(&[], true)
                .expect("a well-formed chunk encrypts")];
        }
        let count = plaintext.len().div_ceil(CHUNK_SIZE);
        plaintext
            .chunks(CHUNK_SIZE)
            .enumerate()
            .map(|(i, chunk)| {
                enc.encrypt_chunk(chunk, i + 1 == count)
                    .expect("a well-formed chunk encrypts")
            })
            .collect()
    }

    /// Decrypts a whole ciphertext the way a receiver streams a download.
    fn open(key: &[u8; KEY_SIZE], ciphertext: &[u8]) -> Result<Vec<u8>, AttachmentError> {
        let mut dec = Decryptor::new(key);
        let mut out = Vec::new();
        let count = ciphertext.len().div_ceil(ENCRYPTED_CHUNK_SIZE).max(1);
        if ciphertext.is_empty() {
            out.extend(dec.decrypt_chunk(&[], true)?);
        }
        for (i, chunk) in ciphertext.chunks(ENCRYPTED_CHUNK_SIZE).enumerate() {
            out.extend(dec.decrypt_chunk(chunk, i + 1 == count)?);
        }
        dec.finish()?;
        Ok(out)
    }

    fn open_chunks(key: &[u8; KEY_SIZE], chunks: &[Vec<u8>]) -> Result<Vec<u8>, AttachmentError> {
        let mut dec = Decryptor::new(key);
        let mut out = Vec::new();
        for (i, chunk) in chunks.iter().enumerate() {
            out.extend(dec.decrypt_chunk(chunk, i + 1 == chunks.len())?);
        }
        dec.finish()?;
        Ok(out)
    }

    const SIZES: [usize; 6] = [
        0,
        1,
        CHUNK_SIZE - 1,
        CHUNK_SIZE,
        CHUNK_SIZE + 1,
        3 * CHUNK_SIZE + 17,
    ];

    #[test]
    fn round_trips() {
        for size in SIZES {
            let plaintext = data(size);
            let chunks = seal(&KEY, &plaintext);
            assert_eq!(chunks.len() as u64, chunk_count(size as u64), "size {size}");
            let ciphertext = chunks.concat();
            assert_eq!(
                ciphertext.len() as u64,
                ciphertext_len(size as u64),
                "size {size}"
            );
            assert_eq!(
                plaintext_len(ciphertext.len() as u64)
                    .expect("a length from ciphertext_len is valid"),
                size as u64
            );
            assert_eq!(
                open(&KEY, &ciphertext).expect("an untouched attachment decrypts"),
                plaintext,
                "size {size}"
            );
            assert_eq!(
                open_chunks(&KEY, &chunks).expect("untouched chunks decrypt"),
                plaintext
            );
        }
    }

    #[test]
    fn ciphertext_is_not_plaintext() {
        let plaintext = data(100);
        let ciphertext = seal(&KEY, &plaintext).concat();
        assert_ne!(&ciphertext[..100], &plaintext[..]);
    }

    #[test]
    fn same_plaintext_in_different_positions_encrypts_differently() {
        let chunk = vec![0u8; CHUNK_SIZE];
        let mut enc = Encryptor::new(&KEY);
        let a = enc
            .encrypt_chunk(&chunk, false)
            .expect("a well-formed chunk encrypts");
        let b = enc
            .encrypt_chunk(&chunk, true)
            .expect("a well-formed chunk encrypts");
        assert_ne!(a, b);
    }

    #[test]
    fn wrong_key_fails() {
        let ciphertext = seal(&KEY, &data(CHUNK_SIZE + 1)).concat();
        let err = open(&[8; KEY_SIZE], &ciphertext).expect_err("must be rejected");
        assert!(matches!(err, AttachmentError::Authentication { index: 0 }));
        assert!(err.to_string().contains("failed authentication"), "{err}");
    }

    #[test]
    fn flipped_bit_fails() {
        let mut ciphertext = seal(&KEY, &data(3 * CHUNK_SIZE + 17)).concat();
        for position in [0, ENCRYPTED_CHUNK_SIZE + 5, ciphertext.len() - 1] {
            ciphertext[position] ^= 0x01;
            let err = open(&KEY, &ciphertext).expect_err("must be rejected");
            assert!(
                matches!(err, AttachmentError::Authentication { .. }),
                "{err}"
            );
            ciphertext[position] ^= 0x01;
        }
        assert!(open(&KEY, &ciphertext).is_ok());
    }

    #[test]
    fn swapped_chunks_fail() {
        let mut chunks = seal(&KEY, &data(3 * CHUNK_SIZE + 17));
        chunks.swap(0, 1);
        let err = open_chunks(&KEY, &chunks).expect_err("must be rejected");
        assert!(matches!(err, AttachmentError::Authentication { index: 0 }));
    }

    #[test]
    fn dropping_the_final_chunk_fails_at_finish() {
        let chunks = seal(&KEY, &data(3 * CHUNK_SIZE + 17));
        let mut dec = Decryptor::new(&KEY);
        for chunk in &chunks[..chunks.len() - 1] {
            dec.decrypt_chunk(chunk, false)
                .expect("an untouched chunk decrypts");
        }
        let err = dec.finish().expect_err("must be rejected");
        assert!(matches!(err, AttachmentError::Truncated { chunks: 3 }));
        assert!(err.to_string().contains("truncated"), "{err}");
    }

    #[test]
    fn truncated_stream_presented_as_complete_fails() {
        // The receiver only sees a shorter download and marks its last chunk
        // final; that chunk was sealed as non-final.
        let chunks = seal(&KEY, &data(3 * CHUNK_SIZE + 17));
        let err = open_chunks(&KEY, &chunks[..2]).expect_err("must be rejected");
        assert!(matches!(err, AttachmentError::Authentication { index: 1 }));
    }

    #[test]
    fn chunk_after_the_final_one_fails() {
        let chunks = seal(&KEY, &data(CHUNK_SIZE + 1));
        let mut dec = Decryptor::new(&KEY);
        dec.decrypt_chunk(&chunks[0], false)
            .expect("an untouched chunk decrypts");
        dec.decrypt_chunk(&chunks[1], true)
            .expect("an untouched chunk decrypts");
        let err = dec
            .decrypt_chunk(&chunks[1], true)
            .expect_err("must be rejected");
        assert!(matches!(err, AttachmentError::AfterFinalChunk { index: 2 }));
        // Once something is wrong the stream is rejected as a whole.
        assert!(matches!(dec.finish(), Err(AttachmentError::Poisoned)));

        let mut enc = Encryptor::new(&KEY);
        enc.encrypt_chunk(b"end", true)
            .expect("a well-formed chunk encrypts");
        assert!(matches!(
            enc.encrypt_chunk(b"more", true),
            Err(AttachmentError::AfterFinalChunk { index: 1 })
        ));
    }

    #[test]
    fn decryptor_refuses_to_continue_after_a_failure() {
        let mut chunks = seal(&KEY, &data(3 * CHUNK_SIZE));
        chunks[0][0] ^= 1;
        let mut dec = Decryptor::new(&KEY);
        assert!(dec.decrypt_chunk(&chunks[0], false).is_err());
        assert!(matches!(
            dec.decrypt_chunk(&chunks[1], false),
            Err(AttachmentError::Poisoned)
        ));
    }

    #[test]
    fn encryptor_enforces_chunk_sizes() {
        let mut enc = Encryptor::new(&KEY);
        let err = enc
            .encrypt_chunk(&data(10), false)
            .expect_err("must be rejected");
        assert!(matches!(
            err,
            AttachmentError::ChunkSize {
                index: 0,
                actual: 10,
                ..
            }
        ));
        assert!(matches!(
            enc.encrypt_chunk(&data(CHUNK_SIZE + 1), true),
            Err(AttachmentError::FinalChunkTooLarge { .. })
        ));
        // Errors leave the encryptor usable.
        enc.encrypt_chunk(&data(CHUNK_SIZE), false)
            .expect("a well-formed chunk encrypts");
        assert!(matches!(
            enc.encrypt_chunk(&[], true),
            Err(AttachmentError::EmptyFinalChunk { index: 1 })
        ));
        enc.encrypt_chunk(&data(1), true)
            .expect("a well-formed chunk encrypts");
    }

    #[test]
    fn decryptor_rejects_wrong_chunk_lengths() {
        let chunks = seal(&KEY, &data(2 * CHUNK_SIZE));
        let mut dec = Decryptor::new(&KEY);
        let err = dec
            .decrypt_chunk(&chunks[0][..CHUNK_SIZE], false)
            .expect_err("must be rejected");
        assert!(matches!(
            err,
            AttachmentError::CiphertextChunkSize { index: 0, .. }
        ));
        let mut dec = Decryptor::new(&KEY);
        assert!(matches!(
            dec.decrypt_chunk(&[0; TAG_SIZE - 1], true),
            Err(AttachmentError::CiphertextChunkSize { .. })
        ));
    }

    #[test]
    fn nonce_layout() {
        let nonce = chunk_nonce(0x0A0B_0C0D, true);
        assert_eq!(
            nonce.as_slice(),
            &[0, 0, 0, 0, 0, 0, 0, 0x0A, 0x0B, 0x0C, 0x0D, FLAG_LAST]
        );
        assert_eq!(chunk_nonce(0, false).as_slice(), &[0; NONCE_SIZE]);
    }

    #[test]
    fn lengths_are_consistent() {
        let full = CHUNK_SIZE as u64;
        let sealed = ENCRYPTED_CHUNK_SIZE as u64;
        let tag = TAG_SIZE as u64;
        assert_eq!(chunk_count(0), 1);
        assert_eq!(chunk_count(1), 1);
        assert_eq!(chunk_count(full), 1);
        assert_eq!(chunk_count(full + 1), 2);
        assert_eq!(ciphertext_len(0), tag);
        assert_eq!(ciphertext_len(full), sealed);
        assert_eq!(ciphertext_len(full + 1), sealed + 1 + tag);
        let samples = [
            0,
            1,
            full - 1,
            full,
            full + 1,
            2 * full,
            3 * full + 17,
            2 << 30,
            MAX_PLAINTEXT_LEN - 1,
            MAX_PLAINTEXT_LEN,
        ];
        for n in samples {
            assert_eq!(
                plaintext_len(ciphertext_len(n)).expect("a length from ciphertext_len is valid"),
                n,
                "{n}"
            );
        }
        // Every ciphertext length in a window maps back to itself or is
        // rejected.
        for c in 0..3 * sealed + 2 * tag {
            if let Ok(n) = plaintext_len(c) {
                assert_eq!(ciphertext_len(n), c, "{c}");
            }
        }
        for bad in [0, tag - 1, sealed + tag, sealed + 5, 2 * sealed + 1] {
            assert!(plaintext_len(bad).is_err(), "{bad}");
        }
        assert!(plaintext_len(ciphertext_len(MAX_PLAINTEXT_LEN) + 1 + tag).is_err());
        assert_eq!(ciphertext_len(u64::MAX), u64::MAX);
    }

    #[test]
    fn streamed_digest_equals_digest_of_concatenation() {
        let chunks = seal(&KEY, &data(3 * CHUNK_SIZE + 17));
        let mut digester = Digester::new();
        for chunk in &chunks {
            digester.update(chunk);
        }
        assert_eq!(digester.finish(), digest(&chunks.concat()));
        assert_eq!(
            digest(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn pointer_round_trips_and_decodes_its_key() {
        let pointer = AttachmentPointer {
            blob: "b1".into(),
            key: AttachmentPointer::encode_key(&KEY),
            digest: digest(b"x"),
            size: 1,
            name: sanitise_name("photo.jpg"),
            content_type: "image/jpeg".into(),
            thumbnail: None,
            width: Some(640),
            height: Some(480),
            duration_ms: None,
        };
        let json = serde_json::to_string(&pointer).expect("a pointer serialises");
        assert!(!json.contains("thumbnail"), "{json}");
        let back: AttachmentPointer = serde_json::from_str(&json).expect("a pointer deserialises");
        assert_eq!(back, pointer);
        assert_eq!(back.key_bytes().expect("an encoded key decodes"), KEY);

        let minimal: AttachmentPointer = serde_json::from_str(
            r#"{"blob":"b","key":"AAAA","digest":"d","size":0,"name":"n","content_type":"t"}"#,
        )
        .expect("a pointer deserialises");
        assert_eq!(minimal.width, None);
        assert!(matches!(
            minimal.key_bytes(),
            Err(AttachmentError::KeyLength { actual: 3 })
        ));
        let garbled = AttachmentPointer {
            key: "not base64!".into(),
            ..pointer
        };
        assert!(matches!(
            garbled.key_bytes(),
            Err(AttachmentError::KeyEncoding(_))
        ));
    }

    #[test]
    fn sanitises_names() {
        assert_eq!(sanitise_name("../../etc/passwd"), "passwd");
        assert_eq!(sanitise_name(".hidden"), "hidden");
        assert_eq!(sanitise_name(""), "attachment");
        assert_eq!(sanitise_name(".."), "attachment");
        assert_eq!(sanitise_name("dir/"), "dir");
        assert_eq!(sanitise_name("C:\\Users\\me\\photo.jpg"), "photo.jpg");
        assert_eq!(sanitise_name("a\u{0}b\nc.txt"), "abc.txt");
        assert_eq!(sanitise_name("photo\u{202E}gpj.exe"), "photogpj.exe");
        assert_eq!(sanitise_name("what?.txt"), "what_.txt");
        assert_eq!(sanitise_name("  . spaced .txt  "), "spaced .txt");
        assert_eq!(sanitise_name("Ünïcödé 写真.png"), "Ünïcödé 写真.png");

        let long = format!("{}.jpeg", "é".repeat(100));
        let short = sanitise_name(&long);
        assert!(short.len() <= MAX_NAME_BYTES, "{}", short.len());
        assert!(short.ends_with(".jpeg"), "{short}");
        assert!(short.starts_with('é'));

        let no_extension = "x".repeat(300);
        assert_eq!(sanitise_name(&no_extension), "x".repeat(MAX_NAME_BYTES));
    }

    #[test]
    fn sniffs_magic_numbers() {
        let cases: [(&[u8], &str); 13] = [
            (&[0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10], "image/jpeg"),
            (b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR", "image/png"),
            (b"GIF89a\x01\x00", "image/gif"),
            (b"RIFF\x24\0\0\0WEBPVP8 ", "image/webp"),
            (b"\0\0\0\x18ftypisom\0\0\x02\0", "video/mp4"),
            (b"\0\0\0\x14ftypqt  \0\0\x02\0", "video/quicktime"),
            (b"\0\0\0\x18ftypheic\0\0\0\0", "image/heic"),
            (b"\0\0\0\x1cftypavif\0\0\0\0", "image/avif"),
            (
                b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x84webm",
                "video/webm",
            ),
            (
                b"\x1a\x45\xdf\xa3\xa3\x42\x82\x88matroska",
                "video/x-matroska",
            ),
            (b"%PDF-1.7\n", "application/pdf"),
            (b"\0\0\0\x08wide", "video/quicktime"),
            (b"hello", "application/octet-stream"),
        ];
        for (bytes, expected) in cases {
            assert_eq!(sniff_content_type(bytes, "file"), expected, "{bytes:?}");
        }
        // Magic bytes win over a misleading name.
        assert_eq!(
            sniff_content_type(b"%PDF-1.4", "cat.jpg"),
            "application/pdf"
        );
        // Unknown bytes fall back to the extension, case-insensitively.
        assert_eq!(sniff_content_type(b"", "Clip.MOV"), "video/quicktime");
        assert_eq!(sniff_content_type(b"??", "dir.d/notes.txt"), "text/plain");
        assert_eq!(sniff_content_type(b"", ".mp4"), "application/octet-stream");
        assert_eq!(
            sniff_content_type(b"<svg", "x.svg"),
            "application/octet-stream"
        );
        assert_eq!(sniff_content_type(b"", "noext"), "application/octet-stream");
    }

    #[test]
    fn errors_say_what_is_wrong() {
        let err = AttachmentError::Authentication { index: 3 };
        assert_eq!(
            err.to_string(),
            "attachment chunk 3 failed authentication: the file was altered, truncated or reordered, or the key is wrong"
        );
    }
}
