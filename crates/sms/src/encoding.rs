//! GSM 03.38 / UCS-2 encoding, segmentation and reassembly of SMS text.
//!
//! An SMS carries at most 140 octets of user data. Text that fits the GSM
//! 03.38 default alphabet is packed seven bits per character (160 septets);
//! anything else travels as UCS-2, which in practice means UTF-16BE (70 code
//! units). Longer texts are split into concatenated segments, each starting
//! with a user data header (UDH) that lets the handset put them back together.
//!
//! This module is pure logic: no IO and no clock (callers pass `now_ms`), so
//! it also compiles for `wasm32` and the client can show segment counts.
//!
//! Sections:
//! 1. GSM 03.38 alphabet and septet packing
//! 2. UCS-2 / UTF-16BE
//! 3. Encoding choice and segmentation
//! 4. Concatenation UDH parsing and reassembly
//! 5. URL encoding for Kannel's fake-SMSC line protocol

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// Septets in a single, unconcatenated GSM 7-bit message (140 octets * 8 / 7).
pub const GSM7_SINGLE_MAX_SEPTETS: usize = 160;

/// Septets per segment of a concatenated GSM 7-bit message: 160 minus the 7
/// septets taken by the 6-octet concatenation UDH plus its fill bit.
pub const GSM7_CONCAT_MAX_SEPTETS: usize = 153;

/// UTF-16 code units in a single, unconcatenated UCS-2 message (140 / 2).
pub const UCS2_SINGLE_MAX_UNITS: usize = 70;

/// UTF-16 code units per segment of a concatenated UCS-2 message:
/// (140 - 6 octets of UDH) / 2.
pub const UCS2_CONCAT_MAX_UNITS: usize = 67;

/// Default cap on segments per outgoing message, so that one long text cannot
/// silently turn into dozens of billed SMS.
pub const MAX_SEGMENTS: usize = 10;

/// Hard protocol cap on segments: the total is carried in a single octet.
pub const MAX_CONCAT_SEGMENTS: usize = 255;

/// The GSM 03.38 escape septet that switches to the extension table for the
/// next septet.
pub const GSM7_ESCAPE: u8 = 0x1B;

/// Information element identifier of the concatenation IE with an 8-bit
/// reference (3GPP TS 23.040 9.2.3.24.1).
pub const IEI_CONCAT_8BIT: u8 = 0x00;

/// Information element identifier of the concatenation IE with a 16-bit
/// reference (3GPP TS 23.040 9.2.3.24.8).
pub const IEI_CONCAT_16BIT: u8 = 0x08;

/// Length in octets of the UDH that [`split`] writes: UDHL, IEI, IE length,
/// reference, total, sequence number.
pub const CONCAT_UDH_LEN: usize = 6;

/// Default cap on incomplete messages a [`Reassembler`] holds at once.
pub const MAX_PENDING_MESSAGES: usize = 1000;

/// Default cap on segments buffered by a [`Reassembler`] across all pending
/// messages; together with [`MAX_PART_UNITS`] this bounds its memory.
pub const MAX_PENDING_PARTS: usize = 10_000;

/// Default time after the first segment of a message arrives before its
/// incomplete remains are dropped (24 hours).
pub const MAX_PENDING_AGE_MS: u64 = 24 * 60 * 60 * 1000;

/// Longest single received segment, in UTF-16 code units, a [`Reassembler`]
/// accepts: 160 GSM characters is the most any SMS can carry.
pub const MAX_PART_UNITS: usize = GSM7_SINGLE_MAX_SEPTETS;

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/// Why a text could not be turned into SMS segments.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// The text needs more segments than allowed; says how long the text is
    /// and what the limit is so that the user can be told how much to cut.
    #[error(
        "text of {chars} characters is {units} {unit_name} as {encoding} and needs \
         {segments} SMS segments, but at most {max_segments} segments \
         ({max_units} {unit_name}) are allowed",
        unit_name = encoding.unit_name()
    )]
    TooManySegments {
        /// The encoding the text would be sent in.
        encoding: Encoding,
        /// Length of the text in Unicode scalar values.
        chars: usize,
        /// Length of the text in septets (GSM 7-bit) or UTF-16 code units (UCS-2).
        units: usize,
        /// Segments the text would need.
        segments: usize,
        /// The segment limit in force.
        max_segments: usize,
        /// Nominal capacity of `max_segments` segments, in the same units as `units`.
        max_units: usize,
    },
}

/// Why received bytes could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// A value that should be a septet has its high bit set.
    #[error("septet {value:#04x} at index {index} is not a 7-bit value")]
    SeptetOutOfRange {
        /// Position of the bad value.
        index: usize,
        /// The bad value.
        value: u8,
    },
    /// Fewer octets than the declared length (septets or UTF-16 code units) needs.
    #[error("{units} units need {needed} octets, but only {got} were given")]
    Truncated {
        /// Septets or code units asked for.
        units: usize,
        /// Octets those units occupy (including any fill bits).
        needed: usize,
        /// Octets available.
        got: usize,
    },
    /// UTF-16BE data must be a whole number of 2-octet code units.
    #[error("UCS-2 data has odd length {len}")]
    OddUcs2Length {
        /// Length in octets.
        len: usize,
    },
    /// A surrogate without its partner.
    #[error("unpaired UTF-16 surrogate {unit:#06x} at code unit {index}")]
    UnpairedSurrogate {
        /// Position in code units.
        index: usize,
        /// The lone surrogate.
        unit: u16,
    },
    /// A `%` not followed by two hexadecimal digits.
    #[error("invalid percent escape at byte offset {offset}")]
    InvalidPercentEscape {
        /// Byte offset of the `%`.
        offset: usize,
    },
}

/// Why a [`Reassembler`] refused a segment.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReassemblyError {
    /// The segment's payload could not be decoded.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// The sequence number is outside `1..=total` (or `total` is 0).
    #[error("segment {seq} of {total} is not a valid position")]
    InvalidSequence {
        /// Sequence number given.
        seq: u8,
        /// Total given.
        total: u8,
    },
    /// The segment is longer than any SMS can carry, so it is not one.
    #[error("segment of {units} UTF-16 code units exceeds the limit of {limit}")]
    PartTooLong {
        /// Length of the refused segment.
        units: usize,
        /// [`MAX_PART_UNITS`].
        limit: usize,
    },
}

// ---------------------------------------------------------------------------
// 1. GSM 03.38 alphabet and septet packing
// ---------------------------------------------------------------------------

/// The GSM 03.38 default alphabet, indexed by septet. Index 0x1B is the
/// escape and never matched when encoding; it decodes as a space per 23.038
/// when it escapes itself.
const GSM7_BASIC: [char; 128] = [
    '@', '£', '$', '¥', 'è', 'é', 'ù', 'ì', 'ò', 'Ç', '\n', 'Ø', 'ø', '\r', 'Å', 'å', //
    'Δ', '_', 'Φ', 'Γ', 'Λ', 'Ω', 'Π', 'Ψ', 'Σ', 'Θ', 'Ξ', ' ', 'Æ', 'æ', 'ß', 'É', //
    ' ', '!', '"', '#', '¤', '%', '&', '\'', '(', ')', '*', '+', ',', '-', '.', '/', //
    '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', ':', ';', '<', '=', '>', '?', //
    '¡', 'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I', 'J', 'K', 'L', 'M', 'N', 'O', //
    'P', 'Q', 'R', 'S', 'T', 'U', 'V', 'W', 'X', 'Y', 'Z', 'Ä', 'Ö', 'Ñ', 'Ü', '§', //
    '¿', 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o', //
    'p', 'q', 'r', 's', 't', 'u', 'v', 'w', 'x', 'y', 'z', 'ä', 'ö', 'ñ', 'ü', 'à', //
];

/// The GSM 03.38 basic character set extension table: (septet after the
/// escape, character).
const GSM7_EXTENSION: [(u8, char); 10] = [
    (0x0A, '\u{0C}'), // form feed
    (0x14, '^'),
    (0x28, '{'),
    (0x29, '}'),
    (0x2F, '\\'),
    (0x3C, '['),
    (0x3D, '~'),
    (0x3E, ']'),
    (0x40, '|'),
    (0x65, '€'),
];

/// Where a character lives in GSM 03.38.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Gsm7Code {
    /// One septet in the default alphabet.
    Basic(u8),
    /// Escape followed by this septet.
    Extended(u8),
}

/// Looks a character up in the default alphabet, then the extension table.
fn gsm7_lookup(c: char) -> Option<Gsm7Code> {
    // Fast path: ASCII letters and digits sit at their ASCII positions.
    if c.is_ascii_alphanumeric() {
        return Some(Gsm7Code::Basic(
            u8::try_from(c).expect("ASCII characters fit in a byte"),
        ));
    }
    if let Some(index) = GSM7_BASIC
        .iter()
        .enumerate()
        .position(|(i, &b)| b == c && i != usize::from(GSM7_ESCAPE))
    {
        return Some(Gsm7Code::Basic(
            u8::try_from(index).expect("the table has 128 entries"),
        ));
    }
    GSM7_EXTENSION
        .iter()
        .find(|&&(_, e)| e == c)
        .map(|&(code, _)| Gsm7Code::Extended(code))
}

/// Septets a character takes in GSM 7-bit (1, or 2 for extension characters),
/// or `None` if it is not in GSM 03.38; used to count without allocating.
pub fn gsm7_char_septets(c: char) -> Option<usize> {
    match gsm7_lookup(c)? {
        Gsm7Code::Basic(_) => Some(1),
        Gsm7Code::Extended(_) => Some(2),
    }
}

/// Encodes text as unpacked GSM 03.38 septet values (one per byte, extension
/// characters as escape + code), or `None` if any character does not fit, in
/// which case the text must go as UCS-2.
pub fn gsm7_encode(text: &str) -> Option<Vec<u8>> {
    let mut septets = Vec::with_capacity(text.len());
    for c in text.chars() {
        match gsm7_lookup(c)? {
            Gsm7Code::Basic(code) => septets.push(code),
            Gsm7Code::Extended(code) => {
                septets.push(GSM7_ESCAPE);
                septets.push(code);
            }
        }
    }
    debug_assert!(septets.iter().all(|&s| s < 0x80));
    Some(septets)
}

/// Decodes unpacked GSM 03.38 septet values into text.
///
/// Follows 3GPP TS 23.038 for odd input: an escape followed by a code not in
/// the extension table shows the default-alphabet character for that code, a
/// double escape shows a space, and a trailing lone escape is dropped.
pub fn gsm7_decode(septets: &[u8]) -> Result<String, DecodeError> {
    if let Some(index) = septets.iter().position(|&s| s >= 0x80) {
        return Err(DecodeError::SeptetOutOfRange {
            index,
            value: septets[index],
        });
    }
    let mut text = String::with_capacity(septets.len());
    let mut iter = septets.iter().copied();
    while let Some(septet) = iter.next() {
        if septet != GSM7_ESCAPE {
            text.push(GSM7_BASIC[usize::from(septet)]);
            continue;
        }
        let Some(code) = iter.next() else { break };
        if code == GSM7_ESCAPE {
            text.push(' ');
        } else if let Some(&(_, c)) = GSM7_EXTENSION.iter().find(|&&(e, _)| e == code) {
            text.push(c);
        } else {
            text.push(GSM7_BASIC[usize::from(code)]);
        }
    }
    Ok(text)
}

/// Fill bits needed after a UDH of `udh_len` octets (including the UDHL
/// octet) so that the first septet starts on a septet boundary, as GSM 7-bit
/// user data requires; 0 when there is no UDH.
pub fn udh_fill_bits(udh_len: usize) -> u8 {
    let rem = (udh_len * 8) % 7;
    let fill = (7 - rem) % 7;
    u8::try_from(fill).expect("a value below 7 fits in a byte")
}

/// Septets occupied by a UDH of `udh_len` octets plus its fill bits; they
/// count towards the user data length (TP-UDL) of a GSM 7-bit message.
pub fn udh_septets(udh_len: usize) -> usize {
    (udh_len * 8).div_ceil(7)
}

/// Octets needed for `septets` septets after `fill_bits` fill bits.
fn packed_len(septets: usize, fill_bits: u8) -> usize {
    (usize::from(fill_bits) + septets * 7).div_ceil(8)
}

/// Packs septet values into octets, least significant bit first, after
/// `fill_bits` zero bits (0..=6, see [`udh_fill_bits`]), so that a UDH
/// followed by the result is exactly the TP-User-Data of an SMS.
pub fn pack_septets(septets: &[u8], fill_bits: u8) -> Vec<u8> {
    debug_assert!(fill_bits < 7, "fill bits are at most 6");
    let mut out = vec![0u8; packed_len(septets.len(), fill_bits)];
    for (i, &septet) in septets.iter().enumerate() {
        debug_assert!(septet < 0x80, "septet values are 7-bit");
        let septet = septet & 0x7F;
        let bit = usize::from(fill_bits) + i * 7;
        let (byte, shift) = (bit / 8, bit % 8);
        out[byte] |= septet << shift;
        if shift > 1 {
            out[byte + 1] |= septet >> (8 - shift);
        }
    }
    out
}

/// Unpacks `septet_count` septets from octets packed after `fill_bits` fill
/// bits; the count must come from the message (TP-UDL) because the octets
/// alone cannot tell a trailing `@` (septet 0) from padding.
pub fn unpack_septets(
    octets: &[u8],
    fill_bits: u8,
    septet_count: usize,
) -> Result<Vec<u8>, DecodeError> {
    debug_assert!(fill_bits < 7, "fill bits are at most 6");
    let needed = packed_len(septet_count, fill_bits);
    if octets.len() < needed {
        return Err(DecodeError::Truncated {
            units: septet_count,
            needed,
            got: octets.len(),
        });
    }
    let mut out = Vec::with_capacity(septet_count);
    for i in 0..septet_count {
        let bit = usize::from(fill_bits) + i * 7;
        let (byte, shift) = (bit / 8, bit % 8);
        let mut value = octets[byte] >> shift;
        if shift > 1 {
            value |= octets[byte + 1] << (8 - shift);
        }
        out.push(value & 0x7F);
    }
    Ok(out)
}

// ---------------------------------------------------------------------------
// 2. UCS-2 / UTF-16BE
// ---------------------------------------------------------------------------

/// Encodes text as UTF-16BE, the de facto meaning of "UCS-2" in SMS; characters
/// outside the BMP (emoji) become surrogate pairs, which handsets display.
pub fn ucs2_encode(text: &str) -> Vec<u8> {
    text.encode_utf16().flat_map(u16::to_be_bytes).collect()
}

/// Decodes UTF-16BE octets into text, rejecting odd lengths and unpaired
/// surrogates; use [`Reassembler::push_ucs2`] for segments of a concatenated
/// message, where a sender may have split a surrogate pair.
pub fn ucs2_decode(bytes: &[u8]) -> Result<String, DecodeError> {
    let units = utf16be_units(bytes)?;
    let mut text = String::with_capacity(units.len());
    let mut index = 0;
    for decoded in char::decode_utf16(units.iter().copied()) {
        match decoded {
            Ok(c) => {
                text.push(c);
                index += c.len_utf16();
            }
            Err(err) => {
                return Err(DecodeError::UnpairedSurrogate {
                    index,
                    unit: err.unpaired_surrogate(),
                })
            }
        }
    }
    Ok(text)
}

/// Splits UTF-16BE octets into code units.
fn utf16be_units(bytes: &[u8]) -> Result<Vec<u16>, DecodeError> {
    if bytes.len() % 2 != 0 {
        return Err(DecodeError::OddUcs2Length { len: bytes.len() });
    }
    Ok(bytes
        .chunks_exact(2)
        .map(|pair| u16::from_be_bytes([pair[0], pair[1]]))
        .collect())
}

// ---------------------------------------------------------------------------
// 3. Encoding choice and segmentation
// ---------------------------------------------------------------------------

/// The data coding of an SMS text; chosen per message so that plain text
/// gets the 160-character GSM alphabet and everything else still arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Encoding {
    /// GSM 03.38 default alphabet, 7 bits per septet.
    Gsm7,
    /// UCS-2, sent as UTF-16BE.
    Ucs2,
}

impl Encoding {
    /// Picks [`Encoding::Gsm7`] when every character fits the GSM alphabet
    /// (including the extension table), else [`Encoding::Ucs2`].
    pub fn for_text(text: &str) -> Self {
        if text.chars().all(|c| gsm7_lookup(c).is_some()) {
            Encoding::Gsm7
        } else {
            Encoding::Ucs2
        }
    }

    /// Units a single unconcatenated message holds in this encoding.
    pub fn single_limit(self) -> usize {
        match self {
            Encoding::Gsm7 => GSM7_SINGLE_MAX_SEPTETS,
            Encoding::Ucs2 => UCS2_SINGLE_MAX_UNITS,
        }
    }

    /// Units each segment of a concatenated message holds in this encoding.
    pub fn concat_limit(self) -> usize {
        match self {
            Encoding::Gsm7 => GSM7_CONCAT_MAX_SEPTETS,
            Encoding::Ucs2 => UCS2_CONCAT_MAX_UNITS,
        }
    }

    /// Name of the unit lengths are measured in, for messages to people.
    pub fn unit_name(self) -> &'static str {
        match self {
            Encoding::Gsm7 => "septets",
            Encoding::Ucs2 => "UTF-16 code units",
        }
    }

    /// Units one character takes; `None` only for a non-GSM character under
    /// [`Encoding::Gsm7`].
    fn char_units(self, c: char) -> Option<usize> {
        match self {
            Encoding::Gsm7 => gsm7_char_septets(c),
            Encoding::Ucs2 => Some(c.len_utf16()),
        }
    }

    /// Nominal capacity of `segments` segments, for error messages.
    fn capacity(self, segments: usize) -> usize {
        match segments {
            0 => 0,
            1 => self.single_limit(),
            n => n * self.concat_limit(),
        }
    }
}

impl fmt::Display for Encoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Encoding::Gsm7 => "GSM-7",
            Encoding::Ucs2 => "UCS-2",
        })
    }
}

/// One SMS ready to hand to a gateway: the header, the encoded payload and,
/// for gateways that take text (such as Kannel), the text it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// How `payload` is encoded.
    pub encoding: Encoding,
    /// Concatenation user data header including its length octet
    /// (`05 00 03 ref total seq`), or `None` for a single message.
    pub udh: Option<Vec<u8>>,
    /// Packed septets for GSM 7-bit (starting after the UDH fill bits, so
    /// `udh ++ payload` is the TP-User-Data) or UTF-16BE for UCS-2.
    pub payload: Vec<u8>,
    /// Septets (GSM 7-bit) or UTF-16 code units (UCS-2) in `payload`; needed
    /// because packed octets alone cannot tell a trailing `@` from padding.
    pub units: usize,
    /// The part of the original text carried by this segment.
    pub text: String,
}

impl Segment {
    /// Fill bits between the UDH and the first septet (always 0 for UCS-2).
    pub fn fill_bits(&self) -> u8 {
        match (self.encoding, &self.udh) {
            (Encoding::Gsm7, Some(udh)) => udh_fill_bits(udh.len()),
            _ => 0,
        }
    }

    /// The complete TP-User-Data: UDH (if any) followed by the payload.
    pub fn user_data(&self) -> Vec<u8> {
        let udh = self.udh.as_deref().unwrap_or_default();
        let mut data = Vec::with_capacity(udh.len() + self.payload.len());
        data.extend_from_slice(udh);
        data.extend_from_slice(&self.payload);
        data
    }

    /// TP-User-Data-Length as a PDU carries it: septets including the UDH for
    /// GSM 7-bit, octets for UCS-2.
    pub fn user_data_length(&self) -> usize {
        let udh_len = self.udh.as_ref().map_or(0, Vec::len);
        match self.encoding {
            Encoding::Gsm7 => udh_septets(udh_len) + self.units,
            Encoding::Ucs2 => udh_len + self.payload.len(),
        }
    }
}

/// Decodes a segment payload back into text: the receiving counterpart of
/// [`Segment::payload`], with `fill_bits` and `units` as in [`Segment`].
pub fn decode_payload(
    encoding: Encoding,
    payload: &[u8],
    fill_bits: u8,
    units: usize,
) -> Result<String, DecodeError> {
    match encoding {
        Encoding::Gsm7 => gsm7_decode(&unpack_septets(payload, fill_bits, units)?),
        Encoding::Ucs2 => {
            let needed = units * 2;
            let bytes = payload.get(..needed).ok_or(DecodeError::Truncated {
                units,
                needed,
                got: payload.len(),
            })?;
            ucs2_decode(bytes)
        }
    }
}

/// Builds the 6-octet concatenation UDH `05 00 03 ref total seq` (8-bit
/// reference), the form every handset understands.
pub fn concat_udh(reference: u8, total: u8, seq: u8) -> Vec<u8> {
    debug_assert!(total >= 1 && (1..=total).contains(&seq));
    let udh = vec![0x05, IEI_CONCAT_8BIT, 0x03, reference, total, seq];
    debug_assert_eq!(udh.len(), CONCAT_UDH_LEN);
    udh
}

/// Length of `text` in units of `encoding` and the number of segments it
/// needs; the single source of truth shared by [`count_segments`] and
/// [`split_with_limit`] so the two can never disagree.
fn measure(text: &str, encoding: Encoding) -> (usize, usize) {
    let mut total = 0;
    // Segments and fill of the current segment if the text were concatenated.
    let mut segments = 1;
    let mut current = 0;
    let concat = encoding.concat_limit();
    for c in text.chars() {
        let w = encoding
            .char_units(c)
            .expect("the encoding was chosen so that every character fits");
        total += w;
        if current + w > concat {
            segments += 1;
            current = 0;
        }
        current += w;
    }
    if total <= encoding.single_limit() {
        (total, 1)
    } else {
        (total, segments)
    }
}

/// Tells the UI which encoding a text will use and how many SMS it costs,
/// without building the segments.
pub fn count_segments(text: &str) -> (Encoding, usize) {
    let encoding = Encoding::for_text(text);
    let (_, segments) = measure(text, encoding);
    (encoding, segments)
}

/// Splits text into SMS segments with the default [`MAX_SEGMENTS`] limit;
/// `reference` ties the segments of one message together on the handset and
/// should differ between consecutive messages to the same recipient.
pub fn split(text: &str, reference: u8) -> Result<Vec<Segment>, EncodeError> {
    split_with_limit(text, reference, MAX_SEGMENTS)
}

/// Splits text into at most `max_segments` SMS segments (capped at
/// [`MAX_CONCAT_SEGMENTS`]), choosing the encoding automatically. Segments
/// never split a GSM escape sequence or a UTF-16 surrogate pair. An empty text
/// gives one empty segment.
pub fn split_with_limit(
    text: &str,
    reference: u8,
    max_segments: usize,
) -> Result<Vec<Segment>, EncodeError> {
    let encoding = Encoding::for_text(text);
    let (units, needed) = measure(text, encoding);
    let limit = max_segments.min(MAX_CONCAT_SEGMENTS);
    if needed > limit {
        return Err(EncodeError::TooManySegments {
            encoding,
            chars: text.chars().count(),
            units,
            segments: needed,
            max_segments: limit,
            max_units: encoding.capacity(limit),
        });
    }
    if needed == 1 {
        return Ok(vec![encode_segment(text, encoding, None)]);
    }
    let chunks = chunk_text(text, encoding);
    debug_assert_eq!(chunks.len(), needed, "measure and chunk_text agree");
    let total = u8::try_from(chunks.len()).expect("segment count is capped at 255");
    let segments: Vec<Segment> = chunks
        .into_iter()
        .zip(1..=total)
        .map(|(chunk, seq)| {
            encode_segment(chunk, encoding, Some(concat_udh(reference, total, seq)))
        })
        .collect();
    debug_assert!(segments.iter().all(|s| s.units <= encoding.concat_limit()));
    Ok(segments)
}

/// Cuts text into pieces of at most one concatenated segment each, only
/// between characters, so escapes and surrogate pairs stay whole.
fn chunk_text(text: &str, encoding: Encoding) -> Vec<&str> {
    let concat = encoding.concat_limit();
    let mut chunks = Vec::new();
    let mut start = 0;
    let mut current = 0;
    for (i, c) in text.char_indices() {
        let w = encoding
            .char_units(c)
            .expect("the encoding was chosen so that every character fits");
        if current + w > concat {
            chunks.push(&text[start..i]);
            start = i;
            current = 0;
        }
        current += w;
    }
    if start < text.len() || chunks.is_empty() {
        chunks.push(&text[start..]);
    }
    chunks
}

/// Encodes one piece of text into a segment with the given UDH.
fn encode_segment(text: &str, encoding: Encoding, udh: Option<Vec<u8>>) -> Segment {
    let (payload, units) = match encoding {
        Encoding::Gsm7 => {
            let septets = gsm7_encode(text).expect("Gsm7 is only chosen when every character fits");
            let fill = udh.as_ref().map_or(0, |u| udh_fill_bits(u.len()));
            (pack_septets(&septets, fill), septets.len())
        }
        Encoding::Ucs2 => {
            let payload = ucs2_encode(text);
            let units = payload.len() / 2;
            (payload, units)
        }
    };
    debug_assert!(
        units
            <= if udh.is_some() {
                encoding.concat_limit()
            } else {
                encoding.single_limit()
            }
    );
    Segment {
        encoding,
        udh,
        payload,
        units,
        text: text.to_owned(),
    }
}

// ---------------------------------------------------------------------------
// 4. Concatenation UDH parsing and reassembly
// ---------------------------------------------------------------------------

/// Where a received segment belongs: its message reference and position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConcatInfo {
    /// Message reference, 8 or 16 bits wide depending on the IE.
    pub reference: u16,
    /// Number of segments in the message (at least 1).
    pub total: u8,
    /// Position of this segment, 1-based.
    pub seq: u8,
}

/// Finds the concatenation information in a received UDH (starting with its
/// UDHL length octet; anything after the header is ignored, so the whole
/// user data may be passed). Accepts both the 8-bit (IEI 0x00) and 16-bit
/// (IEI 0x08) reference forms; skips other IEs; returns `None` for a
/// malformed header or impossible positions (`seq` 0 or above `total`).
pub fn parse_concat_udh(udh: &[u8]) -> Option<ConcatInfo> {
    let (&udhl, rest) = udh.split_first()?;
    let mut ies = rest.get(..usize::from(udhl))?;
    let mut found = None;
    while let [iei, len, tail @ ..] = ies {
        let len = usize::from(*len);
        let data = tail.get(..len)?;
        match (*iei, data) {
            (IEI_CONCAT_8BIT, &[reference, total, seq]) => {
                found = Some(ConcatInfo {
                    reference: u16::from(reference),
                    total,
                    seq,
                });
            }
            (IEI_CONCAT_16BIT, &[hi, lo, total, seq]) => {
                found = Some(ConcatInfo {
                    reference: u16::from_be_bytes([hi, lo]),
                    total,
                    seq,
                });
            }
            _ => {}
        }
        ies = &tail[len..];
    }
    if !ies.is_empty() {
        // A single dangling octet: the header is malformed.
        return None;
    }
    // 23.040: when an IE repeats, the last occurrence counts.
    found.filter(|info| info.total >= 1 && (1..=info.total).contains(&info.seq))
}

/// Caps on what a [`Reassembler`] holds, so that a flood of never-completed
/// segments cannot grow memory without bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReassemblerLimits {
    /// Incomplete messages held at once; the oldest is evicted beyond this.
    pub max_pending_messages: usize,
    /// Segments held across all incomplete messages; the oldest messages are
    /// evicted beyond this.
    pub max_pending_parts: usize,
    /// Milliseconds after its first segment after which an incomplete message
    /// is dropped.
    pub max_age_ms: u64,
}

impl Default for ReassemblerLimits {
    fn default() -> Self {
        Self {
            max_pending_messages: MAX_PENDING_MESSAGES,
            max_pending_parts: MAX_PENDING_PARTS,
            max_age_ms: MAX_PENDING_AGE_MS,
        }
    }
}

/// Identifies one concatenated message in flight.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct PendingKey {
    sender: String,
    reference: u16,
    total: u8,
}

/// The segments of one message received so far.
#[derive(Debug)]
struct Pending {
    /// Arrival order, for evicting the oldest first.
    id: u64,
    /// When the first segment arrived.
    first_seen_ms: u64,
    /// UTF-16 code units of each segment, indexed by `seq - 1`; kept as code
    /// units so that a surrogate pair split by the sender joins up again.
    parts: Vec<Option<Vec<u16>>>,
    /// Number of `Some` entries in `parts`.
    received: usize,
}

/// Puts received concatenated SMS back together. Segments are keyed by
/// (sender, reference, total) and may arrive in any order; duplicates are
/// ignored; incomplete messages are evicted oldest first when the
/// [`ReassemblerLimits`] are reached or they grow too old. There is no clock
/// inside: callers pass `now_ms`, which should not go backwards.
///
/// Segments are deduplicated only while their message is incomplete: a
/// duplicate arriving after completion starts a new entry that ages out.
#[derive(Debug, Default)]
pub struct Reassembler {
    limits: ReassemblerLimits,
    pending: BTreeMap<PendingKey, Pending>,
    /// Arrival id -> key, oldest first.
    order: BTreeMap<u64, PendingKey>,
    next_id: u64,
    buffered_parts: usize,
}

impl Reassembler {
    /// A reassembler with the default limits.
    pub fn new() -> Self {
        Self::default()
    }

    /// A reassembler with custom limits (tests, small deployments).
    pub fn with_limits(limits: ReassemblerLimits) -> Self {
        Self {
            limits,
            ..Self::default()
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> ReassemblerLimits {
        self.limits
    }

    /// Number of incomplete messages held, for metrics.
    pub fn pending_messages(&self) -> usize {
        self.pending.len()
    }

    /// Number of segments held across incomplete messages, for metrics.
    pub fn pending_parts(&self) -> usize {
        self.buffered_parts
    }

    /// Adds a segment received as text (e.g. GSM 7-bit already decoded by the
    /// gateway). Returns the full text once every segment has arrived.
    pub fn push_text(
        &mut self,
        sender: &str,
        info: ConcatInfo,
        text: &str,
        now_ms: u64,
    ) -> Result<Option<String>, ReassemblyError> {
        self.push_units(sender, info, text.encode_utf16().collect(), now_ms)
    }

    /// Adds a segment received as UTF-16BE octets. Unlike [`ucs2_decode`] this
    /// accepts a surrogate pair split across segments; lone surrogates left in
    /// the complete message become U+FFFD rather than losing the message.
    pub fn push_ucs2(
        &mut self,
        sender: &str,
        info: ConcatInfo,
        utf16be: &[u8],
        now_ms: u64,
    ) -> Result<Option<String>, ReassemblyError> {
        self.push_units(sender, info, utf16be_units(utf16be)?, now_ms)
    }

    /// Drops incomplete messages whose first segment is older than the age
    /// limit; returns how many were dropped. Called by every push too.
    pub fn expire(&mut self, now_ms: u64) -> usize {
        let mut dropped = 0;
        while let Some((_, key)) = self.order.first_key_value() {
            let first_seen = self
                .pending
                .get(key)
                .expect("every ordered key is pending")
                .first_seen_ms;
            if now_ms.saturating_sub(first_seen) <= self.limits.max_age_ms {
                break;
            }
            self.evict_oldest();
            dropped += 1;
        }
        dropped
    }

    /// Removes the oldest incomplete message; `false` if there was none.
    fn evict_oldest(&mut self) -> bool {
        let Some((_, key)) = self.order.pop_first() else {
            return false;
        };
        let entry = self
            .pending
            .remove(&key)
            .expect("every ordered key is pending");
        self.buffered_parts -= entry.received;
        true
    }

    fn push_units(
        &mut self,
        sender: &str,
        info: ConcatInfo,
        units: Vec<u16>,
        now_ms: u64,
    ) -> Result<Option<String>, ReassemblyError> {
        let ConcatInfo {
            reference,
            total,
            seq,
        } = info;
        if total == 0 || seq == 0 || seq > total {
            return Err(ReassemblyError::InvalidSequence { seq, total });
        }
        if units.len() > MAX_PART_UNITS {
            return Err(ReassemblyError::PartTooLong {
                units: units.len(),
                limit: MAX_PART_UNITS,
            });
        }
        self.expire(now_ms);
        if total == 1 {
            return Ok(Some(String::from_utf16_lossy(&units)));
        }
        let index = usize::from(seq - 1);
        let key = PendingKey {
            sender: sender.to_owned(),
            reference,
            total,
        };
        if let Some(entry) = self.pending.get(&key) {
            if entry.parts[index].is_some() {
                return Ok(None); // duplicate
            }
        }

        // Take the entry out (or start one) so that making room below can
        // never evict the message this segment belongs to.
        let mut entry = match self.pending.remove(&key) {
            Some(entry) => {
                self.order.remove(&entry.id);
                self.buffered_parts -= entry.received;
                entry
            }
            None => {
                let id = self.next_id;
                self.next_id += 1;
                Pending {
                    id,
                    first_seen_ms: now_ms,
                    parts: vec![None; usize::from(total)],
                    received: 0,
                }
            }
        };
        entry.parts[index] = Some(units);
        entry.received += 1;

        if entry.received == entry.parts.len() {
            let all: Vec<u16> = entry.parts.into_iter().flatten().flatten().collect();
            self.check_invariants();
            return Ok(Some(String::from_utf16_lossy(&all)));
        }

        while self.pending.len() + 1 > self.limits.max_pending_messages
            || self.buffered_parts + entry.received > self.limits.max_pending_parts
        {
            if !self.evict_oldest() {
                break;
            }
        }
        if self.pending.len() + 1 > self.limits.max_pending_messages
            || self.buffered_parts + entry.received > self.limits.max_pending_parts
        {
            // The limits are too small to hold even this message alone.
            self.check_invariants();
            return Ok(None);
        }
        self.order.insert(entry.id, key.clone());
        self.buffered_parts += entry.received;
        self.pending.insert(key, entry);
        self.check_invariants();
        Ok(None)
    }

    /// Debug-only consistency check of the bookkeeping.
    fn check_invariants(&self) {
        debug_assert_eq!(self.pending.len(), self.order.len());
        debug_assert!(self.pending.len() <= self.limits.max_pending_messages);
        debug_assert!(self.buffered_parts <= self.limits.max_pending_parts);
        debug_assert_eq!(
            self.buffered_parts,
            self.pending.values().map(|p| p.received).sum::<usize>()
        );
    }
}

// ---------------------------------------------------------------------------
// 5. URL encoding for Kannel's fake-SMSC line protocol
// ---------------------------------------------------------------------------

/// Percent-encodes arbitrary bytes for Kannel's fake-SMSC lines, where `udh`,
/// `data` and `ucs-2` fields are URL-encoded. Only RFC 3986 unreserved
/// characters stay literal; everything else, space included, becomes `%XX`.
pub fn url_encode_bytes(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(bytes.len() * 3);
    for &b in bytes {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0F)]));
        }
    }
    out
}

/// Whether bytes of unknown coding read as text: valid UTF-8 without control
/// characters other than tab, newline and carriage return.
///
/// Kannel's fake-SMSC lines and its 8-bit messages do not say how their
/// bytes are coded. GSM 7-bit text travels there as UTF-8, while UCS-2 text
/// is UTF-16BE, which for almost every real text holds a NUL or control
/// octet (the high byte of every Latin, digit, space or Cyrillic character)
/// or is not valid UTF-8 (emoji surrogates, most CJK). A UCS-2 text made
/// only of code units whose two octets are both printable ASCII (some CJK
/// ideographs, nothing else) would be misread; see ARCHITECTURE.md.
pub fn looks_like_text(bytes: &[u8]) -> bool {
    match std::str::from_utf8(bytes) {
        Ok(text) => !text
            .chars()
            .any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r')),
        Err(_) => false,
    }
}

/// Decodes bytes of unknown coding (see [`looks_like_text`]): as UTF-8 text
/// when they look like it, otherwise as UTF-16BE.
pub fn decode_untyped(bytes: &[u8]) -> Result<String, DecodeError> {
    if looks_like_text(bytes) {
        return Ok(String::from_utf8(bytes.to_vec()).expect("checked by looks_like_text"));
    }
    ucs2_decode(bytes)
}

/// Decodes a URL-encoded field from Kannel's fake-SMSC lines back to bytes:
/// `%XX` (either case) is a byte, `+` is a space, anything else stands for
/// its own UTF-8 bytes. A `%` without two hex digits is an error.
pub fn url_decode_bytes(s: &str) -> Result<Vec<u8>, DecodeError> {
    fn hex(b: u8) -> Option<u8> {
        match b {
            b'0'..=b'9' => Some(b - b'0'),
            b'a'..=b'f' => Some(b - b'a' + 10),
            b'A'..=b'F' => Some(b - b'A' + 10),
            _ => None,
        }
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'%' => {
                let hi = bytes.get(i + 1).copied().and_then(hex);
                let lo = bytes.get(i + 2).copied().and_then(hex);
                let (Some(hi), Some(lo)) = (hi, lo) else {
                    return Err(DecodeError::InvalidPercentEscape { offset: i });
                };
                out.push((hi << 4) | lo);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn decode_segment(s: &Segment) -> String {
        decode_payload(s.encoding, &s.payload, s.fill_bits(), s.units).unwrap()
    }

    fn joined(segments: &[Segment]) -> String {
        segments.iter().map(|s| s.text.as_str()).collect()
    }

    /// Splits, checks every invariant a receiver relies on, and returns the segments.
    fn split_checked(text: &str, limit: usize) -> Vec<Segment> {
        let segments = split_with_limit(text, 42, limit).unwrap();
        assert_eq!(joined(&segments), text);
        assert_eq!(count_segments(text).1, segments.len());
        let total = segments.len();
        for (i, s) in segments.iter().enumerate() {
            assert_eq!(decode_segment(s), s.text);
            if total == 1 {
                assert_eq!(s.udh, None);
                assert!(s.units <= s.encoding.single_limit());
            } else {
                let udh = s.udh.as_ref().unwrap();
                assert_eq!(
                    parse_concat_udh(udh),
                    Some(ConcatInfo {
                        reference: 42,
                        total: u8::try_from(total).unwrap(),
                        seq: u8::try_from(i + 1).unwrap(),
                    })
                );
                assert!(s.units <= s.encoding.concat_limit());
                // Whole TP-UD fits in 140 octets.
                assert!(s.user_data().len() <= 140);
            }
        }
        segments
    }

    #[test]
    fn packs_known_vector() {
        let septets = gsm7_encode("hellohello").unwrap();
        let packed = pack_septets(&septets, 0);
        assert_eq!(
            packed,
            [0xE8, 0x32, 0x9B, 0xFD, 0x46, 0x97, 0xD9, 0xEC, 0x37]
        );
        assert_eq!(unpack_septets(&packed, 0, 10).unwrap(), septets);
    }

    #[test]
    fn pack_unpack_with_fill_bits() {
        let septets: Vec<u8> = (0..=0x7F).collect();
        for fill in 0..7 {
            let packed = pack_septets(&septets, fill);
            assert_eq!(packed.len(), (usize::from(fill) + 128 * 7).div_ceil(8));
            // The fill bits are zero.
            assert_eq!(packed[0] & ((1u8 << fill) - 1), 0);
            assert_eq!(unpack_septets(&packed, fill, 128).unwrap(), septets);
        }
        // A 6-octet UDH needs one fill bit and takes 7 septets.
        assert_eq!(udh_fill_bits(CONCAT_UDH_LEN), 1);
        assert_eq!(udh_septets(CONCAT_UDH_LEN), 7);
        assert_eq!(udh_fill_bits(0), 0);
        assert_eq!(udh_fill_bits(7), 0);
        // Packing after a UDH agrees with packing the whole bit stream:
        // "hellohello" after 1 fill bit starts with 'h' << 1.
        let packed = pack_septets(&gsm7_encode("h").unwrap(), 1);
        assert_eq!(packed, [0x68 << 1]);
    }

    #[test]
    fn unpack_rejects_short_input() {
        assert_eq!(
            unpack_septets(&[0xE8], 0, 2),
            Err(DecodeError::Truncated {
                units: 2,
                needed: 2,
                got: 1
            })
        );
    }

    #[test]
    fn trailing_at_sign_survives_with_count() {
        // 7 septets ending in '@' (0x00) pack into 7 octets whose last bit
        // pattern is indistinguishable from padding; the count disambiguates.
        let text = "abcdef@";
        let packed = pack_septets(&gsm7_encode(text).unwrap(), 0);
        assert_eq!(packed.len(), 7);
        let septets = unpack_septets(&packed, 0, 7).unwrap();
        assert_eq!(gsm7_decode(&septets).unwrap(), text);
    }

    #[test]
    fn ascii_round_trip() {
        let text = "Hello, world! 0123456789 @$_#%&*()";
        assert_eq!(Encoding::for_text(text), Encoding::Gsm7);
        let septets = gsm7_encode(text).unwrap();
        assert_eq!(septets.len(), text.len());
        assert_eq!(gsm7_decode(&septets).unwrap(), text);
        let segments = split_checked(text, MAX_SEGMENTS);
        assert_eq!(segments.len(), 1);
        assert_eq!(segments[0].encoding, Encoding::Gsm7);
    }

    #[test]
    fn whole_basic_alphabet_round_trips() {
        let text: String = GSM7_BASIC
            .iter()
            .enumerate()
            .filter(|&(i, _)| i != usize::from(GSM7_ESCAPE))
            .map(|(_, &c)| c)
            .collect();
        let septets = gsm7_encode(&text).unwrap();
        assert_eq!(septets.len(), 127);
        assert_eq!(gsm7_decode(&septets).unwrap(), text);
    }

    #[test]
    fn extension_characters_take_two_septets() {
        let text = "€[]{}\\^~|\u{0C}";
        let septets = gsm7_encode(text).unwrap();
        assert_eq!(septets.len(), 20);
        assert_eq!(&septets[..2], &[GSM7_ESCAPE, 0x65]);
        assert_eq!(gsm7_decode(&septets).unwrap(), text);
        assert_eq!(gsm7_char_septets('€'), Some(2));
        assert_eq!(gsm7_char_septets('e'), Some(1));
        assert_eq!(gsm7_char_septets('😀'), None);
        // 80 euro signs fill one message exactly; 81 need two.
        assert_eq!(count_segments(&"€".repeat(80)), (Encoding::Gsm7, 1));
        assert_eq!(count_segments(&"€".repeat(81)), (Encoding::Gsm7, 2));
    }

    #[test]
    fn odd_escapes_decode_per_spec() {
        // Unknown extension code shows the basic character; ESC ESC is a space;
        // a trailing lone escape is dropped.
        assert_eq!(gsm7_decode(&[GSM7_ESCAPE, 0x41]).unwrap(), "A");
        assert_eq!(gsm7_decode(&[GSM7_ESCAPE, GSM7_ESCAPE]).unwrap(), " ");
        assert_eq!(gsm7_decode(&[0x41, GSM7_ESCAPE]).unwrap(), "A");
        assert_eq!(
            gsm7_decode(&[0x41, 0x80]),
            Err(DecodeError::SeptetOutOfRange {
                index: 1,
                value: 0x80
            })
        );
    }

    #[test]
    fn escape_sequence_never_split() {
        // 152 plain septets then '€': the escape would land at 153 and the
        // code at 154, so '€' must move whole to the second segment.
        let text = format!("{}€{}", "a".repeat(152), "b".repeat(10));
        let segments = split_checked(&text, MAX_SEGMENTS);
        assert_eq!(segments.len(), 2);
        assert_eq!(segments[0].units, 152);
        assert_eq!(segments[0].text, "a".repeat(152));
        assert!(segments[1].text.starts_with('€'));
        assert_eq!(segments[1].units, 12);
    }

    #[test]
    fn not_gsm_escape_char_is_ucs2() {
        // The escape slot must not make U+001B or a placeholder encodable.
        assert_eq!(gsm7_encode("\u{1B}"), None);
        assert_eq!(Encoding::for_text("tab\there"), Encoding::Ucs2);
        assert_eq!(Encoding::for_text("Ωmega Δ"), Encoding::Gsm7);
    }

    #[test]
    fn emoji_and_cjk_use_ucs2() {
        let text = "你好, 世界 😀👍🏽";
        assert_eq!(Encoding::for_text(text), Encoding::Ucs2);
        assert_eq!(gsm7_encode(text), None);
        let bytes = ucs2_encode(text);
        assert_eq!(&bytes[..2], &[0x4F, 0x60]);
        // 😀 is D83D DE00 in UTF-16BE.
        let emoji = ucs2_encode("😀");
        assert_eq!(emoji, [0xD8, 0x3D, 0xDE, 0x00]);
        assert_eq!(ucs2_decode(&bytes).unwrap(), text);
        let segments = split_checked(text, MAX_SEGMENTS);
        assert_eq!(segments.len(), 1);
        assert_eq!(segments[0].encoding, Encoding::Ucs2);
        assert_eq!(segments[0].payload, bytes);
    }

    #[test]
    fn ucs2_decode_rejects_bad_input() {
        assert_eq!(
            ucs2_decode(&[0x00]),
            Err(DecodeError::OddUcs2Length { len: 1 })
        );
        assert_eq!(
            ucs2_decode(&[0x00, 0x41, 0xD8, 0x3D]),
            Err(DecodeError::UnpairedSurrogate {
                index: 1,
                unit: 0xD83D
            })
        );
    }

    #[test]
    fn surrogate_pair_never_split() {
        // 66 units then an emoji (2 units) would straddle unit 67.
        let text = format!("{}😀{}", "你".repeat(66), "x".repeat(5));
        let segments = split_checked(&text, MAX_SEGMENTS);
        assert_eq!(segments.len(), 2);
        assert_eq!(segments[0].units, 66);
        assert!(segments[1].text.starts_with('😀'));
        // All emoji: each segment holds 33 whole pairs.
        let text = "😀".repeat(100);
        let segments = split_checked(&text, MAX_SEGMENTS);
        assert!(segments.iter().all(|s| s.units % 2 == 0));
        assert_eq!(segments.len(), 4); // 33 + 33 + 33 + 1
    }

    #[test]
    fn gsm_boundaries() {
        for (len, expected) in [
            (0, 1),
            (1, 1),
            (160, 1),
            (161, 2),
            (153 * 2, 2),
            (153 * 2 + 1, 3),
            (153 * 3, 3),
            (153 * 3 + 1, 4),
            (153 * 10, 10),
        ] {
            let text = "x".repeat(len);
            assert_eq!(count_segments(&text), (Encoding::Gsm7, expected), "{len}");
            let segments = split_checked(&text, MAX_SEGMENTS);
            assert_eq!(segments.len(), expected, "{len}");
            if expected > 1 {
                assert_eq!(segments[0].units, 153);
                assert_eq!(segments[0].user_data_length(), 160);
                assert_eq!(segments[0].user_data().len(), 140);
            } else {
                assert_eq!(segments[0].units, len);
            }
        }
    }

    #[test]
    fn ucs2_boundaries() {
        for (len, expected) in [
            (70, 1),
            (71, 2),
            (67 * 2, 2),
            (67 * 2 + 1, 3),
            (67 * 10, 10),
        ] {
            let text = "ж".repeat(len);
            assert_eq!(count_segments(&text), (Encoding::Ucs2, expected), "{len}");
            let segments = split_checked(&text, MAX_SEGMENTS);
            assert_eq!(segments.len(), expected, "{len}");
            if expected > 1 {
                assert_eq!(segments[0].units, 67);
                assert_eq!(segments[0].user_data_length(), 140);
            }
        }
        // Exactly 70 units, one of them non-GSM: single UCS-2 message.
        let text = format!("{}ж", "a".repeat(69));
        assert_eq!(count_segments(&text), (Encoding::Ucs2, 1));
    }

    #[test]
    fn empty_text_is_one_empty_segment() {
        let segments = split("", 1).unwrap();
        assert_eq!(segments.len(), 1);
        assert!(segments[0].payload.is_empty());
        assert_eq!(segments[0].text, "");
    }

    #[test]
    fn too_many_segments_is_an_error() {
        let text = "x".repeat(153 * MAX_SEGMENTS + 1);
        let err = split(&text, 7).unwrap_err();
        assert_eq!(
            err,
            EncodeError::TooManySegments {
                encoding: Encoding::Gsm7,
                chars: 1531,
                units: 1531,
                segments: 11,
                max_segments: 10,
                max_units: 1530,
            }
        );
        let message = err.to_string();
        assert!(message.contains("1531"), "{message}");
        assert!(message.contains("1530 septets"), "{message}");
        // A lower limit, and the 255 protocol cap.
        assert!(split_with_limit(&"x".repeat(161), 7, 1).is_err());
        assert!(split_with_limit(&"x".repeat(160), 7, 1).is_ok());
        let huge = "x".repeat(153 * 256);
        match split_with_limit(&huge, 7, usize::MAX) {
            Err(EncodeError::TooManySegments { max_segments, .. }) => {
                assert_eq!(max_segments, MAX_CONCAT_SEGMENTS);
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(
            split_with_limit(&"x".repeat(153 * 255), 7, usize::MAX)
                .unwrap()
                .len(),
            255
        );
    }

    #[test]
    fn udh_layout() {
        let segments = split(&"y".repeat(200), 0xAB).unwrap();
        assert_eq!(
            segments[1].udh.as_deref(),
            Some(&[0x05, 0x00, 0x03, 0xAB, 0x02, 0x02][..])
        );
        assert_eq!(segments[1].fill_bits(), 1);
    }

    #[test]
    fn parses_both_concat_ieis() {
        assert_eq!(
            parse_concat_udh(&[0x05, 0x00, 0x03, 0x2A, 0x03, 0x02]),
            Some(ConcatInfo {
                reference: 0x2A,
                total: 3,
                seq: 2
            })
        );
        assert_eq!(
            parse_concat_udh(&[0x06, 0x08, 0x04, 0x12, 0x34, 0x04, 0x04]),
            Some(ConcatInfo {
                reference: 0x1234,
                total: 4,
                seq: 4
            })
        );
        // After a port-addressing IE, with trailing user data ignored.
        assert_eq!(
            parse_concat_udh(&[
                0x0B, 0x05, 0x04, 0x0B, 0x84, 0x23, 0xF0, 0x00, 0x03, 0x01, 0x02, 0x01, 0xAA
            ]),
            Some(ConcatInfo {
                reference: 1,
                total: 2,
                seq: 1
            })
        );
    }

    #[test]
    fn rejects_malformed_udh() {
        assert_eq!(parse_concat_udh(&[]), None);
        // No concatenation IE.
        assert_eq!(parse_concat_udh(&[0x04, 0x05, 0x02, 0x0B, 0x84]), None);
        // UDHL longer than the data.
        assert_eq!(parse_concat_udh(&[0x05, 0x00, 0x03, 0x01]), None);
        // IE length running past the header.
        assert_eq!(parse_concat_udh(&[0x03, 0x00, 0x03, 0x01]), None);
        // Dangling octet.
        assert_eq!(
            parse_concat_udh(&[0x06, 0x00, 0x03, 0x01, 0x02, 0x01, 0x00]),
            None
        );
        // Impossible positions.
        assert_eq!(
            parse_concat_udh(&[0x05, 0x00, 0x03, 0x01, 0x02, 0x00]),
            None
        );
        assert_eq!(
            parse_concat_udh(&[0x05, 0x00, 0x03, 0x01, 0x02, 0x03]),
            None
        );
        assert_eq!(
            parse_concat_udh(&[0x05, 0x00, 0x03, 0x01, 0x00, 0x00]),
            None
        );
        // Wrong IE length for the 8-bit form.
        assert_eq!(
            parse_concat_udh(&[0x06, 0x00, 0x04, 0x01, 0x02, 0x01, 0x01]),
            None
        );
    }

    fn info(reference: u16, total: u8, seq: u8) -> ConcatInfo {
        ConcatInfo {
            reference,
            total,
            seq,
        }
    }

    #[test]
    fn reassembles_out_of_order_from_split() {
        let text = format!("{}€ end", "Lorem ipsum dolor sit amet. ".repeat(15));
        let segments = split(&text, 9).unwrap();
        assert_eq!(segments.len(), 3);
        let mut r = Reassembler::new();
        let mut result = None;
        for i in [2, 0, 1] {
            let s = &segments[i];
            let concat = parse_concat_udh(s.udh.as_ref().unwrap()).unwrap();
            let decoded = decode_segment(s);
            let out = r.push_text("+15550001", concat, &decoded, 1000).unwrap();
            if i == 1 {
                result = out;
            } else {
                assert_eq!(out, None);
            }
        }
        assert_eq!(result.as_deref(), Some(text.as_str()));
        assert_eq!(r.pending_messages(), 0);
        assert_eq!(r.pending_parts(), 0);
    }

    #[test]
    fn reassembles_ucs2_with_split_surrogate_pair() {
        // A sender that split 😀 (D83D DE00) across two segments.
        let mut r = Reassembler::new();
        let first = [0x00, 0x41, 0xD8, 0x3D];
        let second = [0xDE, 0x00, 0x00, 0x42];
        assert_eq!(r.push_ucs2("s", info(5, 2, 2), &second, 0).unwrap(), None);
        assert_eq!(
            r.push_ucs2("s", info(5, 2, 1), &first, 0)
                .unwrap()
                .as_deref(),
            Some("A😀B")
        );
        assert_eq!(
            r.push_ucs2("s", info(5, 2, 1), &[0x00], 0),
            Err(ReassemblyError::Decode(DecodeError::OddUcs2Length {
                len: 1
            }))
        );
    }

    #[test]
    fn duplicates_are_ignored() {
        let mut r = Reassembler::new();
        assert_eq!(r.push_text("a", info(1, 3, 1), "one ", 0).unwrap(), None);
        assert_eq!(r.push_text("a", info(1, 3, 1), "ONE ", 1).unwrap(), None);
        assert_eq!(r.pending_parts(), 1);
        assert_eq!(r.push_text("a", info(1, 3, 3), "three", 2).unwrap(), None);
        assert_eq!(r.push_text("a", info(1, 3, 3), "three", 3).unwrap(), None);
        assert_eq!(
            r.push_text("a", info(1, 3, 2), "two ", 4)
                .unwrap()
                .as_deref(),
            Some("one two three")
        );
    }

    #[test]
    fn keys_separate_senders_references_and_totals() {
        let mut r = Reassembler::new();
        assert_eq!(r.push_text("a", info(1, 2, 1), "a1", 0).unwrap(), None);
        assert_eq!(r.push_text("b", info(1, 2, 1), "b1", 0).unwrap(), None);
        assert_eq!(r.push_text("a", info(2, 2, 1), "x1", 0).unwrap(), None);
        assert_eq!(r.push_text("a", info(1, 3, 1), "y1", 0).unwrap(), None);
        assert_eq!(r.pending_messages(), 4);
        assert_eq!(
            r.push_text("b", info(1, 2, 2), "b2", 0).unwrap().as_deref(),
            Some("b1b2")
        );
        assert_eq!(
            r.push_text("a", info(1, 2, 2), "a2", 0).unwrap().as_deref(),
            Some("a1a2")
        );
        assert_eq!(r.pending_messages(), 2);
    }

    #[test]
    fn single_part_and_invalid_positions() {
        let mut r = Reassembler::new();
        assert_eq!(
            r.push_text("a", info(1, 1, 1), "solo", 0)
                .unwrap()
                .as_deref(),
            Some("solo")
        );
        assert_eq!(r.pending_messages(), 0);
        for (total, seq) in [(0, 0), (2, 0), (2, 3)] {
            assert_eq!(
                r.push_text("a", info(1, total, seq), "x", 0),
                Err(ReassemblyError::InvalidSequence { seq, total })
            );
        }
        assert_eq!(
            r.push_text("a", info(1, 2, 1), &"x".repeat(MAX_PART_UNITS + 1), 0),
            Err(ReassemblyError::PartTooLong {
                units: MAX_PART_UNITS + 1,
                limit: MAX_PART_UNITS
            })
        );
    }

    #[test]
    fn evicts_oldest_at_message_limit() {
        let mut r = Reassembler::with_limits(ReassemblerLimits {
            max_pending_messages: 3,
            ..ReassemblerLimits::default()
        });
        for reference in 0..3 {
            r.push_text("a", info(reference, 2, 1), "p1", u64::from(reference))
                .unwrap();
        }
        // Touching the oldest does not make it younger: arrival order counts.
        r.push_text("a", info(0, 2, 1), "dup", 10).unwrap();
        assert_eq!(r.pending_messages(), 3);
        r.push_text("a", info(3, 2, 1), "p1", 11).unwrap();
        assert_eq!(r.pending_messages(), 3);
        // Reference 0 was evicted: its second part starts a new entry (and
        // evicts reference 1) instead of completing.
        assert_eq!(r.push_text("a", info(0, 2, 2), "p2", 12).unwrap(), None);
        assert_eq!(r.pending_messages(), 3);
        // Likewise reference 1's second part evicts reference 2.
        assert_eq!(r.push_text("a", info(1, 2, 2), "p2", 13).unwrap(), None);
        // Reference 3 is still there and completes.
        assert_eq!(
            r.push_text("a", info(3, 2, 2), "p2", 14)
                .unwrap()
                .as_deref(),
            Some("p1p2")
        );
    }

    #[test]
    fn evicts_oldest_at_part_limit() {
        let mut r = Reassembler::with_limits(ReassemblerLimits {
            max_pending_parts: 4,
            ..ReassemblerLimits::default()
        });
        r.push_text("a", info(1, 5, 1), "1", 0).unwrap();
        r.push_text("a", info(1, 5, 2), "2", 0).unwrap();
        r.push_text("a", info(2, 5, 1), "1", 1).unwrap();
        r.push_text("a", info(2, 5, 2), "2", 1).unwrap();
        assert_eq!(r.pending_parts(), 4);
        // A fifth part for message 2 evicts the older message 1, not itself.
        r.push_text("a", info(2, 5, 3), "3", 2).unwrap();
        assert_eq!(r.pending_messages(), 1);
        assert_eq!(r.pending_parts(), 3);
        r.push_text("a", info(2, 5, 4), "4", 3).unwrap();
        assert_eq!(
            r.push_text("a", info(2, 5, 5), "5", 3).unwrap().as_deref(),
            Some("12345")
        );
        // Limits too small for even one message: the part is dropped.
        let mut tiny = Reassembler::with_limits(ReassemblerLimits {
            max_pending_messages: 0,
            ..ReassemblerLimits::default()
        });
        assert_eq!(tiny.push_text("a", info(1, 2, 1), "x", 0).unwrap(), None);
        assert_eq!(tiny.pending_messages(), 0);
    }

    #[test]
    fn expires_by_age() {
        let mut r = Reassembler::with_limits(ReassemblerLimits {
            max_age_ms: 1000,
            ..ReassemblerLimits::default()
        });
        r.push_text("a", info(1, 2, 1), "old", 0).unwrap();
        r.push_text("a", info(2, 2, 1), "new", 500).unwrap();
        assert_eq!(r.expire(1000), 0); // exactly at the limit: kept
        assert_eq!(r.expire(1001), 1);
        assert_eq!(r.pending_messages(), 1);
        // The expired message's last part no longer completes it.
        assert_eq!(r.push_text("a", info(1, 2, 2), "x", 1001).unwrap(), None);
        // Expiry also happens on push.
        assert_eq!(r.push_text("b", info(9, 2, 1), "z", 5000).unwrap(), None);
        assert_eq!(r.pending_messages(), 1);
    }

    #[test]
    fn url_encoding_round_trips() {
        let bytes: Vec<u8> = (0..=255).collect();
        let encoded = url_encode_bytes(&bytes);
        assert!(encoded
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"%-_.~".contains(&b)));
        assert_eq!(url_decode_bytes(&encoded).unwrap(), bytes);
        assert_eq!(url_encode_bytes(b"a b+c"), "a%20b%2Bc");
        assert_eq!(
            url_encode_bytes(&[0x05, 0x00, 0x03, 0xAB, 0x02, 0x01]),
            "%05%00%03%AB%02%01"
        );
    }

    #[test]
    fn url_decoding_accepts_kannel_forms() {
        assert_eq!(url_decode_bytes("a+b%20c").unwrap(), b"a b c");
        assert_eq!(
            url_decode_bytes("%d8%3D%DE%00").unwrap(),
            [0xD8, 0x3D, 0xDE, 0x00]
        );
        assert_eq!(url_decode_bytes("").unwrap(), b"");
        assert_eq!(url_decode_bytes("é").unwrap(), "é".as_bytes());
        for (bad, offset) in [("%", 0), ("a%4", 1), ("%zz", 0), ("ok%G0", 2)] {
            assert_eq!(
                url_decode_bytes(bad),
                Err(DecodeError::InvalidPercentEscape { offset }),
                "{bad}"
            );
        }
        // Kannel-style UCS-2 field round trip.
        let ucs2 = ucs2_encode("héllo 😀");
        let field = url_encode_bytes(&ucs2);
        assert_eq!(
            ucs2_decode(&url_decode_bytes(&field).unwrap()).unwrap(),
            "héllo 😀"
        );
    }

    #[test]
    fn untyped_bytes_are_read_as_utf8_text_or_ucs2() {
        assert_eq!(
            decode_untyped("café € {x}".as_bytes()).unwrap(),
            "café € {x}"
        );
        for text in ["Привет, мир", "emoji 😀 here", "你好, world 123"] {
            assert!(!looks_like_text(&ucs2_encode(text)), "{text}");
            assert_eq!(decode_untyped(&ucs2_encode(text)).unwrap(), text);
        }
        assert!(decode_untyped(&[0xD8, 0x3D]).is_err());
    }
}
