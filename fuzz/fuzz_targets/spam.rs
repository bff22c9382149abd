//! The on-device spam defence of tidings-spam on arbitrary text, as any
//! stranger can send: the shipped classifier's score, the SimHash campaign
//! fingerprint (and its hex form, which comes from the server), link
//! defanging, filing, the unmasking of disguised text and the personal
//! filter learnt from one report. Besides "no panic": scores are probabilities,
//! fingerprints are deterministic and round-trip through their text,
//! defanged text has no scheme left, and filing never holds back a
//! message from a known relation.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tidings_spam::requests::{defang, file, Current};
use tidings_spam::{Filter, Fingerprint, Folder, Label, Lesson, Model, Personal, Relation};

fuzz_target!(|data: &[u8]| {
    let Some((&bits, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let model = Model::shipped();

    let verdict = model.classify(&text);
    assert!(
        verdict.score.is_finite() && (0.0..=1.0).contains(&verdict.score),
        "{}",
        verdict.score
    );
    assert_eq!(model.score(&text), verdict.score);

    // Unmasking the disguises of a text, and its language, are total.
    let folded = tidings_spam::text::fold(&text);
    assert!(folded.len() <= text.len() * 4 + 4, "{folded:?}");
    let _ = tidings_spam::language(&text);

    // A lesson from this text gives a personal filter whose score is a
    // probability too.
    let label = if bits & 0x40 != 0 { Label::Spam } else { Label::Ham };
    let personal = Personal::learn(model, &[Lesson::new(label, &text)]);
    let filter = Filter {
        base: model,
        personal: Some(&personal),
    };
    let s = filter.score(&text);
    assert!(s.is_finite() && (0.0..=1.0).contains(&s), "{s}");

    let print = Fingerprint::of(&text);
    assert_eq!(Fingerprint::of(&text), print);
    assert_eq!(print.to_string().parse::<Fingerprint>().ok(), Some(print));
    let _ = std::str::from_utf8(rest).map(str::parse::<Fingerprint>);

    // Every chunk holding `http` is a link, and every `http` in a link
    // becomes `hxxp`: nothing clickable by scheme is left.
    let shown = defang(&text).to_ascii_lowercase();
    assert!(!shown.contains("http"), "{shown:?}");

    let relation = Relation {
        conversation_accepted: bits & 1 != 0,
        sender_known: bits & 2 != 0,
        other_member_known: bits & 4 != 0,
    };
    let current = Current {
        folder: [
            None,
            Some(Folder::Inbox),
            Some(Folder::Request),
            Some(Folder::Junk),
        ][usize::from(bits >> 3) % 4],
        reason: None,
        restored: bits & 0x20 != 0,
    };
    let filing = file(relation, current, Some(&text), model.into(), &[print]);
    if !relation.is_request() {
        assert_eq!(filing.folder, Folder::Inbox);
    } else if !current.restored {
        // It matches its own fingerprint: a campaign.
        assert_eq!(filing.folder, Folder::Junk);
    }
});
