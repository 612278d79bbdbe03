//! [`RateLimits`]: the budget a provider grants, as named tiers or custom values.

use serde::{Deserialize, Serialize};
use std::str::FromStr;
use vec2prompt_core::{Error, Result};

/// Request and token budgets of one account at one provider. `None` means no limit of that
/// kind. In a config file either a tier name (`limits: tier_2`), custom values
/// (`limits: {requests_per_minute: 60, max_concurrent: 2}`) or a tier with overrides
/// (`limits: {tier: tier_2, max_concurrent: 4}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(try_from = "LimitsRepr")]
pub struct RateLimits {
    /// Requests started in any sliding 60-second window.
    pub requests_per_minute: Option<u32>,
    /// Requests started in any sliding 24-hour window.
    pub requests_per_day: Option<u32>,
    /// Tokens (prompt + completion, estimated up front and corrected from the response's
    /// `usage`) in any sliding 60-second window.
    pub tokens_per_minute: Option<u64>,
    /// Requests in flight at once.
    pub max_concurrent: Option<usize>,
}

/// vec2prompt's default tiers. They mirror the shape of common providers' usage tiers
/// (OpenAI's tier 1…5 for its mid-size models) but are vec2prompt's own defaults, not a
/// copy of any provider's current table: set custom values when your account differs.
pub const TIERS: [(&str, RateLimits); 5] = [
    ("tier_1", RateLimits::new(500, Some(10_000), 200_000, 5)),
    (
        "tier_2",
        RateLimits::new(5_000, Some(100_000), 2_000_000, 10),
    ),
    ("tier_3", RateLimits::new(5_000, None, 4_000_000, 20)),
    ("tier_4", RateLimits::new(10_000, None, 10_000_000, 35)),
    ("tier_5", RateLimits::new(30_000, None, 150_000_000, 50)),
];

impl RateLimits {
    const fn new(rpm: u32, rpd: Option<u32>, tpm: u64, concurrent: usize) -> Self {
        Self {
            requests_per_minute: Some(rpm),
            requests_per_day: rpd,
            tokens_per_minute: Some(tpm),
            max_concurrent: Some(concurrent),
        }
    }

    /// No limit of any kind (a local server, or a provider that enforces its own).
    pub const fn unlimited() -> Self {
        Self {
            requests_per_minute: None,
            requests_per_day: None,
            tokens_per_minute: None,
            max_concurrent: None,
        }
    }

    /// The named tier (`tier_1` … `tier_5`; `tier-3` and `TIER_3` are accepted too).
    pub fn tier(name: &str) -> Result<Self> {
        let wanted = name.trim().to_ascii_lowercase().replace('-', "_");
        TIERS
            .iter()
            .find(|(n, _)| *n == wanted)
            .map(|(_, limits)| *limits)
            .ok_or_else(|| {
                let names: Vec<&str> = TIERS.iter().map(|(n, _)| *n).collect();
                Error::invalid(
                    "limits",
                    format!(
                        "unknown tier `{name}`: use one of {} or custom values",
                        names.join(", ")
                    ),
                )
            })
    }

    /// Rejects zero budgets, which would block every request forever.
    pub fn validate(&self) -> Result<()> {
        let zero = [
            ("requests_per_minute", self.requests_per_minute == Some(0)),
            ("requests_per_day", self.requests_per_day == Some(0)),
            ("tokens_per_minute", self.tokens_per_minute == Some(0)),
            ("max_concurrent", self.max_concurrent == Some(0)),
        ];
        match zero.iter().find(|(_, is_zero)| *is_zero) {
            Some((name, _)) => Err(Error::invalid(
                *name,
                "must be at least 1 (leave it out for no limit)",
            )),
            None => Ok(()),
        }
    }
}

impl FromStr for RateLimits {
    type Err = Error;

    /// Parses a tier name, as [`RateLimits::tier`].
    fn from_str(s: &str) -> Result<Self> {
        Self::tier(s)
    }
}

/// What a config file may hold: a tier name, or fields with an optional base tier.
#[derive(Deserialize)]
#[serde(untagged)]
enum LimitsRepr {
    Tier(String),
    Custom(CustomLimits),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CustomLimits {
    #[serde(default)]
    tier: Option<String>,
    #[serde(default)]
    requests_per_minute: Option<u32>,
    #[serde(default)]
    requests_per_day: Option<u32>,
    #[serde(default)]
    tokens_per_minute: Option<u64>,
    #[serde(default)]
    max_concurrent: Option<usize>,
}

impl TryFrom<LimitsRepr> for RateLimits {
    type Error = Error;

    fn try_from(repr: LimitsRepr) -> Result<Self> {
        let limits = match repr {
            LimitsRepr::Tier(name) => Self::tier(&name)?,
            LimitsRepr::Custom(c) => {
                let base = match &c.tier {
                    Some(name) => Self::tier(name)?,
                    None => Self::unlimited(),
                };
                Self {
                    requests_per_minute: c.requests_per_minute.or(base.requests_per_minute),
                    requests_per_day: c.requests_per_day.or(base.requests_per_day),
                    tokens_per_minute: c.tokens_per_minute.or(base.tokens_per_minute),
                    max_concurrent: c.max_concurrent.or(base.max_concurrent),
                }
            }
        };
        limits.validate()?;
        Ok(limits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tier_table_matches_the_documented_defaults() {
        let t1 = RateLimits::tier("tier_1").unwrap();
        assert_eq!(t1.requests_per_minute, Some(500));
        assert_eq!(t1.requests_per_day, Some(10_000));
        assert_eq!(t1.tokens_per_minute, Some(200_000));
        assert_eq!(t1.max_concurrent, Some(5));
        let t2 = RateLimits::tier("tier_2").unwrap();
        assert_eq!(
            (
                t2.requests_per_minute,
                t2.requests_per_day,
                t2.tokens_per_minute,
                t2.max_concurrent
            ),
            (Some(5_000), Some(100_000), Some(2_000_000), Some(10))
        );
        let t3 = RateLimits::tier("TIER-3").unwrap();
        assert_eq!(t3.requests_per_day, None);
        assert_eq!(t3.tokens_per_minute, Some(4_000_000));
        assert_eq!(t3.max_concurrent, Some(20));
        let t4: RateLimits = "tier_4".parse().unwrap();
        assert_eq!(t4.requests_per_minute, Some(10_000));
        assert_eq!(t4.max_concurrent, Some(35));
        let t5 = RateLimits::tier("tier_5").unwrap();
        assert_eq!(t5.requests_per_minute, Some(30_000));
        assert_eq!(t5.tokens_per_minute, Some(150_000_000));
        assert_eq!(t5.max_concurrent, Some(50));
        // Budgets only grow with the tier.
        for pair in TIERS.windows(2) {
            let (a, b) = (pair[0].1, pair[1].1);
            assert!(a.requests_per_minute <= b.requests_per_minute);
            assert!(a.tokens_per_minute < b.tokens_per_minute);
            assert!(a.max_concurrent < b.max_concurrent);
        }
    }

    #[test]
    fn unknown_tier_lists_the_valid_names() {
        let e = RateLimits::tier("tier_9").unwrap_err().to_string();
        assert!(e.contains("tier_1") && e.contains("tier_5"), "{e}");
    }

    #[test]
    fn config_forms_deserialize() {
        let t: RateLimits = serde_json::from_str(r#""tier_2""#).unwrap();
        assert_eq!(t, RateLimits::tier("tier_2").unwrap());
        let c: RateLimits =
            serde_json::from_str(r#"{"requests_per_minute": 60, "max_concurrent": 2}"#).unwrap();
        assert_eq!(c.requests_per_minute, Some(60));
        assert_eq!(c.tokens_per_minute, None);
        let o: RateLimits =
            serde_json::from_str(r#"{"tier": "tier_2", "max_concurrent": 4}"#).unwrap();
        assert_eq!(o.max_concurrent, Some(4));
        assert_eq!(o.requests_per_minute, Some(5_000));
        assert!(serde_json::from_str::<RateLimits>(r#"{"max_concurrent": 0}"#).is_err());
        assert!(serde_json::from_str::<RateLimits>(r#""gold""#).is_err());
        // What serializes reads back.
        let back: RateLimits = serde_json::from_str(&serde_json::to_string(&o).unwrap()).unwrap();
        assert_eq!(back, o);
    }
}
