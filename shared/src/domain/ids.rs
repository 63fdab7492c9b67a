//! Identifiers. Each can only be built valid (`parse`), so code past the edge never re-checks them.
//! They are shared text (`Arc<str>`): an id is copied into every receipt line, key and map that
//! names it, and a copy is a count, not an allocation.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::Arc;

use super::refusal::Invalid;

macro_rules! identifier {
    ($(#[$doc:meta])* $name:ident, $what:literal, $pattern:literal, $valid:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Arc<str>);

        impl $name {
            pub const PATTERN: &'static str = $pattern;

            pub fn parse(raw: &str) -> Result<Self, Invalid> {
                let valid: fn(&[u8]) -> bool = $valid;
                if valid(raw.as_bytes()) {
                    Ok(Self(Arc::from(raw)))
                } else {
                    Err(Invalid::Request(format!(
                        concat!("invalid ", $what, " {:?}: must match {}"),
                        raw,
                        $pattern
                    )))
                }
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(d)?;
                Self::parse(&raw).map_err(serde::de::Error::custom)
            }
        }
    };
}

/// An id the server makes: a UUID in its canonical text (lowercase, hyphenated), version 7, so
/// ids sort by the time they were made.
macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Arc<str>);

        impl $name {
            /// A new id, made now.
            pub fn generate() -> Self {
                $name(Arc::from(uuid::Uuid::now_v7().to_string()))
            }

            /// The hyphenated form only (36 characters, either case), as `infra/openapi.yaml`
            /// says: `uuid` also reads the simple, braced and URN forms, which no receipt carries.
            pub fn parse(raw: &str) -> Result<Self, Invalid> {
                let hyphenated = raw.len() == 36;
                uuid::Uuid::try_parse(raw)
                    .ok()
                    .filter(|_| hyphenated)
                    .map(|u| $name(Arc::from(u.to_string())))
                    .ok_or_else(|| Invalid::Request(format!(concat!($what, " {:?} is not a UUID (8-4-4-4-12 hex digits)"), raw)))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(d)?;
                Self::parse(&raw).map_err(serde::de::Error::custom)
            }
        }
    };
}

uuid_id!(
    /// A sale, unique across the chain.
    SaleId, "sale id"
);
uuid_id!(
    /// A return, unique across the chain.
    ReturnId, "return id"
);

fn upper_digit(b: u8) -> bool {
    b.is_ascii_uppercase() || b.is_ascii_digit()
}

identifier!(
    /// A store: `^[A-Z0-9][A-Z0-9-]{0,15}$`.
    StoreId, "store id", "^[A-Z0-9][A-Z0-9-]{0,15}$",
    |b| (1..=16).contains(&b.len()) && upper_digit(b[0]) && b.iter().all(|&c| upper_digit(c) || c == b'-')
);
identifier!(
    /// A region, a free name: `^[A-Z0-9-]{1,16}$`.
    RegionId, "region", "^[A-Z0-9-]{1,16}$",
    |b| (1..=16).contains(&b.len()) && b.iter().all(|&c| upper_digit(c) || c == b'-')
);
identifier!(
    /// A stock-keeping unit: `^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$`.
    Sku, "sku", "^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$",
    |b| (1..=32).contains(&b.len())
        && b[0].is_ascii_alphanumeric()
        && b.iter().all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-'))
);
identifier!(
    /// A till: `^[A-Za-z0-9-]{1,16}$`.
    TerminalId, "terminal id", "^[A-Za-z0-9-]{1,16}$",
    |b| (1..=16).contains(&b.len()) && b.iter().all(|&c| c.is_ascii_alphanumeric() || c == b'-')
);
identifier!(
    /// The key a till sends with a sale so that a retry never sells twice.
    IdempotencyKey, "idempotency key", "^[A-Za-z0-9_-]{1,64}$",
    |b| (1..=64).contains(&b.len()) && b.iter().all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-'))
);
identifier!(
    /// A head-office price batch.
    BatchId, "batch id", "^[A-Za-z0-9_-]{1,64}$",
    |b| (1..=64).contains(&b.len()) && b.iter().all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-'))
);
identifier!(
    /// A head-office promotion, named by head office like a batch.
    PromotionId, "promotion id", "^[A-Za-z0-9_-]{1,64}$",
    |b| (1..=64).contains(&b.len()) && b.iter().all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-'))
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sale_id_is_a_hyphenated_uuid_as_the_contract_says() {
        let id = "0193a3c4-5e6f-7a8b-9c0d-1e2f3a4b5c6d";
        assert_eq!(SaleId::parse(id).unwrap().as_str(), id);
        assert_eq!(SaleId::parse(&id.to_uppercase()).unwrap().as_str(), id, "either case, kept lower");
        for other in ["0193a3c45e6f7a8b9c0d1e2f3a4b5c6d", "{0193a3c4-5e6f-7a8b-9c0d-1e2f3a4b5c6d}", "urn:uuid:0193a3c4-5e6f-7a8b-9c0d-1e2f3a4b5c6d", "", "x"] {
            assert!(SaleId::parse(other).is_err(), "{other}");
        }
    }

    #[test]
    fn store_ids_follow_the_contract() {
        assert!(StoreId::parse("S001").is_ok());
        assert!(StoreId::parse("0-A").is_ok());
        assert!(StoreId::parse("-S1").is_err());
        assert!(StoreId::parse("s001").is_err());
        assert!(StoreId::parse("").is_err());
        assert!(StoreId::parse("ABCDEFGHIJKLMNOPQ").is_err());
        assert!(StoreId::parse("ABCDEFGHIJKLMNOP").is_ok());
    }

    #[test]
    fn skus_follow_the_contract() {
        assert!(Sku::parse("MILK-1L").is_ok());
        assert!(Sku::parse("a.b_c-d").is_ok());
        assert!(Sku::parse(".a").is_err());
        assert!(Sku::parse("a b").is_err());
        assert!(Sku::parse(&"a".repeat(33)).is_err());
    }

    #[test]
    fn keys_allow_uuids_and_refuse_the_rest() {
        assert!(IdempotencyKey::parse("0f8fad5b-d9cb-469f-a165-70867728950e").is_ok());
        assert!(IdempotencyKey::parse(&"k".repeat(65)).is_err());
        assert!(BatchId::parse("2026-11-11-flash").is_ok());
        assert!(BatchId::parse("a/b").is_err());
    }
}
