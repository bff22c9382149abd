//! The decrypted payload of a message, in tidings-core: a peer's device
//! chooses these bytes, so a malicious or buggy peer is untrusted input.
//! Besides "no panic": what decodes re-encodes to content that decodes to
//! the same value (handles inside are normalised once and for all), and an
//! attachment pointer inside yields a safe file name and consistent sizes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tidings_core::attachment::{ciphertext_len, plaintext_len, sanitise_name, MAX_PLAINTEXT_LEN};
use tidings_core::content::Content;

fuzz_target!(|data: &[u8]| {
    let Ok(content) = Content::from_bytes(data) else {
        return;
    };
    let bytes = content.to_bytes();
    let again = Content::from_bytes(&bytes).expect("encoded content decodes");
    assert_eq!(again, content);
    assert_eq!(again.to_bytes(), bytes);

    if let Content::Text { attachments, .. } = &content {
        for pointer in attachments {
            let _ = pointer.key_bytes();
            let name = sanitise_name(&pointer.name);
            assert!(!name.is_empty() && name.len() <= 128);
            assert!(!name.contains(['/', '\\']) && !name.starts_with('.'));
            if pointer.size <= MAX_PLAINTEXT_LEN {
                assert_eq!(
                    plaintext_len(ciphertext_len(pointer.size)).ok(),
                    Some(pointer.size)
                );
            }
        }
    }
});
