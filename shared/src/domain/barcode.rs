//! GS1 barcodes: what head office may register on a commodity, and what a till may scan.

use serde::Serialize;
use std::fmt;

use super::refusal::Invalid;
use super::money::Money;

/// A barcode as the catalog stores it: EAN-13 (UPC-A is stored as its EAN-13), EAN-8, or the
/// 7-digit item part of an in-store variable-measure code (`21IIIII` weighed, `23IIIII` priced).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Barcode(String);

/// What sort of code a registered barcode is; decides which units it may be bound to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BarcodeKind {
    /// EAN-13 or EAN-8 printed by a manufacturer.
    Standard,
    /// `21IIIII`: a weighed item whose scale label embeds the weight.
    EmbeddedWeight,
    /// `23IIIII`: an item whose label embeds the price.
    EmbeddedPrice,
}

/// The measure an in-store label carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Embedded {
    WeightGrams(i64),
    Amount(Money),
}

/// A code as a till scanned it, resolved to the catalog barcode it stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scan {
    /// Exactly as scanned.
    pub scanned: String,
    /// The catalog barcode to look up.
    pub barcode: Barcode,
    pub embedded: Option<Embedded>,
}

fn invalid(raw: &str, why: &str) -> Invalid {
    Invalid::Barcode(format!("{raw:?} is not a valid barcode: {why}"))
}

/// The GS1 check digit for the digits before it (weights 3,1,3,... from the right).
pub fn gs1_check_digit(body: &[u8]) -> u8 {
    let sum: u32 = body
        .iter()
        .rev()
        .enumerate()
        .map(|(i, d)| u32::from(d - b'0') * if i % 2 == 0 { 3 } else { 1 })
        .sum();
    ((10 - sum % 10) % 10) as u8
}

fn digits(raw: &str) -> Option<&[u8]> {
    let b = raw.as_bytes();
    (!b.is_empty() && b.iter().all(u8::is_ascii_digit)).then_some(b)
}

fn check_digit_ok(code: &[u8]) -> bool {
    let (body, check) = code.split_at(code.len() - 1);
    gs1_check_digit(body) == check[0] - b'0'
}

fn is_in_store(ean13: &[u8]) -> Option<BarcodeKind> {
    match &ean13[..2] {
        b"21" => Some(BarcodeKind::EmbeddedWeight),
        b"23" => Some(BarcodeKind::EmbeddedPrice),
        _ => None,
    }
}

/// A full-length GS1 code (EAN-13, UPC-A as EAN-13, EAN-8) with its check digit verified.
fn full_code(raw: &str) -> Result<String, Invalid> {
    let d = digits(raw).ok_or_else(|| invalid(raw, "only digits are allowed"))?;
    let code = match d.len() {
        13 | 8 => raw.to_owned(),
        12 => format!("0{raw}"),
        n => return Err(invalid(raw, &format!("{n} digits; expected 8, 12 or 13"))),
    };
    if !check_digit_ok(code.as_bytes()) {
        return Err(invalid(raw, "wrong check digit"));
    }
    Ok(code)
}

impl Barcode {
    /// A barcode head office registers on a commodity.
    pub fn register(raw: &str) -> Result<Self, Invalid> {
        if let Some(d) = digits(raw)
            && d.len() == 7
        {
            return if is_in_store(d).is_some() {
                Ok(Barcode(raw.to_owned()))
            } else {
                Err(invalid(raw, "a 7-digit code is the item part of an in-store code and starts with 21 or 23"))
            };
        }
        let code = full_code(raw)?;
        if code.len() == 13 && is_in_store(code.as_bytes()).is_some() {
            return Err(invalid(
                raw,
                "codes starting 21 or 23 carry a weight or price; register their 7-digit item part",
            ));
        }
        Ok(Barcode(code))
    }

    pub fn kind(&self) -> BarcodeKind {
        if self.0.len() == 7 {
            is_in_store(self.0.as_bytes()).unwrap_or(BarcodeKind::Standard)
        } else {
            BarcodeKind::Standard
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Rebuilds a barcode read back from the store, where it was written valid.
    pub fn from_stored(raw: String) -> Self {
        Barcode(raw)
    }
}

impl fmt::Display for Barcode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Scan {
    /// A code as a till scans it: EAN-13, EAN-8 or UPC-A, check digit verified; in-store
    /// `21IIIIIWWWWWC` and `23IIIIIPPPPPC` codes give their item part and embedded measure.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let code = full_code(raw)?;
        let b = code.as_bytes();
        if b.len() == 13
            && let Some(kind) = is_in_store(b)
        {
            let item = code[..7].to_owned();
            let measure: i64 = code[7..12].parse().expect("digits");
            let embedded = match kind {
                BarcodeKind::EmbeddedWeight if measure == 0 => {
                    return Err(invalid(raw, "embedded weight is zero"));
                }
                BarcodeKind::EmbeddedPrice if measure == 0 => {
                    return Err(invalid(raw, "embedded amount is zero"));
                }
                BarcodeKind::EmbeddedWeight => Embedded::WeightGrams(measure),
                _ => Embedded::Amount(Money::from_minor_units(measure)),
            };
            return Ok(Scan { scanned: raw.to_owned(), barcode: Barcode(item), embedded: Some(embedded) });
        }
        Ok(Scan { scanned: raw.to_owned(), barcode: Barcode(code), embedded: None })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn with_check(body: &str) -> String {
        format!("{body}{}", gs1_check_digit(body.as_bytes()))
    }

    #[test]
    fn known_codes_verify() {
        assert_eq!(Barcode::register("6901234567892").unwrap().as_str(), "6901234567892");
        assert_eq!(Barcode::register("96385074").unwrap().as_str(), "96385074");
        // UPC-A 036000291452 is EAN-13 0036000291452.
        assert_eq!(Barcode::register("036000291452").unwrap().as_str(), "0036000291452");
        assert!(Barcode::register("6901234567893").is_err());
    }

    #[test]
    fn in_store_item_parts_register_and_full_in_store_codes_do_not() {
        assert_eq!(Barcode::register("2112345").unwrap().kind(), BarcodeKind::EmbeddedWeight);
        assert_eq!(Barcode::register("2312345").unwrap().kind(), BarcodeKind::EmbeddedPrice);
        assert!(Barcode::register("2212345").is_err());
        assert!(Barcode::register(&with_check("211234500500")).is_err());
        assert!(Barcode::register("12345").is_err());
        assert!(Barcode::register("69012345678a").is_err());
    }

    #[test]
    fn weighed_and_priced_labels_carry_their_measure() {
        let s = Scan::parse(&with_check("211234501250")).unwrap();
        assert_eq!(s.barcode.as_str(), "2112345");
        assert_eq!(s.embedded, Some(Embedded::WeightGrams(1250)));
        let s = Scan::parse(&with_check("231234500899")).unwrap();
        assert_eq!(s.barcode.as_str(), "2312345");
        assert_eq!(s.embedded, Some(Embedded::Amount(Money::from_minor_units(899))));
        assert!(Scan::parse(&with_check("211234500000")).is_err());
        assert!(Scan::parse(&with_check("231234500000")).is_err());
        // Other prefix-2 codes are ordinary barcodes.
        let s = Scan::parse(&with_check("221234500899")).unwrap();
        assert_eq!(s.embedded, None);
        assert_eq!(s.barcode.as_str().len(), 13);
    }

    #[test]
    fn upc_a_scans_as_its_ean13() {
        let s = Scan::parse("036000291452").unwrap();
        assert_eq!(s.barcode.as_str(), "0036000291452");
        assert_eq!(s.scanned, "036000291452");
    }

    proptest! {
        #[test]
        fn valid_codes_round_trip(body in "[0-9]{12}", short in "[0-9]{7}", upc in "[0-9]{11}") {
            let ean13 = with_check(&body);
            let scan = Scan::parse(&ean13).unwrap();
            prop_assert_eq!(&scan.scanned, &ean13);
            if !ean13.starts_with("21") && !ean13.starts_with("23") {
                prop_assert_eq!(Barcode::register(&ean13).unwrap().to_string(), ean13.clone());
                prop_assert_eq!(scan.barcode.as_str(), ean13.as_str());
            }
            let ean8 = with_check(&short);
            prop_assert_eq!(Barcode::register(&ean8).unwrap().to_string(), ean8.clone());
            prop_assert_eq!(Scan::parse(&ean8).unwrap().barcode, Barcode::register(&ean8).unwrap());
            let upca = with_check(&upc);
            let stored = Barcode::register(&upca).unwrap();
            prop_assert_eq!(stored.as_str(), format!("0{upca}"));
            prop_assert_eq!(Scan::parse(&upca).unwrap().barcode, stored);
        }

        #[test]
        fn any_single_changed_digit_is_refused(body in "[0-9]{12}", pos in 0usize..13, bump in 1u8..10) {
            let code = with_check(&body);
            let mut bytes = code.into_bytes();
            bytes[pos] = b'0' + (bytes[pos] - b'0' + bump) % 10;
            let changed = String::from_utf8(bytes).unwrap();
            prop_assert!(matches!(Scan::parse(&changed), Err(Invalid::Barcode(_))));
            prop_assert!(Barcode::register(&changed).is_err());
        }

        #[test]
        fn any_single_changed_digit_of_ean8_is_refused(body in "[0-9]{7}", pos in 0usize..8, bump in 1u8..10) {
            let code = with_check(&body);
            let mut bytes = code.into_bytes();
            bytes[pos] = b'0' + (bytes[pos] - b'0' + bump) % 10;
            let changed = String::from_utf8(bytes).unwrap();
            prop_assert!(Scan::parse(&changed).is_err());
        }
    }
}
