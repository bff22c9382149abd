//! Undoing the disguises of spam before anything looks at the text, and
//! telling which script a message is written in.
//!
//! Campaigns dodge filters by writing the same words in other code points:
//! full-width letters (`ＶＩＰ`), Cyrillic or Greek look-alikes (`Vіsа` with a
//! Cyrillic `і`), "mathematical" bold letters, circled digits, zero-width
//! characters, and spaces or symbols pushed between the characters of a word
//! (`澳 门 赌 场`, `代*开*发*票`, `F R E E`). [`fold`] maps all of these back to
//! the plain text, so the classifier and the campaign fingerprints see one
//! campaign, not a thousand spellings of it.
//!
//! [`language`] is a cheap script census, not a language model: it is what
//! `tidings spam classify` reports and what the quality tests group by.

use serde::{Deserialize, Serialize};

/// Which script family a character belongs to, as far as the features care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Script {
    /// Chinese characters (and Japanese kanji): written without spaces.
    Han,
    /// Japanese kana: unspaced as well.
    Kana,
    /// Korean hangul: spaced between words, but counted apart for
    /// [`language`].
    Hangul,
    /// Thai, Lao, Khmer, Myanmar: unspaced scripts outside East Asia.
    SoutheastAsian,
    /// Everything else that is a letter or a digit (spaced scripts).
    Spaced,
    /// Not a letter or digit.
    Other,
}

impl Script {
    /// Whether words of this script are not separated by spaces, so that
    /// features must come from character n-grams instead of words.
    pub(crate) fn is_unspaced(self) -> bool {
        matches!(self, Script::Han | Script::Kana | Script::SoutheastAsian)
    }
}

/// The script of one character.
pub(crate) fn script(c: char) -> Script {
    match c as u32 {
        0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x3134F => Script::Han,
        0x3040..=0x30FF | 0x31F0..=0x31FF | 0xFF66..=0xFF9D => Script::Kana,
        0x1100..=0x11FF | 0x3130..=0x318F | 0xAC00..=0xD7AF => Script::Hangul,
        0x0E00..=0x0EFF | 0x1000..=0x109F | 0x1780..=0x17FF => Script::SoutheastAsian,
        _ if c.is_alphanumeric() => Script::Spaced,
        _ => Script::Other,
    }
}

/// Code points that render as nothing and are inserted to split words.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}' | '\u{034F}' | '\u{180E}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}' | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}'
    )
}

/// Cyrillic and Greek letters that look like Latin ones, and their Latin
/// twin. Only look-alikes: a Russian or Greek message keeps most of its
/// letters (and is classified as what it is), while a Latin word with one
/// foreign letter slipped in becomes the word again.
const HOMOGLYPHS: &[(char, char)] = &[
    ('а', 'a'),
    ('в', 'b'),
    ('е', 'e'),
    ('ё', 'e'),
    ('к', 'k'),
    ('м', 'm'),
    ('н', 'h'),
    ('о', 'o'),
    ('р', 'p'),
    ('с', 'c'),
    ('т', 't'),
    ('у', 'y'),
    ('х', 'x'),
    ('ѕ', 's'),
    ('і', 'i'),
    ('ї', 'i'),
    ('ј', 'j'),
    ('ԁ', 'd'),
    ('ԛ', 'q'),
    ('ԝ', 'w'),
    ('ɡ', 'g'),
    ('ı', 'i'),
    ('α', 'a'),
    ('β', 'b'),
    ('ε', 'e'),
    ('η', 'n'),
    ('ι', 'i'),
    ('κ', 'k'),
    ('ν', 'v'),
    ('ο', 'o'),
    ('ρ', 'p'),
    ('τ', 't'),
    ('υ', 'u'),
    ('χ', 'x'),
    ('ω', 'w'),
];

/// Maps one character to its plain form: full-width and "mathematical"
/// letters to ASCII, circled and enclosed forms to what they enclose. Returns `None` for invisible characters. The result is
/// lower case: case carries a spam cue (ALL CAPS) that the feature code reads
/// from the original text before folding.
pub(crate) fn fold_char(c: char) -> Option<char> {
    if is_invisible(c) {
        return None;
    }
    let u = c as u32;
    let plain = match u {
        // Full-width ASCII and the ideographic space.
        0xFF01..=0xFF5E => char::from_u32(u - 0xFF01 + 0x21),
        0x3000 => Some(' '),
        // Mathematical alphanumeric symbols: 13 alphabets of A-Z a-z
        // (a few holes hold letters elsewhere; mapping them anyway is fine),
        // then five sets of digits 0-9.
        0x1D400..=0x1D6A3 => {
            let k = (u - 0x1D400) % 52;
            char::from_u32(if k < 26 { 0x41 + k } else { 0x61 + k - 26 })
        }
        0x1D7CE..=0x1D7FF => char::from_u32(0x30 + (u - 0x1D7CE) % 10),
        // Circled, parenthesised and full-stop digits 1-20.
        0x2460..=0x2473 => digit_form(u - 0x2460 + 1),
        0x2474..=0x2487 => digit_form(u - 0x2474 + 1),
        0x2488..=0x249B => digit_form(u - 0x2488 + 1),
        0x24EA => Some('0'),
        // Parenthesised, circled upper- and lower-case Latin letters.
        0x249C..=0x24B5 => char::from_u32(0x61 + u - 0x249C),
        0x24B6..=0x24CF => char::from_u32(0x61 + u - 0x24B6),
        0x24D0..=0x24E9 => char::from_u32(0x61 + u - 0x24D0),
        // Negative circled and squared capitals (🅰, 🄰, 🅐).
        0x1F130..=0x1F149 => char::from_u32(0x61 + u - 0x1F130),
        0x1F150..=0x1F169 => char::from_u32(0x61 + u - 0x1F150),
        0x1F170..=0x1F189 => char::from_u32(0x61 + u - 0x1F170),
        // Dingbat circled digits ❶-❿, ➀-➉, ➊-➓.
        0x2776..=0x277F => digit_form(u - 0x2776 + 1),
        0x2780..=0x2789 => digit_form(u - 0x2780 + 1),
        0x278A..=0x2793 => digit_form(u - 0x278A + 1),
        _ => Some(c),
    }?;
    Some(plain.to_lowercase().next().unwrap_or(plain))
}

/// The Latin twin of a look-alike letter, if it is one.
fn latin_twin(c: char) -> Option<char> {
    HOMOGLYPHS
        .iter()
        .find(|(from, _)| *from == c)
        .map(|&(_, to)| to)
}

/// Replaces look-alike letters by their Latin twin inside words that also
/// hold ASCII letters: `vіsа` (with Cyrillic `і` and `а`) becomes `visa`,
/// while a Russian word, with no ASCII letter, stays Russian.
fn unmask_lookalikes(chars: &mut [char]) {
    let mut start = 0;
    while start < chars.len() {
        let end = start
            + chars[start..]
                .iter()
                .take_while(|c| c.is_alphabetic())
                .count();
        if end == start {
            start += 1;
            continue;
        }
        if chars[start..end].iter().any(char::is_ascii_alphabetic) {
            for c in &mut chars[start..end] {
                if let Some(twin) = latin_twin(*c) {
                    *c = twin;
                }
            }
        }
        start = end;
    }
}

/// The digit a circled number stands for; numbers above 9 keep their last
/// digit, which is enough for the features (digits are masked anyway).
fn digit_form(n: u32) -> Option<char> {
    char::from_u32(0x30 + n % 10)
}

/// Whether a character may be dropped when it sits between two characters
/// of an unspaced script: spaces and the symbols spammers insert.
/// Punctuation that ends phrases (`，。！？：；`, which full-width folding
/// turns into `,.!?:;` except `。`) is kept, bar the full stop, which
/// spammers insert as often as they end sentences with it.
fn is_filler(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '*' | '.'
                | '-'
                | '_'
                | '|'
                | '/'
                | '\\'
                | '~'
                | '^'
                | '+'
                | '='
                | '#'
                | '·'
                | '•'
                | '`'
        )
}

/// `text` cut to at most [`crate::corpus::MAX_TEXT_BYTES`] on a character
/// boundary: the classifier and the fingerprints look at no more, so the
/// work per message is bounded whatever a stranger sends.
pub(crate) fn bounded(text: &str) -> &str {
    let max = crate::corpus::MAX_TEXT_BYTES;
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// The text with its disguises removed (see the module documentation):
/// characters folded by [`fold_char`], fillers between characters of an
/// unspaced script dropped, and runs of three or more single letters
/// separated by spaces (`F R E E`) joined into one word. Lower case.
pub fn fold(text: &str) -> String {
    let mut folded: Vec<char> = text.chars().filter_map(fold_char).collect();
    unmask_lookalikes(&mut folded);
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < folded.len() {
        let c = folded[i];
        if is_filler(c)
            && out
                .chars()
                .next_back()
                .is_some_and(|p| script(p).is_unspaced())
        {
            // Skip the whole filler run if an unspaced character follows;
            // otherwise keep it whole (looked at once: linear time).
            let mut j = i;
            while j < folded.len() && is_filler(folded[j]) {
                j += 1;
            }
            if !(j < folded.len() && script(folded[j]).is_unspaced()) {
                out.extend(&folded[i..j]);
            }
            i = j;
            continue;
        }
        out.push(c);
        i += 1;
    }
    join_spaced_letters(&out)
}

/// Joins runs of three or more one-letter words (`f r e e` -> `free`).
fn join_spaced_letters(text: &str) -> String {
    let words: Vec<&str> = text.split(' ').collect();
    let single = |w: &str| {
        let mut cs = w.chars();
        matches!((cs.next(), cs.next()), (Some(c), None) if script(c) == Script::Spaced)
    };
    let mut out = String::with_capacity(text.len());
    let mut k = 0;
    while k < words.len() {
        let run = words[k..].iter().take_while(|w| single(w)).count();
        if !out.is_empty() {
            out.push(' ');
        }
        if run >= 3 {
            out.extend(words[k..k + run].iter().copied());
            k += run;
        } else {
            out.push_str(words[k]);
            k += 1;
        }
    }
    out
}

/// The language of a message as far as its script tells, reported by
/// `tidings spam classify` and used to group quality figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    /// Chinese: Chinese characters and no kana.
    Zh,
    /// Japanese: kana present.
    Ja,
    /// Korean: hangul present.
    Ko,
    /// Latin-script text, which the shipped model knows as English.
    En,
    /// Anything else (other scripts, or no letters at all).
    Und,
}

impl Language {
    /// The code printed in JSON and tables (`zh`, `en`...).
    pub fn as_str(self) -> &'static str {
        match self {
            Language::Zh => "zh",
            Language::Ja => "ja",
            Language::Ko => "ko",
            Language::En => "en",
            Language::Und => "und",
        }
    }
}

/// Guesses the language of `text` from its scripts: Chinese when at least
/// a quarter of its letters are Chinese characters (a Chinese text with a
/// brand name or a link in it is still Chinese), Latin when Latin letters
/// dominate.
pub fn language(text: &str) -> Language {
    let (mut han, mut kana, mut hangul, mut latin, mut letters) = (0usize, 0, 0, 0, 0);
    for c in text.chars().filter_map(fold_char) {
        match script(c) {
            Script::Han => han += 1,
            Script::Kana => kana += 1,
            Script::Hangul => hangul += 1,
            Script::Spaced if c.is_ascii_alphabetic() => latin += 1,
            _ => {}
        }
        if c.is_alphabetic() {
            letters += 1;
        }
    }
    if letters == 0 {
        Language::Und
    } else if kana > 0 && (kana + han) * 4 >= letters {
        Language::Ja
    } else if hangul * 4 >= letters {
        Language::Ko
    } else if han * 4 >= letters {
        Language::Zh
    } else if latin * 2 >= letters {
        Language::En
    } else {
        Language::Und
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disguised_letters_fold_to_plain_ones() {
        assert_eq!(fold("ＶＩＰ会员"), "vip会员");
        // Cyrillic і and а inside Latin words.
        assert_eq!(fold("Vіsа card"), "visa card");
        assert_eq!(fold("𝐅𝐑𝐄𝐄 𝐆𝐈𝐅𝐓"), "free gift");
        assert_eq!(fold("call ①②③"), "call 123");
        assert_eq!(fold("pri\u{200B}ze"), "prize");
        assert_eq!(fold("Ⓦⓘⓝ"), "win");
    }

    #[test]
    fn fillers_between_unspaced_characters_go() {
        assert_eq!(fold("澳 门 赌 场"), "澳门赌场");
        assert_eq!(fold("代*开*发*票"), "代开发票");
        assert_eq!(fold("加 V：abc"), "加 v:abc");
        // Chinese punctuation stays; so does the space before Latin text.
        assert_eq!(fold("你好，明天见"), "你好,明天见");
        assert_eq!(fold("验证码 4829"), "验证码 4829");
    }

    #[test]
    fn spaced_out_words_are_joined() {
        assert_eq!(fold("F R E E entry now"), "free entry now");
        assert_eq!(fold("a b is fine"), "a b is fine");
    }

    #[test]
    fn languages_by_script() {
        assert_eq!(language("您的验证码是 482913，请勿泄露"), Language::Zh);
        assert_eq!(language("【Apple】您的 Apple ID 验证码"), Language::Zh);
        assert_eq!(language("Are we still on for dinner?"), Language::En);
        assert_eq!(language("明日の会議は10時からです"), Language::Ja);
        assert_eq!(language("안녕하세요"), Language::Ko);
        assert_eq!(language("12345 !!"), Language::Und);
        assert_eq!(language("Привет, как дела"), Language::Und);
    }
}
