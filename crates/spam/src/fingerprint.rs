//! Locality-sensitive fingerprints for recognising spam campaigns.
//!
//! A campaign sends the same text to many people with small variations (the
//! recipient's name, a tracking number, a different short URL). Devices can
//! share or compare a 64-bit [`Fingerprint`] of a reported message instead of
//! the message itself; fingerprints of variants of one text differ in few
//! bits, those of unrelated texts in about half of them.
//!
//! The fingerprint is a SimHash (Charikar 2002) over the word 3-shingles and
//! character 5-shingles of the message after a normalisation that removes
//! what campaigns usually vary: case, punctuation, numbers, URLs, and the
//! disguises of [`crate::text::fold`] (look-alike letters, spaces and
//! symbols inserted between characters). Scripts written without spaces
//! count each character as a word, so a Chinese campaign is shingled by
//! character trigrams.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::hash::{fnv1a_update, mix64, FNV_OFFSET};

/// Largest Hamming distance at which two fingerprints count as the same
/// campaign.
///
/// Unrelated messages are about 32 bits apart (each bit is close to a coin
/// flip). Measured on the SMS corpus in `data/`: among ~20,000 random pairs of
/// distinct legitimate messages none was closer than 17 bits, while replacing
/// one word of a spam message (8 words or more) by a name moved its
/// fingerprint by 8-9 bits typically and by at most 14 bits in about 96% of
/// cases. 14 sits between the two; `tests/fingerprint.rs` checks both sides.
pub const MAX_MATCH_DISTANCE: u32 = 14;

/// Words per word shingle.
const WORD_SHINGLE: usize = 3;
/// Characters per character shingle.
const CHAR_SHINGLE: usize = 5;

/// Namespace bytes of the two shingle families.
const NS_WORDS: u8 = b'W';
const NS_CHARS: u8 = b'C';

/// A 64-bit SimHash of a message.
///
/// Serialised as 16 lower-case hex digits: JSON numbers beyond 2^53 lose
/// precision in JavaScript, and the WebAssembly client talks JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Fingerprint(pub u64);

impl Fingerprint {
    /// Fingerprints `text`; the same text always gives the same value, on
    /// every platform.
    pub fn of(text: &str) -> Fingerprint {
        simhash(&shingles(&normalise(crate::text::bounded(text))))
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// Why a string is not a fingerprint.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a fingerprint is 16 hexadecimal digits, found {0:?}")]
pub struct ParseFingerprintError(String);

impl FromStr for Fingerprint {
    type Err = ParseFingerprintError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() != 16 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ParseFingerprintError(s.chars().take(40).collect()));
        }
        u64::from_str_radix(s, 16)
            .map(Fingerprint)
            .map_err(|_| ParseFingerprintError(s.to_owned()))
    }
}

impl Serialize for Fingerprint {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Fingerprint {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Number of differing bits between two fingerprints: 0 for identical
/// normalised texts, ~32 for unrelated ones.
pub fn hamming_distance(a: Fingerprint, b: Fingerprint) -> u32 {
    (a.0 ^ b.0).count_ones()
}

/// Whether two fingerprints are close enough (at most
/// [`MAX_MATCH_DISTANCE`] bits apart) to be the same campaign.
pub fn matches(a: Fingerprint, b: Fingerprint) -> bool {
    hamming_distance(a, b) <= MAX_MATCH_DISTANCE
}

/// Whether a whitespace-separated chunk is a URL or e-mail-like address; such
/// chunks are per-recipient in campaigns and are replaced by a placeholder
/// (and shown unclickable in message requests, see [`crate::requests`]).
pub(crate) fn is_link(chunk: &str) -> bool {
    let lower = chunk.to_lowercase();
    if lower.contains("http") || lower.contains("www.") || lower.contains('@') {
        return true;
    }
    // `word.tld`, maybe with a path: letters right after the dot, up to the
    // end of the host.
    lower
        .trim_end_matches(|c: char| !c.is_alphanumeric())
        .split_once('.')
        .is_some_and(|(a, b)| {
            let host = &b[..b.find(['/', '?', '#', ':']).unwrap_or(b.len())];
            a.chars().any(char::is_alphabetic)
                && host.len() >= 2
                && host.chars().all(|c| c.is_alphabetic() || c == '.')
                && host.chars().next().is_some_and(char::is_alphabetic)
        })
}

/// Characters that may belong to a link written in a message.
fn is_link_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "./:?=&%-_~#@+".contains(c)
}

/// Words of the text after [`crate::text::fold`] has undone its disguises
/// (look-alike letters, inserted spaces and symbols), with numbers reduced
/// to `#`, links to `<link>` and punctuation dropped. A script written
/// without spaces (Chinese...) gives one "word" per character, so its
/// shingles are character n-grams. A link may be glued to such text
/// (`点击t.cn/abc领取`), so links are looked for inside chunks too.
fn normalise(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    for chunk in crate::text::fold(text).split_whitespace() {
        if is_link(chunk) && chunk.chars().all(is_link_char) {
            words.push("<link>".to_owned());
            continue;
        }
        let mut word = String::new();
        let mut in_number = false;
        let mut rest = chunk;
        // Bytes ahead already known not to start a link: each run of link
        // characters is looked at once, so the work stays linear.
        let mut plain = 0usize;
        while let Some(c) = rest.chars().next() {
            // A run of link characters that is a link counts as one.
            if plain == 0 && is_link_char(c) {
                let end = rest.find(|c: char| !is_link_char(c)).unwrap_or(rest.len());
                let run = rest[..end].trim_end_matches(['.', ':', '?', '-']);
                if run.len() >= 4 && is_link(run) {
                    if !word.is_empty() {
                        words.push(std::mem::take(&mut word));
                    }
                    words.push("<link>".to_owned());
                    in_number = false;
                    rest = &rest[end..];
                    continue;
                }
                plain = end;
            }
            plain = plain.saturating_sub(c.len_utf8());
            rest = &rest[c.len_utf8()..];
            if c.is_numeric() {
                if !in_number {
                    word.push('#');
                }
                in_number = true;
            } else if crate::text::script(c).is_unspaced() {
                if !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
                words.push(c.to_string());
                in_number = false;
            } else if c.is_alphabetic() {
                word.push(c);
                in_number = false;
            } else if c == '\'' || c == '’' {
                // "don't" and "dont" are the same word.
            } else {
                in_number = false;
                if !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
            }
        }
        if !word.is_empty() {
            words.push(word);
        }
    }
    words
}

/// Hashes of the distinct word and character shingles of normalised words.
fn shingles(words: &[String]) -> Vec<u64> {
    let hash = |ns: u8, parts: &[&str]| {
        let mut h = fnv1a_update(FNV_OFFSET, &[ns]);
        for p in parts {
            h = fnv1a_update(h, p.as_bytes());
            h = fnv1a_update(h, &[0xff]);
        }
        mix64(h)
    };
    let mut out = Vec::new();
    if words.is_empty() {
        return out;
    }
    // Word shingles; a text shorter than a shingle is one shingle.
    let width = WORD_SHINGLE.min(words.len());
    for window in words.windows(width) {
        let parts: Vec<&str> = window.iter().map(String::as_str).collect();
        out.push(hash(NS_WORDS, &parts));
    }
    // Character shingles over the words joined by single spaces.
    let joined = words.join(" ");
    let bounds: Vec<usize> = joined
        .char_indices()
        .map(|(i, _)| i)
        .chain(std::iter::once(joined.len()))
        .collect();
    let chars = bounds.len() - 1;
    let width = CHAR_SHINGLE.min(chars);
    for start in 0..=chars - width {
        out.push(hash(
            NS_CHARS,
            &[&joined[bounds[start]..bounds[start + width]]],
        ));
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// SimHash of a set of feature hashes, each with weight 1.
fn simhash(features: &[u64]) -> Fingerprint {
    if features.is_empty() {
        return Fingerprint(0);
    }
    let mut votes = [0i64; 64];
    for &h in features {
        for (bit, vote) in votes.iter_mut().enumerate() {
            if h >> bit & 1 == 1 {
                *vote += 1;
            } else {
                *vote -= 1;
            }
        }
    }
    let bits = votes
        .iter()
        .enumerate()
        .filter(|&(_, &v)| v > 0)
        .fold(0u64, |acc, (bit, _)| acc | 1 << bit);
    Fingerprint(bits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalisation_removes_campaign_variables() {
        assert_eq!(
            normalise("WIN £1,000 now! Go to http://x.co/abc or call 0800-123"),
            vec!["win", "#", "#", "now", "go", "to", "<link>", "or", "call", "#", "#"]
        );
        assert_eq!(normalise("Don't"), vec!["dont"]);
        assert_eq!(
            normalise("点击t.cn/Ab3领取 8 元"),
            vec!["点", "击", "<link>", "领", "取", "#", "元"]
        );
        assert_eq!(normalise("澳 门*赌 场"), normalise("澳门赌场"));
        assert!(is_link("getzed.co.uk"));
        assert!(!is_link("ok..."));
        assert!(!is_link("1.50"));
    }

    #[test]
    fn hex_round_trip() {
        let f = Fingerprint(0x0123_4567_89ab_cdef);
        assert_eq!(f.to_string(), "0123456789abcdef");
        assert_eq!("0123456789abcdef".parse::<Fingerprint>(), Ok(f));
        assert!("xyz".parse::<Fingerprint>().is_err());
        let json = serde_json::to_string(&f).expect("serialises");
        assert_eq!(json, "\"0123456789abcdef\"");
        assert_eq!(
            serde_json::from_str::<Fingerprint>(&json).expect("parses"),
            f
        );
    }

    #[test]
    fn hostile_texts_cost_linear_time() {
        // Long runs of link characters that are no link, and long runs of
        // fillers after a Chinese character, once quadratic.
        for text in [
            "a".repeat(64 * 1024),
            "1".repeat(64 * 1024),
            format!("中{}a", " ".repeat(64 * 1024)),
            "ab.".repeat(20_000),
        ] {
            let started = std::time::Instant::now();
            let _ = Fingerprint::of(&text);
            let _ = crate::text::fold(&text);
            assert!(
                started.elapsed() < std::time::Duration::from_secs(1),
                "{} bytes took {:?}",
                text.len(),
                started.elapsed()
            );
        }
    }

    #[test]
    fn empty_and_identical() {
        assert_eq!(Fingerprint::of(""), Fingerprint(0));
        assert_eq!(
            Fingerprint::of("Hello, World"),
            Fingerprint::of("hello world!")
        );
    }
}
