//! `tidings-fake-smsc`: the phones behind a Kannel bearerbox (`smsc = fake`)
//! for demos and tests, with the carrier commands' HTTP interface
//! (`tidings --server URL carrier inbox|send` works against it).
//!
//! A development tool, not part of the shipped `tidings` binary: build it
//! with `cargo run -p tidings-sms --features dev --bin tidings-fake-smsc`.

use std::net::SocketAddr;
use std::process::ExitCode;

use tidings_sms::fakesmsc::{router, FakeSmsc};

const USAGE: &str = "usage: tidings-fake-smsc [--bearerbox HOST:PORT] [--listen ADDR:PORT]
  --bearerbox  bearerbox's fake-SMSC port to connect to (default 127.0.0.1:10000)
  --listen     address of the phones' HTTP interface (default 127.0.0.1:10080)";

/// The two settings, from `--flag value` pairs.
fn parse(args: impl IntoIterator<Item = String>) -> Result<(String, SocketAddr), String> {
    let mut bearerbox = "127.0.0.1:10000".to_string();
    let mut listen = "127.0.0.1:10080".to_string();
    let mut args = args.into_iter();
    while let Some(flag) = args.next() {
        let slot = match flag.as_str() {
            "--bearerbox" => &mut bearerbox,
            "--listen" => &mut listen,
            "-h" | "--help" => return Err(USAGE.to_string()),
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        };
        *slot = args
            .next()
            .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
    }
    let listen = listen
        .parse()
        .map_err(|_| format!("--listen {listen:?} is not an address such as 127.0.0.1:10080"))?;
    Ok((bearerbox, listen))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let (bearerbox, listen) = match parse(std::env::args().skip(1)) {
        Ok(settings) => settings,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    let listener = match tokio::net::TcpListener::bind(listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("tidings-fake-smsc: cannot listen on {listen}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let smsc = FakeSmsc::start(bearerbox.clone());
    match listener.local_addr() {
        Ok(addr) => println!(
            "tidings-fake-smsc: fake SMS centre for bearerbox {bearerbox}; phones at http://{addr}"
        ),
        Err(e) => eprintln!("tidings-fake-smsc: {e}"),
    }
    let served = axum::serve(listener, router(smsc)).with_graceful_shutdown(async {
        let _ = tokio::signal::ctrl_c().await;
    });
    if let Err(e) = served.await {
        eprintln!("tidings-fake-smsc: {e}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn flags_and_defaults() {
        let (b, l) = parse(args(&[])).expect("defaults");
        assert_eq!((b.as_str(), l.port()), ("127.0.0.1:10000", 10080));
        let (b, l) = parse(args(&["--listen", "127.0.0.1:0", "--bearerbox", "h:1"])).expect("set");
        assert_eq!((b.as_str(), l.port()), ("h:1", 0));
        assert!(parse(args(&["--listen"]))
            .expect_err("no value")
            .contains("needs a value"));
        assert!(parse(args(&["--listen", "x"]))
            .expect_err("bad")
            .contains("not an address"));
        assert!(parse(args(&["--bogus"]))
            .expect_err("unknown")
            .contains("unknown argument"));
    }
}
