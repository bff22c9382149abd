//! The fake SMS centre's reader of Kannel's line protocol
//! (`SENDER RECEIVER TYPE DATA`, with `text`, `data`, `ucs-2` and `udh`
//! lines whose fields are percent-encoded), as bearerbox, or anything that
//! connects in its place, writes them. The input is split into lines, fed
//! to one centre in order (so segments of one message can meet), and the
//! inboxes must stay within their bounds (messages per inbox, bytes in
//! all).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tidings_sms::fakesmsc::{FakeSmsc, MAX_LINE_BYTES};
use tidings_sms::inbox::{DEFAULT_MAX_INBOX_BYTES, MAX_MESSAGES_PER_INBOX};

fuzz_target!(|data: &[u8]| {
    // The centre spawns its connection task on the runtime it starts in;
    // a current-thread runtime that is never driven never runs it, so
    // nothing here touches the network. Dropping the runtime drops it.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    let _entered = runtime.enter();
    let smsc = FakeSmsc::start("127.0.0.1:9".into());
    for line in data.split(|&b| b == b'\n') {
        if line.len() > MAX_LINE_BYTES {
            continue; // the connection drops such a line before parsing
        }
        // As `connection` reads it: lossy UTF-8, line end trimmed.
        let line = String::from_utf8_lossy(line);
        smsc.receive(line.trim_end_matches(['\r', '\n']));
    }
    for address in smsc.phones().addresses() {
        assert!(smsc.phones().messages(&address).len() <= MAX_MESSAGES_PER_INBOX);
    }
    assert!(smsc.phones().bytes() <= DEFAULT_MAX_INBOX_BYTES);
});
