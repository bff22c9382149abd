//! The simulated population: people with handles, client addresses and a
//! clustered contact graph (families, friend circles, workplaces and a few
//! long-range acquaintances), some of whom send legitimate first contacts
//! as couriers or doctors' offices, and the handle lists spammers
//! enumerate.

use std::collections::BTreeSet;

use rand::seq::{IndexedRandom, SliceRandom};
use rand::Rng;

use crate::templates::{FIRST_NAMES, LAST_NAMES, PROVIDERS};

/// Share of people whose handle is a phone number (the others use an
/// e-mail address).
pub const PHONE_SHARE: f64 = 0.7;
/// Share of people who deliver parcels and write to customers they do not
/// know.
pub const DRIVER_SHARE: f64 = 0.01;
/// Share of people who run a doctor's office's account.
pub const OFFICE_SHARE: f64 = 0.005;
/// Average number of people per client address range (/24): ordinary
/// users are spread over many networks.
pub const PEOPLE_PER_RANGE: usize = 4;

/// What a person does besides chatting with contacts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Only chats (and sometimes introduces themself to new colleagues).
    Person,
    /// A courier: writes to customers who never heard of them.
    Driver,
    /// A doctor's office: writes to patients.
    Office,
}

/// One person of the population.
#[derive(Debug, Clone)]
pub struct Person {
    /// First name, used in texts.
    pub first: String,
    /// Phone number (E.164) or e-mail address, normalised.
    pub handle: String,
    /// What the person does besides chatting.
    pub role: Role,
    /// The client address the person's requests come from.
    pub addr: String,
    /// People in this person's address book (the graph is symmetric).
    pub contacts: Vec<usize>,
    /// The workplace the person belongs to.
    pub workplace: usize,
    /// `Some(day)` for people who join Tidings during the campaign, on
    /// that campaign day; `None` for people registered before it.
    pub joins_on: Option<u32>,
}

/// The population and the handles spammers can enumerate.
#[derive(Debug, Clone)]
pub struct Population {
    /// Everyone.
    pub people: Vec<Person>,
    /// Members of each workplace.
    pub workplaces: Vec<Vec<usize>>,
    /// The consecutive block of phone numbers the people's numbers come
    /// from; spammers enumerate windows of it.
    pub number_block: Vec<String>,
    /// E-mail addresses on spam lists: the people's addresses mixed with
    /// addresses nobody uses.
    pub address_list: Vec<String>,
}

/// Settings of the population.
#[derive(Debug, Clone)]
pub struct Shape {
    /// People in total.
    pub users: usize,
    /// Fewest contacts per person.
    pub contacts_min: usize,
    /// Most contacts per person.
    pub contacts_max: usize,
    /// People joining per campaign day.
    pub joiners_per_day: usize,
    /// Campaign days.
    pub days: u32,
    /// Share of enumerated handles that belong to somebody.
    pub enumeration_hit_rate: f64,
}

/// Builds a population; the same `rng` state gives the same population.
pub fn build(shape: &Shape, rng: &mut impl Rng) -> Population {
    let n = shape.users;
    let mut adj: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); n];
    let link = |adj: &mut Vec<BTreeSet<usize>>, a: usize, b: usize| {
        if a != b {
            adj[a].insert(b);
            adj[b].insert(a);
        }
    };
    // Families: consecutive people, complete subgraphs of 2-6.
    let mut i = 0;
    while i < n {
        let size = rng.random_range(2..=6).min(n - i);
        for a in i..i + size {
            for b in a + 1..i + size {
                link(&mut adj, a, b);
            }
        }
        i += size;
    }
    // Friend circles: people living near each other on the ring.
    let window = 30.min(n / 2).max(1);
    for _ in 0..n / 6 {
        let centre = rng.random_range(0..n);
        let size = rng.random_range(4..=10);
        let members: Vec<usize> = (0..size)
            .map(|_| (centre + n + rng.random_range(0..2 * window) - window) % n)
            .collect();
        for (k, &a) in members.iter().enumerate() {
            for &b in &members[k + 1..] {
                link(&mut adj, a, b);
            }
        }
    }
    // Workplaces: a random grouping, most colleagues know each other.
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(rng);
    let mut workplaces = Vec::new();
    let mut workplace_of = vec![0; n];
    let mut rest = &order[..];
    while !rest.is_empty() {
        let size = rng.random_range(4..=16).min(rest.len());
        let (group, tail) = rest.split_at(size);
        for (k, &a) in group.iter().enumerate() {
            workplace_of[a] = workplaces.len();
            for &b in &group[k + 1..] {
                if rng.random_bool(0.6) {
                    link(&mut adj, a, b);
                }
            }
        }
        workplaces.push(group.to_vec());
        rest = tail;
    }
    // Long-range acquaintances.
    for a in 0..n {
        for _ in 0..rng.random_range(1..=3) {
            let b = rng.random_range(0..n);
            link(&mut adj, a, b);
        }
    }
    // Bring everyone into [contacts_min, contacts_max].
    for a in 0..n {
        let mut step = 1;
        while adj[a].len() < shape.contacts_min.min(n - 1) && step < n {
            link(&mut adj, a, (a + step) % n);
            if adj[a].len() < shape.contacts_min {
                link(&mut adj, a, (a + n - step) % n);
            }
            step += 1;
        }
    }
    for a in 0..n {
        while adj[a].len() > shape.contacts_max {
            let candidates: Vec<usize> = adj[a]
                .iter()
                .copied()
                .filter(|&b| adj[b].len() > shape.contacts_min)
                .collect();
            let Some(&b) = candidates.choose(rng) else {
                break;
            };
            adj[a].remove(&b);
            adj[b].remove(&a);
        }
    }

    // Handles.
    let phones = ((n as f64) * PHONE_SHARE).round() as usize;
    let block_len = ((phones as f64) / shape.enumeration_hit_rate.clamp(0.05, 1.0)).ceil() as usize;
    let number_block: Vec<String> = (0..block_len)
        .map(|k| format!("+1617{:07}", 2_500_000 + k))
        .collect();
    let mut slots: Vec<usize> = (0..block_len).collect();
    slots.shuffle(rng);
    let mut is_phone: Vec<bool> = (0..n).map(|k| k < phones).collect();
    is_phone.shuffle(rng);
    let mut next_slot = slots.into_iter();
    let mut emails = BTreeSet::new();
    let mut people = Vec::with_capacity(n);
    let ranges = (n / PEOPLE_PER_RANGE).max(1);
    for (a, phone) in is_phone.iter().enumerate() {
        let first = FIRST_NAMES.choose(rng).expect("names").to_string();
        let handle = if *phone {
            number_block[next_slot
                .next()
                .expect("the block has room for every phone")]
            .clone()
        } else {
            unique_email(rng, &first, &mut emails)
        };
        let range = rng.random_range(0..ranges);
        people.push(Person {
            first,
            handle,
            role: Role::Person,
            addr: format!(
                "10.{}.{}.{}",
                range / 250,
                range % 250,
                rng.random_range(2..=254)
            ),
            contacts: adj[a].iter().copied().collect(),
            workplace: workplace_of[a],
            joins_on: None,
        });
    }
    // Roles and joiners, drawn from different people.
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(rng);
    let mut it = order.into_iter();
    let drivers = ((n as f64) * DRIVER_SHARE).round().max(1.0) as usize;
    let offices = ((n as f64) * OFFICE_SHARE).round().max(1.0) as usize;
    for _ in 0..drivers {
        if let Some(a) = it.next() {
            people[a].role = Role::Driver;
        }
    }
    for _ in 0..offices {
        if let Some(a) = it.next() {
            people[a].role = Role::Office;
        }
    }
    for day in 0..shape.days {
        for _ in 0..shape.joiners_per_day {
            if let Some(a) = it.next() {
                people[a].joins_on = Some(day);
            }
        }
    }
    // The spammers' address list: every address in use, plus made-up ones.
    let mut address_list: Vec<String> = emails.iter().cloned().collect();
    let decoys = ((emails.len() as f64) * (1.0 / shape.enumeration_hit_rate.clamp(0.05, 1.0) - 1.0))
        .round() as usize;
    let mut taken = emails.clone();
    for _ in 0..decoys {
        let first = FIRST_NAMES.choose(rng).expect("names").to_string();
        address_list.push(unique_email(rng, &first, &mut taken));
    }
    address_list.shuffle(rng);
    Population {
        people,
        workplaces,
        number_block,
        address_list,
    }
}

fn unique_email(rng: &mut impl Rng, first: &str, taken: &mut BTreeSet<String>) -> String {
    loop {
        let last = LAST_NAMES.choose(rng).expect("names");
        let provider = PROVIDERS.choose(rng).expect("providers");
        let style = rng.random_range(0..3);
        let local = match style {
            0 => format!("{}.{last}", first.to_lowercase()),
            1 => format!("{}{last}{}", first.to_lowercase(), rng.random_range(1..100)),
            _ => format!(
                "{}.{last}{}",
                &first.to_lowercase()[..1],
                rng.random_range(1..1000)
            ),
        };
        let address = format!("{local}@{provider}");
        if taken.insert(address.clone()) {
            return address;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn shape(users: usize) -> Shape {
        Shape {
            users,
            contacts_min: 10,
            contacts_max: 40,
            joiners_per_day: 3,
            days: 3,
            enumeration_hit_rate: 0.8,
        }
    }

    #[test]
    fn degrees_are_in_range_and_symmetric() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let pop = build(&shape(500), &mut rng);
        for (a, p) in pop.people.iter().enumerate() {
            assert!(
                (10..=40).contains(&p.contacts.len()),
                "{}",
                p.contacts.len()
            );
            for &b in &p.contacts {
                assert!(pop.people[b].contacts.contains(&a));
            }
        }
        let handles: BTreeSet<&str> = pop.people.iter().map(|p| p.handle.as_str()).collect();
        assert_eq!(handles.len(), 500);
        assert_eq!(
            pop.people.iter().filter(|p| p.joins_on.is_some()).count(),
            9
        );
    }

    #[test]
    fn the_graph_is_clustered() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(2);
        let pop = build(&shape(1000), &mut rng);
        // Average local clustering: a random graph of this density would
        // be near 0.02.
        let mut sum = 0.0;
        for p in &pop.people {
            let c = &p.contacts;
            let mut closed = 0;
            for (k, &a) in c.iter().enumerate() {
                for &b in &c[k + 1..] {
                    if pop.people[a].contacts.binary_search(&b).is_ok() {
                        closed += 1;
                    }
                }
            }
            let pairs = c.len() * (c.len() - 1) / 2;
            sum += closed as f64 / pairs.max(1) as f64;
        }
        let clustering = sum / pop.people.len() as f64;
        assert!(clustering > 0.2, "{clustering}");
    }

    #[test]
    fn handles_are_valid() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let pop = build(&shape(300), &mut rng);
        for h in pop.number_block.iter().chain(&pop.address_list) {
            let parsed = tidings_proto::Handle::parse(h, "US").expect("valid handle");
            assert_eq!(parsed.as_str(), h);
        }
    }
}
