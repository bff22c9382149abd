//! The SMS decoders that see bytes from the phone network: concatenation
//! UDH parsing, percent-decoding of Kannel's fake-SMSC fields, GSM 03.38
//! septet unpacking and decoding, UCS-2 decoding, `decode_untyped` and
//! `decode_payload`. The first byte picks a fill-bit count and a unit
//! count for the payload decoders; the rest is the bytes.
//!
//! Besides "no panic": a parsed UDH names a valid position; percent coding,
//! septet packing, UCS-2 and GSM 7-bit round-trip; `decode_untyped` reads
//! text as itself and anything else as UTF-16BE.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tidings_sms::encoding::*;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, bytes)) = data.split_first() else {
        return;
    };
    let fill = pick % 7;
    let units = usize::from(pick >> 3) * 8 + bytes.len() % 8;

    if let Some(info) = parse_concat_udh(bytes) {
        assert!(
            info.total >= 1 && info.seq >= 1 && info.seq <= info.total,
            "{info:?}"
        );
    }

    let encoded = url_encode_bytes(bytes);
    assert_eq!(url_decode_bytes(&encoded).as_deref(), Ok(bytes));
    if let Ok(text) = std::str::from_utf8(bytes) {
        if let Ok(decoded) = url_decode_bytes(text) {
            assert!(decoded.len() <= text.len());
        }
    }

    match decode_untyped(bytes) {
        Ok(text) if looks_like_text(bytes) => assert_eq!(text.as_bytes(), bytes),
        Ok(text) => assert_eq!(ucs2_encode(&text), bytes),
        Err(_) => assert!(!looks_like_text(bytes)),
    }
    if let Ok(text) = ucs2_decode(bytes) {
        assert_eq!(ucs2_encode(&text), bytes);
    }

    // Septets as a gateway hands them over, and as packed octets.
    if let Ok(text) = gsm7_decode(bytes) {
        let septets = gsm7_encode(&text).expect("what GSM 7-bit decodes to, it encodes");
        assert_eq!(gsm7_decode(&septets).as_deref(), Ok(text.as_str()));
    }
    let septets: Vec<u8> = bytes.iter().map(|b| b & 0x7F).collect();
    let packed = pack_septets(&septets, fill);
    assert_eq!(
        unpack_septets(&packed, fill, septets.len()).as_deref(),
        Ok(septets.as_slice())
    );
    let _ = unpack_septets(bytes, fill, units);
    let _ = decode_payload(Encoding::Gsm7, bytes, fill, units);
    let _ = decode_payload(Encoding::Ucs2, bytes, 0, units);
});
