//! A deserializer wrapper that reads a struct only from a JSON object.
//!
//! serde's derived structs also accept an array and fill their fields by position, so
//! `["Binjiang","EAST"]` would pass for `{"name":"Binjiang","region":"EAST"}`. The contract
//! names every member, so a wrong-typed body must be refused: this wrapper asks the inner
//! deserializer for a map whenever a struct is wanted, at every depth.

use serde::de::{
    self, DeserializeSeed, Deserializer, EnumAccess, MapAccess, SeqAccess, VariantAccess, Visitor,
};
use std::fmt;

pub struct Strict<D>(pub D);

struct StrictSeed<S>(S);

struct StrictVisitor<V>(V);

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for StrictSeed<S> {
    type Value = S::Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        self.0.deserialize(Strict(d))
    }
}

macro_rules! forward {
    ($($method:ident),* $(,)?) => {
        $(
            fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
                self.0.$method(StrictVisitor(visitor))
            }
        )*
    };
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for Strict<D> {
    type Error = D::Error;

    forward!(
        deserialize_any, deserialize_bool, deserialize_i8, deserialize_i16, deserialize_i32, deserialize_i64,
        deserialize_i128, deserialize_u8, deserialize_u16, deserialize_u32, deserialize_u64, deserialize_u128,
        deserialize_f32, deserialize_f64, deserialize_char, deserialize_str, deserialize_string, deserialize_bytes,
        deserialize_byte_buf, deserialize_option, deserialize_unit, deserialize_seq, deserialize_map,
        deserialize_identifier, deserialize_ignored_any,
    );

    fn deserialize_unit_struct<V: Visitor<'de>>(self, name: &'static str, visitor: V) -> Result<V::Value, Self::Error> {
        self.0.deserialize_unit_struct(name, StrictVisitor(visitor))
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, name: &'static str, visitor: V) -> Result<V::Value, Self::Error> {
        self.0.deserialize_newtype_struct(name, StrictVisitor(visitor))
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, Self::Error> {
        self.0.deserialize_tuple(len, StrictVisitor(visitor))
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.0.deserialize_tuple_struct(name, len, StrictVisitor(visitor))
    }

    /// The point of the wrapper: a struct comes from a map (a JSON object) only.
    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.0.deserialize_map(StrictVisitor(visitor))
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.0.deserialize_enum(name, variants, StrictVisitor(visitor))
    }
}

macro_rules! pass {
    ($($method:ident($ty:ty)),* $(,)?) => {
        $(
            fn $method<E: de::Error>(self, v: $ty) -> Result<Self::Value, E> {
                self.0.$method(v)
            }
        )*
    };
}

impl<'de, V: Visitor<'de>> Visitor<'de> for StrictVisitor<V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.expecting(f)
    }

    pass!(
        visit_bool(bool), visit_i8(i8), visit_i16(i16), visit_i32(i32), visit_i64(i64), visit_i128(i128),
        visit_u8(u8), visit_u16(u16), visit_u32(u32), visit_u64(u64), visit_u128(u128), visit_f32(f32),
        visit_f64(f64), visit_char(char), visit_str(&str), visit_borrowed_str(&'de str), visit_string(String),
        visit_bytes(&[u8]), visit_borrowed_bytes(&'de [u8]), visit_byte_buf(Vec<u8>),
    );

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        self.0.visit_none()
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        self.0.visit_unit()
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        self.0.visit_some(Strict(d))
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        self.0.visit_newtype_struct(Strict(d))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        self.0.visit_seq(StrictSeq(seq))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        self.0.visit_map(StrictMap(map))
    }

    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<Self::Value, A::Error> {
        self.0.visit_enum(StrictEnum(data))
    }
}

struct StrictSeq<A>(A);

impl<'de, A: SeqAccess<'de>> SeqAccess<'de> for StrictSeq<A> {
    type Error = A::Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, A::Error> {
        self.0.next_element_seed(StrictSeed(seed))
    }

    fn size_hint(&self) -> Option<usize> {
        self.0.size_hint()
    }
}

struct StrictMap<A>(A);

impl<'de, A: MapAccess<'de>> MapAccess<'de> for StrictMap<A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, A::Error> {
        self.0.next_key_seed(StrictSeed(seed))
    }

    fn next_value_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<T::Value, A::Error> {
        self.0.next_value_seed(StrictSeed(seed))
    }

    fn size_hint(&self) -> Option<usize> {
        self.0.size_hint()
    }
}

struct StrictEnum<A>(A);

impl<'de, A: EnumAccess<'de>> EnumAccess<'de> for StrictEnum<A> {
    type Error = A::Error;
    type Variant = StrictVariant<A::Variant>;

    fn variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<(T::Value, Self::Variant), A::Error> {
        let (value, variant) = self.0.variant_seed(StrictSeed(seed))?;
        Ok((value, StrictVariant(variant)))
    }
}

struct StrictVariant<A>(A);

impl<'de, A: VariantAccess<'de>> VariantAccess<'de> for StrictVariant<A> {
    type Error = A::Error;

    fn unit_variant(self) -> Result<(), A::Error> {
        self.0.unit_variant()
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, A::Error> {
        self.0.newtype_variant_seed(StrictSeed(seed))
    }

    fn tuple_variant<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, A::Error> {
        self.0.tuple_variant(len, StrictVisitor(visitor))
    }

    fn struct_variant<V: Visitor<'de>>(self, fields: &'static [&'static str], visitor: V) -> Result<V::Value, A::Error> {
        self.0.struct_variant(fields, StrictVisitor(visitor))
    }
}

/// Parses JSON into `T`, reading every struct from an object only.
pub fn from_slice<T: de::DeserializeOwned>(bytes: &[u8]) -> serde_json::Result<T> {
    let bytes = integer_zero(bytes);
    let mut d = serde_json::Deserializer::from_slice(&bytes);
    let value = T::deserialize(Strict(&mut d))?;
    d.end()?;
    Ok(value)
}

/// `-0` is an integer, zero (the contract says so), but serde_json reads it as the float `-0.0`,
/// which an integer field refuses as a fraction. Outside strings, each `-0` token not followed
/// by a fraction or an exponent becomes ` 0`, so the business rule for zero answers. Bodies
/// without one (nearly all) are not copied.
pub fn integer_zero(bytes: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    if !bytes.windows(2).any(|w| w == b"-0") {
        return std::borrow::Cow::Borrowed(bytes);
    }
    let mut out = bytes.to_vec();
    let (mut in_string, mut escaped) = (false, false);
    for i in 0..out.len() {
        let b = out[i];
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'-' if out.get(i + 1) == Some(&b'0') => {
                let next = out.get(i + 2).copied();
                let is_whole_zero = !matches!(next, Some(b'.' | b'e' | b'E' | b'0'..=b'9'));
                let starts_token = i == 0 || matches!(out[i - 1], b':' | b',' | b'[' | b' ' | b'\t' | b'\n' | b'\r');
                if is_whole_zero && starts_token {
                    out[i] = b' ';
                }
            }
            _ => {}
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Refuses a JSON document with a member twice in one object, at any depth. Typed bodies get
/// this from serde (`duplicate field`); a route that keeps parts of its body as raw JSON (the
/// entries of a batch, answered one by one) checks the whole body with this first, so a
/// duplicate anywhere is the whole request's 400, as the contract says.
pub fn no_duplicate_members(bytes: &[u8]) -> serde_json::Result<()> {
    struct Members;
    impl<'de> Visitor<'de> for Members {
        type Value = ();
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("any JSON value")
        }
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
            Ok(())
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
            Ok(())
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
            Ok(())
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
            Ok(())
        }
        fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
            Ok(())
        }
        fn visit_unit<E: de::Error>(self) -> Result<(), E> {
            Ok(())
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
            while seq.next_element_seed(MembersSeed)?.is_some() {}
            Ok(())
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            let mut seen: Vec<String> = Vec::new();
            while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                if seen.iter().any(|k| *k == *key) {
                    return Err(de::Error::custom(format_args!("duplicate member `{key}`")));
                }
                seen.push(key.into_owned());
                map.next_value_seed(MembersSeed)?;
            }
            Ok(())
        }
    }
    struct MembersSeed;
    impl<'de> DeserializeSeed<'de> for MembersSeed {
        type Value = ();
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_any(Members)
        }
    }
    let mut d = serde_json::Deserializer::from_slice(bytes);
    MembersSeed.deserialize(&mut d)?;
    d.end()
}

#[cfg(test)]
mod tests {
    use super::from_slice;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Line {
        sku: String,
        amount: i64,
        unit: Option<Kind>,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(rename_all = "lowercase")]
    enum Kind {
        Each,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Batch {
        lines: Vec<Line>,
    }

    #[test]
    fn objects_parse_and_arrays_in_their_place_do_not() {
        let ok: Batch = from_slice(br#"{"lines":[{"sku":"A","amount":1,"unit":"each"}]}"#).unwrap();
        assert_eq!(ok.lines[0], Line { sku: "A".into(), amount: 1, unit: Some(Kind::Each) });
        assert!(from_slice::<Batch>(br#"[[{"sku":"A","amount":1}]]"#).is_err());
        assert!(from_slice::<Batch>(br#"{"lines":[["A",1,null]]}"#).is_err());
    }

    #[test]
    fn minus_zero_is_an_integer_zero_and_minus_zero_point_zero_is_not() {
        let zero: Batch = from_slice(br#"{"lines":[{"sku":"-0","amount":-0}]}"#).unwrap();
        assert_eq!(zero.lines[0], Line { sku: "-0".into(), amount: 0, unit: None });
        let zero: Batch = from_slice(b"{\"lines\":[{\"amount\":\n-0 ,\"sku\":\"a\\\"-0\"}]}").unwrap();
        assert_eq!(zero.lines[0].amount, 0);
        assert_eq!(zero.lines[0].sku, "a\"-0");
        for fraction in [&br#"{"lines":[{"sku":"A","amount":-0.0}]}"#[..], br#"{"lines":[{"sku":"A","amount":-0e0}]}"#, br#"{"lines":[{"sku":"A","amount":-01}]}"#] {
            assert!(from_slice::<Batch>(fraction).is_err(), "{}", String::from_utf8_lossy(fraction));
        }
    }

    #[test]
    fn a_duplicate_member_at_any_depth_is_found() {
        use super::no_duplicate_members;
        assert!(no_duplicate_members(br#"{"sales":[{"k":1,"a":{"b":[{"c":1,"d":2}]}}]}"#).is_ok());
        assert!(no_duplicate_members(br#"{"sales":[{"k":1},{"k":2}]}"#).is_ok(), "the same name in two objects");
        for dup in [&br#"{"a":1,"a":1}"#[..], br#"{"sales":[{"k":1,"k":2}]}"#, br#"[{"x":{"y":[{"z":1,"z":1}]}}]"#, br#"{"a\u0062":1,"ab":2}"#] {
            let e = no_duplicate_members(dup).unwrap_err();
            assert!(e.to_string().contains("duplicate member"), "{e}");
        }
        assert!(no_duplicate_members(&[b'['; 100_000]).is_err(), "too deep is an error, not a stack overflow");
    }

    #[test]
    fn the_usual_refusals_still_hold() {
        assert!(from_slice::<Batch>(br#"{"lines":[],"lines":[]}"#).is_err());
        assert!(from_slice::<Batch>(br#"{"lines":[], "x": 1}"#).is_err());
        assert!(from_slice::<Batch>(br#"{"lines":[{"sku":"A","amount":1.5}]}"#).is_err());
        assert!(from_slice::<Batch>(br#"{"lines":[{"sku":"A","amount":1e3}]}"#).is_err());
        assert!(from_slice::<Batch>(br#"{"lines":[]} trailing"#).is_err());
        assert!(from_slice::<Batch>(br#"{"lines":[{"sku":"A","amount":1,"unit":null}]}"#).is_ok());
    }
}
