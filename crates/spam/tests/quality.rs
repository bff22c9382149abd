//! Quality and reproducibility of the shipped spam classifier, measured on
//! the deduplicated held-out part of `data/train.tsv`.

use std::collections::HashSet;

use tidings_spam::corpus::{self, normalise, Label, Split};
use tidings_spam::{evaluate, Model, Report};

/// Required spam precision on the held-out part.
const MIN_PRECISION: f64 = 0.98;
/// Required spam recall on the held-out part.
const MIN_RECALL: f64 = 0.93;

fn corpus_split() -> Split {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/data/train.tsv");
    corpus::split(&corpus::load_tsv(path).expect("data/train.tsv is part of the crate"))
}

#[test]
fn split_has_no_text_in_both_parts() {
    let split = corpus_split();
    let train: HashSet<String> = split.train.iter().map(|e| normalise(&e.text)).collect();
    let held_out: HashSet<String> = split.held_out.iter().map(|e| normalise(&e.text)).collect();
    assert_eq!(
        train.len(),
        split.train.len(),
        "training part has duplicates"
    );
    assert_eq!(
        held_out.len(),
        split.held_out.len(),
        "held-out part has duplicates"
    );
    assert!(train.is_disjoint(&held_out), "a text is in both parts");

    let total = split.train.len() + split.held_out.len();
    let share = split.held_out.len() as f64 / total as f64;
    assert!((0.17..0.23).contains(&share), "held-out share {share}");
    println!(
        "split: {} training, {} held-out distinct messages",
        split.train.len(),
        split.held_out.len()
    );
}

#[test]
fn shipped_model_meets_quality_bar_on_held_out_part() {
    let split = corpus_split();
    let report: Report = evaluate(Model::shipped(), &split.held_out);
    println!("shipped model on held-out part: {report}");
    assert!(
        report.precision >= MIN_PRECISION,
        "spam precision {:.4} < {MIN_PRECISION}",
        report.precision
    );
    assert!(
        report.recall >= MIN_RECALL,
        "spam recall {:.4} < {MIN_RECALL}",
        report.recall
    );
}

#[test]
fn training_is_deterministic() {
    let split = corpus_split();
    let first = Model::train(&split.train);
    let second = Model::train(&split.train);
    assert!(first == second, "two trainings on the same data differ");
    assert_eq!(first.to_json(), second.to_json());
}

#[test]
fn shipped_model_classifies_typical_messages() {
    let model = Model::shipped();
    let spam = model.classify(
        "URGENT! You have WON a £1000 cash prize. Call 09061701461 now to claim, T&C apply",
    );
    assert_eq!(spam.label, Label::Spam, "{spam:?}");
    let ham = model.classify("Hey, are we still on for dinner tonight? I'll be there at 7");
    assert_eq!(ham.label, Label::Ham, "{ham:?}");
    assert!((0.0..=1.0).contains(&spam.score) && (0.0..=1.0).contains(&ham.score));
}
