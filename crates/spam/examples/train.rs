//! Regenerates the shipped model `model/model.json` from the corpora in
//! `data/` and prints its quality on each corpus's held-out part.
//!
//! ```text
//! cargo run --release -p tidings-spam --example train              # train, evaluate, write
//! cargo run --release -p tidings-spam --example train -- --cv-only # tune on the training part only
//! ```
//!
//! `--cv-only` runs 5-fold cross-validation on the training part (never the
//! held-out parts) and prints precision and recall per language at several
//! thresholds: this is how `SPAM_THRESHOLD` and the training configuration
//! were chosen.

use std::path::Path;
use std::process::ExitCode;

use tidings_spam::corpus::{self, Label};
use tidings_spam::training::cross_validated_scores;
use tidings_spam::{
    load_sources, train_and_evaluate, write_model_json, Report, Source, TrainingConfig,
};

fn main() -> ExitCode {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let corpora = match load_sources(dir.join("data")) {
        Ok(corpora) => corpora,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let mut config = TrainingConfig::default();
    let arg = |name: &str| {
        let args: Vec<String> = std::env::args().collect();
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse::<f64>().ok())
    };
    if let Some(v) = arg("--prune") {
        config.prune_below = v;
    }
    if let Some(v) = arg("--l2") {
        config.l2 = v;
    }
    if let Some(v) = arg("--epochs") {
        config.epochs = v as u32;
    }
    if let Some(v) = arg("--lr") {
        config.learning_rate = v;
    }
    if let Some(v) = arg("--spam-weight") {
        config.spam_weight = v;
    }

    if std::env::args().any(|a| a == "--cv-only") {
        let split = corpus::split_sources(&corpora);
        // Repeated examples hash to the same fold, so none is scored by a
        // model that saw it; each is counted once below.
        let mut train = Vec::new();
        let mut origin = Vec::new();
        for (e, s) in split.train.iter().zip(&split.train_sources) {
            for copy in 0..s.training_weight() {
                train.push(e.clone());
                origin.push((*s, copy == 0));
            }
        }
        let scores = cross_validated_scores(&train, 5, &config);
        for source in Source::ALL {
            let of_source: Vec<(Label, f32)> = scores
                .iter()
                .zip(&origin)
                .filter(|(_, (s, first))| *s == source && *first)
                .map(|(score, _)| *score)
                .collect();
            let spam = of_source.iter().filter(|(l, _)| *l == Label::Spam).count();
            println!(
                "5-fold cross-validation, {} ({} messages, {spam} spam):",
                source.name(),
                of_source.len()
            );
            for threshold in [0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8] {
                let r = Report::from_scores(&of_source, threshold);
                println!(
                    "  threshold {threshold:.2}: precision {:.4} recall {:.4} (FP {}, FN {})",
                    r.precision, r.recall, r.false_positives, r.false_negatives
                );
            }
        }
        return ExitCode::SUCCESS;
    }

    let (model, report) = train_and_evaluate(&corpora, &config);
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
