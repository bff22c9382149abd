//! A server behind HTTPS, the way operators run it (a TLS-terminating
//! proxy in front of `tidings serve`): the client registers, sends, and
//! receives over `https://` and `wss://`, trusting the certificate only
//! when the system's trust store (here `SSL_CERT_FILE`) does.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;

use common::{code, ok, Server, BIN};

/// A test certificate authority and a `localhost` certificate it signed,
/// made with the `openssl` command.
struct Certs {
    ca_pem: PathBuf,
    /// An authority that did not sign the server's certificate.
    other_ca_pem: PathBuf,
    leaf_der: Vec<u8>,
    key_der: Vec<u8>,
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("the openssl command runs");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn make_certs(dir: &Path) -> Certs {
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"];
    for name in ["ca", "other-ca"] {
        let (key, pem) = (format!("{name}.key"), format!("{name}.pem"));
        let subject = format!("/CN=Tidings test {name}");
        let mut ca = vec!["req", "-x509"];
        ca.extend(ec);
        ca.extend([
            "-nodes", "-keyout", &key, "-out", &pem, "-days", "1", "-subj", &subject,
        ]);
        openssl(dir, &ca);
    }
    let mut csr = vec!["req"];
    csr.extend(ec);
    csr.extend([
        "-nodes",
        "-keyout",
        "leaf.key",
        "-out",
        "leaf.csr",
        "-subj",
        "/CN=localhost",
    ]);
    openssl(dir, &csr);
    std::fs::write(
        dir.join("leaf.ext"),
        "subjectAltName=DNS:localhost\nbasicConstraints=critical,CA:FALSE\n\
         keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .expect("write the extensions");
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "leaf.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "1",
            "-extfile",
            "leaf.ext",
            "-outform",
            "DER",
            "-out",
            "leaf.der",
        ],
    );
    openssl(
        dir,
        &[
            "pkcs8", "-topk8", "-nocrypt", "-in", "leaf.key", "-outform", "DER", "-out", "key.der",
        ],
    );
    Certs {
        ca_pem: dir.join("ca.pem"),
        other_ca_pem: dir.join("other-ca.pem"),
        leaf_der: std::fs::read(dir.join("leaf.der")).expect("leaf certificate"),
        key_der: std::fs::read(dir.join("key.der")).expect("leaf key"),
    }
}

/// Terminates TLS on an ephemeral port and forwards every connection to
/// `upstream` (the plain-HTTP server), as nginx or Caddy would.
async fn tls_proxy(certs: &Certs, upstream: String) -> u16 {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(
            vec![certs.leaf_der.clone().into()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(certs.key_der.clone().into()),
        )
        .expect("a valid certificate and key");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the proxy");
    let port = listener.local_addr().expect("proxy address").port();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            let acceptor = acceptor.clone();
            let upstream = upstream.clone();
            tokio::spawn(async move {
                // A client that refuses the certificate ends its handshake
                // here; that is part of the test, not a proxy failure.
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut plain = tokio::net::TcpStream::connect(upstream)
                    .await
                    .expect("the server accepts");
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
            });
        }
    });
    port
}

/// Runs the client against `url`, trusting exactly the certificates in
/// `trust` (an empty directory when `None`).
fn tg_https(url: &str, profile: &Path, trust: Option<&Path>, args: &[&str]) -> Output {
    let empty = tempfile::tempdir().expect("tempdir");
    let mut cmd = Command::new(BIN);
    cmd.arg("--server")
        .arg(url)
        .arg("--profile")
        .arg(profile)
        .args(args)
        .env("SSL_CERT_DIR", empty.path())
        .stdin(Stdio::null());
    match trust {
        Some(file) => cmd.env("SSL_CERT_FILE", file),
        None => cmd.env("SSL_CERT_FILE", empty.path().join("none.pem")),
    };
    cmd.output().expect("tidings runs")
}

#[test]
fn the_client_works_against_a_server_behind_https() {
    let dir = tempfile::tempdir().expect("tempdir");
    let certs = make_certs(dir.path());
    let server = Server::start(&dir.path().join("server"), "127.0.0.1:0");
    let runtime = tokio::runtime::Runtime::new().expect("a runtime for the proxy");
    let port = runtime.block_on(tls_proxy(&certs, server.addr()));
    let url = format!("https://localhost:{port}");
    let ca = Some(certs.ca_pem.as_path());
    let p = |name: &str| dir.path().join(name);

    // A system that trusts no authority at all says so and what to do;
    // a plain-HTTP server still works there.
    let nothing = tg_https(
        &url,
        &p("mallory"),
        None,
        &["register", "--email", "mallory@example.org"],
    );
    assert!(!nothing.status.success());
    let stderr = String::from_utf8_lossy(&nothing.stderr);
    assert!(
        stderr.contains("cannot check the certificate of"),
        "{stderr}"
    );
    assert!(stderr.contains("ca-certificates"), "{stderr}");
    ok(tg_https(
        &server.url,
        &p("mallory"),
        None,
        &["register", "--email", "mallory@example.org"],
    ));
    // A certificate signed by an authority the system does not trust is
    // refused before anything is sent, with a message that says so.
    let refused = tg_https(
        &url,
        &p("mallory"),
        Some(&certs.other_ca_pem),
        &["register", "--email", "mallory@example.org"],
    );
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("invalid peer certificate"), "{stderr}");
    assert!(stderr.contains("point SSL_CERT_FILE"), "{stderr}");

    for (name, handle) in [("alice", "alice@example.org"), ("bob", "bob@example.org")] {
        let first = ok(tg_https(
            &url,
            &p(name),
            ca,
            &["register", "--email", handle],
        ));
        assert!(first.contains("run `tidings"), "{first}");
        let c = code(&server, handle);
        ok(tg_https(
            &url,
            &p(name),
            ca,
            &["register", "--email", handle, "--code", &c],
        ));
    }
    ok(tg_https(
        &url,
        &p("alice"),
        ca,
        &["send", "bob@example.org", "hello over TLS"],
    ));
    // `sync` receives through the delivery stream: `wss://`.
    let show = |name: &str, other: &str| -> Vec<serde_json::Value> {
        ok(tg_https(&url, &p(name), ca, &["sync"]));
        common::json(tg_https(&url, &p(name), ca, &["--json", "show", other]))
            .as_array()
            .expect("a list")
            .clone()
    };
    assert_eq!(
        common::bodies(&show("bob", "alice@example.org")),
        ["hello over TLS"]
    );
    // And the delivery receipt travels back over the stream too.
    let mine = show("alice", "bob@example.org");
    let state = mine[0]["state"].as_str().expect("a state");
    assert!(state == "delivered" || state == "read", "{mine:?}");
}
