//! Labelled training corpora: parsing the TSV format and splitting it into a
//! training part and a held-out part without leaking texts between them.
//!
//! The corpus format is the one of `data/sms-spam-en.tsv`: a header line
//! `label<TAB>text`, then one message a line, the label being `ham` or `spam`.

use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::hash::{fnv1a, mix64};

/// Longest message text accepted, in bytes.
///
/// SMS concatenations rarely exceed a few hundred characters; the limit keeps a
/// malformed or hostile corpus from exhausting memory during training.
pub const MAX_TEXT_BYTES: usize = 4096;

/// Most data lines (header excluded) accepted in one corpus, for the same
/// reason as [`MAX_TEXT_BYTES`].
pub const MAX_LINES: usize = 200_000;

/// Percentage of the distinct normalised texts that [`split`] holds out for
/// evaluation.
pub const HELD_OUT_PERCENT: u64 = 20;

/// Salt mixed into the split hash so that the held-out choice is independent
/// of the other FNV-based hashes in this crate (feature buckets, fingerprints).
const SPLIT_SALT: &[u8] = b"tidings-spam/split/v1\0";

/// The expected first line of a corpus file.
pub const HEADER: &str = "label\ttext";

/// Whether a message is unwanted; the two classes of the classifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Label {
    /// Legitimate message.
    Ham,
    /// Unsolicited bulk or fraudulent message.
    Spam,
}

impl Label {
    /// The label as spelled in the corpus format (`ham` / `spam`), so that
    /// callers can write corpora back and print verdicts consistently.
    pub fn as_str(self) -> &'static str {
        match self {
            Label::Ham => "ham",
            Label::Spam => "spam",
        }
    }
}

impl std::str::FromStr for Label {
    type Err = CorpusError;

    /// Parses `ham` or `spam`, the corpus spelling.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "ham" => Ok(Label::Ham),
            "spam" => Ok(Label::Spam),
            other => Err(CorpusError::UnknownLabel {
                line: 0,
                label: truncated(other),
            }),
        }
    }
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One labelled message: the unit of training and evaluation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Example {
    /// Class of the message.
    pub label: Label,
    /// Message text as received (not normalised).
    pub text: String,
}

impl Example {
    /// Builds an example; a convenience for tests and callers that label
    /// messages by hand.
    pub fn new(label: Label, text: impl Into<String>) -> Self {
        Example {
            label,
            text: text.into(),
        }
    }
}

/// Why a corpus could not be parsed. Line numbers are 1-based and count the
/// header, so they match what an editor shows.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum CorpusError {
    /// The input has no lines at all.
    #[error("corpus is empty: expected a header line `label<TAB>text`")]
    Empty,
    /// The first line is not [`HEADER`].
    #[error("line 1: expected header `label<TAB>text`, found {found:?}")]
    BadHeader {
        /// The first line as found (truncated to 80 characters).
        found: String,
    },
    /// A data line has no tab separating label and text.
    #[error("line {line}: missing tab between label and text")]
    MissingTab {
        /// 1-based line number.
        line: usize,
    },
    /// A data line's label is neither `ham` nor `spam`.
    #[error("line {line}: unknown label {label:?} (expected `ham` or `spam`)")]
    UnknownLabel {
        /// 1-based line number.
        line: usize,
        /// The label as found (truncated to 80 characters).
        label: String,
    },
    /// A data line's text is empty or only whitespace.
    #[error("line {line}: empty message text")]
    EmptyText {
        /// 1-based line number.
        line: usize,
    },
    /// A data line's text is longer than [`MAX_TEXT_BYTES`].
    #[error("line {line}: message text is {len} bytes, more than the limit of {max}")]
    TextTooLong {
        /// 1-based line number.
        line: usize,
        /// Length of the text in bytes.
        len: usize,
        /// The limit, [`MAX_TEXT_BYTES`].
        max: usize,
    },
    /// The corpus has more than [`MAX_LINES`] data lines.
    #[error("corpus has more than {max} data lines")]
    TooManyLines {
        /// The limit, [`MAX_LINES`].
        max: usize,
    },
}

/// Why a corpus file could not be loaded: either reading or parsing failed.
#[derive(Debug, Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("cannot read corpus {path}: {source}")]
    Io {
        /// The path that was read.
        path: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The file was read but is not a valid corpus.
    #[error("invalid corpus {path}: {source}")]
    Corpus {
        /// The path that was read.
        path: String,
        /// The parse error.
        #[source]
        source: CorpusError,
    },
}

fn truncated(s: &str) -> String {
    s.chars().take(80).collect()
}

/// Parses a corpus in the `label<TAB>text` format.
///
/// A trailing `\r` on each line is ignored (files edited on Windows), and so
/// are completely empty lines. The text is everything after the first tab, so
/// texts may themselves contain tabs.
pub fn parse_tsv(tsv: &str) -> Result<Vec<Example>, CorpusError> {
    let mut lines = tsv.lines().enumerate();
    let (_, header) = lines.next().ok_or(CorpusError::Empty)?;
    let header = header.trim_start_matches('\u{feff}').trim_end_matches('\r');
    if header != HEADER {
        return Err(CorpusError::BadHeader {
            found: truncated(header),
        });
    }
    let mut examples = Vec::new();
    for (index, raw) in lines {
        let line = index + 1;
        let raw = raw.trim_end_matches('\r');
        if raw.is_empty() {
            continue;
        }
        if examples.len() >= MAX_LINES {
            return Err(CorpusError::TooManyLines { max: MAX_LINES });
        }
        let (label, text) = raw
            .split_once('\t')
            .ok_or(CorpusError::MissingTab { line })?;
        let label = match label.trim() {
            "ham" => Label::Ham,
            "spam" => Label::Spam,
            other => {
                return Err(CorpusError::UnknownLabel {
                    line,
                    label: truncated(other),
                })
            }
        };
        if text.len() > MAX_TEXT_BYTES {
            return Err(CorpusError::TextTooLong {
                line,
                len: text.len(),
                max: MAX_TEXT_BYTES,
            });
        }
        if text.trim().is_empty() {
            return Err(CorpusError::EmptyText { line });
        }
        examples.push(Example::new(label, text));
    }
    Ok(examples)
}

/// Reads and parses a corpus file: the one place in this crate that touches
/// the file system for corpora, kept apart so the rest stays usable in
/// WebAssembly.
pub fn load_tsv(path: impl AsRef<Path>) -> Result<Vec<Example>, LoadError> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path).map_err(|source| LoadError::Io {
        path: path.display().to_string(),
        source,
    })?;
    parse_tsv(&text).map_err(|source| LoadError::Corpus {
        path: path.display().to_string(),
        source,
    })
}

/// The canonical form of a text used to recognise duplicates and
/// near-duplicates: the text unmasked by [`crate::text::fold`], with every
/// number reduced to `#` and everything but letters and digits dropped.
///
/// Two messages that differ only in case, spacing, punctuation, disguised
/// letters or numbers (the tracking number, the amount, the phone number of
/// one campaign) count as the same message, so they cannot end up on both
/// sides of a split and inflate the held-out figures.
pub fn normalise(text: &str) -> String {
    let folded = crate::text::fold(text);
    let mut out = String::with_capacity(folded.len());
    let mut in_number = false;
    for c in folded.chars() {
        if c.is_numeric() {
            if !in_number {
                out.push('#');
            }
            in_number = true;
        } else {
            in_number = false;
            if c.is_alphanumeric() {
                out.push(c);
            }
        }
    }
    out
}

/// A distinct word of letters for each number, for tests that need many
/// texts that are not near-duplicates ([`normalise`] masks numbers).
#[cfg(test)]
pub(crate) fn distinct_word(mut i: usize) -> String {
    let mut w = String::new();
    loop {
        w.push((b'a' + (i % 26) as u8) as char);
        i /= 26;
        if i == 0 {
            return w;
        }
    }
}

/// Undoes the digit masking of the Chinese corpus, whose digits were
/// replaced by `x` (`x月xx日`, `xxx元`): each such run of `x` becomes a run of
/// `0`, so the features read it as the number it was. An `x` that touches
/// another Latin letter (`iPhonex`, `vx`) is a letter and stays.
pub fn unmask_digits(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        if chars[i] != 'x' {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        let end = i + chars[i..].iter().take_while(|&&c| c == 'x').count();
        let before = i.checked_sub(1).map(|k| chars[k]);
        let after = chars.get(end).copied();
        let letter = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphabetic());
        if letter(before) || letter(after) {
            out.extend(&chars[i..end]);
        } else {
            out.extend(std::iter::repeat_n('0', end - i));
        }
        i = end;
    }
    out
}

/// The labelled corpora the shipped model learns from, all in `data/`
/// (their sources and licences are in `data/README.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    /// The SMS Spam Collection (English, 2011), CC BY 4.0.
    SmsSpamEn,
    /// English SMS with smishing (2022), CC BY 4.0; overlaps the former.
    SmishingEn,
    /// Chinese SMS (2015), digits masked, licence not stated.
    SmsSpamZh,
    /// Messages written for Tidings in both languages: today's service
    /// notices, verification codes and chat, and today's spam, which the
    /// older corpora lack. Part of the project, under its licence.
    Authored,
}

impl Source {
    /// Every corpus, in training order.
    pub const ALL: [Source; 4] = [
        Source::SmsSpamEn,
        Source::SmishingEn,
        Source::SmsSpamZh,
        Source::Authored,
    ];

    /// The corpus's file in `data/`, and its name in reports.
    pub fn file_name(self) -> &'static str {
        match self {
            Source::SmsSpamEn => "sms-spam-en.tsv",
            Source::SmishingEn => "smishing-en.tsv",
            Source::SmsSpamZh => "sms-spam-zh.tsv",
            Source::Authored => "authored.tsv",
        }
    }

    /// A short name for reports.
    pub fn name(self) -> &'static str {
        match self {
            Source::SmsSpamEn => "English SMS (UCI)",
            Source::SmishingEn => "English smishing",
            Source::SmsSpamZh => "Chinese SMS",
            Source::Authored => "Written for Tidings",
        }
    }

    /// How many times each training example of this corpus counts.
    ///
    /// The messages written for Tidings are few (about 2,500 beside 68,000)
    /// but they are the only ones like today's traffic: verification
    /// codes, bank, delivery and school notices, which the 2011 and 2015
    /// corpora barely hold and which look like their adverts. Counted once,
    /// they are drowned out; counted [`AUTHORED_WEIGHT`] times, the model
    /// learns them. The English corpora count [`ENGLISH_WEIGHT`] times
    /// beside the Chinese one, eight times their size. Both were chosen with
    /// the cross-validation of `examples/train.rs --cv-only`.
    pub fn training_weight(self) -> usize {
        match self {
            Source::Authored => AUTHORED_WEIGHT,
            Source::SmsSpamEn | Source::SmishingEn => ENGLISH_WEIGHT,
            Source::SmsSpamZh => 1,
        }
    }

    /// A text of this corpus as live traffic would show it.
    pub fn prepare(self, text: &str) -> String {
        match self {
            Source::SmsSpamZh => unmask_digits(text),
            Source::SmsSpamEn | Source::SmishingEn | Source::Authored => text.to_owned(),
        }
    }
}

/// See [`Source::training_weight`].
pub const AUTHORED_WEIGHT: usize = 5;

/// See [`Source::training_weight`].
pub const ENGLISH_WEIGHT: usize = 2;

/// Several corpora divided into one training part and per-corpus held-out
/// parts, without any (near-)duplicate on both sides.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourcesSplit {
    /// Examples to train (and tune) on, deduplicated across corpora.
    pub train: Vec<Example>,
    /// The corpus of each training example.
    pub train_sources: Vec<Source>,
    /// Held-out examples of each corpus, deduplicated within it. A text
    /// that two corpora share is held out (or trained on) in both.
    pub held_out: Vec<(Source, Vec<Example>)>,
}

impl SourcesSplit {
    /// The training examples, each repeated as often as its corpus's
    /// [`Source::training_weight`]: what the model is trained on.
    pub fn training_set(&self) -> Vec<Example> {
        self.train
            .iter()
            .zip(&self.train_sources)
            .flat_map(|(e, s)| std::iter::repeat_n(e.clone(), s.training_weight()))
            .collect()
    }

    /// The held-out examples of `source` (empty if it was not given).
    pub fn held_out_of(&self, source: Source) -> &[Example] {
        self.held_out
            .iter()
            .find(|(s, _)| *s == source)
            .map_or(&[], |(_, examples)| examples.as_slice())
    }
}

/// Splits several corpora at once: each text is prepared for its corpus
/// ([`Source::prepare`]), and the held-out choice is a hash of its
/// near-duplicate key ([`normalise`]), the same for every corpus, so a
/// text two corpora share (the smishing set repeats most of the UCI one)
/// falls on the same side in both.
pub fn split_sources(corpora: &[(Source, Vec<Example>)]) -> SourcesSplit {
    let mut out = SourcesSplit::default();
    let mut trained = std::collections::HashSet::new();
    for (source, examples) in corpora {
        let mut held = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for example in examples {
            let text = source.prepare(&example.text);
            let key = normalise(&text);
            if !seen.insert(key.clone()) {
                continue;
            }
            let example = Example::new(example.label, text);
            if is_held_out(&key) {
                held.push(example);
            } else if trained.insert(key) {
                out.train.push(example);
                out.train_sources.push(*source);
            }
        }
        out.held_out.push((*source, held));
    }
    out
}

/// A corpus divided into a part to learn from and a part to measure on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Split {
    /// Examples to train (and tune) on.
    pub train: Vec<Example>,
    /// Examples kept aside to report quality on; never used for training.
    pub held_out: Vec<Example>,
}

/// Whether a normalised text belongs to the held-out part; a pure function of
/// the text so the split is reproducible everywhere.
pub fn is_held_out(normalised: &str) -> bool {
    let h = mix64(crate::hash::fnv1a_update(
        fnv1a(SPLIT_SALT),
        normalised.as_bytes(),
    ));
    h % 100 < HELD_OUT_PERCENT
}

/// Removes duplicate messages, keeping the first occurrence of each
/// normalised text (see [`normalise`]), in input order.
///
/// If duplicates disagree on the label the first one wins; the shipped corpus
/// has no such conflict.
pub fn deduplicate(examples: &[Example]) -> Vec<Example> {
    let mut seen = std::collections::HashSet::new();
    examples
        .iter()
        .filter(|e| seen.insert(normalise(&e.text)))
        .cloned()
        .collect()
}

/// Deduplicates `examples`, then holds out about [`HELD_OUT_PERCENT`]% of the
/// distinct texts, chosen by a stable hash of the normalised text.
///
/// Deduplicating first guarantees that no (normalised) text is in both parts,
/// which would otherwise inflate the held-out figures: bulk spam is often sent
/// many times verbatim. Input order is kept within each part.
pub fn split(examples: &[Example]) -> Split {
    let mut out = Split::default();
    for example in deduplicate(examples) {
        if is_held_out(&normalise(&example.text)) {
            out.held_out.push(example);
        } else {
            out.train.push(example);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_valid_corpus() {
        let tsv = "label\ttext\r\nham\tHello there\r\n\nspam\tWIN\tnow\n";
        let ex = parse_tsv(tsv).expect("valid corpus");
        assert_eq!(
            ex,
            vec![
                Example::new(Label::Ham, "Hello there"),
                Example::new(Label::Spam, "WIN\tnow"),
            ]
        );
    }

    #[test]
    fn reports_malformed_lines() {
        assert_eq!(parse_tsv(""), Err(CorpusError::Empty));
        assert!(matches!(
            parse_tsv("lbl\ttxt\n"),
            Err(CorpusError::BadHeader { .. })
        ));
        assert_eq!(
            parse_tsv("label\ttext\nham\tok\nspam no tab\n"),
            Err(CorpusError::MissingTab { line: 3 })
        );
        assert_eq!(
            parse_tsv("label\ttext\neggs\thi\n"),
            Err(CorpusError::UnknownLabel {
                line: 2,
                label: "eggs".into()
            })
        );
        assert_eq!(
            parse_tsv("label\ttext\nham\t  \n"),
            Err(CorpusError::EmptyText { line: 2 })
        );
        let long = format!("label\ttext\nham\t{}\n", "a".repeat(MAX_TEXT_BYTES + 1));
        assert_eq!(
            parse_tsv(&long),
            Err(CorpusError::TextTooLong {
                line: 2,
                len: MAX_TEXT_BYTES + 1,
                max: MAX_TEXT_BYTES
            })
        );
    }

    #[test]
    fn rejects_too_many_lines() {
        let mut tsv = String::from("label\ttext\n");
        for _ in 0..=MAX_LINES {
            tsv.push_str("ham\tx\n");
        }
        assert_eq!(
            parse_tsv(&tsv),
            Err(CorpusError::TooManyLines { max: MAX_LINES })
        );
    }

    #[test]
    fn near_duplicates_share_a_key() {
        assert_eq!(normalise("  Hello\t\tWORLD \n again "), "helloworldagain");
        assert_eq!(
            normalise("Call 0800 123 now!"),
            normalise("call 0900-777 NOW")
        );
        assert_eq!(normalise("澳 门 赌 场 送 888"), normalise("澳门赌场送66"));
        assert_ne!(normalise("win a prize"), normalise("win a car"));
    }

    #[test]
    fn masked_digits_are_unmasked() {
        assert_eq!(unmask_digits("于x月xx日上午"), "于0月00日上午");
        assert_eq!(unmask_digits("iPhonex 加vx"), "iPhonex 加vx");
        assert_eq!(unmask_digits("xxx-xxxx"), "000-0000");
    }

    #[test]
    fn sources_split_keeps_shared_texts_on_one_side() {
        let a: Vec<Example> = (0..300)
            .map(|i| Example::new(Label::Spam, format!("offer {i} {}", word(i))))
            .collect();
        // The second corpus repeats the first (with other digits) and adds
        // its own texts.
        let b: Vec<Example> = a
            .iter()
            .map(|e| Example::new(e.label, e.text.replace('1', "7")))
            .chain((0..100).map(|i| Example::new(Label::Ham, format!("note {}", word(i)))))
            .collect();
        let s = split_sources(&[(Source::SmsSpamEn, a), (Source::SmishingEn, b)]);
        let train: std::collections::HashSet<String> =
            s.train.iter().map(|e| normalise(&e.text)).collect();
        assert_eq!(train.len(), s.train.len(), "training part deduplicated");
        for (_, held) in &s.held_out {
            assert!(!held.is_empty());
            assert!(held.iter().all(|e| !train.contains(&normalise(&e.text))));
        }
    }

    use crate::corpus::distinct_word as word;

    #[test]
    fn split_deduplicates_before_splitting() {
        let ex: Vec<Example> = (0..200)
            .flat_map(|i| {
                [
                    Example::new(Label::Ham, format!("message number {}", word(i))),
                    Example::new(Label::Ham, format!("MESSAGE  number {} ", word(i))),
                ]
            })
            .collect();
        let s = split(&ex);
        assert_eq!(s.train.len() + s.held_out.len(), 200);
        assert!(!s.held_out.is_empty() && s.held_out.len() < 100);
        let train: std::collections::HashSet<_> =
            s.train.iter().map(|e| normalise(&e.text)).collect();
        assert!(s
            .held_out
            .iter()
            .all(|e| !train.contains(&normalise(&e.text))));
    }
}
