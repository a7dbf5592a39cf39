//! The `Order` event and its deterministic generator: the same seed and index always give
//! the same order, so runs are reproducible and any record can be regenerated on its own.

/// Encoded size the generator aims at: a v1 Avro record in the Confluent frame.
pub const TARGET_FRAMED_LEN: usize = 512;

/// Lifecycle state of an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Just placed.
    Placed,
    /// Paid for.
    Paid,
    /// Handed to the carrier.
    Shipped,
}

impl Status {
    /// All symbols in schema order (Avro enum index = position).
    pub const ALL: [Status; 3] = [Status::Placed, Status::Paid, Status::Shipped];

    /// The schema symbol.
    pub fn symbol(self) -> &'static str {
        match self {
            Status::Placed => "PLACED",
            Status::Paid => "PAID",
            Status::Shipped => "SHIPPED",
        }
    }

    /// Position in the schema's symbol list (also the Protobuf enum number).
    pub fn index(self) -> u32 {
        match self {
            Status::Placed => 0,
            Status::Paid => 1,
            Status::Shipped => 2,
        }
    }
}

/// One line of an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// Stock keeping unit.
    pub sku: String,
    /// Quantity ordered.
    pub qty: i32,
    /// Unit price in cents.
    pub price_cents: i64,
}

/// One order event. Holds every field any schema version uses; each version renders its own
/// subset (`coupon_code` only from v2, `region` only from v3, no `customer_email` in v4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    /// Unique order id, UUID-shaped.
    pub order_id: String,
    /// Owning account.
    pub account_id: i64,
    /// Lifecycle state.
    pub status: Status,
    /// Total in cents (sum of the lines).
    pub amount_cents: i64,
    /// ISO 4217 code.
    pub currency: String,
    /// Event time, milliseconds since the epoch.
    pub ts_millis: i64,
    /// Order lines.
    pub items: Vec<Item>,
    /// Buyer's e-mail address.
    pub customer_email: String,
    /// Where it ships.
    pub shipping_address: String,
    /// Sales channel (renamed `sales_channel` in v5).
    pub channel: String,
    /// Fulfilment priority (an int; a long in none, a string in v7).
    pub priority: i32,
    /// Free text, padded so the v1 Avro frame is [`TARGET_FRAMED_LEN`] bytes.
    pub notes: String,
    /// Optional coupon (v2's added optional field).
    pub coupon_code: Option<String>,
    /// Sales region (v3's added required field).
    pub region: String,
}

/// SplitMix64: tiny, fast and stable across library versions, which `rand`'s generators are not.
#[derive(Debug, Clone)]
pub(crate) struct SplitMix64(pub(crate) u64);

impl SplitMix64 {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0); the modulo bias is irrelevant for test data.
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn pick<'a>(&mut self, choices: &[&'a str]) -> &'a str {
        let i = self.below(choices.len() as u64) as usize;
        choices.get(i).copied().unwrap_or("")
    }
}

const CURRENCIES: [&str; 4] = ["EUR", "USD", "GBP", "CHF"];
const CHANNELS: [&str; 4] = ["web", "mobile", "store", "partner"];
const REGIONS: [&str; 4] = ["emea", "amer", "apac", "latam"];
const CITIES: [&str; 5] = ["Lisbon", "Utrecht", "Osaka", "Denver", "Tallinn"];
const WORDS: [&str; 8] = [
    "leave", "at", "door", "gift", "wrap", "fragile", "please", "ring",
];
/// 2026-01-01T00:00:00Z: orders are spread over the following ~11 days.
const EPOCH_MILLIS: i64 = 1_767_225_600_000;

/// Makes orders from a seed; `order(i)` depends only on the seed and `i`.
#[derive(Debug, Clone, Copy)]
pub struct OrderGenerator {
    seed: u64,
}

impl OrderGenerator {
    /// A generator for this seed.
    pub fn new(seed: u64) -> Self {
        Self { seed }
    }

    /// The `index`-th order of this seed.
    pub fn order(&self, index: u64) -> Order {
        let mut rng = SplitMix64(self.seed ^ index.wrapping_mul(0xD6E8_FEB8_6659_FD93));
        let items: Vec<Item> = (0..3 + rng.below(3))
            .map(|_| Item {
                sku: format!("SKU-{:06}-{:02}", rng.below(1_000_000), rng.below(100)),
                qty: 1 + rng.below(9) as i32,
                price_cents: 99 + rng.below(50_000) as i64,
            })
            .collect();
        let amount_cents = items.iter().map(|i| i.price_cents * i64::from(i.qty)).sum();
        let (hi, lo) = (rng.next(), rng.next());
        let mut order = Order {
            order_id: format!(
                "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
                hi >> 32,
                (hi >> 16) & 0xffff,
                hi & 0xffff,
                lo >> 48,
                lo & 0xffff_ffff_ffff
            ),
            account_id: 1 + rng.below(5_000_000) as i64,
            status: Status::ALL
                .get(rng.below(3) as usize)
                .copied()
                .unwrap_or(Status::Placed),
            amount_cents,
            currency: rng.pick(&CURRENCIES).to_string(),
            ts_millis: EPOCH_MILLIS + rng.below(1_000_000_000) as i64,
            items,
            customer_email: format!("customer{}@example.org", rng.below(10_000_000)),
            shipping_address: format!(
                "{} Market Street, {} {:05}",
                1 + rng.below(999),
                rng.pick(&CITIES),
                rng.below(100_000)
            ),
            channel: rng.pick(&CHANNELS).to_string(),
            priority: rng.below(10) as i32,
            notes: String::new(),
            coupon_code: (rng.below(4) == 0).then(|| format!("SAVE{}", rng.below(100))),
            region: rng.pick(&REGIONS).to_string(),
        };
        order.notes = notes_to_fill(&order, &mut rng);
        order
    }
}

/// Words until the v1 Avro frame reaches [`TARGET_FRAMED_LEN`] (never past it).
fn notes_to_fill(order: &Order, rng: &mut SplitMix64) -> String {
    let others = v1_len_without_notes(order);
    let budget = TARGET_FRAMED_LEN.saturating_sub(crate::render::wire::HEADER_LEN + others);
    // Avro writes the string length as a zigzag varint before the bytes.
    let text_len = (1..=budget)
        .rev()
        .find(|n| n + varint_len(*n as i64) <= budget)
        .unwrap_or(0);
    let mut notes = String::with_capacity(text_len);
    while notes.len() < text_len {
        if !notes.is_empty() {
            notes.push(' ');
        }
        notes.push_str(rng.pick(&WORDS));
    }
    notes.truncate(text_len);
    notes
}

/// Bytes Avro uses for `n` as a zigzag varint.
fn varint_len(n: i64) -> usize {
    let mut z = ((n << 1) ^ (n >> 63)) as u64;
    let mut len = 1;
    while z >= 0x80 {
        z >>= 7;
        len += 1;
    }
    len
}

fn string_len(s: &str) -> usize {
    varint_len(s.len() as i64) + s.len()
}

/// Size of the v1 Avro datum of `order` without its `notes` field (what the generator pads).
fn v1_len_without_notes(order: &Order) -> usize {
    let items: usize = order
        .items
        .iter()
        .map(|i| string_len(&i.sku) + varint_len(i64::from(i.qty)) + varint_len(i.price_cents))
        .sum();
    // One block: count, items, then the zero count that ends the array.
    let array = match order.items.len() {
        0 => 1,
        n => varint_len(n as i64) + items + 1,
    };
    string_len(&order.order_id)
        + varint_len(order.account_id)
        + varint_len(i64::from(order.status.index()))
        + varint_len(order.amount_cents)
        + string_len(&order.currency)
        + varint_len(order.ts_millis)
        + array
        + string_len(&order.customer_email)
        + string_len(&order.shipping_address)
        + string_len(&order.channel)
        + varint_len(i64::from(order.priority))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_and_index_give_the_same_order() {
        let a = OrderGenerator::new(7);
        let b = OrderGenerator::new(7);
        for i in [0, 1, 99, 123_456] {
            assert_eq!(a.order(i), b.order(i));
        }
    }

    #[test]
    fn different_seeds_or_indexes_differ() {
        let g = OrderGenerator::new(7);
        assert_ne!(g.order(1), g.order(2));
        assert_ne!(g.order(1), OrderGenerator::new(8).order(1));
    }

    #[test]
    fn amount_is_the_sum_of_the_lines() {
        let o = OrderGenerator::new(1).order(5);
        let sum: i64 = o
            .items
            .iter()
            .map(|i| i.price_cents * i64::from(i.qty))
            .sum();
        assert_eq!(o.amount_cents, sum);
        assert!((3..=5).contains(&o.items.len()));
    }

    #[test]
    fn varint_lengths() {
        assert_eq!(varint_len(0), 1);
        assert_eq!(varint_len(-64), 1);
        assert_eq!(varint_len(64), 2);
        assert_eq!(varint_len(i64::MAX), 10);
    }
}
