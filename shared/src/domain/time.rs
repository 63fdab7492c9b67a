//! Time is UTC inside; RFC 3339 at the edge, with `Z` on the way out.

use chrono::{DateTime, Datelike, NaiveDate, SecondsFormat, Timelike, Utc};
use serde::{Deserialize, Deserializer, Serializer};

use super::refusal::Invalid;

/// Parses RFC 3339 with any offset and fraction into UTC. An instant that falls outside the years
/// 0000 to 9999 in UTC is refused: RFC 3339 cannot write it with `Z`, which is how every time is
/// written back (and stored), so it could never be shown or read again.
pub fn parse_instant(raw: &str) -> Result<DateTime<Utc>, Invalid> {
    let t = DateTime::parse_from_rfc3339(raw)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| Invalid::Request(format!("{raw:?} is not an RFC 3339 time")))?;
    if !(0..=9999).contains(&t.year()) {
        return Err(Invalid::Request(format!("{raw:?} falls outside the years 0000 to 9999 in UTC")));
    }
    Ok(t)
}

/// A store's business day: the calendar date in the store's timezone, `YYYY-MM-DD` on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BusinessDay(NaiveDate);

impl BusinessDay {
    /// Exactly `YYYY-MM-DD`, four digits, two and two (chrono alone would take `2026-1-5`, and
    /// its `%Y` a sign or a space: `-001-01-01`, `+026-11-11`, ` 026-11-11`).
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let shaped = raw.len() == 10
            && raw.bytes().enumerate().all(|(i, b)| if i == 4 || i == 7 { b == b'-' } else { b.is_ascii_digit() });
        shaped
            .then(|| NaiveDate::parse_from_str(raw, "%Y-%m-%d").ok())
            .flatten()
            .map(BusinessDay)
            .ok_or_else(|| Invalid::Request(format!("date {raw:?} must be YYYY-MM-DD")))
    }

    pub fn date(self) -> NaiveDate {
        self.0
    }
}

impl From<NaiveDate> for BusinessDay {
    fn from(d: NaiveDate) -> Self {
        BusinessDay(d)
    }
}

impl std::fmt::Display for BusinessDay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&format_date(self.0))
    }
}

/// UTC with `Z`, fractions only when there are any (3, 6 or 9 digits). Written digit by digit:
/// every receipt carries two, and chrono's formatter was a few percent of a checkout.
pub fn format_instant(t: &DateTime<Utc>) -> String {
    let nanos = t.nanosecond();
    let mut out = String::with_capacity(30);
    // A leap second or a year outside 0..=9999 takes chrono's general path.
    if nanos >= 1_000_000_000 || !push_date(&mut out, t.date_naive()) {
        return t.to_rfc3339_opts(SecondsFormat::AutoSi, true);
    }
    out.push('T');
    push_digits(&mut out, t.hour(), 2);
    out.push(':');
    push_digits(&mut out, t.minute(), 2);
    out.push(':');
    push_digits(&mut out, t.second(), 2);
    if nanos != 0 {
        out.push('.');
        match nanos {
            n if n % 1_000_000 == 0 => push_digits(&mut out, n / 1_000_000, 3),
            n if n % 1_000 == 0 => push_digits(&mut out, n / 1_000, 6),
            n => push_digits(&mut out, n, 9),
        }
    }
    out.push('Z');
    out
}

/// `YYYY-MM-DD`, as chrono writes it.
pub fn format_date(d: NaiveDate) -> String {
    let mut out = String::with_capacity(10);
    if push_date(&mut out, d) { out } else { d.to_string() }
}

/// Pushes `YYYY-MM-DD`; false (and nothing pushed) for a year outside 0..=9999.
fn push_date(out: &mut String, d: NaiveDate) -> bool {
    let Ok(year) = u32::try_from(d.year()) else { return false };
    if year > 9999 {
        return false;
    }
    push_digits(out, year, 4);
    out.push('-');
    push_digits(out, d.month(), 2);
    out.push('-');
    push_digits(out, d.day(), 2);
    true
}

/// `n` as exactly `width` decimal digits, zero-padded (`n` must fit).
fn push_digits(out: &mut String, n: u32, width: u32) {
    for place in (0..width).rev() {
        out.push(char::from(b'0' + (n / 10u32.pow(place) % 10) as u8));
    }
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

/// `serde(with = "date")` for `NaiveDate` fields: `YYYY-MM-DD` both ways, as chrono's own.
pub mod date {
    use super::*;

    pub fn serialize<S: Serializer>(d: &NaiveDate, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_date(*d))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<NaiveDate, D::Error> {
        NaiveDate::deserialize(d)
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
    use proptest::prelude::*;

    #[test]
    fn any_offset_comes_out_as_utc_with_z() {
        let t = parse_instant("2026-11-11T20:00:00.5+08:00").unwrap();
        assert_eq!(format_instant(&t), "2026-11-11T12:00:00.500Z");
        let t = parse_instant("2026-11-11T12:00:00Z").unwrap();
        assert_eq!(format_instant(&t), "2026-11-11T12:00:00Z");
        assert!(parse_instant("2026-11-11 12:00").is_err());
    }

    /// Found by the contract fuzzing (tests/tests/fuzz.rs): `validFrom` 0000-01-01T00:00:00+01:00
    /// was accepted and then shown as `-0001-12-31T23:00:00Z`, 9999-12-31T23:59:59-01:00 as
    /// `+10000-01-01T00:59:59Z`: neither is RFC 3339, and neither parses back, so on DynamoDB the
    /// stored adjustment could not be read again. What is accepted is what can be written back.
    #[test]
    fn an_instant_is_accepted_only_when_utc_rfc_3339_can_write_it_back() {
        for raw in ["0000-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "0000-01-01T00:59:59.999+01:00"] {
            let e = parse_instant(raw).expect_err(raw);
            assert!(e.to_string().contains(raw), "{e}");
        }
        for raw in [
            "0000-01-01T00:00:00Z",
            "0000-01-01T00:00:00-01:00",
            "0000-01-01T01:00:00+01:00",
            "9999-12-31T23:59:59.999999999Z",
            "9999-12-31T23:59:59+01:00",
            "2016-12-31T23:59:60Z",
        ] {
            let t = parse_instant(raw).unwrap_or_else(|e| panic!("{raw}: {e}"));
            let written = format_instant(&t);
            assert_eq!(parse_instant(&written).ok(), Some(t), "{raw} is written back as {written}");
        }
    }

    /// Found by the contract fuzzing: `date=-001-01-01` answered a report for `-0001-01-01`, and
    /// `+026-11-11` or ` 026-11-11` one for 0026-11-11: chrono's `%Y` takes a sign or a space.
    #[test]
    fn a_business_day_is_four_digits_two_and_two() {
        for raw in ["-001-01-01", "+026-11-11", " 026-11-11", "2026-1-011", "2026-11-1 ", "2026-+1-11", "2026/11/11", "2026-02-30"] {
            assert!(BusinessDay::parse(raw).is_err(), "{raw:?}");
        }
        for raw in ["0000-01-01", "2026-11-11", "2028-02-29", "9999-12-31"] {
            assert_eq!(BusinessDay::parse(raw).map(|d| d.to_string()).ok().as_deref(), Some(raw));
        }
    }

    proptest! {
        /// The hand-written formatters write what chrono writes, for any instant and date,
        /// whole seconds, milli-, micro- and nanoseconds, and leap seconds.
        #[test]
        fn instants_and_dates_are_written_as_chrono_writes_them(
            secs in -62_000_000_000i64..300_000_000_000i64,
            nanos in prop_oneof![Just(0u32), (0u32..1_000).prop_map(|n| n * 1_000_000), (0u32..1_000_000).prop_map(|n| n * 1_000), 0u32..2_000_000_000],
        ) {
            if let Some(t) = DateTime::<Utc>::from_timestamp(secs, nanos) {
                prop_assert_eq!(format_instant(&t), t.to_rfc3339_opts(SecondsFormat::AutoSi, true));
                prop_assert_eq!(format_date(t.date_naive()), t.date_naive().to_string());
            }
        }
    }
}
