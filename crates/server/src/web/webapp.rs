//! The web app: the built files of `web/` (`web_dir`, default `web/dist`),
//! served at `/`.
//!
//! The files are read once at start-up into memory, with the brotli and
//! gzip copies `scripts/build-web` made, so a request can only name a file that
//! was there: no path from a URL ever reaches the filesystem. When the app
//! is not built, `/` keeps the plain server page and says how to build it.
//!
//! Every answer carries the app's Content-Security-Policy, worker scripts
//! included (a worker takes the policy of its own script): scripts and
//! connections from this origin only, WebAssembly compilation allowed
//! (`'wasm-unsafe-eval'`, never `'unsafe-eval'`), no inline script or
//! style attribute, no framing.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::header::{
    ACCEPT_ENCODING, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_SECURITY_POLICY, CONTENT_TYPE, VARY,
};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::App;

/// The app's policy (see the module docs).
pub const APP_POLICY: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; \
     worker-src 'self'; connect-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; \
     style-src 'self'; font-src 'self'; manifest-src 'self'; object-src 'none'; \
     form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Most files the app directory may hold.
pub const MAX_WEB_FILES: usize = 256;
/// Most bytes the app's files may take in memory, compressed copies
/// included.
pub const MAX_WEB_BYTES: u64 = 64 * 1024 * 1024;

/// One file of the app.
#[derive(Debug)]
struct Asset {
    body: Bytes,
    gzip: Option<Bytes>,
    brotli: Option<Bytes>,
    content_type: &'static str,
    /// Named by its content's hash (`assets/`): cached for a year.
    immutable: bool,
}

/// The app's files, by URL path without the leading `/`.
#[derive(Debug, Default)]
pub struct WebApp {
    files: HashMap<String, Asset>,
}

/// Why the app's files could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum WebAppError {
    /// Reading failed.
    #[error("web app directory {path}: {source}")]
    Io {
        /// File or directory concerned.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// Too many files or bytes.
    #[error(
        "web app directory {path} holds more than {MAX_WEB_FILES} files or {MAX_WEB_BYTES} bytes; \
         point web_dir at the app's build (web/dist)"
    )]
    TooLarge {
        /// The directory.
        path: PathBuf,
    },
}

/// The MIME type of a file of the app, by extension; none for files that
/// are not served.
fn content_type(name: &str) -> Option<&'static str> {
    let ext = name.rsplit_once('.').map(|(_, e)| e)?;
    Some(match ext {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "wasm" => "application/wasm",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "webmanifest" => "application/manifest+json",
        "json" => "application/json",
        "txt" => "text/plain; charset=utf-8",
        _ => return None,
    })
}

impl WebApp {
    /// Loads the app from `dir`; `None` when it holds no `index.html`
    /// (the app is not built).
    pub fn load(dir: &Path) -> Result<Option<WebApp>, WebAppError> {
        if !dir.join("index.html").is_file() {
            return Ok(None);
        }
        let mut app = WebApp::default();
        let mut total = 0u64;
        let mut pending = vec![(dir.to_path_buf(), String::new())];
        while let Some((path, prefix)) = pending.pop() {
            let io = |source| WebAppError::Io {
                path: path.clone(),
                source,
            };
            for entry in std::fs::read_dir(&path).map_err(io)? {
                let entry = entry.map_err(io)?;
                let name = entry.file_name().to_string_lossy().into_owned();
                let kind = entry.file_type().map_err(io)?;
                let url = format!("{prefix}{name}");
                if kind.is_dir() {
                    pending.push((entry.path(), format!("{url}/")));
                    continue;
                }
                let Some(content_type) = content_type(&name) else {
                    continue; // .gz copies are read with their file
                };
                let read = |p: &Path| {
                    std::fs::read(p).map_err(|source| WebAppError::Io {
                        path: p.to_path_buf(),
                        source,
                    })
                };
                let body = Bytes::from(read(&entry.path())?);
                let copy = |ext: &str| -> Result<Option<Bytes>, WebAppError> {
                    let path = entry.path().with_file_name(format!("{name}.{ext}"));
                    Ok(if path.is_file() {
                        Some(Bytes::from(read(&path)?))
                    } else {
                        None
                    })
                };
                let gzip = copy("gz")?;
                let brotli = copy("br")?;
                total += [Some(&body), gzip.as_ref(), brotli.as_ref()]
                    .into_iter()
                    .flatten()
                    .map(|b| b.len() as u64)
                    .sum::<u64>();
                if app.files.len() >= MAX_WEB_FILES || total > MAX_WEB_BYTES {
                    return Err(WebAppError::TooLarge {
                        path: dir.to_path_buf(),
                    });
                }
                app.files.insert(
                    url.clone(),
                    Asset {
                        body,
                        gzip,
                        brotli,
                        content_type,
                        immutable: url.starts_with("assets/"),
                    },
                );
            }
        }
        Ok(Some(app))
    }

    /// The answer for the file at `name`, compressed (brotli, else gzip)
    /// when the browser accepts it and a copy exists.
    fn answer(&self, name: &str, headers: &HeaderMap) -> Option<Response> {
        let asset = self.files.get(name)?;
        let accepted = headers
            .get(ACCEPT_ENCODING)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let compressed = [("br", &asset.brotli), ("gzip", &asset.gzip)]
            .into_iter()
            .find_map(|(coding, copy)| {
                copy.as_ref()
                    .filter(|_| accepts(accepted, coding))
                    .map(|c| (coding, c))
            });
        let mut response = match compressed {
            Some((coding, copy)) => {
                let mut r = copy.clone().into_response();
                r.headers_mut()
                    .insert(CONTENT_ENCODING, HeaderValue::from_static(coding));
                r
            }
            None => asset.body.clone().into_response(),
        };
        let h = response.headers_mut();
        h.insert(CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
        h.insert(
            CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(APP_POLICY),
        );
        h.insert(VARY, HeaderValue::from_static("accept-encoding"));
        h.insert(
            CACHE_CONTROL,
            HeaderValue::from_static(if asset.immutable {
                "public, max-age=31536000, immutable"
            } else {
                "no-cache"
            }),
        );
        Some(response)
    }
}

/// Whether an `Accept-Encoding` value admits `coding` (not `coding;q=0`).
fn accepts(value: &str, coding: &str) -> bool {
    value.split(',').any(|part| {
        let mut bits = part.split(';').map(str::trim);
        let named = bits.next().unwrap_or("");
        let refused = bits.any(|p| p.replace(' ', "") == "q=0" || p.replace(' ', "") == "q=0.0");
        (named.eq_ignore_ascii_case(coding) || named == "*") && !refused
    })
}

/// `GET /`: the app, or the plain server page when it is not built.
pub async fn index(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    match app
        .web
        .as_ref()
        .and_then(|w| w.answer("index.html", &headers))
    {
        Some(r) => r,
        None => crate::web::carrier::home(State(app), headers)
            .await
            .into_response(),
    }
}

/// `GET /{file}`: a top-level file of the app (icon, manifest, service
/// worker).
pub async fn top_file(
    State(app): State<Arc<App>>,
    UrlPath(file): UrlPath<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    file_of(&app, &file, &headers)
}

/// `GET /assets/{file}`: a built, content-hashed file of the app.
pub async fn asset(
    State(app): State<Arc<App>>,
    UrlPath(file): UrlPath<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    file_of(&app, &format!("assets/{file}"), &headers)
}

/// The app's file `name`, or not found (also when the app is not built).
fn file_of(app: &App, name: &str, headers: &HeaderMap) -> Result<Response, ApiError> {
    app.web
        .as_ref()
        .and_then(|w| w.answer(name, headers))
        .ok_or_else(not_found)
}

fn not_found() -> ApiError {
    ApiError::NotFound("no such page".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_coding_is_accepted_unless_refused() {
        assert!(accepts("gzip, deflate, br", "gzip"));
        assert!(accepts("gzip, deflate, br", "br"));
        assert!(accepts("br;q=1.0, gzip;q=0.8", "gzip"));
        assert!(accepts("*", "br"));
        assert!(!accepts("gzip;q=0", "gzip"));
        assert!(!accepts("br", "gzip"));
        assert!(!accepts("", "gzip"));
    }

    #[test]
    fn only_known_kinds_of_file_are_served() {
        assert_eq!(content_type("a.wasm"), Some("application/wasm"));
        assert_eq!(content_type("index.html"), Some("text/html; charset=utf-8"));
        assert_eq!(content_type("a.js.gz"), None);
        assert_eq!(content_type("secret"), None);
        assert_eq!(content_type(".env"), None);
    }

    #[test]
    fn loads_a_build_with_its_gzip_copies_and_nothing_else() {
        let dir = tempfile::tempdir().expect("temp dir");
        assert!(
            WebApp::load(dir.path()).expect("reads").is_none(),
            "not built"
        );
        std::fs::create_dir(dir.path().join("assets")).expect("dir");
        std::fs::write(dir.path().join("index.html"), "<!doctype html>").expect("write");
        std::fs::write(dir.path().join("assets/app-1.js"), "x").expect("write");
        std::fs::write(dir.path().join("assets/app-1.js.gz"), "gz").expect("write");
        std::fs::write(dir.path().join("assets/app-1.js.br"), "br").expect("write");
        std::fs::write(dir.path().join("notes.md"), "no").expect("write");
        let app = WebApp::load(dir.path()).expect("reads").expect("built");
        let mut names: Vec<_> = app.files.keys().cloned().collect();
        names.sort();
        assert_eq!(names, ["assets/app-1.js", "index.html"]);

        let mut gzip = HeaderMap::new();
        gzip.insert(ACCEPT_ENCODING, HeaderValue::from_static("gzip"));
        let r = app.answer("assets/app-1.js", &gzip).expect("served");
        assert_eq!(r.headers()[CONTENT_ENCODING], "gzip");
        let mut both = HeaderMap::new();
        both.insert(
            ACCEPT_ENCODING,
            HeaderValue::from_static("gzip, deflate, br"),
        );
        let r = app.answer("assets/app-1.js", &both).expect("served");
        assert_eq!(r.headers()[CONTENT_ENCODING], "br");
        assert_eq!(
            r.headers()[CACHE_CONTROL],
            "public, max-age=31536000, immutable"
        );
        assert_eq!(r.headers()[CONTENT_SECURITY_POLICY], APP_POLICY);
        let r = app.answer("index.html", &HeaderMap::new()).expect("served");
        assert!(r.headers().get(CONTENT_ENCODING).is_none());
        assert_eq!(r.headers()[CACHE_CONTROL], "no-cache");
        assert!(app.answer("../index.html", &HeaderMap::new()).is_none());
    }

    #[test]
    fn a_directory_with_too_many_files_is_refused_with_what_to_do() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("index.html"), "<!doctype html>").expect("write");
        for i in 0..MAX_WEB_FILES {
            std::fs::write(dir.path().join(format!("f{i}.js")), "x").expect("write");
        }
        let e = WebApp::load(dir.path()).expect_err("one file too many");
        assert!(e.to_string().contains("web/dist"), "{e}");
    }
}
