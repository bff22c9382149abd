//! A filter that learns from its user: a small personal model layered over
//! the shipped one.
//!
//! A new campaign is, by definition, one the shipped model has not seen. The
//! people it reaches first see it in their Requests; when one of them
//! reports a few of its texts as junk, the next variant should go to Junk
//! on that account without waiting for a new model or for the server's
//! campaign list. And when the shipped model hides a message the user
//! wanted, restoring it should teach the device that such texts are fine.
//!
//! The personal layer is a logistic correction trained on the user's own
//! *lessons* (a report is a spam lesson, a restore a ham lesson), with the
//! shipped model's log-odds as a fixed offset: it only moves what the user
//! corrected. It is rebuilt from the lessons, which are few
//! ([`MAX_LESSONS`]) and deterministic to learn from, so every device of an
//! account that holds the same lessons (they travel as encrypted relation
//! contents) files messages the same way, and there are no weights to sync.
//!
//! It learns from the words and character n-grams of a text only, not from
//! the message-level cues (length, script, capitals): those are shared by
//! nearly every message, and a few reports must not make all messages of a
//! given length look like spam.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::classifier::{sigmoid, Model, Verdict};
use crate::corpus::{Label, MAX_TEXT_BYTES};
use crate::features::{extract, Family, Features, FAMILY_WEIGHTS};

/// Most lessons kept per account; the oldest go first. Enough for a user who
/// reports a campaign a day for half a year, small enough to learn from in
/// about a millisecond per lesson.
pub const MAX_LESSONS: usize = 200;

/// Longest lesson text kept, in bytes (longer texts are cut): the start of a
/// message carries its campaign.
pub const MAX_LESSON_BYTES: usize = 1024;

/// Passes over the lessons while learning.
const EPOCHS: usize = 40;

/// Step size of each correction (features are L2-normalised).
const STEP: f64 = 1.5;

/// Log-odds a lesson is learnt to: a reported text must score at least
/// `sigmoid(3.0)` = 0.95 (above the junk threshold of 0.8) and a restored one
/// at most 0.05. Beyond that the lesson stops pulling, so a lesson does not
/// grow weights without bound.
const MARGIN: f64 = 3.0;

/// One correction by the user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lesson {
    /// `spam` for a report, `ham` for a restore.
    pub label: Label,
    /// The text judged (cut to [`MAX_LESSON_BYTES`]).
    pub text: String,
}

impl Lesson {
    /// A lesson, its text without control characters (which JSON would
    /// write six bytes each when lessons travel) and cut to
    /// [`MAX_LESSON_BYTES`] on a character boundary.
    pub fn new(label: Label, text: &str) -> Lesson {
        let clean: String = text
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        let mut end = clean.len().min(MAX_LESSON_BYTES);
        while !clean.is_char_boundary(end) {
            end -= 1;
        }
        Lesson {
            label,
            text: clean[..end].to_owned(),
        }
    }
}

/// A lesson ready to learn from: the shipped model's log-odds of its text,
/// its label (1 spam, 0 ham) and its content features.
struct Prepared {
    offset: f64,
    y: f64,
    features: Vec<(u32, f64)>,
}

/// The personal correction: a sparse weight per feature bucket.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Personal {
    weights: HashMap<u32, f64>,
}

/// The features the personal layer learns from, with their values.
fn content_features(features: &Features) -> Vec<(u32, f64)> {
    let norm = features.norm();
    [Family::Word, Family::Bigram, Family::Char]
        .iter()
        .flat_map(|&family| {
            let value = FAMILY_WEIGHTS[family as usize] / norm;
            features.families[family as usize]
                .iter()
                .map(move |&bucket| (bucket, value))
        })
        .collect()
}

impl Personal {
    /// Learns the correction from `lessons` (the last [`MAX_LESSONS`] are
    /// used) on top of `base`. Deterministic: the same lessons give the same
    /// correction on every device.
    pub fn learn(base: &Model, lessons: &[Lesson]) -> Personal {
        // The latest word on a text wins: a restore after a report of the
        // same (near-identical) text replaces it, and the other way round.
        let mut seen = std::collections::HashSet::new();
        let mut recent: Vec<&Lesson> = lessons
            .iter()
            .rev()
            .filter(|l| seen.insert(crate::corpus::normalise(&l.text)))
            .take(MAX_LESSONS)
            .collect();
        recent.reverse();
        let data: Vec<Prepared> = recent
            .iter()
            .filter(|l| l.text.len() <= MAX_TEXT_BYTES)
            .map(|l| {
                let features = extract(&l.text);
                Prepared {
                    offset: base.logit_of(&features),
                    y: if l.label == Label::Spam { 1.0 } else { 0.0 },
                    features: content_features(&features),
                }
            })
            .collect();
        let mut weights: HashMap<u32, f64> = HashMap::new();
        for _ in 0..EPOCHS {
            let mut moved = false;
            for Prepared {
                offset,
                y,
                features,
            } in &data
            {
                let z = offset
                    + features
                        .iter()
                        .map(|(b, v)| weights.get(b).copied().unwrap_or(0.0) * v)
                        .sum::<f64>();
                let learnt = if *y > 0.5 { z >= MARGIN } else { z <= -MARGIN };
                if learnt {
                    continue;
                }
                moved = true;
                let gradient = sigmoid(z) - y;
                for &(bucket, value) in features {
                    *weights.entry(bucket).or_insert(0.0) -= STEP * gradient * value;
                }
            }
            if !moved {
                break;
            }
        }
        weights.retain(|_, w| *w != 0.0);
        Personal { weights }
    }

    /// Whether there is nothing learnt (no lessons).
    pub fn is_empty(&self) -> bool {
        self.weights.is_empty()
    }

    /// The correction to the log-odds of a message with `features`.
    fn correction(&self, features: &Features) -> f64 {
        if self.weights.is_empty() {
            return 0.0;
        }
        content_features(features)
            .iter()
            .map(|(b, v)| self.weights.get(b).copied().unwrap_or(0.0) * v)
            .sum()
    }
}

/// The classifier a device files messages with: the shipped model, corrected
/// by the account's personal layer when it has one.
#[derive(Debug, Clone, Copy)]
pub struct Filter<'a> {
    /// The shipped model.
    pub base: &'a Model,
    /// The account's correction, if any.
    pub personal: Option<&'a Personal>,
}

impl<'a> From<&'a Model> for Filter<'a> {
    fn from(base: &'a Model) -> Self {
        Filter {
            base,
            personal: None,
        }
    }
}

impl Filter<'_> {
    /// Probability (0..=1) that `text` is spam.
    pub fn score(&self, text: &str) -> f32 {
        let features = extract(text);
        let correction = self.personal.map_or(0.0, |p| p.correction(&features));
        sigmoid(self.base.logit_of(&features) + correction) as f32
    }

    /// Classifies `text` against [`SPAM_THRESHOLD`].
    pub fn classify(&self, text: &str) -> Verdict {
        Verdict::from_score(self.score(text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::requests::JUNK_THRESHOLD;

    const CAMPAIGN: [&str; 4] = [
        "Hi, I'm Lily from Golden Harbour Estates. We have sea-view flats at 30% off this week, reply 1 for photos",
        "Good morning! Golden Harbour Estates has sea-view flats at 35% off, this week only. Reply 1 for photos, Lily",
        "Hello, Lily here from Golden Harbour Estates: sea-view flats at 25% off this week, reply 1 and I send the photos",
        "Hi again, this is Lily at Golden Harbour Estates, sea-view flats at 40% off only this week, reply 1 for the photos",
    ];

    #[test]
    fn three_reports_send_the_fourth_variant_to_junk() {
        let base = Model::shipped();
        let before = Filter::from(base).score(CAMPAIGN[3]);
        assert!(
            before < JUNK_THRESHOLD,
            "the shipped model already junks it ({before})"
        );
        let lessons: Vec<Lesson> = CAMPAIGN[..3]
            .iter()
            .map(|t| Lesson::new(Label::Spam, t))
            .collect();
        let personal = Personal::learn(base, &lessons);
        let filter = Filter {
            base,
            personal: Some(&personal),
        };
        let after = filter.score(CAMPAIGN[3]);
        assert!(after >= JUNK_THRESHOLD, "{before} -> {after}");
        // Everyday messages are left alone.
        for ham in [
            "Are we still on for dinner tonight? I'll be there at 7",
            "Your parcel is in locker 12, collection code 4471",
            "今晚一起吃饭吗？我七点到",
            "Hi, I'm Tom from the flat downstairs, I think your post came to us",
        ] {
            let s = filter.score(ham);
            assert!(s < JUNK_THRESHOLD, "{ham:?} went to {s}");
        }
    }

    #[test]
    fn a_restore_unlearns_a_false_positive() {
        let base = Model::shipped();
        let text = "URGENT! Your flat viewing is TOMORROW at 10, call 07700900123 to confirm or we give the slot away!";
        let mut lessons = vec![Lesson::new(Label::Ham, text)];
        let personal = Personal::learn(base, &lessons);
        let filter = Filter {
            base,
            personal: Some(&personal),
        };
        assert!(filter.score(text) <= 0.05 + 1e-6, "{}", filter.score(text));
        // A later report of the same text wins over the restore.
        lessons.push(Lesson::new(Label::Spam, text));
        let personal = Personal::learn(base, &lessons);
        let filter = Filter {
            base,
            personal: Some(&personal),
        };
        assert!(filter.score(text) >= 0.95 - 1e-6, "{}", filter.score(text));
    }

    #[test]
    fn learning_is_bounded_and_deterministic() {
        let base = Model::shipped();
        // Distinct words, so that no two lessons are near-duplicates.
        let word = crate::corpus::distinct_word;
        let lessons: Vec<Lesson> = (0..MAX_LESSONS + 50)
            .map(|i| Lesson::new(Label::Spam, &format!("golden harbour offer {}", word(i))))
            .collect();
        let a = Personal::learn(base, &lessons);
        let b = Personal::learn(base, &lessons);
        assert_eq!(a, b);
        // Only the last MAX_LESSONS count: the first 50 do not change it.
        assert_eq!(a, Personal::learn(base, &lessons[50..]));
        assert_ne!(a, Personal::learn(base, &lessons[..MAX_LESSONS]));
        assert!(!Lesson::new(Label::Spam, "a\u{0}b\nc")
            .text
            .contains(char::is_control));
        assert!(Personal::learn(base, &[]).is_empty());
        let long = "长".repeat(MAX_LESSON_BYTES);
        assert!(Lesson::new(Label::Spam, &long).text.len() <= MAX_LESSON_BYTES);
    }
}
