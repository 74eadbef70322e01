//! Floats in saved state, written as strings.
//!
//! The state goes through the study's storage as JSON text, and serde_json's default float
//! parser is only best-effort: a mean or covariance entry may come back one ulp off, and
//! the resumed search would then drift from the uninterrupted one. Rust's own float
//! formatting is shortest-round-trip and its parser correctly rounded, so the decimal
//! string of an `f64` reads back bit for bit (non-finite values included).

use serde::{Deserialize, Deserializer, Serializer};

fn parse<E: serde::de::Error>(s: &str) -> Result<f64, E> {
    s.parse::<f64>()
        .map_err(|e| E::custom(format!("`{s}` is not a float: {e}")))
}

/// One `f64` as a string.
pub mod float {
    use super::*;

    /// Writes `x` as its shortest round-trip decimal string.
    pub fn serialize<S: Serializer>(x: &f64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&x.to_string())
    }

    /// Reads a float written by [`serialize`].
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        parse(&String::deserialize(d)?)
    }
}

/// A `Vec<f64>` as a list of strings.
pub mod floats {
    use super::*;

    /// Writes each element as its shortest round-trip decimal string.
    pub fn serialize<S: Serializer>(xs: &[f64], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(xs.iter().map(|x| x.to_string()))
    }

    /// Reads floats written by [`serialize`].
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f64>, D::Error> {
        Vec::<String>::deserialize(d)?
            .iter()
            .map(|s| parse::<D::Error>(s))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct S {
        #[serde(with = "super::float")]
        x: f64,
        #[serde(with = "super::floats")]
        v: Vec<f64>,
    }

    #[test]
    fn floats_round_trip_bit_for_bit_through_text() {
        let mut rng = kiln_core::Rng::new(1);
        for _ in 0..2000 {
            let s = S {
                x: rng.normal() * 1e-7,
                v: vec![
                    rng.uniform(),
                    f64::from_bits(rng.next_u64() >> 2),
                    f64::INFINITY,
                ],
            };
            let text = serde_json::to_string(&s).expect("serialise");
            let back: S = serde_json::from_str(&text).expect("deserialise");
            assert_eq!(s.x.to_bits(), back.x.to_bits());
            for (a, b) in s.v.iter().zip(&back.v) {
                assert_eq!(a.to_bits(), b.to_bits());
            }
        }
    }
}
