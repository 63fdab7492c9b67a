//! What DynamoDB bills, computed from its published sizing rules: the cost meter's base, since
//! moto's consumed-capacity figures are not DynamoDB's. Sources (Amazon DynamoDB Developer
//! Guide): "DynamoDB item sizes and formats" (CapacityUnitCalculations.html) for an item's size,
//! "DynamoDB read and write capacity modes" / "On-demand capacity mode" for the units. DynamoDB
//! counts 1 KB as 1024 bytes.
//!
//! Sizes (bytes), each attribute counted as its name's UTF-8 bytes plus its value's size:
//! - S: the string's UTF-8 bytes. B: the raw bytes (not their base64).
//! - N: "approximately 1 byte per two significant digits, plus 1 byte"; leading and trailing
//!   zeroes are trimmed (up to 38 significant digits). Taken here as ⌈digits / 2⌉ + 1.
//! - BOOL, NULL: 1 byte.
//! - L, M: 3 bytes of overhead whatever they hold, plus each element's size (a map element's
//!   includes its name's bytes), plus 1 byte per element.
//! - SS, NS, BS: the sum of their elements' sizes (the guide gives no overhead for sets).
//!
//! Units:
//! - Write: one unit per started 1 KB of the item (a Put or Update bills the larger of the item
//!   before and after; a Delete the item deleted); at least one, also for a write whose
//!   condition failed. A transactional write (TransactWriteItems) bills twice. A BatchWriteItem
//!   bills each item on its own.
//! - Read: one unit per started 4 KB for a strongly consistent read, half that eventually
//!   consistent, twice that transactional (TransactGetItems); at least one (half), also for an
//!   item that is not there. A Query or Scan sums the sizes of the items it reads and rounds up
//!   once per request (page); a BatchGetItem rounds each item on its own.

use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::{BTreeMap, HashMap};

/// Bytes one write unit covers.
pub const WRITE_UNIT_BYTES: u64 = 1024;
/// Bytes one read unit covers (strongly consistent).
pub const READ_UNIT_BYTES: u64 = 4096;

/// An item's size as DynamoDB counts it against the 400 KB limit and bills it.
pub fn item_size(item: &HashMap<String, AttributeValue>) -> u64 {
    item.iter().map(|(name, value)| attribute_size(name, value)).sum()
}

/// One attribute: its name's UTF-8 bytes and its value's size.
pub fn attribute_size(name: &str, value: &AttributeValue) -> u64 {
    name.len() as u64 + value_size(value)
}

/// A value's size without a name (an element of a list, a set or a map's value).
pub fn value_size(value: &AttributeValue) -> u64 {
    // Per element of a list or map, on top of the element itself.
    const ELEMENT: u64 = 1;
    // Per list or map, whatever it holds.
    const DOCUMENT: u64 = 3;
    match value {
        AttributeValue::S(s) => s.len() as u64,
        AttributeValue::N(n) => number_size(n),
        AttributeValue::B(b) => b.as_ref().len() as u64,
        AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
        AttributeValue::L(list) => DOCUMENT + list.iter().map(|v| value_size(v) + ELEMENT).sum::<u64>(),
        AttributeValue::M(map) => DOCUMENT + map.iter().map(|(k, v)| attribute_size(k, v) + ELEMENT).sum::<u64>(),
        AttributeValue::Ss(set) => set.iter().map(|s| s.len() as u64).sum(),
        AttributeValue::Ns(set) => set.iter().map(|n| number_size(n)).sum(),
        AttributeValue::Bs(set) => set.iter().map(|b| b.as_ref().len() as u64).sum(),
        // A type newer than this SDK: counted as nothing rather than guessed at.
        _ => 0,
    }
}

/// A number's size: ⌈significant digits / 2⌉ + 1, its sign, point and exponent aside and its
/// leading and trailing zeroes trimmed (zero itself has one digit).
pub fn number_size(n: &str) -> u64 {
    let mantissa = n.trim().split(['e', 'E']).next().unwrap_or_default();
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let significant = digits.trim_start_matches('0').trim_end_matches('0').len().max(1) as u64;
    significant.div_ceil(2) + 1
}

/// How a write is billed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Write {
    /// PutItem, UpdateItem, DeleteItem, each item of a BatchWriteItem.
    Standard,
    /// Each item of a TransactWriteItems: twice.
    Transactional,
}

/// How a read is billed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Read {
    /// Half a strongly consistent read.
    Eventual,
    Strong,
    /// Each item of a TransactGetItems: twice a strongly consistent read.
    Transactional,
}

impl Read {
    fn factor(self) -> f64 {
        match self {
            Read::Eventual => 0.5,
            Read::Strong => 1.0,
            Read::Transactional => 2.0,
        }
    }
}

/// Write units of writing an item of `bytes`: per started 1 KB, at least one.
pub fn write_units(bytes: u64, write: Write) -> f64 {
    let units = bytes.div_ceil(WRITE_UNIT_BYTES).max(1);
    match write {
        Write::Standard => units as f64,
        Write::Transactional => (2 * units) as f64,
    }
}

/// Read units of reading one item of `bytes` (GetItem, each item of a BatchGetItem or a
/// TransactGetItems): per started 4 KB, at least one, scaled by consistency.
pub fn read_units(bytes: u64, read: Read) -> f64 {
    bytes.div_ceil(READ_UNIT_BYTES).max(1) as f64 * read.factor()
}

/// Read units of one Query or Scan request (one page): the items' sizes summed, then rounded
/// up once.
pub fn query_read_units(item_sizes: impl IntoIterator<Item = u64>, read: Read) -> f64 {
    read_units(item_sizes.into_iter().sum(), read)
}

/// Write units of one TransactWriteItems or BatchWriteItem: each item rounded on its own.
pub fn items_write_units(item_sizes: impl IntoIterator<Item = u64>, write: Write) -> f64 {
    item_sizes.into_iter().map(|bytes| write_units(bytes, write)).sum()
}

/// Read units of one BatchGetItem or TransactGetItems: each item rounded on its own.
pub fn items_read_units(item_sizes: impl IntoIterator<Item = u64>, read: Read) -> f64 {
    item_sizes.into_iter().map(|bytes| read_units(bytes, read)).sum()
}

/// What one (operation, table) consumed: requests sent and the units they were billed, as
/// computed by the rules above (`read_units`, `write_units`) and as DynamoDB itself reported them
/// in `ConsumedCapacity` (`reported_*`: zero where it reported nothing, as moto often does).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Tally {
    pub requests: u64,
    pub read_units: f64,
    pub write_units: f64,
    pub reported_read_units: f64,
    pub reported_write_units: f64,
}

impl Tally {
    /// One request's computed units.
    pub fn request(read_units: f64, write_units: f64) -> Tally {
        Tally { requests: 1, read_units, write_units, ..Tally::default() }
    }

    /// `{"requests", "readUnits", "writeUnits", "reportedReadUnits", "reportedWriteUnits"}`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "requests": self.requests,
            "readUnits": self.read_units,
            "writeUnits": self.write_units,
            "reportedReadUnits": self.reported_read_units,
            "reportedWriteUnits": self.reported_write_units,
        })
    }
}

impl std::ops::AddAssign for Tally {
    fn add_assign(&mut self, other: Tally) {
        self.requests += other.requests;
        self.read_units += other.read_units;
        self.write_units += other.write_units;
        self.reported_read_units += other.reported_read_units;
        self.reported_write_units += other.reported_write_units;
    }
}

/// Units consumed, by operation (an API call such as `PutItem`, or a business operation such as
/// `commit_sale`: the caller chooses) and table (the template's logical id, `SalesTable`), in
/// name order. A request that touches several tables (a transaction, a batch) counts once under
/// each of them and once in [`Consumed::total`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Consumed {
    by_call: BTreeMap<(String, String), Tally>,
    requests: u64,
}

impl Consumed {
    /// One request of `operation` on `table` that read `units`.
    pub fn read(&mut self, operation: &str, table: &str, units: f64) {
        self.record(operation, [(table, Tally::request(units, 0.0))]);
    }

    /// One request of `operation` on `table` that wrote `units`.
    pub fn write(&mut self, operation: &str, table: &str, units: f64) {
        self.record(operation, [(table, Tally::request(0.0, units))]);
    }

    /// One request of `operation`, with what it consumed on each table it touched (each tally's
    /// `requests` is 1).
    pub fn record<'a>(&mut self, operation: &str, tables: impl IntoIterator<Item = (&'a str, Tally)>) {
        self.requests += 1;
        for (table, tally) in tables {
            self.add(operation, table, tally);
        }
    }

    fn add(&mut self, operation: &str, table: &str, tally: Tally) {
        match self.by_call.get_mut(&(operation.to_owned(), table.to_owned())) {
            Some(sum) => *sum += tally,
            None => {
                self.by_call.insert((operation.to_owned(), table.to_owned()), tally);
            }
        }
    }

    /// Another accumulator's figures added to these (a function's instances, a run's parts).
    pub fn merge(&mut self, other: &Consumed) {
        self.requests += other.requests;
        for ((operation, table), tally) in &other.by_call {
            self.add(operation, table, *tally);
        }
    }

    /// What `operation` consumed on `table` (zero if it never ran there).
    pub fn of(&self, operation: &str, table: &str) -> Tally {
        self.by_call.get(&(operation.to_owned(), table.to_owned())).copied().unwrap_or_default()
    }

    /// Every (operation, table)'s figures, in name order.
    pub fn calls(&self) -> impl Iterator<Item = (&str, &str, &Tally)> {
        self.by_call.iter().map(|((operation, table), tally)| (operation.as_str(), table.as_str(), tally))
    }

    /// Nothing recorded.
    pub fn is_empty(&self) -> bool {
        self.requests == 0 && self.by_call.is_empty()
    }

    /// All operations together: the requests sent (each once, whatever tables it touched) and
    /// every unit.
    pub fn total(&self) -> Tally {
        let mut total = Tally::default();
        for tally in self.by_call.values() {
            total += *tally;
        }
        total.requests = self.requests;
        total
    }

    /// `{"PutItem": {"SalesTable": {"requests": 1, "readUnits": 0.0, ...}}, ...}`.
    pub fn to_json(&self) -> serde_json::Value {
        let mut out = serde_json::Map::new();
        for ((operation, table), tally) in &self.by_call {
            let tables = out.entry(operation.clone()).or_insert_with(|| serde_json::Value::Object(Default::default()));
            if let serde_json::Value::Object(tables) = tables {
                tables.insert(table.clone(), tally.to_json());
            }
        }
        serde_json::Value::Object(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_smithy_types::Blob;

    fn s(v: &str) -> AttributeValue {
        AttributeValue::S(v.to_owned())
    }

    fn n(v: &str) -> AttributeValue {
        AttributeValue::N(v.to_owned())
    }

    fn item(attrs: &[(&str, AttributeValue)]) -> HashMap<String, AttributeValue> {
        attrs.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect()
    }

    #[test]
    fn a_string_is_its_utf8_bytes_and_its_names() {
        // "pk" 2 + "S001" 4; "name" 4 + "Café" 5 (é is two bytes); "ß" as a name is 2 + "" 0.
        assert_eq!(item_size(&item(&[("pk", s("S001")), ("name", s("Café")), ("ß", s(""))])), 6 + 9 + 2);
    }

    #[test]
    fn a_number_is_a_byte_per_two_significant_digits_and_one() {
        for (number, size) in [
            ("0", 2),
            ("7", 2),
            ("12", 2),
            ("123", 3),
            ("1234", 3),
            // Leading and trailing zeroes do not count, nor does the sign, point or exponent.
            ("1000000", 2),
            ("0.0015", 2),
            ("-12345", 4),
            ("3.14159", 4),
            ("1.5E+20", 2),
            // 38 significant digits: the most DynamoDB holds.
            ("12345678901234567890123456789012345678", 20),
        ] {
            assert_eq!(number_size(number), size, "{number}");
        }
        // With its name: "qty" 3 + 2.
        assert_eq!(attribute_size("qty", &n("25")), 5);
    }

    #[test]
    fn binary_booleans_and_nulls() {
        let raw = AttributeValue::B(Blob::new(vec![0u8; 10]));
        // Raw bytes, not base64 (which would be 16).
        assert_eq!(attribute_size("b", &raw), 11);
        assert_eq!(attribute_size("ok", &AttributeValue::Bool(true)), 3);
        assert_eq!(attribute_size("gone", &AttributeValue::Null(true)), 5);
    }

    #[test]
    fn lists_and_maps_carry_three_bytes_and_one_per_element() {
        assert_eq!(attribute_size("l", &AttributeValue::L(vec![])), 1 + 3);
        assert_eq!(attribute_size("m", &AttributeValue::M(HashMap::new())), 1 + 3);
        // ["ab", 5]: 3 + (2 + 1) + (2 + 1).
        assert_eq!(value_size(&AttributeValue::L(vec![s("ab"), n("5")])), 9);
        // {"sku": "MILK", "qty": 3}: 3 + (3 + 4 + 1) + (3 + 2 + 1).
        let line = AttributeValue::M(HashMap::from([("sku".to_owned(), s("MILK")), ("qty".to_owned(), n("3"))]));
        assert_eq!(value_size(&line), 17);
        // Nested: {"lines": [line, line]} as an attribute "sale": 4 + 3 + (5 + (3 + 2 × (17 + 1)) + 1).
        let sale = AttributeValue::M(HashMap::from([("lines".to_owned(), AttributeValue::L(vec![line.clone(), line]))]));
        assert_eq!(attribute_size("sale", &sale), 4 + 3 + 5 + 3 + 36 + 1);
    }

    #[test]
    fn sets_are_the_sum_of_their_elements() {
        assert_eq!(attribute_size("holders", &AttributeValue::Ss(vec!["MILK".into(), "COLA".into()])), 7 + 8);
        assert_eq!(value_size(&AttributeValue::Ns(vec!["1".into(), "123".into()])), 2 + 3);
        assert_eq!(value_size(&AttributeValue::Bs(vec![Blob::new(vec![1, 2]), Blob::new(vec![3])])), 3);
    }

    #[test]
    fn writes_are_billed_per_started_kilobyte_and_twice_in_a_transaction() {
        assert_eq!(write_units(0, Write::Standard), 1.0);
        assert_eq!(write_units(1, Write::Standard), 1.0);
        assert_eq!(write_units(1024, Write::Standard), 1.0);
        assert_eq!(write_units(1025, Write::Standard), 2.0);
        assert_eq!(write_units(2048, Write::Standard), 2.0);
        assert_eq!(write_units(400 * 1024, Write::Standard), 400.0);
        assert_eq!(write_units(1024, Write::Transactional), 2.0);
        assert_eq!(write_units(1025, Write::Transactional), 4.0);
        // Each item of a transaction or a batch rounds on its own: 1 + 2 + 1 units, twice.
        assert_eq!(items_write_units([10, 1500, 1024], Write::Transactional), 8.0);
    }

    #[test]
    fn reads_are_billed_per_started_four_kilobytes_by_consistency() {
        assert_eq!(read_units(0, Read::Strong), 1.0);
        assert_eq!(read_units(4096, Read::Strong), 1.0);
        assert_eq!(read_units(4097, Read::Strong), 2.0);
        assert_eq!(read_units(4096, Read::Eventual), 0.5);
        assert_eq!(read_units(4097, Read::Eventual), 1.0);
        assert_eq!(read_units(10_000, Read::Transactional), 6.0);
        // A batch get rounds each item: three items of 1 KB are 3 units ...
        assert_eq!(items_read_units([1024, 1024, 1024], Read::Strong), 3.0);
        // ... and a query of the same three rounds once: 1 unit; 5 of them (5 KB): 2.
        assert_eq!(query_read_units([1024, 1024, 1024], Read::Strong), 1.0);
        assert_eq!(query_read_units([1024; 5], Read::Strong), 2.0);
        assert_eq!(query_read_units([1024; 5], Read::Eventual), 1.0);
        // A query that finds nothing still costs its minimum.
        assert_eq!(query_read_units([], Read::Eventual), 0.5);
    }

    #[test]
    fn a_sale_like_item_is_sized_and_billed_by_hand() {
        // pk "SALE#S001#abc" (2 + 13), kind "sale" (4 + 4), total 12999 (5 + 4),
        // lines [{"sku": "MILK", "qty": 2}] (5 + 3 + (3 + 4 + 1) + (3 + 2 + 1) + 3 + 1).
        let line = AttributeValue::M(HashMap::from([("sku".to_owned(), s("MILK")), ("qty".to_owned(), n("2"))]));
        let sale = item(&[("pk", s("SALE#S001#abc")), ("kind", s("sale")), ("total", n("12999")), ("lines", AttributeValue::L(vec![line]))]);
        assert_eq!(item_size(&sale), 15 + 8 + 9 + (5 + 3 + 17 + 1));
        assert_eq!(write_units(item_size(&sale), Write::Transactional), 2.0);
        // Padded to exactly 1024 bytes it is still one unit; a byte more is two.
        let mut padded = sale.clone();
        let room = 1024 - item_size(&sale) - 3;
        padded.insert("pad".to_owned(), s(&"x".repeat(room as usize)));
        assert_eq!(item_size(&padded), 1024);
        assert_eq!(write_units(item_size(&padded), Write::Standard), 1.0);
        padded.insert("pad".to_owned(), s(&"x".repeat(room as usize + 1)));
        assert_eq!(write_units(item_size(&padded), Write::Standard), 2.0);
    }

    #[test]
    fn consumed_units_add_up_by_operation_and_table() {
        let mut consumed = Consumed::default();
        consumed.write("commit_sale", "SalesTable", write_units(1500, Write::Transactional));
        consumed.write("commit_sale", "SalesTable", write_units(200, Write::Transactional));
        consumed.read("read_basket", "PricesTable", items_read_units([300, 300], Read::Strong));
        assert_eq!(consumed.of("commit_sale", "SalesTable"), Tally { requests: 2, write_units: 6.0, ..Tally::default() });
        assert_eq!(consumed.of("read_basket", "PricesTable"), Tally { requests: 1, read_units: 2.0, ..Tally::default() });
        assert_eq!(consumed.of("commit_sale", "PricesTable"), Tally::default());
        assert_eq!(consumed.of("fold", "AggregatesTable"), Tally::default());

        // One transaction on two tables: once under each, once in the total.
        let mut other = Consumed::default();
        other.record(
            "TransactWriteItems",
            [
                ("SalesTable", Tally { requests: 1, write_units: 2.0, reported_write_units: 2.0, ..Tally::default() }),
                ("StockTable", Tally { requests: 1, write_units: 4.0, reported_write_units: 3.0, ..Tally::default() }),
            ],
        );
        other.read("read_basket", "PricesTable", 0.5);
        consumed.merge(&other);
        let names: Vec<(&str, &str)> = consumed.calls().map(|(op, table, _)| (op, table)).collect();
        assert_eq!(
            names,
            [
                ("TransactWriteItems", "SalesTable"),
                ("TransactWriteItems", "StockTable"),
                ("commit_sale", "SalesTable"),
                ("read_basket", "PricesTable"),
            ]
        );
        assert_eq!(consumed.of("read_basket", "PricesTable").read_units, 2.5);
        assert_eq!(
            consumed.total(),
            Tally { requests: 5, read_units: 2.5, write_units: 12.0, reported_read_units: 0.0, reported_write_units: 5.0 }
        );
        assert_eq!(
            consumed.to_json()["TransactWriteItems"]["StockTable"],
            serde_json::json!({"requests": 1, "readUnits": 0.0, "writeUnits": 4.0, "reportedReadUnits": 0.0, "reportedWriteUnits": 3.0})
        );
        assert!(!consumed.is_empty() && Consumed::default().is_empty());
    }
}
