//! The server's layers, read from its source: every arrow points down.
//!
//! `http` and `web` (the edge) call `service`; `service` calls `store` and
//! `cluster`; `workers` call services and the store; `store` calls nothing
//! above it. Within `http`, no handler module reaches into another: shared
//! plumbing lives in services or in the module tree's root (`http/mod.rs`,
//! the router, which names every handler). A module breaking a rule fails
//! here with the line that does.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Every `.rs` file under `dir`, by path relative to `src/`.
fn sources(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
    for entry in std::fs::read_dir(dir).expect("src/ is readable") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            sources(root, &path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let rel = path
                .strip_prefix(root)
                .expect("under src/")
                .to_string_lossy()
                .replace('\\', "/");
            let text = std::fs::read_to_string(&path).expect("source is text");
            out.insert(rel, text);
        }
    }
}

/// The top-level module a file belongs to (`http` for `http/keys.rs`), and
/// its own module within that (`keys`; `mod` for `http/mod.rs`).
fn place(rel: &str) -> (&str, &str) {
    match rel.split_once('/') {
        Some((top, rest)) => (top, rest.trim_end_matches(".rs")),
        None => (rel.trim_end_matches(".rs"), "mod"),
    }
}

/// The crate paths a source names, as (line number, first segment, second
/// segment): `use crate::service::auth::Authed` gives `("service",
/// "auth")`; `super::error` inside `http/` gives `("http", "error")`.
/// Comments are skipped, so doc links do not count.
fn references<'a>(top: &'a str, text: &'a str) -> Vec<(usize, String, String)> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let code = line.split("//").next().unwrap_or("");
        for (prefix, base) in [("crate::", None), ("super::", Some(top))] {
            let mut rest = code;
            while let Some(at) = rest.find(prefix) {
                let after = &rest[at + prefix.len()..];
                let segs: Vec<&str> = after
                    .split("::")
                    .take(2)
                    .map(|s| {
                        let end = s
                            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                            .unwrap_or(s.len());
                        &s[..end]
                    })
                    .collect();
                let (first, second) = match base {
                    None => (
                        segs[0].to_string(),
                        segs.get(1).copied().unwrap_or("").to_string(),
                    ),
                    Some(top) => (top.to_string(), segs[0].to_string()),
                };
                out.push((n + 1, first, second));
                rest = after;
            }
        }
    }
    out
}

/// What each layer may not name.
fn forbidden(top: &str) -> &'static [&'static str] {
    match top {
        "store" => &["http", "web", "service", "workers", "cluster", "app", "App"],
        "cluster" => &["http", "web", "service", "workers", "store", "app"],
        "service" => &["http", "web", "workers"],
        "workers" => &["http", "web"],
        "web" => &["http"],
        "error" | "clock" | "config" => &["http", "web", "service", "workers", "cluster", "app"],
        _ => &[],
    }
}

fn violations() -> Vec<String> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = BTreeMap::new();
    sources(&root, &root, &mut files);
    assert!(
        files.len() > 30,
        "the source tree was not found at {}",
        root.display()
    );
    let mut out = Vec::new();
    for (rel, text) in &files {
        let (top, own) = place(rel);
        if top == "lib" {
            continue;
        }
        for (line, first, second) in references(top, text) {
            if forbidden(top).contains(&first.as_str()) {
                out.push(format!("{rel}:{line}: `{top}` may not use `{first}`"));
            }
            // Within http, a handler module uses no sibling.
            if top == "http"
                && own != "mod"
                && first == "http"
                && !second.is_empty()
                && second != own
            {
                out.push(format!(
                    "{rel}:{line}: http handler `{own}` may not use `http::{second}`"
                ));
            }
        }
    }
    out
}

#[test]
fn every_arrow_points_down() {
    let found = violations();
    assert!(found.is_empty(), "layering broken:\n{}", found.join("\n"));
}

#[test]
fn the_reader_sees_a_violation_when_there_is_one() {
    // The check itself must be able to fail: a store module naming a
    // service, and a handler naming another handler, are both reported.
    let store = references("store", "use crate::service::auth::Authed;");
    assert_eq!(store, vec![(1, "service".to_string(), "auth".to_string())]);
    assert!(forbidden("store").contains(&"service"));
    let http = references("http", "    super::accounts::parse(x) // crate::web");
    assert_eq!(http, vec![(1, "http".to_string(), "accounts".to_string())]);
}
