//! Regenerates the shipped model `model/model.json` from `data/train.tsv`
//! and prints its quality on the held-out part.
//!
//! ```text
//! cargo run -p tidings-spam --example train              # train, evaluate, write
//! cargo run -p tidings-spam --example train -- --cv-only # tune on the training part only
//! ```
//!
//! `--cv-only` runs 5-fold cross-validation on the training part (never the
//! held-out part) and prints precision and recall at several thresholds: this
//! is how `SPAM_THRESHOLD` and the training configuration were chosen.

use std::path::Path;
use std::process::ExitCode;

use tidings_spam::corpus::{self, Label};
use tidings_spam::training::cross_validated_scores;
use tidings_spam::{train_and_evaluate, write_model_json, Report, TrainingConfig};

fn main() -> ExitCode {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let data = dir.join("data/train.tsv");
    let tsv = match std::fs::read_to_string(&data) {
        Ok(tsv) => tsv,
        Err(e) => {
            eprintln!("cannot read {}: {e}", data.display());
            return ExitCode::FAILURE;
        }
    };

    if std::env::args().any(|a| a == "--cv-only") {
        let examples = match corpus::parse_tsv(&tsv) {
            Ok(examples) => examples,
            Err(e) => {
                eprintln!("{}: {e}", data.display());
                return ExitCode::FAILURE;
            }
        };
        let split = corpus::split(&examples);
        let scores = cross_validated_scores(&split.train, 5, &TrainingConfig::default());
        let spam = scores.iter().filter(|(l, _)| *l == Label::Spam).count();
        println!(
            "5-fold cross-validation on the training part ({} messages, {spam} spam):",
            scores.len()
        );
        for threshold in [0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7] {
            println!(
                "  threshold {threshold:.2}: {}",
                Report::from_scores(&scores, threshold)
            );
        }
        return ExitCode::SUCCESS;
    }

    let (model, report) = match train_and_evaluate(&tsv) {
        Ok(result) => result,
        Err(e) => {
            eprintln!("{}: {e}", data.display());
            return ExitCode::FAILURE;
        }
    };
    println!("{report}");
    let out = dir.join("model/model.json");
    if let Err(e) = write_model_json(&model, &out) {
        eprintln!("cannot write {}: {e}", out.display());
        return ExitCode::FAILURE;
    }
    println!(
        "wrote {} ({} weights, {} bytes)",
        out.display(),
        model.weight_count(),
        model.to_json().len() + 1
    );
    ExitCode::SUCCESS
}
