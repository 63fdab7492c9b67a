//! `sales-aggregator`: folds the sales table's change stream into daily aggregates. Declared in
//! the template; built with the checkout issue.
