//! Money fields as written (`budget_usd`, `price_usd`): `12`, `12.50`, `"12"` or `"$12"` — a
//! number of dollars, a leading `$` allowed. Anything else is refused at the field with what
//! to write, never in serde's words.

use serde::Deserializer;
use serde::de::{Error, MapAccess, SeqAccess, Visitor};
use std::fmt;

/// What a money field takes, as the refusal says it.
const WANTED: &str = "an amount of dollars: write a number like 12 or 12.50 (\"$12\" is fine too)";

/// An optional amount of dollars (`None` when absent or null).
pub(crate) fn usd<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    d.deserialize_any(Dollars)
}

/// `12`, `12.50`, `$12`, `$12.50` (spaces around allowed): the number of dollars.
pub(crate) fn parse_usd(text: &str) -> Option<f64> {
    let t = text.trim();
    let t = t.strip_prefix('$').unwrap_or(t).trim_start();
    let (whole, cents) = t.split_once('.').unwrap_or((t, "0"));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    (digits(whole) && digits(cents)).then(|| t.parse().ok()).flatten()
}

struct Dollars;

fn refuse<E: Error>(written: impl fmt::Display) -> E {
    E::custom(format!("{written} is not {WANTED}"))
}

impl<'de> Visitor<'de> for Dollars {
    type Value = Option<f64>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(WANTED)
    }

    fn visit_unit<E: Error>(self) -> Result<Option<f64>, E> {
        Ok(None)
    }

    fn visit_none<E: Error>(self) -> Result<Option<f64>, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Option<f64>, D::Error> {
        d.deserialize_any(Dollars)
    }

    fn visit_u64<E: Error>(self, v: u64) -> Result<Option<f64>, E> {
        Ok(Some(v as f64))
    }

    fn visit_i64<E: Error>(self, v: i64) -> Result<Option<f64>, E> {
        Ok(Some(v as f64))
    }

    fn visit_u128<E: Error>(self, v: u128) -> Result<Option<f64>, E> {
        Ok(Some(v as f64))
    }

    fn visit_i128<E: Error>(self, v: i128) -> Result<Option<f64>, E> {
        Ok(Some(v as f64))
    }

    fn visit_f64<E: Error>(self, v: f64) -> Result<Option<f64>, E> {
        Ok(Some(v))
    }

    fn visit_str<E: Error>(self, v: &str) -> Result<Option<f64>, E> {
        parse_usd(v).map(Some).ok_or_else(|| refuse(format_args!("\"{v}\"")))
    }

    fn visit_bool<E: Error>(self, v: bool) -> Result<Option<f64>, E> {
        Err(refuse(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<Option<f64>, A::Error> {
        Err(refuse("a list"))
    }

    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<Option<f64>, A::Error> {
        Err(refuse("a mapping"))
    }
}

/// The schema of a money field: a number ≥ 0, or the text of one with an optional `$`.
pub(crate) fn usd_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "anyOf": [
            { "type": "number", "minimum": 0 },
            { "type": "string", "pattern": "^\\s*\\$?\\s*[0-9]+(\\.[0-9]+)?\\s*$" },
            { "type": "null" }
        ]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dollars_are_read_with_or_without_a_sign() {
        assert_eq!(parse_usd("$12"), Some(12.0));
        assert_eq!(parse_usd("12.50"), Some(12.5));
        assert_eq!(parse_usd(" $ 0.08 "), Some(0.08));
        for bad in [
            "", "$", "twelve", "12,50", "-3", "1e3", "inf", "NaN", "12.", ".5", "$$1",
        ] {
            assert_eq!(parse_usd(bad), None, "{bad}");
        }
    }
}
