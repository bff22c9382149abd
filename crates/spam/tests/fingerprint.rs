//! Campaign fingerprints: variants of one message match, unrelated messages
//! of the corpus do not.

use tidings_spam::corpus::{self, Label, Source};
use tidings_spam::{hamming_distance, matches, Fingerprint, MAX_MATCH_DISTANCE};

/// Small deterministic PRNG (xorshift64) for picking corpus pairs.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

fn distinct_messages(label: Label) -> Vec<String> {
    distinct_in(Source::SmsSpamEn, label)
}

fn distinct_in(source: Source, label: Label) -> Vec<String> {
    let path = format!("{}/data/{}", env!("CARGO_MANIFEST_DIR"), source.file_name());
    let examples = corpus::load_tsv(&path).expect("the corpora are part of the crate");
    corpus::deduplicate(&examples)
        .into_iter()
        .filter(|e| e.label == label)
        .map(|e| source.prepare(&e.text))
        .collect()
}

#[test]
fn variants_of_one_campaign_match() {
    let pairs = [
        (
            "Hi John, you have been selected to receive a £900 prize reward! To claim call 09061701461. Claim code KL341. Valid 12 hours only.",
            "Hi Priya, you have been selected to receive a £900 prize reward! To claim call 09061701461. Claim code KL341. Valid 12 hours only.",
        ),
        (
            "URGENT! Your mobile number has been awarded a £2000 bonus caller prize. Call 09058094455 from a landline, claim code 3030. Valid 12hrs",
            "URGENT! Your mobile number has been awarded a £5000 bonus caller prize. Call 09066612345 from a landline, claim code 7741. Valid 48hrs",
        ),
        (
            "Your parcel could not be delivered. Reschedule now at http://dlvr-track.co/a8Fz2 before it is returned to sender.",
            "Your parcel could not be delivered. Reschedule now at https://parcel-help.info/q?id=771 before it is returned to sender.",
        ),
        (
            "Dear Customer, your account ending 4821 has been suspended. Verify your details at www.secure-bank-login.com within 24 hours, Mark",
            "Dear Customer, your account ending 1177 has been suspended. Verify your details at www.bank-verify-now.net within 24 hours, Sarah",
        ),
    ];
    for (a, b) in pairs {
        let d = hamming_distance(Fingerprint::of(a), Fingerprint::of(b));
        println!("distance {d:2}: {a}");
        assert!(
            matches(Fingerprint::of(a), Fingerprint::of(b)),
            "distance {d} for {a:?} / {b:?}"
        );
    }
}

#[test]
fn one_word_changes_in_corpus_spam_mostly_match() {
    let spam = distinct_messages(Label::Spam);
    let (mut matched, mut total) = (0, 0);
    for text in &spam {
        let mut words: Vec<&str> = text.split_whitespace().collect();
        if words.len() < 8 {
            continue;
        }
        let middle = words.len() / 2;
        words[middle] = "Alexandra";
        let variant = words.join(" ");
        total += 1;
        if matches(Fingerprint::of(text), Fingerprint::of(&variant)) {
            matched += 1;
        }
    }
    let rate = matched as f64 / total as f64;
    println!("one-word (name) variants of corpus spam matching: {matched}/{total} = {rate:.4}");
    assert!(rate >= 0.95, "only {rate:.4} of name variants match");
}

/// Fingerprints `pairs` random pairs of distinct `texts` and returns the
/// share that match and the closest distance, printing each match.
fn random_pair_matches(texts: &[String], pairs: u32, seed: u64) -> (f64, u32) {
    let fingerprints: Vec<Fingerprint> = texts.iter().map(|t| Fingerprint::of(t)).collect();
    let mut rng = Rng(seed);
    let (mut done, mut matched, mut closest) = (0, 0, 64);
    while done < pairs {
        let (a, b) = (rng.below(texts.len()), rng.below(texts.len()));
        if a == b {
            continue;
        }
        done += 1;
        let d = hamming_distance(fingerprints[a], fingerprints[b]);
        closest = closest.min(d);
        if d <= MAX_MATCH_DISTANCE {
            matched += 1;
            println!("match at distance {d}: {:?} / {:?}", texts[a], texts[b]);
        }
    }
    (f64::from(matched) / f64::from(pairs), closest)
}

#[test]
fn unrelated_corpus_messages_rarely_match() {
    let ham = distinct_messages(Label::Ham);
    let (rate, closest) = random_pair_matches(&ham, 1000, 0x9e37_79b9_7f4a_7c15);
    println!(
        "SimHash false matches over 1000 random distinct ham pairs: rate {rate:.4}; \
         closest pair {closest} bits; match threshold {MAX_MATCH_DISTANCE}"
    );
    assert!(rate < 0.01, "false match rate {rate}");
}

#[test]
fn disguised_variants_of_a_chinese_campaign_match() {
    let original = "【澳门银河】新用户注册即送888彩金，首充再送100%，百家乐、体育、电子游戏应有尽有，点击 www.yh88vip.com 立即领取，退订回T";
    let variants = [
        // Spaces and symbols between the characters.
        "【澳 门 银 河】新*用*户注册即送888彩金，首充再送100%，百家乐、体育、电子游戏应有尽有，点击 www.yh88vip.com 立即领取，退订回T",
        // Full-width letters and another amount.
        "【澳门银河】新用户注册即送666彩金，首充再送50%，百家乐、体育、电子游戏应有尽有，点击 ｗｗｗ.yh88vip.ｃｏｍ 立即领取，退订回T",
        // Another link, glued to the text.
        "【澳门银河】新用户注册即送888彩金，首充再送100%，百家乐、体育、电子游戏应有尽有，点击http://t.cn/A6x9Kp立即领取，退订回T",
        // A word changed.
        "【澳门银河】老用户注册即送888彩金，首充再送100%，百家乐、体育、电子游戏应有尽有，点击 www.yh88vip.com 马上领取，退订回T",
    ];
    for v in variants {
        let d = hamming_distance(Fingerprint::of(original), Fingerprint::of(v));
        println!("distance {d:2}: {v}");
        assert!(d <= MAX_MATCH_DISTANCE, "distance {d} for {v:?}");
    }
    let counterfeit =
        "【原单奢品】LV、古驰一比一高仿包包手表，支持验货，加微信 lux8899 看实拍图，全国包邮";
    let d = hamming_distance(Fingerprint::of(counterfeit), Fingerprint::of(original));
    assert!(
        d > MAX_MATCH_DISTANCE,
        "two campaigns match at distance {d}"
    );
    let spaced = "【原 单 奢 品】L V、古 驰 一 比 一 高 仿 包 包 手 表，支持验货，加 微 信 lux8899 看实拍图，全国包邮";
    assert!(matches(
        Fingerprint::of(counterfeit),
        Fingerprint::of(spaced)
    ));
}

#[test]
fn unrelated_chinese_messages_rarely_match() {
    for label in [Label::Ham, Label::Spam] {
        let texts: Vec<String> = distinct_in(Source::SmsSpamZh, label)
            .into_iter()
            .filter(|t| t.chars().count() >= 15)
            .collect();
        let (rate, closest) = random_pair_matches(&texts, 2000, 0x2545_f491_4f6c_dd1d);
        println!(
            "Chinese {label}: match rate {rate:.4} over 2000 random pairs; closest {closest} bits"
        );
        // Spam pairs may be the same campaign; ham pairs must not match.
        if label == Label::Ham {
            assert!(rate < 0.005, "false match rate {rate}");
        }
    }
}
