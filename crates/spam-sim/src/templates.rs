//! Texts of the simulation: everyday chat between contacts, legitimate
//! first contacts (a new colleague, a delivery driver, a doctor's office)
//! and spam campaigns.
//!
//! Every text here was written for the simulation; none is taken from the
//! classifier's training data (`crates/spam/data`) or any other corpus, so
//! the simulation measures the shipped model on texts it has never seen.
//! Templates hold `{slot}` placeholders that [`fill`] replaces with a
//! random choice per message, the way campaigns vary names, amounts, links
//! and wording to slip past filters.

use rand::seq::IndexedRandom;
use rand::Rng;
use serde::Serialize;

use crate::templates_zh as zh;

/// The language a person writes in, or a campaign is written in.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Lang {
    /// English.
    En,
    /// Chinese (Simplified).
    Zh,
}

impl Lang {
    /// The code printed in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Zh => "zh",
        }
    }
}

/// The English list or its Chinese counterpart.
fn by_lang(
    lang: Lang,
    en: &'static [&'static str],
    zh: &'static [&'static str],
) -> &'static [&'static str] {
    match lang {
        Lang::En => en,
        Lang::Zh => zh,
    }
}

/// A Chinese name standing for a (Latin) name of the population, the same
/// one every time, so a Chinese speaker is called the same in every text.
pub fn zh_name(name: &str) -> &'static str {
    if name.is_empty() {
        return "";
    }
    let h = name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    zh::NAMES_ZH[(h % zh::NAMES_ZH.len() as u64) as usize]
}

/// The names to fill `{first}` and `{me}` with in `lang`.
fn names<'a>(lang: Lang, first: &'a str, me: &'a str) -> (&'a str, &'a str) {
    match lang {
        Lang::En => (first, me),
        Lang::Zh => (zh_name(first), zh_name(me)),
    }
}

/// First names used for people, senders in templates and e-mail handles.
pub const FIRST_NAMES: &[&str] = &[
    "Alice", "Ben", "Chloe", "David", "Emma", "Farid", "Grace", "Hugo", "Ines", "Jonas", "Keiko",
    "Liam", "Maya", "Noah", "Olivia", "Pablo", "Quinn", "Rosa", "Samir", "Tara", "Umar", "Vera",
    "Wei", "Ximena", "Yusuf", "Zoe", "Amara", "Bruno", "Carmen", "Dmitri", "Elena", "Felix",
    "Gita", "Hamza", "Irene", "Jack", "Kofi", "Lena", "Marco", "Nadia", "Oscar", "Priya", "Rafael",
    "Sofia", "Tomas", "Ulla", "Victor", "Wanda", "Yara", "Zain", "Anton", "Bea", "Cyrus", "Dana",
    "Eli", "Fatima", "Gabriel", "Hana", "Ivan", "Julia", "Kai", "Leila", "Mateo", "Nora", "Omar",
    "Paula", "Ravi", "Sara", "Theo", "Uma", "Vik", "Willa", "Xavier", "Yoko", "Zara",
];

/// Family names for e-mail handles and display names.
pub const LAST_NAMES: &[&str] = &[
    "adams",
    "bauer",
    "costa",
    "diaz",
    "evans",
    "fischer",
    "garcia",
    "haddad",
    "ito",
    "jensen",
    "kowalski",
    "lopez",
    "mensah",
    "nguyen",
    "okafor",
    "patel",
    "quinlan",
    "rossi",
    "silva",
    "tanaka",
    "usman",
    "varga",
    "wright",
    "xu",
    "yilmaz",
    "zhang",
    "abbott",
    "brennan",
    "chen",
    "dubois",
    "eriksen",
    "flores",
    "gupta",
    "hughes",
    "iqbal",
    "jovanovic",
    "kim",
    "larsen",
    "moreau",
    "novak",
    "oneill",
    "petrov",
    "reyes",
    "schmidt",
    "torres",
    "vance",
    "weber",
    "young",
];

/// Mail providers of the population's e-mail handles.
pub const PROVIDERS: &[&str] = &[
    "mailbox.example",
    "post.example",
    "inbox.example",
    "home.example",
];

/// Everyday messages between people who know each other.
const CHAT: &[&str] = &[
    "Running {minutes} minutes late, sorry! Order me a {drink} if you get there first",
    "Are we still on for {meal} {day}?",
    "Can you pick up {grocery} on your way home? We're out",
    "Happy birthday {first}!! Hope you have a lovely day 🎉",
    "Did you watch the match last night? What a finish",
    "Call me when you have a minute, nothing urgent",
    "Mum says {meal} at {time} on {day}, bring {grocery}",
    "I think I left my {thing} at yours, can you keep it for me?",
    "Thanks for today, it was really nice to catch up",
    "Send me the photos from {place} when you get a chance",
    "The meeting moved to {time}, same room as last week",
    "Can you have a look at the draft before {day}? Just the second half",
    "Home in {minutes}. Want me to start dinner?",
    "Kids are asleep finally. Movie tonight?",
    "Got the tickets for {day}! Row F, seats 12 and 13",
    "How did the interview go?? Tell me everything",
    "Don't forget the dentist {day} at {time}",
    "I'm at {place}, where are you parked?",
    "Lol that's exactly what {first} said",
    "Can we push our call to {time}? Stuck in traffic",
    "Just landed, see you at the flat in an hour or so",
    "Is the {thing} fixed yet or should I call someone?",
    "Good luck today, you've got this!",
    "Grandma loved the flowers, she called to say thank you",
    "Who's bringing the {grocery} for the picnic {day}?",
    "Ok, see you at {time} 👍",
    "Can you feed the cat {day}? I'm away until late",
    "Do you still have {first}'s number? Mine got wiped",
    "Train is delayed again, start without me",
    "That recipe was amazing, can you send it to me?",
];

/// Replies to a first contact or to a friend.
const REPLIES: &[&str] = &[
    "Thanks, see you then",
    "Yes, I'm home now, just ring the bell",
    "Please leave it with the neighbour at number {house}",
    "Great, thank you for letting me know",
    "Sure, happy to help. How about {day} at {time}?",
    "Thanks! Could we make it a bit later, around {time}?",
    "Got it, thanks",
    "Welcome aboard! Yes, let's grab a coffee {day}",
    "Ok, I'll call the practice tomorrow morning",
    "Perfect, the side gate is open",
];

/// A person who just joined Tidings writing to people in their address book.
const HELLO: &[&str] = &[
    "Hi {first}, it's {me}. I'm on Tidings now, you can reach me here",
    "Hey {first}! Finally installed this, {me} here",
    "Hi {first}, {me} here, this is where I'll be chatting from now on",
    "Testing my new app, {me} here 😄 does this reach you?",
];

/// A courier writing to the recipient of a parcel.
const DRIVER: &[&str] = &[
    "Hi {first}, this is {me} from {courier}. I have a parcel for you and I'm about {minutes} minutes away. Will someone be in?",
    "Hello, {courier} driver here. I'm outside number {house} with your delivery, which door should I use?",
    "Hi {first}, your {courier} delivery is on my van today, I expect to be with you between {time} and {time2}. Tell me if I should leave it somewhere",
    "Hi, it's {me}, your {courier} driver. Nobody answered at number {house}, I left the box behind the gate as you asked",
    "Hello {first}, {me} from {courier}. The building entrance is locked, can you buzz me in?",
];

/// A doctor's office writing to a patient.
const OFFICE: &[&str] = &[
    "Hello {first}, this is {clinic}. This is a reminder of your appointment with Dr {last} on {day} at {time}. Reply to this message if you need to change it",
    "Hi {first}, {clinic} here. Your blood test results are back and look normal. Dr {last} is happy to go through them if you have questions",
    "{clinic}: your prescription is ready to collect from reception from {day}. Please bring your card",
    "Dear {first}, {clinic} is moving your check-up with Dr {last} to {day} at {time} because the doctor is away. Sorry for the change",
    "Hello {first}, this is the front desk at {clinic}. We have a cancellation {day} at {time} if you would like an earlier slot",
];

/// A new colleague introducing themself.
const COLLEAGUE: &[&str] = &[
    "Hi {first}, I'm {me}, I just started on the {team} team. {other} said you're the person to ask about {topic}, do you have a few minutes this week?",
    "Hello! {me} here, new on {team}. Looks like I'll be sitting next to you from {day}, looking forward to working together",
    "Hey {first}, {me} from {team}. Could you add me to the {topic} channel when you get a chance? Thanks!",
    "Hi {first}, this is {me}. I'm taking over the {topic} work from {other}, could we set up a short handover call?",
];

/// The spam campaigns a spam operation runs: each account picks one in
/// its language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Campaign {
    /// "You won a prize, pay a fee to claim it."
    Prize,
    /// Quick loans and debt relief.
    Loan,
    /// Crypto "investment" and fake wallet notices.
    Crypto,
    /// A parcel held for an unpaid customs or delivery fee.
    ParcelFee,
    /// Work-from-home job offers.
    Job,
    /// Bank, subscription and tax-refund phishing.
    Phishing,
    /// "Wrong number" openers that start a long con.
    WrongNumber,
    /// Gift cards for a survey.
    Survey,
    /// Counterfeit luxury goods (Chinese).
    Counterfeit,
    /// Online gambling (Chinese).
    Gambling,
    /// Fake invoices (Chinese).
    Invoice,
    /// Part-time jobs and order brushing (Chinese).
    PartTime,
    /// Parcel-fee scams (Chinese).
    ParcelFeeZh,
}

/// The English campaigns.
pub const CAMPAIGNS_EN: &[Campaign] = &[
    Campaign::Prize,
    Campaign::Loan,
    Campaign::Crypto,
    Campaign::ParcelFee,
    Campaign::Job,
    Campaign::Phishing,
    Campaign::WrongNumber,
    Campaign::Survey,
];

/// The Chinese campaigns.
pub const CAMPAIGNS_ZH: &[Campaign] = &[
    Campaign::Counterfeit,
    Campaign::Gambling,
    Campaign::Invoice,
    Campaign::PartTime,
    Campaign::ParcelFeeZh,
];

/// The campaigns written in `lang`.
pub fn campaigns(lang: Lang) -> &'static [Campaign] {
    match lang {
        Lang::En => CAMPAIGNS_EN,
        Lang::Zh => CAMPAIGNS_ZH,
    }
}

impl Campaign {
    /// A short stable name for reports.
    pub fn name(self) -> &'static str {
        match self {
            Campaign::Prize => "prize",
            Campaign::Loan => "loan",
            Campaign::Crypto => "crypto",
            Campaign::ParcelFee => "parcel_fee",
            Campaign::Job => "job",
            Campaign::Phishing => "phishing",
            Campaign::WrongNumber => "wrong_number",
            Campaign::Survey => "survey",
            Campaign::Counterfeit => "zh_counterfeit",
            Campaign::Gambling => "zh_gambling",
            Campaign::Invoice => "zh_invoice",
            Campaign::PartTime => "zh_part_time",
            Campaign::ParcelFeeZh => "zh_parcel_fee",
        }
    }

    /// The language the campaign is written in.
    pub fn lang(self) -> Lang {
        if CAMPAIGNS_ZH.contains(&self) {
            Lang::Zh
        } else {
            Lang::En
        }
    }

    fn templates(self) -> &'static [&'static str] {
        match self {
            Campaign::Prize => &[
                "{greet} {first}! Your number was picked in the {brand} {season} giveaway. A {prize} is reserved for you, {claim} it before {deadline}: {url}",
                "Congratulations, you are one of {small} lucky winners this week. Your reward: {prize}. Confirm your shipping details at {url} with code {code}",
                "{first}, we have been trying to reach you about your unclaimed {prize}. Just cover the ${fee} handling fee to release it: {url}",
                "{greet}! {brand} customers were entered in our anniversary draw and you won a {prize}. {claim} now at {url}, offer ends {deadline}",
            ],
            Campaign::Loan => &[
                "Need cash fast? Get up to ${amount} today, no credit check, approved in {minutes} minutes. Apply: {url}",
                "{first}, you are pre-approved for a ${amount} personal loan at only {pct}% APR. Offer ends {deadline}. Reply YES or visit {url}",
                "Behind on your bills? Combine all your debt into one low monthly payment. See what you qualify for in {minutes} seconds: {url}",
                "{greet} {first}, your ${amount} credit line is waiting. Money in your account {deadline}, no paperwork. Start here {url}",
            ],
            Campaign::Crypto => &[
                "{greet} {first}, my mentor runs a {coin} signals group that made {pct}% last week. Message me and I'll add you, only {small} spots left",
                "Your {coin} wallet received {small}.{code} {ticker}. Verify your account within {hours} hours to withdraw: {url}",
                "Turn ${fee} into ${amount} in {small} days with our AI trading bot. Guaranteed profit, withdraw anytime. Join: {url}",
                "{first}, the {coin} presale closes {deadline}. Early buyers are up {pct}%. Secure your allocation: {url}",
            ],
            Campaign::ParcelFee => &[
                "{courier}: your parcel {tracking} is held at our depot because of an unpaid customs fee of ${fee}. Pay now to avoid return: {url}",
                "We could not deliver your package today because the address was incomplete. Update your details and pick a new slot: {url}",
                "{courier} notice: shipment {tracking} is awaiting a ${fee} redelivery charge and will go back to the sender after {deadline}. {url}",
                "Final reminder from {courier}: parcel {tracking} cannot be released until the ${fee} duty is paid. {url}",
            ],
            Campaign::Job => &[
                "Hi, I'm {other} from {agency} Recruitment. We have a remote part-time role paying ${wage} a day for {hours} hours of simple online tasks. Interested? Reply and I'll send details",
                "Work from home: rate products online and earn ${wage} to ${amount} a week. No experience needed. Message our team on {app}: {url}",
                "{greet} {first}, your profile was shortlisted for a flexible {agency} position, ${wage}/day paid daily. Reply YES to get started",
                "We are hiring! {small} openings for online order assistants, ${wage} per day, training provided. Contact {other} on {app} {url}",
            ],
            Campaign::Phishing => &[
                "{bank} alert: an unusual sign-in to your account was blocked. If this was not you, secure your account now at {url}",
                "Your {service} subscription could not be renewed because your payment was declined. Update your card within {hours} hours: {url}",
                "{tax}: you are eligible for a refund of ${amount}. Submit your claim before {deadline} at {url}",
                "{bank}: a payment of ${amount} to {shop} is pending. Not you? Cancel it immediately here {url}",
            ],
            Campaign::WrongNumber => &[
                "Hi {wrong}, is this still your number? It's {other}, we met at the {event} last month",
                "Hello, sorry to bother you, is this {wrong}? My assistant gave me this number for the {event} booking",
                "{wrong}? It's {other}! Are we still meeting for the {event} on {day}?",
                "Hey, is this {wrong}'s phone? This is {other}, I got your number at the {event}",
            ],
            Campaign::Survey => &[
                "Thank you for being a loyal {shop} customer! Complete our 1-minute survey and get a ${fee} gift card: {url}",
                "{shop} is giving a ${amount} voucher to {small} customers today. Answer {small} quick questions to {claim} yours: {url}",
                "{greet}, you have been selected for a paid {shop} survey. Earn ${fee} in {minutes} minutes: {url}",
            ],
            Campaign::Counterfeit => zh::COUNTERFEIT_ZH,
            Campaign::Gambling => zh::GAMBLING_ZH,
            Campaign::Invoice => zh::INVOICE_ZH,
            Campaign::PartTime => zh::PART_TIME_ZH,
            Campaign::ParcelFeeZh => zh::PARCEL_FEE_ZH,
        }
    }
}

/// A text for everyday chat between contacts, in the writer's language.
pub fn chat(rng: &mut impl Rng, lang: Lang, to_first: &str, me: &str) -> String {
    lang_fill(rng, lang, by_lang(lang, CHAT, zh::CHAT_ZH), to_first, me)
}

/// A reply to a message.
pub fn reply(rng: &mut impl Rng, lang: Lang, to_first: &str, me: &str) -> String {
    lang_fill(
        rng,
        lang,
        by_lang(lang, REPLIES, zh::REPLIES_ZH),
        to_first,
        me,
    )
}

/// A first message from someone who just joined Tidings to a person in
/// their address book.
pub fn hello(rng: &mut impl Rng, lang: Lang, to_first: &str, me: &str) -> String {
    lang_fill(rng, lang, by_lang(lang, HELLO, zh::HELLO_ZH), to_first, me)
}

/// A courier's message to a customer it has never written to.
pub fn driver(rng: &mut impl Rng, lang: Lang, to_first: &str, me: &str) -> String {
    lang_fill(
        rng,
        lang,
        by_lang(lang, DRIVER, zh::DRIVER_ZH),
        to_first,
        me,
    )
}

/// A doctor's office's (or, in Chinese, a clinic's, school's or building
/// manager's) message to a person.
pub fn office(rng: &mut impl Rng, lang: Lang, to_first: &str, me: &str) -> String {
    lang_fill(
        rng,
        lang,
        by_lang(lang, OFFICE, zh::OFFICE_ZH),
        to_first,
        me,
    )
}

/// A new colleague's first message.
pub fn colleague(rng: &mut impl Rng, lang: Lang, to_first: &str, me: &str) -> String {
    lang_fill(
        rng,
        lang,
        by_lang(lang, COLLEAGUE, zh::COLLEAGUE_ZH),
        to_first,
        me,
    )
}

fn lang_fill(rng: &mut impl Rng, lang: Lang, from: &[&str], to_first: &str, me: &str) -> String {
    let (first, me) = names(lang, to_first, me);
    fill(pick(rng, from), rng, first, me)
}

/// A spam text of `campaign`, different for each call. Spammers usually
/// know nothing of the recipient but the handle, so the name slot is
/// often a generic greeting.
pub fn spam(rng: &mut impl Rng, campaign: Campaign, to_first: &str) -> String {
    if campaign.lang() == Lang::Zh {
        return fill(pick(rng, campaign.templates()), rng, zh_name(to_first), "");
    }
    let name = if rng.random_bool(0.3) {
        to_first
    } else {
        pick(
            rng,
            &["there", "friend", "customer", "dear", "valued member"],
        )
    };
    fill(pick(rng, campaign.templates()), rng, name, "")
}

/// The follow-up a spammer sends to a person who answered.
pub fn spam_follow_up(rng: &mut impl Rng, campaign: Campaign) -> String {
    let t = match campaign {
        _ if campaign.lang() == Lang::Zh => pick(rng, zh::SPAM_FOLLOW_UP_ZH),
        Campaign::WrongNumber => pick(
            rng,
            &[
                "Oh sorry, wrong number! But you seem nice, where are you from? I'm {other}, I work in {coin} trading",
                "So sorry for the mix-up 😊 Since we're talking, do you invest at all? I made {pct}% this month with {coin}",
            ],
        ),
        _ => pick(
            rng,
            &[
                "Thanks for your reply! To finish, just enter your card details at {url} before {deadline}",
                "Great {first}, you're almost done. Pay the ${fee} verification fee here {url} and it's yours",
                "Hi again, I can hold your spot until {deadline}. Send the ${fee} deposit via {url} to confirm",
            ],
        ),
    };
    fill(t, rng, "there", "")
}

fn pick<'a>(rng: &mut impl Rng, from: &[&'a str]) -> &'a str {
    from.choose(rng).expect("template lists are not empty")
}

/// Replaces each `{slot}` of `template` by a random choice for that slot;
/// `{first}` is the recipient's first name and `{me}` the sender's.
pub fn fill(template: &str, rng: &mut impl Rng, first: &str, me: &str) -> String {
    let mut out = String::with_capacity(template.len() + 32);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else {
            out.push_str(&rest[open..]);
            return out;
        };
        out.push_str(&slot(&after[..close], rng, first, me));
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    out
}

fn slot(name: &str, rng: &mut impl Rng, first: &str, me: &str) -> String {
    let choice = |rng: &mut dyn rand::RngCore, options: &[&str]| -> String {
        options
            .choose(rng)
            .expect("slot lists are not empty")
            .to_string()
    };
    match name {
        "first" => first.to_string(),
        "me" => me.to_string(),
        "other" | "wrong" => choice(rng, FIRST_NAMES),
        "day_zh" => choice(rng, zh::WEEKDAYS_ZH),
        "place_zh" => choice(rng, zh::PLACES_ZH),
        "food_zh" => choice(rng, zh::FOODS_ZH),
        "thing_zh" => choice(rng, zh::THINGS_ZH),
        "courier_zh" => choice(rng, zh::COURIERS_ZH),
        "brand_zh" => choice(rng, zh::BRANDS_ZH),
        "shop_zh" => choice(rng, zh::SHOPS_ZH),
        "bank_zh" => choice(rng, zh::BANKS_ZH),
        "wechat" => {
            let id: String = (0..rng.random_range(5..=8))
                .map(|_| (b'a' + rng.random_range(0..26)) as char)
                .collect();
            format!(
                "{}{id}{}",
                choice(rng, &["vx: ", "V信：", "薇: ", "QQ ", "wx:"]),
                rng.random_range(10..9999)
            )
        }
        "last" => {
            let l = choice(rng, LAST_NAMES);
            let mut c = l.chars();
            c.next()
                .map(|f| f.to_uppercase().chain(c).collect())
                .unwrap_or(l)
        }
        "minutes" => rng.random_range(5..=40).to_string(),
        "small" => rng.random_range(2..=9).to_string(),
        "house" => rng.random_range(1..=180).to_string(),
        "hours" => rng.random_range(2..=48).to_string(),
        "pct" => rng.random_range(12..=480).to_string(),
        "fee" => format!(
            "{}.{:02}",
            rng.random_range(1..=9),
            rng.random_range(0..100)
        ),
        "amount" => (rng.random_range(5..=150) * 100).to_string(),
        "wage" => rng.random_range(180..=650).to_string(),
        "code" => format!("{:04}", rng.random_range(0..10_000)),
        "tracking" => format!(
            "{}{}{:08}",
            (b'A' + rng.random_range(0..26)) as char,
            (b'A' + rng.random_range(0..26)) as char,
            rng.random_range(0..100_000_000)
        ),
        "time" | "time2" => format!(
            "{}:{}",
            rng.random_range(8..=19),
            choice(rng, &["00", "15", "30", "45"])
        ),
        "day" => choice(
            rng,
            &[
                "Monday",
                "Tuesday",
                "Wednesday",
                "Thursday",
                "Friday",
                "Saturday",
                "Sunday",
                "tomorrow",
                "today",
            ],
        ),
        "deadline" => choice(
            rng,
            &[
                "midnight",
                "tomorrow",
                "Friday",
                "the end of the day",
                "6pm today",
                "this weekend",
                "24 hours",
            ],
        ),
        "greet" => choice(
            rng,
            &[
                "Hi",
                "Hello",
                "Hey",
                "Good news",
                "Attention",
                "Dear customer",
                "Important",
            ],
        ),
        "claim" => choice(rng, &["claim", "collect", "redeem", "grab", "unlock"]),
        "prize" => choice(
            rng,
            &[
                "new iPhone",
                "$500 shopping card",
                "weekend for two in Lisbon",
                "4K television",
                "cordless vacuum",
                "year of free groceries",
                "gaming console",
            ],
        ),
        "brand" | "shop" => choice(
            rng,
            &[
                "MegaMart",
                "ShopRight",
                "FreshCart",
                "ValueCity",
                "Homeway",
                "QuickBuy",
                "StyleHub",
            ],
        ),
        "season" => choice(rng, &["summer", "spring", "holiday", "weekly", "loyalty"]),
        "coin" => choice(rng, &["Bitcoin", "Ethereum", "Solana", "crypto", "USDT"]),
        "ticker" => choice(rng, &["BTC", "ETH", "SOL", "USDT"]),
        "courier" => choice(
            rng,
            &[
                "SwiftPost",
                "ParcelGo",
                "Expressly",
                "RoadRunner Logistics",
                "CityDrop",
                "National Post",
            ],
        ),
        "agency" => choice(
            rng,
            &["BrightPath", "Nexa", "Talentry", "BlueOak", "HireWell"],
        ),
        "app" => choice(rng, &["WhatsApp", "Telegram", "Signal"]),
        "bank" => choice(
            rng,
            &[
                "First Union Bank",
                "Metro Savings",
                "Citywide Credit",
                "Harbor Bank",
            ],
        ),
        "service" => choice(
            rng,
            &["StreamFlix", "CloudBox", "MusicNow", "Prime Shipping"],
        ),
        "tax" => choice(
            rng,
            &["Tax Office", "Revenue Service", "Tax Refund Department"],
        ),
        "event" => choice(
            rng,
            &[
                "wine tasting",
                "conference",
                "golf club",
                "yoga retreat",
                "dinner party",
                "art fair",
            ],
        ),
        "url" => {
            let word = choice(
                rng,
                &[
                    "secure", "claim", "parcel", "verify", "help", "account", "track", "pay",
                    "info", "bonus",
                ],
            );
            let word2 = choice(
                rng,
                &[
                    "center", "online", "portal", "now", "desk", "hub", "zone", "direct",
                ],
            );
            let tld = choice(rng, &["top", "xyz", "info", "click", "live", "shop"]);
            let path: String = (0..6)
                .map(|_| (b'a' + rng.random_range(0..26)) as char)
                .collect();
            format!("https://{word}-{word2}.{tld}/{path}")
        }
        "drink" => choice(rng, &["coffee", "beer", "tea", "lemonade"]),
        "meal" => choice(rng, &["lunch", "dinner", "brunch", "drinks"]),
        "grocery" => choice(
            rng,
            &["milk", "bread", "eggs", "some fruit", "the cake", "ice"],
        ),
        "thing" => choice(
            rng,
            &[
                "umbrella",
                "charger",
                "scarf",
                "sunglasses",
                "keys",
                "washing machine",
            ],
        ),
        "place" => choice(
            rng,
            &[
                "the beach",
                "the wedding",
                "the station",
                "the park",
                "the museum",
                "the market",
            ],
        ),
        "clinic" => choice(
            rng,
            &[
                "Riverside Family Practice",
                "Oak Street Medical Centre",
                "Northgate Clinic",
                "Hillview Surgery",
            ],
        ),
        "team" => choice(
            rng,
            &[
                "design",
                "payments",
                "support",
                "data",
                "logistics",
                "sales",
            ],
        ),
        "topic" => choice(
            rng,
            &[
                "the release process",
                "expense reports",
                "the on-call rota",
                "the customer dashboard",
                "the quarterly planning",
            ],
        ),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn every_slot_is_filled() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for _ in 0..200 {
            for c in CAMPAIGNS_EN.iter().chain(CAMPAIGNS_ZH) {
                let t = spam(&mut rng, *c, "Ana");
                assert!(!t.contains('{') && !t.contains('}'), "{t}");
                let f = spam_follow_up(&mut rng, *c);
                assert!(!f.contains('{'), "{f}");
            }
            for lang in [Lang::En, Lang::Zh] {
                for t in [
                    chat(&mut rng, lang, "Ana", "Bo"),
                    reply(&mut rng, lang, "Ana", "Bo"),
                    hello(&mut rng, lang, "Ana", "Bo"),
                    driver(&mut rng, lang, "Ana", "Bo"),
                    office(&mut rng, lang, "Ana", "Bo"),
                    colleague(&mut rng, lang, "Ana", "Bo"),
                ] {
                    assert!(!t.contains('{') && !t.contains('}'), "{t}");
                    // Short Chinese replies may be all Latin ("OK👌").
                    let short = t.chars().count() <= 8;
                    assert!(
                        tidings_spam::language(&t).as_str() == lang.as_str() || short,
                        "{t}"
                    );
                }
            }
        }
    }

    #[test]
    fn spam_varies_per_message() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(8);
        let texts: std::collections::HashSet<String> = (0..50)
            .map(|_| spam(&mut rng, Campaign::ParcelFee, "Ana"))
            .collect();
        assert!(texts.len() > 45);
    }

    #[test]
    fn spam_texts_are_not_from_the_training_data() {
        let train = [
            include_str!("../../spam/data/sms-spam-en.tsv"),
            include_str!("../../spam/data/smishing-en.tsv"),
            include_str!("../../spam/data/sms-spam-zh.tsv"),
            include_str!("../../spam/data/authored.tsv"),
        ]
        .concat()
        .to_lowercase();
        let mut rng = rand::rngs::StdRng::seed_from_u64(9);
        for c in CAMPAIGNS_EN.iter().chain(CAMPAIGNS_ZH) {
            for t in c.templates() {
                // The longest literal run of each template must not occur
                // in the corpus.
                let longest = t
                    .split(['{', '}'])
                    .step_by(2)
                    .max_by_key(|s| s.len())
                    .expect("a template has text");
                assert!(
                    !train.contains(&longest.to_lowercase()),
                    "{longest:?} is in the training data"
                );
            }
            let t = spam(&mut rng, *c, "Ana").to_lowercase();
            assert!(!train.contains(&t));
        }
    }
}
