//! On-device spam defence for Tidings.
//!
//! Messages in Tidings are end-to-end encrypted, so the server cannot look at
//! them: spam has to be recognised on the recipient's device. This crate
//! provides the pieces for that, as pure functions on text (no file system,
//! clock or threads in the core logic, so it also runs in WebAssembly):
//!
//! - [`text`]: undoing the disguises of spam (full-width and look-alike
//!   letters, characters spaced out) and telling the script of a text;
//! - [`corpus`]: parsing labelled training data and splitting it into a
//!   training and a held-out part without leaking texts between them;
//! - [`classifier`]: a logistic-regression spam classifier over hashed word
//!   and character n-grams, with a model shipped in the crate
//!   ([`Model::shipped`]);
//! - [`evaluation`]: precision, recall and F1 of spam detection;
//! - [`training`]: the reproducible training pipeline behind
//!   `tidings spam train` and `model/model.json`;
//! - [`fingerprint`]: locality-sensitive fingerprints (SimHash) that let
//!   devices recognise the same spam campaign despite small variations,
//!   without revealing the message;
//! - [`personal`]: the small model a device learns from its user's
//!   reports and restores, over the shipped one;
//! - [`requests`]: where a message from someone the user has no relation
//!   with goes (requests or junk), and unclickable links for showing it.

mod features;
mod hash;
pub mod text;

pub mod classifier;
pub mod corpus;
pub mod evaluation;
pub mod fingerprint;
pub mod personal;
pub mod requests;
pub mod training;

pub use classifier::{Model, ModelError, TrainingConfig, Verdict, SPAM_THRESHOLD};
pub use corpus::{CorpusError, Example, Label, Source, Split};
pub use evaluation::{evaluate, Report};
pub use fingerprint::{hamming_distance, matches, Fingerprint, MAX_MATCH_DISTANCE};
pub use personal::{Filter, Lesson, Personal};
pub use requests::{Filing, Folder, Reason, Relation, JUNK_RETENTION_DAYS};
pub use text::{language, Language};
pub use training::{load_sources, train_and_evaluate, write_model_json, TrainingReport};
