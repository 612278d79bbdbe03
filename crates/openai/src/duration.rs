//! Durations in config files: a number of seconds (`30`, `0.25`) or a string with a unit
//! (`"250ms"`, `"30s"`, `"2m"`, `"1h"`), so a YAML file reads `timeout: 30s` rather than
//! serde's `{secs, nanos}` pair.

use serde::{Deserialize, Deserializer, Serializer};
use std::time::Duration;

/// Parses `"250ms"`, `"30s"`, `"2m"`, `"1h"` or a bare number of seconds.
pub fn parse(text: &str) -> Option<Duration> {
    let text = text.trim();
    let (number, scale) = if let Some(n) = text.strip_suffix("ms") {
        (n, 1e-3)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = text.strip_suffix('m') {
        (n, 60.0)
    } else if let Some(n) = text.strip_suffix('h') {
        (n, 3600.0)
    } else {
        (text, 1.0)
    };
    let seconds = number.trim().parse::<f64>().ok()? * scale;
    Duration::try_from_secs_f64(seconds).ok()
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Repr {
    Seconds(f64),
    Text(String),
}

/// Serde `deserialize_with` for a [`Duration`] written as seconds or with a unit.
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    let parsed = match Repr::deserialize(deserializer)? {
        Repr::Seconds(s) => Duration::try_from_secs_f64(s).ok(),
        Repr::Text(t) => parse(&t),
    };
    parsed.ok_or_else(|| {
        serde::de::Error::custom(
            "expected a duration: seconds (30, 0.5) or \"250ms\", \"30s\", \"2m\", \"1h\"",
        )
    })
}

/// Serde `serialize_with` writing a [`Duration`] as a number of seconds.
pub fn serialize<S: Serializer>(value: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_f64(value.as_secs_f64())
}

/// A duration as a setting: `30s`, `250ms`, `2m` or seconds, on the command line
/// ([`FromStr`](std::str::FromStr)) and in YAML alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span(pub Duration);

impl std::str::FromStr for Span {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse(s).map(Span).ok_or_else(|| {
            format!("`{s}` is not a duration: seconds (30, 0.5) or 250ms, 30s, 2m, 1h")
        })
    }
}

impl<'de> Deserialize<'de> for Span {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserialize(deserializer).map(Span)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_and_bare_seconds_parse() {
        assert_eq!(parse("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse("30s"), Some(Duration::from_secs(30)));
        assert_eq!(parse("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse("1h"), Some(Duration::from_secs(3600)));
        assert_eq!(parse("1.5"), Some(Duration::from_millis(1500)));
        assert_eq!(parse("-1s"), None);
        assert_eq!(parse("soon"), None);
    }
}
