//! SMS encoding end to end: any text is split into segments (GSM 7-bit or
//! UCS-2, with concatenation headers), each segment's user data is decoded
//! as a handset would (UDH parsed, septets unpacked after the fill bits),
//! and the segments, shuffled and partly duplicated as a network may
//! deliver them, are put back together by a `Reassembler`: the result must
//! be the text. `count_segments` must agree with `split`.
//!
//! Input: a byte of reference, a byte of segment limit, a byte of shuffle
//! seed, then the text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tidings_sms::encoding::*;

fuzz_target!(|data: &[u8]| {
    let [reference, limit, seed, rest @ ..] = data else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let max_segments = usize::from(*limit % 12).max(1);
    let (encoding, counted) = count_segments(text);
    let segments = match split_with_limit(text, *reference, max_segments) {
        Ok(segments) => segments,
        Err(EncodeError::TooManySegments { segments, .. }) => {
            assert_eq!(segments, counted);
            assert!(counted > max_segments);
            return;
        }
    };
    assert_eq!(segments.len(), counted);
    assert_eq!(Encoding::for_text(text), encoding);

    // What each segment carries, read back from its user data alone.
    let mut parts = Vec::new();
    for segment in &segments {
        assert_eq!(segment.encoding, encoding);
        let user_data = segment.user_data();
        let (info, udh_len) = match &segment.udh {
            Some(udh) => {
                let info = parse_concat_udh(&user_data).expect("our UDH parses");
                assert_eq!(info.reference, u16::from(*reference));
                assert_eq!(usize::from(info.total), segments.len());
                (info, udh.len())
            }
            None => {
                assert_eq!(segments.len(), 1);
                (
                    ConcatInfo {
                        reference: 0,
                        total: 1,
                        seq: 1,
                    },
                    0,
                )
            }
        };
        let payload = &user_data[udh_len..];
        let decoded = decode_payload(encoding, payload, segment.fill_bits(), segment.units)
            .expect("our payload decodes");
        assert_eq!(decoded, segment.text);
        parts.push((info, payload.to_vec(), decoded));
    }
    assert_eq!(
        parts.iter().map(|(_, _, t)| t.as_str()).collect::<String>(),
        text
    );

    // Delivery in a shuffled order with a duplicate; UCS-2 as raw octets
    // (a surrogate pair may only join up here), GSM as text.
    let n = parts.len();
    let mut order: Vec<usize> = (0..n).collect();
    let mut state = u32::from(*seed) | 1;
    for i in (1..n).rev() {
        state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        order.swap(i, (state >> 16) as usize % (i + 1));
    }
    if n > 2 {
        order.insert(1, order[0]);
    }
    let mut reassembler = Reassembler::new();
    let mut whole = None;
    for (k, &i) in order.iter().enumerate() {
        let (info, payload, decoded) = &parts[i];
        let got = match encoding {
            Encoding::Ucs2 => reassembler.push_ucs2("+12025550103", *info, payload, k as u64),
            Encoding::Gsm7 => reassembler.push_text("+12025550103", *info, decoded, k as u64),
        }
        .expect("a segment we made is accepted");
        if let Some(got) = got {
            assert!(whole.is_none(), "completed twice");
            whole = Some(got);
            break;
        }
    }
    assert_eq!(whole.as_deref(), Some(text));
});
