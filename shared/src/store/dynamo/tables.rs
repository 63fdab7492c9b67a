//! Which tables there are, which of them each store port's DynamoDB implementation touches, and
//! the guard that makes a call to a table a function was not configured with fail loudly.

use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_smithy_runtime_api::box_error::BoxError;

/// One of the template's tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    Stores,
    Commodities,
    Barcodes,
    Stock,
    Prices,
    PriceBatches,
    Sales,
    Idempotency,
    Aggregates,
    Promotions,
    CatalogChanges,
}

impl Table {
    /// Every table, in the template's order.
    pub const ALL: [Table; 11] = [
        Table::Stores,
        Table::Commodities,
        Table::Barcodes,
        Table::Stock,
        Table::Prices,
        Table::PriceBatches,
        Table::Sales,
        Table::Idempotency,
        Table::Aggregates,
        Table::Promotions,
        Table::CatalogChanges,
    ];

    /// The environment variable that holds its physical name (`SALES_TABLE`).
    pub const fn variable(self) -> &'static str {
        match self {
            Table::Stores => "STORES_TABLE",
            Table::Commodities => "COMMODITIES_TABLE",
            Table::Barcodes => "BARCODES_TABLE",
            Table::Stock => "STOCK_TABLE",
            Table::Prices => "PRICES_TABLE",
            Table::PriceBatches => "PRICE_BATCHES_TABLE",
            Table::Sales => "SALES_TABLE",
            Table::Idempotency => "IDEMPOTENCY_TABLE",
            Table::Aggregates => "AGGREGATES_TABLE",
            Table::Promotions => "PROMOTIONS_TABLE",
            Table::CatalogChanges => "CATALOG_CHANGES_TABLE",
        }
    }

    /// Its logical id in template.yaml (`SalesTable`).
    /// The key attributes of each of this table's global secondary indexes in template.yaml
    /// (each projects every attribute): what a write also pays for ([`super::meter`]). A test
    /// (`tests/tests/cost_meter.rs`) holds it to the template.
    pub const fn index_keys(self) -> &'static [&'static [&'static str]] {
        match self {
            Table::Commodities | Table::Prices => &[&["catalog", "pk"]],
            _ => &[],
        }
    }

    pub const fn logical_id(self) -> &'static str {
        match self {
            Table::Stores => "StoresTable",
            Table::Commodities => "CommoditiesTable",
            Table::Barcodes => "BarcodesTable",
            Table::Stock => "StockTable",
            Table::Prices => "PricesTable",
            Table::PriceBatches => "PriceBatchesTable",
            Table::Sales => "SalesTable",
            Table::Idempotency => "IdempotencyTable",
            Table::Aggregates => "AggregatesTable",
            Table::Promotions => "PromotionsTable",
            Table::CatalogChanges => "CatalogChangesTable",
        }
    }

    pub fn from_logical_id(logical_id: &str) -> Option<Table> {
        Table::ALL.into_iter().find(|t| t.logical_id() == logical_id)
    }

    pub fn from_variable(variable: &str) -> Option<Table> {
        Table::ALL.into_iter().find(|t| t.variable() == variable)
    }

    const fn bit(self) -> u16 {
        1 << self as u16
    }

    /// The name an unconfigured table stands under in [`super::Tables`]: not a valid DynamoDB
    /// table name (spaces, parentheses), so it can never reach a real table, and what the guard
    /// looks for in a request.
    pub(crate) fn placeholder(self) -> String {
        format!("({} is not set)", self.variable())
    }
}

/// A set of tables, built in `const` context: what a store port touches, what a function needs.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TableSet(u16);

impl TableSet {
    pub const EMPTY: TableSet = TableSet(0);
    pub const ALL: TableSet = TableSet::of(&Table::ALL);

    pub const fn of(tables: &[Table]) -> TableSet {
        let mut bits = 0;
        let mut i = 0;
        while i < tables.len() {
            bits |= tables[i].bit();
            i += 1;
        }
        TableSet(bits)
    }

    /// The tables of both: a function that uses two ports needs the tables of each.
    pub const fn union(self, other: TableSet) -> TableSet {
        TableSet(self.0 | other.0)
    }

    pub const fn contains(self, table: Table) -> bool {
        self.0 & table.bit() != 0
    }

    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// In the template's order.
    pub fn iter(self) -> impl Iterator<Item = Table> {
        Table::ALL.into_iter().filter(move |t| self.contains(*t))
    }

    pub fn len(self) -> usize {
        self.0.count_ones() as usize
    }

    /// `STORES_TABLE`, ... in the template's order.
    pub fn variables(self) -> impl Iterator<Item = &'static str> {
        self.iter().map(Table::variable)
    }
}

impl FromIterator<Table> for TableSet {
    fn from_iter<I: IntoIterator<Item = Table>>(iter: I) -> Self {
        TableSet(iter.into_iter().fold(0, |bits, t| bits | t.bit()))
    }
}

impl std::fmt::Debug for TableSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

// What each store port's DynamoDB implementation reads and writes (ports.rs). A function needs
// the union over the ports it uses, requires those variables at start and gets exactly those from
// template.yaml (tests/tests/host.rs holds the template to it); its IAM policy names the same.

/// [`crate::store::CatalogStore`]: stores; commodities with the barcodes they claim; stock
/// movements and the stock items they land on; the tills' feed of what changed.
pub const CATALOG_STORE_TABLES: TableSet = TableSet::of(&[
    Table::Stores,
    Table::Commodities,
    Table::Barcodes,
    Table::Stock,
    Table::Idempotency,
    Table::CatalogChanges,
]);

/// [`crate::store::LookupStore`]: the store, then commodity, stock items and price schedule per
/// sku; barcodes to skus.
pub const LOOKUP_STORE_TABLES: TableSet =
    TableSet::of(&[Table::Stores, Table::Commodities, Table::Barcodes, Table::Stock, Table::Prices]);

/// [`crate::store::PriceStore`]: stores and commodities a batch names, the batch claim, price
/// schedules and history, the tills' feed of what changed.
pub const PRICE_STORE_TABLES: TableSet =
    TableSet::of(&[Table::Stores, Table::Commodities, Table::Prices, Table::PriceBatches, Table::CatalogChanges]);

/// [`crate::store::CatalogFeed`]: the catalog walked through the commodities' and price
/// schedules' `catalog` indexes, the feed, and the promotions.
pub const CATALOG_FEED_TABLES: TableSet =
    TableSet::of(&[Table::Stores, Table::Commodities, Table::Prices, Table::Promotions, Table::CatalogChanges]);

/// [`crate::store::SalesStore`]: the store, the key claim and receipt counter, the basket
/// (barcodes, commodities, price schedules, and the tills' feed of changes, which says what of
/// those a warm function keeps is stale), the promotions, and the commit (sale, key, stock).
pub const SALES_STORE_TABLES: TableSet = TableSet::of(&[
    Table::CatalogChanges,
    Table::Stores,
    Table::Commodities,
    Table::Barcodes,
    Table::Stock,
    Table::Prices,
    Table::Sales,
    Table::Idempotency,
    Table::Promotions,
]);

/// [`crate::store::PromotionStore`]: the stores a promotion names, the promotions, the tills'
/// feed of what changed.
pub const PROMOTION_STORE_TABLES: TableSet = TableSet::of(&[Table::Stores, Table::Promotions, Table::CatalogChanges]);

/// [`crate::store::AggregateStore`]: store-days and their fold markers; the stores a chain day
/// lists.
pub const AGGREGATE_STORE_TABLES: TableSet = TableSet::of(&[Table::Stores, Table::Aggregates]);

/// Why a request was refused before it left the process: it names a table this store was not
/// configured with.
#[derive(Debug, thiserror::Error)]
#[error(
    "{} ({}) is not one of this function's tables ({} is not set): the port that made this call \
     needs it in its declared table set",
    .0.logical_id(),
    .0.variable(),
    .0.variable()
)]
pub struct UnconfiguredTable(pub Table);

/// Refuses any request whose body names an unconfigured table's placeholder, before it is sent.
#[derive(Debug)]
pub(crate) struct UnconfiguredTableGuard {
    placeholders: Vec<(Table, String)>,
}

impl UnconfiguredTableGuard {
    pub(crate) fn new(unconfigured: impl IntoIterator<Item = Table>) -> Self {
        UnconfiguredTableGuard { placeholders: unconfigured.into_iter().map(|t| (t, t.placeholder())).collect() }
    }
}

impl Intercept for UnconfiguredTableGuard {
    fn name(&self) -> &'static str {
        "UnconfiguredTableGuard"
    }

    // After serialization, before the retry loop: refused once, never retried, never sent.
    fn read_after_serialization(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        // DynamoDB's JSON bodies are in memory; the placeholder's characters go into JSON as they are.
        let Some(body) = context.request().body().bytes() else { return Ok(()) };
        for (table, placeholder) in &self.placeholders {
            if body.windows(placeholder.len()).any(|w| w == placeholder.as_bytes()) {
                return Err(Box::new(UnconfiguredTable(*table)));
            }
        }
        Ok(())
    }
}

/// The table an error chain says was refused by the guard, if that is what it was.
pub(crate) fn unconfigured_table(err: &(dyn std::error::Error + 'static)) -> Option<Table> {
    let mut next = Some(err);
    while let Some(e) = next {
        if let Some(UnconfiguredTable(table)) = e.downcast_ref::<UnconfiguredTable>() {
            return Some(*table);
        }
        next = e.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_set_holds_what_it_was_built_from_in_the_templates_order() {
        let set = TableSet::of(&[Table::Sales, Table::Stores]);
        assert_eq!(set.iter().collect::<Vec<_>>(), [Table::Stores, Table::Sales]);
        assert_eq!(set.variables().collect::<Vec<_>>(), ["STORES_TABLE", "SALES_TABLE"]);
        assert!(set.contains(Table::Sales) && !set.contains(Table::Aggregates));
        assert_eq!(set.len(), 2);
        assert_eq!(set.union(AGGREGATE_STORE_TABLES).len(), 3);
        assert_eq!(TableSet::ALL.len(), 11);
        assert!(TableSet::EMPTY.is_empty());
        assert_eq!(Table::ALL.into_iter().collect::<TableSet>(), TableSet::ALL);
    }

    #[test]
    fn variables_and_logical_ids_name_each_other() {
        for table in Table::ALL {
            assert_eq!(Table::from_variable(table.variable()), Some(table));
            assert_eq!(Table::from_logical_id(table.logical_id()), Some(table));
            // `PriceBatchesTable` → `PRICE_BATCHES_TABLE`.
            let stem = table.logical_id().strip_suffix("Table").unwrap();
            let mut var = String::new();
            for (i, c) in stem.chars().enumerate() {
                if c.is_ascii_uppercase() && i > 0 {
                    var.push('_');
                }
                var.push(c.to_ascii_uppercase());
            }
            assert_eq!(table.variable(), var + "_TABLE");
        }
    }

    #[test]
    fn every_table_is_some_ports() {
        let ports = [
            CATALOG_STORE_TABLES,
            LOOKUP_STORE_TABLES,
            PRICE_STORE_TABLES,
            SALES_STORE_TABLES,
            AGGREGATE_STORE_TABLES,
        ];
        assert_eq!(ports.into_iter().fold(TableSet::EMPTY, TableSet::union), TableSet::ALL);
    }

    #[test]
    fn a_placeholder_is_no_valid_table_name() {
        for table in Table::ALL {
            let p = table.placeholder();
            assert!(p.contains(table.variable()));
            assert!(!p.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')), "{p}");
        }
    }

    #[test]
    fn the_guard_error_is_found_in_a_chain_and_names_the_variable() {
        #[derive(Debug, thiserror::Error)]
        #[error("outer")]
        struct Outer(#[source] UnconfiguredTable);
        let e = Outer(UnconfiguredTable(Table::Sales));
        assert_eq!(unconfigured_table(&e), Some(Table::Sales));
        assert!(e.0.to_string().contains("SALES_TABLE is not set"), "{}", e.0);
        assert_eq!(unconfigured_table(&std::io::Error::other("x")), None);
    }
}
