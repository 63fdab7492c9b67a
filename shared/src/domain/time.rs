//! Time is UTC inside; RFC 3339 at the edge, with `Z` on the way out.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serializer};

use super::error::DomainError;

/// Parses RFC 3339 with any offset and fraction into UTC.
pub fn parse_instant(raw: &str) -> Result<DateTime<Utc>, DomainError> {
    DateTime::parse_from_rfc3339(raw)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| DomainError::Invalid(format!("{raw:?} is not an RFC 3339 time")))
}

/// UTC with `Z`, fractions only when there are any.
pub fn format_instant(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// `serde(with = "instant")` for `DateTime<Utc>` fields.
pub mod instant {
    use super::*;

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_instant(t))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let raw = String::deserialize(d)?;
        parse_instant(&raw).map_err(serde::de::Error::custom)
    }
}

/// `serde(with = "optional_instant")` for `Option<DateTime<Utc>>` fields.
pub mod optional_instant {
    use super::*;

    pub fn serialize<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.serialize_str(&format_instant(t)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
        let raw = Option::<String>::deserialize(d)?;
        raw.map(|r| parse_instant(&r).map_err(serde::de::Error::custom)).transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_offset_comes_out_as_utc_with_z() {
        let t = parse_instant("2026-11-11T20:00:00.5+08:00").unwrap();
        assert_eq!(format_instant(&t), "2026-11-11T12:00:00.500Z");
        let t = parse_instant("2026-11-11T12:00:00Z").unwrap();
        assert_eq!(format_instant(&t), "2026-11-11T12:00:00Z");
        assert!(parse_instant("2026-11-11 12:00").is_err());
    }
}
