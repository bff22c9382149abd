//! Turning a message into the sparse feature vector the classifier sees.
//!
//! Features are hashed into [`BUCKETS`] buckets (the "hashing trick"), so the
//! model needs no vocabulary and unseen words cost nothing. Each family of
//! features hashes with its own namespace byte so that, say, the word `win`
//! and the character trigram `win` are different features.
//!
//! The text is first unmasked by [`crate::text::fold`] (full-width and
//! look-alike letters, inserted spaces and symbols). Then:
//!
//! - spaced scripts (English...) give word unigrams and bigrams, and
//!   character 3- to 5-grams inside each word, with `<` and `>` marking the
//!   word boundaries (robust to the abbreviations and misspellings of SMS,
//!   such as `txting` or `msgs`);
//! - unspaced scripts (Chinese, Japanese, Thai...) have no words to split on,
//!   so each run of them gives its character bigrams (as "words"), trigrams
//!   (as "bigrams") and single characters (as "n-grams"). Character n-grams
//!   need no segmenter and no dictionary, which keeps the model small enough
//!   for the WebAssembly client, and they see through the new compounds
//!   spam invents;
//! - long numbers are reduced to their kind (`<shortcode>`, `<longnumber>`,
//!   `<phone>`), so a campaign that changes its numbers keeps its features.
//!   Short ones (`2`, `150`, `1000`) carry meaning in English spam and stay;
//!   in other languages they are reduced to their length (`###`), because
//!   the Chinese training corpus masks its digits and live traffic must
//!   look like it;
//! - message-level cues typical of spam: URLs with their registered domain
//!   and top-level domain, phone numbers and short codes, currency symbols,
//!   ALL-CAPS words, exclamation marks, `【】` sender tags, the script, and
//!   length (bucketed).
//!
//! Each present feature counts once, with the weight of its family
//! ([`FAMILY_WEIGHTS`]), and the vector is L2-normalised, so long messages do
//! not get extreme scores just by being long.

use crate::hash::{fnv1a_update, mix64, FNV_OFFSET};
use crate::text::{fold, language, script};

/// Number of bits of a feature bucket index.
pub(crate) const BUCKET_BITS: u32 = 20;

/// Number of feature buckets: 2^20 keeps collisions rare for the
/// vocabularies of English words and Chinese character n-grams together,
/// while the trained model stays small (most buckets unused).
pub(crate) const BUCKETS: u32 = 1 << BUCKET_BITS;

/// Identifies this exact feature extraction; stored in model files so that a
/// model trained on different features is rejected instead of silently
/// producing nonsense.
pub(crate) const FEATURES_VERSION: &str = "tidings-spam-features/2";

/// Shortest and longest character n-grams taken inside words.
const CHAR_NGRAMS: std::ops::RangeInclusive<usize> = 3..=5;

/// Top-level domains whose presence makes a token count as a URL even without
/// `http://` or `www.` (SMS spam often writes bare `getzed.co.uk` or `t.cn`).
const URL_SUFFIXES: &[&str] = &[
    ".com", ".net", ".org", ".co.uk", ".uk", ".biz", ".info", ".mobi", ".tv", ".ly", ".me", ".cn",
    ".top", ".xyz", ".vip", ".cc", ".icu", ".shop", ".site", ".online", ".club", ".link", ".app",
    ".io", ".co", ".ru", ".tk", ".live", ".hk", ".tw", ".win", ".bet", ".loan", ".click",
];

/// Second-level labels under which a country's domains are registered
/// (`example.co.uk`, `example.com.cn`): the registered domain then has three
/// labels.
const SECOND_LEVELS: &[&str] = &[
    "co", "com", "net", "org", "gov", "edu", "ac", "gob", "ne", "or",
];

/// Characters counted as currency symbols.
const CURRENCY: &[char] = &['£', '$', '€', '¥', '₹', '￥', '＄'];

/// The families of features; each hashes in its own namespace and has its
/// own weight in the feature vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Family {
    /// Word unigrams.
    Word = 0,
    /// Word bigrams, including message start and end.
    Bigram = 1,
    /// Character n-grams inside words.
    Char = 2,
    /// Message-level cues (URL, phone number, currency, capitals...).
    Meta = 3,
}

/// Number of [`Family`] variants.
pub(crate) const FAMILIES: usize = 4;

/// Value of a present feature of each family, before normalisation.
///
/// A message has several times more character n-grams than words, and only a
/// handful of message-level cues; at equal weights the n-grams drown the few,
/// very telling cues. Halving the n-gram weight was chosen by 5-fold
/// cross-validation on the training part (out-of-fold recall at precision
/// >= 0.99 rose from about 0.90 to 0.95; weights 0.4-0.5 were equally good).
pub(crate) const FAMILY_WEIGHTS: [f64; FAMILIES] = [1.0, 1.0, 0.5, 1.0];

impl Family {
    /// Namespace byte mixed into the hash of every feature of the family.
    fn namespace(self) -> u8 {
        match self {
            Family::Word => b'w',
            Family::Bigram => b'b',
            Family::Char => b'c',
            Family::Meta => b'm',
        }
    }
}

/// The hashed features of one message: for each family, the distinct bucket
/// indices, sorted ascending.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Features {
    /// Buckets per family, indexed by `Family as usize`.
    pub(crate) families: [Vec<u32>; FAMILIES],
}

impl Features {
    /// L2 norm of the weighted binary feature vector; dividing by it makes
    /// long and short messages comparable.
    pub(crate) fn norm(&self) -> f64 {
        self.families
            .iter()
            .zip(FAMILY_WEIGHTS)
            .map(|(buckets, w)| w * w * buckets.len() as f64)
            .sum::<f64>()
            .sqrt()
    }
}

/// Collects hashed feature buckets.
struct Sink<'a> {
    out: &'a mut Features,
    /// The message's language code, namespacing the message-level cues.
    lang: &'static str,
}

impl Sink<'_> {
    fn add(&mut self, family: Family, parts: &[&str]) {
        let mut h = fnv1a_update(FNV_OFFSET, &[family.namespace()]);
        for part in parts {
            h = fnv1a_update(h, part.as_bytes());
            // Separator that cannot occur in UTF-8, so ("ab","c") != ("a","bc").
            h = fnv1a_update(h, &[0xff]);
        }
        let bucket = (mix64(h) & u64::from(BUCKETS - 1)) as u32;
        self.out.families[family as usize].push(bucket);
    }

    /// A message-level cue, in the namespace of the message's language: a
    /// long message, a link or a bracketed sender tag mean different things
    /// in Chinese and English traffic, and the Chinese corpus, ten times
    /// larger, would otherwise set their weights for both.
    fn meta(&mut self, name: &str) {
        let lang = self.lang;
        self.add(Family::Meta, &[lang, name]);
    }

    fn meta_bin(&mut self, name: &str, value: usize, bounds: &[usize]) {
        let bin = bounds.iter().take_while(|&&b| value >= b).count();
        let label = format!("{name}={bin}");
        self.meta(&label);
    }
}

/// Message-level counters gathered while tokenising.
#[derive(Default)]
struct Cues {
    url: bool,
    phone: bool,
    long_number: bool,
    short_code: bool,
    currency: bool,
    digits: usize,
    /// Registered domains of the links, e.g. `example.co.uk`.
    domains: Vec<String>,
    /// Short numbers are reduced to their length (`##`) instead of kept.
    mask_short_numbers: bool,
    /// An e-mail address.
    email: bool,
}

/// Whether a run of URL-ish ASCII characters (lowercase) looks like a URL:
/// a scheme (even with one slash, `http:/bit.do`, which many phones still
/// open), `www.`, a host with a path (`bit.do/x`, `1.2.3.4/x`), or a host
/// ending in a common top-level domain.
fn is_url(lower: &str) -> bool {
    if lower.contains("http:/") || lower.contains("https:/") || lower.contains("www.") {
        return true;
    }
    if let Some((host, _)) = lower.split_once('/') {
        let host = host.split(':').next().unwrap_or_default();
        let labels: Vec<&str> = host.split('.').collect();
        let hostlike = labels.len() >= 2
            && labels.iter().all(|l| {
                !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            });
        let last = labels.last().copied().unwrap_or_default();
        let ip = labels.len() == 4 && labels.iter().all(|l| l.parse::<u8>().is_ok());
        if hostlike && (ip || (last.len() >= 2 && last.bytes().all(|b| b.is_ascii_alphabetic()))) {
            return true;
        }
    }
    URL_SUFFIXES.iter().any(|suffix| {
        lower.match_indices(suffix).any(|(at, _)| {
            let before_ok = lower[..at]
                .chars()
                .next_back()
                .is_some_and(char::is_alphanumeric);
            let after_ok = !lower[at + suffix.len()..]
                .chars()
                .next()
                .is_some_and(char::is_alphanumeric);
            before_ok && after_ok
        })
    })
}

/// The registered domain of a URL (`https://a.b.example.co.uk/x` ->
/// `example.co.uk`): the part a campaign pays for, so the part worth
/// remembering, while the rest of the link changes per message.
pub(crate) fn registered_domain(url: &str) -> Option<String> {
    let rest = url
        .split_once("://")
        .map_or(url, |(_, after)| after)
        .trim_start_matches("www.");
    let rest = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    let host = rest
        .split(['/', '?', '#', ':'])
        .next()
        .unwrap_or_default()
        .trim_matches(|c: char| !c.is_ascii_alphanumeric());
    let labels: Vec<&str> = host.split('.').filter(|l| !l.is_empty()).collect();
    if labels.len() < 2
        || !labels
            .iter()
            .all(|l| l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
    {
        return None;
    }
    if labels.iter().all(|l| l.bytes().all(|b| b.is_ascii_digit())) {
        return Some("<ip>".to_owned());
    }
    let n = labels.len();
    let take = if n >= 3 && labels[n - 1].len() == 2 && SECOND_LEVELS.contains(&labels[n - 2]) {
        3
    } else {
        2
    };
    Some(labels[n - take..].join("."))
}

/// Characters that may appear in a URL written in a message.
fn is_url_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "./:?=&%-_~#@+".contains(c)
}

/// Finds the links in a folded chunk of text (a link may be glued to Chinese
/// text, as in `点击t.cn/abc领取`) and records their domains. Returns
/// whether it found one.
fn find_urls(chunk: &str, cues: &mut Cues) -> bool {
    let mut found = false;
    for candidate in chunk.split(|c: char| !is_url_char(c)) {
        let candidate = candidate.trim_end_matches(['.', ':', '?', '-']);
        // An e-mail address is not a link: `name@example.com`.
        if candidate.contains('@') && !candidate.contains('/') {
            cues.email = true;
            continue;
        }
        if candidate.len() >= 4 && is_url(candidate) {
            cues.url = true;
            found = true;
            if let Some(domain) = registered_domain(candidate) {
                if !cues.domains.contains(&domain) {
                    cues.domains.push(domain);
                }
            }
        }
    }
    found
}

/// Maps a run of digits to its token: every number is reduced to its shape,
/// short ones by their length (`##`), long ones to their kind.
fn digits_token(len: usize, cues: &mut Cues) -> &'static str {
    match len {
        0 | 1 => "#",
        2 => "##",
        3 => "###",
        4 => "####",
        5..=6 => {
            cues.short_code = true;
            "<shortcode>"
        }
        7..=9 => {
            cues.long_number = true;
            "<longnumber>"
        }
        _ => {
            cues.phone = true;
            "<phone>"
        }
    }
}

/// A token of the message: a word of a spaced script, or a run of an
/// unspaced one.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Word(String),
    Unspaced(Vec<char>),
}

/// Turns one run of letters and digits of a spaced script into a word
/// token, updating the cues.
fn flush_run(run: &mut String, cues: &mut Cues, tokens: &mut Vec<Token>) {
    if run.is_empty() {
        return;
    }
    let digits = run.chars().filter(|c| c.is_numeric()).count();
    let letters = run.chars().filter(|c| c.is_alphabetic()).count();
    cues.digits += digits;
    if letters == 0 {
        let len = run.chars().count();
        if len <= 4 && !cues.mask_short_numbers {
            tokens.push(Token::Word(run.clone()));
        } else {
            tokens.push(Token::Word(digits_token(len, cues).to_owned()));
        }
    } else if digits == 0 {
        tokens.push(Token::Word(run.clone()));
    } else {
        // Mixed letters and digits: keep the shape, e.g. `150p` -> `#p`,
        // `txt80086` -> `txt#`.
        let mut shape = String::new();
        let mut digit_run = 0usize;
        for c in run.chars().chain(std::iter::once(' ')) {
            if c.is_numeric() {
                digit_run += 1;
                continue;
            }
            if digit_run > 0 {
                shape.push('#');
                // Only for the cue; the token keeps just the shape.
                let _ = digits_token(digit_run, cues);
                digit_run = 0;
            }
            if c != ' ' {
                shape.push(c);
            }
        }
        tokens.push(Token::Word(shape));
    }
    run.clear();
}

/// Splits folded `text` into tokens and gathers the message cues.
fn tokenise(text: &str, cues: &mut Cues) -> Vec<Token> {
    let mut tokens = Vec::new();
    for chunk in text.split_whitespace() {
        if find_urls(chunk, cues) {
            tokens.push(Token::Word("<url>".to_owned()));
        }
        let mut run = String::new();
        let mut unspaced: Vec<char> = Vec::new();
        for c in chunk.chars() {
            let kind = script(c);
            if kind.is_unspaced() {
                flush_run(&mut run, cues, &mut tokens);
                unspaced.push(c);
                continue;
            }
            if !unspaced.is_empty() {
                tokens.push(Token::Unspaced(std::mem::take(&mut unspaced)));
            }
            if c.is_alphanumeric() {
                run.push(c);
                continue;
            }
            flush_run(&mut run, cues, &mut tokens);
            if CURRENCY.contains(&c) {
                cues.currency = true;
                tokens.push(Token::Word("<currency>".to_owned()));
            }
        }
        flush_run(&mut run, cues, &mut tokens);
        if !unspaced.is_empty() {
            tokens.push(Token::Unspaced(unspaced));
        }
    }
    tokens
}

/// Adds the character n-grams of one word token, boundaries marked.
fn char_ngrams(token: &str, sink: &mut Sink<'_>) {
    if token.starts_with('<') || token.chars().all(|c| c == '#') {
        return; // placeholders and plain numbers have no useful spelling
    }
    let marked = format!("<{token}>");
    let bounds: Vec<usize> = marked
        .char_indices()
        .map(|(i, _)| i)
        .chain(std::iter::once(marked.len()))
        .collect();
    let chars = bounds.len() - 1;
    for n in CHAR_NGRAMS {
        if n > chars {
            break;
        }
        for start in 0..=chars - n {
            sink.add(Family::Char, &[&marked[bounds[start]..bounds[start + n]]]);
        }
    }
}

/// Adds the features of a run of an unspaced script: bigrams as words,
/// trigrams as bigrams, single characters as n-grams; a run of one
/// character is a word by itself.
fn unspaced_ngrams(run: &[char], sink: &mut Sink<'_>) {
    let text: String = run.iter().collect();
    let bounds: Vec<usize> = text
        .char_indices()
        .map(|(i, _)| i)
        .chain(std::iter::once(text.len()))
        .collect();
    let n = run.len();
    if n == 1 {
        sink.add(Family::Word, &[&text]);
    }
    for start in 0..n {
        sink.add(Family::Char, &[&text[bounds[start]..bounds[start + 1]]]);
        if start + 2 <= n {
            sink.add(Family::Word, &[&text[bounds[start]..bounds[start + 2]]]);
        }
        if start + 3 <= n {
            sink.add(Family::Bigram, &[&text[bounds[start]..bounds[start + 3]]]);
        }
    }
}

/// Words written in capitals (two or more capitals, no lower case), counted
/// on the original text because folding lower-cases it.
fn caps_words(text: &str) -> usize {
    text.split_whitespace()
        .filter(|w| {
            w.chars().filter(|c| c.is_uppercase()).count() >= 2
                && !w.chars().any(char::is_lowercase)
        })
        .count()
}

/// Extracts the features of `text`.
pub(crate) fn extract(text: &str) -> Features {
    let mut out = Features::default();
    let text = crate::text::bounded(text);
    let folded = fold(text);
    let lang = language(text);
    let mut cues = Cues {
        mask_short_numbers: lang != crate::text::Language::En,
        ..Cues::default()
    };
    let tokens = tokenise(&folded, &mut cues);
    let mut sink = Sink {
        out: &mut out,
        lang: lang.as_str(),
    };

    let mut previous = "<s>".to_owned();
    for token in &tokens {
        match token {
            Token::Word(word) => {
                sink.add(Family::Word, &[word]);
                sink.add(Family::Bigram, &[&previous, word]);
                char_ngrams(word, &mut sink);
                previous.clone_from(word);
            }
            Token::Unspaced(run) => {
                let first: String = run[..1].iter().collect();
                sink.add(Family::Bigram, &[&previous, &first]);
                unspaced_ngrams(run, &mut sink);
                previous = run[run.len() - 1..].iter().collect();
            }
        }
    }
    sink.add(Family::Bigram, &[&previous, "</s>"]);

    if cues.url {
        sink.meta("url");
    }
    for domain in &cues.domains {
        sink.meta(&format!("domain={domain}"));
        if let Some((_, tld)) = domain.rsplit_once('.') {
            sink.meta(&format!("tld={tld}"));
        }
    }
    if cues.phone {
        sink.meta("phone");
    }
    if cues.email {
        sink.meta("email");
    }
    if cues.long_number {
        sink.meta("long-number");
    }
    if cues.short_code {
        sink.meta("short-code");
    }
    if cues.currency {
        sink.meta("currency");
    }
    if folded.contains('【') || folded.contains('[') {
        sink.meta("sender-tag");
    }
    sink.meta("bias");
    let exclamations = text.chars().filter(|&c| c == '!' || c == '！').count();
    sink.meta_bin("caps", caps_words(text), &[1, 2, 3, 5]);
    sink.meta_bin("exclamations", exclamations, &[1, 2, 4]);
    sink.meta_bin("digits", cues.digits, &[1, 4, 8, 12, 20]);
    sink.meta_bin("chars", text.chars().count(), &[20, 40, 80, 120, 150, 170]);
    sink.meta_bin("words", tokens.len(), &[3, 6, 12, 20, 30]);

    for buckets in &mut out.families {
        buckets.sort_unstable();
        buckets.dedup();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::corpus::MAX_TEXT_BYTES;

    fn tokens(text: &str) -> Vec<String> {
        let mut cues = Cues {
            mask_short_numbers: language(text) != crate::text::Language::En,
            ..Cues::default()
        };
        tokenise(&fold(text), &mut cues)
            .into_iter()
            .map(|t| match t {
                Token::Word(w) => w,
                Token::Unspaced(run) => run.into_iter().collect(),
            })
            .collect()
    }

    #[test]
    fn numbers_become_shapes() {
        assert_eq!(
            tokens("Call 09050001295 or txt WIN to 80086, 2 win 150p/msg"),
            vec![
                "call",
                "<phone>",
                "or",
                "txt",
                "win",
                "to",
                "<shortcode>",
                "2",
                "win",
                "#p",
                "msg"
            ]
        );
    }

    #[test]
    fn unspaced_runs_are_split_from_latin_and_numbers() {
        assert_eq!(
            tokens("【招商银行】验证码4829，请勿泄露 OK"),
            vec!["招商银行", "验证码", "####", "请勿泄露", "ok"]
        );
        assert_eq!(
            tokens("点击t.cn/Ab3领取"),
            vec!["<url>", "点击", "t", "cn", "ab#", "领取"]
        );
    }

    #[test]
    fn cues_are_detected() {
        let mut cues = Cues::default();
        let text = "URGENT! You WON £800. Visit getzed.co.uk or 08712460324";
        let _ = tokenise(&fold(text), &mut cues);
        assert!(cues.url && cues.phone && cues.currency);
        assert_eq!(cues.domains, vec!["getzed.co.uk"]);
        assert_eq!(caps_words(text), 2);
        assert!(!is_url("e.g."));
        assert!(is_url("http:/bit.do/claim-tax"));
        assert!(is_url("bit.do/claim"));
        assert!(is_url("95.141.32.7:81/orders"));
        assert!(!is_url("1.5/2"));
        let mut cues = Cues::default();
        assert!(!find_urls("yijue@hotmail.com", &mut cues));
        assert!(cues.email && !cues.url);
        assert!(!is_url("ok...com"));
        assert!(is_url("http://x"));
    }

    #[test]
    fn registered_domains() {
        assert_eq!(
            registered_domain("https://a.b.example.co.uk/x?y").as_deref(),
            Some("example.co.uk")
        );
        assert_eq!(registered_domain("t.cn/abc").as_deref(), Some("t.cn"));
        assert_eq!(
            registered_domain("www.shop.example.com.cn").as_deref(),
            Some("example.com.cn")
        );
        assert_eq!(registered_domain("http://x"), None);
    }

    #[test]
    fn disguises_give_the_same_features() {
        assert_eq!(
            extract("澳门赌场 首充送彩金"),
            extract("澳 门 赌 场 首*充*送*彩*金")
        );
        assert_eq!(extract("FREE entry"), extract("ＦＲＥＥ entry"));
        assert_eq!(extract("赢 3000 元"), extract("赢 7000 元"));
        assert_ne!(extract("win 3000 now"), extract("win 7000 now"));
    }

    #[test]
    fn extraction_is_sorted_distinct_and_bounded() {
        let features = extract("win win WIN a prize");
        for buckets in &features.families {
            assert!(buckets.windows(2).all(|w| w[0] < w[1]));
            assert!(buckets.iter().all(|&b| b < BUCKETS));
        }
        assert_eq!(features.families[Family::Word as usize].len(), 3);
        let huge = "é".repeat(MAX_TEXT_BYTES * 2);
        assert!(!extract(&huge).families[Family::Word as usize].is_empty());
        assert!(extract("").families[Family::Char as usize].is_empty());
        let han = "发".repeat(MAX_TEXT_BYTES);
        assert!(!extract(&han).families[Family::Word as usize].is_empty());
    }
}
