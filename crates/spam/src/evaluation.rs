//! Measuring how well a classifier separates spam from ham.
//!
//! Spam is the positive class: precision is the share of messages flagged as
//! spam that really are spam (what protects legitimate messages), recall the
//! share of spam that gets flagged.

use std::fmt;

use crate::classifier::{Model, SPAM_THRESHOLD};
use crate::corpus::{Example, Label};

/// Confusion counts and the derived spam precision, recall and F1.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Report {
    /// Spam messages classified as spam.
    pub true_positives: usize,
    /// Ham messages wrongly classified as spam.
    pub false_positives: usize,
    /// Spam messages missed (classified as ham).
    pub false_negatives: usize,
    /// Ham messages classified as ham.
    pub true_negatives: usize,
    /// `tp / (tp + fp)`; 1 when nothing was flagged (no false alarm).
    pub precision: f64,
    /// `tp / (tp + fn)`; 1 when there was no spam to find.
    pub recall: f64,
    /// Harmonic mean of precision and recall (0 if both are 0).
    pub f1: f64,
}

impl Report {
    /// Builds a report from `(true label, score)` pairs and a threshold, so
    /// that thresholds can be compared without re-scoring (cross-validation).
    pub fn from_scores(scored: &[(Label, f32)], threshold: f32) -> Report {
        let (mut tp, mut fp, mut fn_, mut tn) = (0, 0, 0, 0);
        for &(label, score) in scored {
            match (label, score >= threshold) {
                (Label::Spam, true) => tp += 1,
                (Label::Ham, true) => fp += 1,
                (Label::Spam, false) => fn_ += 1,
                (Label::Ham, false) => tn += 1,
            }
        }
        let ratio = |num: usize, den: usize| {
            if den == 0 {
                1.0
            } else {
                num as f64 / den as f64
            }
        };
        let precision = ratio(tp, tp + fp);
        let recall = ratio(tp, tp + fn_);
        let f1 = if precision + recall == 0.0 {
            0.0
        } else {
            2.0 * precision * recall / (precision + recall)
        };
        Report {
            true_positives: tp,
            false_positives: fp,
            false_negatives: fn_,
            true_negatives: tn,
            precision,
            recall,
            f1,
        }
    }

    /// Number of examples evaluated.
    pub fn examples(&self) -> usize {
        self.true_positives + self.false_positives + self.false_negatives + self.true_negatives
    }

    /// Number of spam examples evaluated.
    pub fn spam(&self) -> usize {
        self.true_positives + self.false_negatives
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "spam precision {:.4}, recall {:.4}, F1 {:.4} \
             (TP {}, FP {}, FN {}, TN {}; {} examples, {} spam)",
            self.precision,
            self.recall,
            self.f1,
            self.true_positives,
            self.false_positives,
            self.false_negatives,
            self.true_negatives,
            self.examples(),
            self.spam()
        )
    }
}

/// Classifies every example with `model` at [`SPAM_THRESHOLD`] and reports
/// spam precision, recall and F1.
pub fn evaluate(model: &Model, examples: &[Example]) -> Report {
    let scored: Vec<(Label, f32)> = examples
        .iter()
        .map(|e| (e.label, model.score(&e.text)))
        .collect();
    Report::from_scores(&scored, SPAM_THRESHOLD)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_ratios() {
        let scored = [
            (Label::Spam, 0.9),
            (Label::Spam, 0.2),
            (Label::Ham, 0.8),
            (Label::Ham, 0.1),
            (Label::Ham, 0.0),
        ];
        let r = Report::from_scores(&scored, 0.5);
        assert_eq!(
            (
                r.true_positives,
                r.false_positives,
                r.false_negatives,
                r.true_negatives
            ),
            (1, 1, 1, 2)
        );
        assert_eq!(r.precision, 0.5);
        assert_eq!(r.recall, 0.5);
        assert_eq!(r.f1, 0.5);
        assert_eq!((r.examples(), r.spam()), (5, 2));
        assert!(r
            .to_string()
            .starts_with("spam precision 0.5000, recall 0.5000"));
    }

    #[test]
    fn empty_input_has_no_false_alarm() {
        let r = Report::from_scores(&[], 0.5);
        assert_eq!((r.precision, r.recall, r.f1), (1.0, 1.0, 1.0));
    }
}
