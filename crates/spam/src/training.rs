//! The reproducible training pipeline: corpus in, model and honest figures
//! out. Used by `tidings spam train` and by `examples/train.rs`, which
//! generates the shipped `model/model.json`.

use std::fmt;
use std::path::Path;

use crate::classifier::{Model, TrainingConfig};
use crate::corpus::{self, Example, Label, LoadError, Source};
use crate::evaluation::{evaluate, Report};
use crate::hash::{fnv1a, fnv1a_update, mix64};

/// Salt of the cross-validation fold hash, independent of the split hash.
const FOLD_SALT: &[u8] = b"tidings-spam/fold/v1\0";

/// Outcome of [`train_and_evaluate`]: sizes of the training part and the
/// quality measured on each corpus's held-out part.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainingReport {
    /// Distinct messages trained on.
    pub train_examples: usize,
    /// Of which spam.
    pub train_spam: usize,
    /// Quality on each corpus's held-out part (sizes in each report).
    pub held_out: Vec<(Source, Report)>,
}

impl fmt::Display for TrainingReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "trained on {} messages ({} spam)",
            self.train_examples, self.train_spam
        )?;
        for (source, report) in &self.held_out {
            write!(f, "\n  held-out {}: {report}", source.name())?;
        }
        Ok(())
    }
}

/// Reads every corpus of [`Source::ALL`] from `dir` (the crate's `data/`).
pub fn load_sources(dir: impl AsRef<Path>) -> Result<Vec<(Source, Vec<Example>)>, LoadError> {
    Source::ALL
        .iter()
        .map(|&source| {
            Ok((
                source,
                corpus::load_tsv(dir.as_ref().join(source.file_name()))?,
            ))
        })
        .collect()
}

/// Splits the corpora with [`corpus::split_sources`], trains on the training
/// part with `config` and evaluates on each held-out part.
pub fn train_and_evaluate(
    corpora: &[(Source, Vec<Example>)],
    config: &TrainingConfig,
) -> (Model, TrainingReport) {
    let split = corpus::split_sources(corpora);
    let model = Model::train_with(&split.training_set(), config);
    let report = TrainingReport {
        train_examples: split.train.len(),
        train_spam: count_spam(&split.train),
        held_out: split
            .held_out
            .iter()
            .map(|(source, examples)| (*source, evaluate(&model, examples)))
            .collect(),
    };
    (model, report)
}

fn count_spam(examples: &[Example]) -> usize {
    examples.iter().filter(|e| e.label == Label::Spam).count()
}

/// Which of `folds` cross-validation folds a text belongs to, by a stable
/// hash of its normalised form.
fn fold_of(text: &str, folds: u32) -> u32 {
    let h = mix64(fnv1a_update(
        fnv1a(FOLD_SALT),
        corpus::normalise(text).as_bytes(),
    ));
    (h % u64::from(folds)) as u32
}

/// Out-of-fold scores of `examples` under `folds`-fold cross-validation:
/// each example is scored by a model trained on the other folds. The result
/// is aligned with `examples`.
///
/// This is how hyper-parameters and [`crate::SPAM_THRESHOLD`] are tuned
/// without touching the held-out part. Pass deduplicated examples (e.g.
/// `split.train`), or duplicates will leak across folds.
pub fn cross_validated_scores(
    examples: &[Example],
    folds: u32,
    config: &TrainingConfig,
) -> Vec<(Label, f32)> {
    let folds = folds.max(2);
    let assignment: Vec<u32> = examples.iter().map(|e| fold_of(&e.text, folds)).collect();
    let mut scores: Vec<(Label, f32)> = examples.iter().map(|e| (e.label, 0.0)).collect();
    for fold in 0..folds {
        let train: Vec<Example> = examples
            .iter()
            .zip(&assignment)
            .filter(|&(_, &f)| f != fold)
            .map(|(e, _)| e.clone())
            .collect();
        let model = Model::train_with(&train, config);
        for ((example, &f), slot) in examples.iter().zip(&assignment).zip(&mut scores) {
            if f == fold {
                slot.1 = model.score(&example.text);
            }
        }
    }
    scores
}

/// Writes `model` as JSON to `path` (the format of `model/model.json`).
///
/// Kept apart from the pure training functions so that the library core
/// never needs a file system.
pub fn write_model_json(model: &Model, path: impl AsRef<Path>) -> std::io::Result<()> {
    let mut json = model.to_json();
    json.push('\n');
    std::fs::write(path, json)
}
