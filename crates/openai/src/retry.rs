//! [`RetryPolicy`]: the one place that decides whether and when a failed attempt is tried
//! again. Both clients go through [`RetryPolicy::run`].

use crate::RateLimiter;
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant, SystemTime};
use vec2prompt_core::{Error, Result};

/// Exponential backoff with jitter, bounded by attempts and by a total time budget.
///
/// Transient failures are retried: timeouts, refused or dropped connections, malformed
/// JSON, HTTP 408, 429 and 5xx. A `Retry-After` (or OpenAI's `retry-after-ms`) header on
/// 429/5xx replaces the computed backoff. Other 4xx are the caller's or the
/// configuration's fault and fail at once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetryPolicy {
    /// Most attempts per request, the first included (1 = never retry).
    pub max_attempts: u32,
    /// Backoff before the second attempt; it doubles with each further attempt.
    #[serde(with = "crate::duration")]
    pub base_delay: Duration,
    /// Longest computed backoff (a server's `Retry-After` may ask for more and is obeyed).
    #[serde(with = "crate::duration")]
    pub max_delay: Duration,
    /// Share of each backoff drawn at random, in [0, 1]: the delay is uniform in
    /// `[(1 - jitter) · d, d]`, so clients that failed together do not retry together.
    pub jitter: f64,
    /// Budget of one request across all its attempts and waits: no retry starts (and no
    /// `Retry-After` is waited for) past it. Each attempt's own limit is
    /// [`RemoteConfig::timeout`](crate::RemoteConfig::timeout).
    #[serde(with = "crate::duration")]
    pub timeout: Duration,
}

impl Default for RetryPolicy {
    /// 5 attempts, 0.5 s doubling to at most 30 s, half jitter, 10 minutes in all.
    fn default() -> Self {
        Self {
            max_attempts: 5,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            jitter: 0.5,
            timeout: Duration::from_secs(600),
        }
    }
}

/// What one attempt came to.
#[derive(Debug)]
pub enum Outcome<T> {
    /// Success.
    Done(T),
    /// A transient failure worth another attempt.
    Retry(Transient),
    /// A failure another attempt would repeat.
    Fail(Error),
}

/// A failure that may pass.
#[derive(Debug, Clone, PartialEq)]
pub struct Transient {
    /// What happened, for the error if no attempt succeeds.
    pub reason: String,
    /// How long the server asked us to wait, if it did.
    pub retry_after: Option<Duration>,
}

impl Transient {
    /// A transient failure without a server-requested delay.
    pub fn new(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
            retry_after: None,
        }
    }
}

impl RetryPolicy {
    /// Rejects settings that would never attempt anything or never wait sanely.
    pub fn validate(&self) -> Result<()> {
        if self.max_attempts == 0 {
            return Err(Error::invalid("retry.max_attempts", "must be at least 1"));
        }
        if !(0.0..=1.0).contains(&self.jitter) {
            return Err(Error::invalid("retry.jitter", "must be in [0, 1]"));
        }
        if self.max_delay < self.base_delay {
            return Err(Error::invalid(
                "retry.max_delay",
                "must not be shorter than base_delay",
            ));
        }
        Ok(())
    }

    /// Backoff after failed attempt number `attempt` (1-based) before jitter:
    /// `base_delay · 2^(attempt-1)`, at most `max_delay`.
    pub fn backoff_ceiling(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1));
        self.base_delay.saturating_mul(factor).min(self.max_delay)
    }

    /// Backoff after failed attempt `attempt` with the jitter drawn as `unit` in [0, 1):
    /// between `(1 - jitter) · ceiling` and `ceiling`.
    pub fn backoff_with(&self, attempt: u32, unit: f64) -> Duration {
        let jitter = self.jitter.clamp(0.0, 1.0) * unit.clamp(0.0, 1.0);
        self.backoff_ceiling(attempt).mul_f64(1.0 - jitter)
    }

    /// Backoff after failed attempt `attempt`, jitter drawn at random.
    pub fn backoff(&self, attempt: u32) -> Duration {
        self.backoff_with(attempt, rand::random::<f64>())
    }

    /// Runs `attempt` (given the 1-based attempt number) until it succeeds, fails for good,
    /// runs out of attempts or would run past `timeout`. Between attempts it sleeps the
    /// backoff, or the server's `Retry-After`, during which `limiter` also holds back every
    /// other request. `backend` names the service in the final error.
    pub fn run<T>(
        &self,
        backend: &str,
        limiter: &RateLimiter,
        mut attempt: impl FnMut(u32) -> Outcome<T>,
    ) -> Result<T> {
        let started = Instant::now();
        let max_attempts = self.max_attempts.max(1);
        let mut number = 1;
        loop {
            let transient = match attempt(number) {
                Outcome::Done(value) => return Ok(value),
                Outcome::Fail(error) => return Err(error),
                Outcome::Retry(transient) => transient,
            };
            if number >= max_attempts {
                return Err(Error::backend(
                    backend,
                    format!(
                        "gave up after {number} attempt{}: {}",
                        if number == 1 { "" } else { "s" },
                        transient.reason
                    ),
                ));
            }
            let delay = match transient.retry_after {
                Some(asked) => asked,
                None => self.backoff(number),
            };
            if started.elapsed() + delay > self.timeout {
                return Err(Error::backend(
                    backend,
                    format!(
                        "gave up after {number} attempt{} because waiting {delay:?} more would pass \
                         the retry budget of {:?}: {}",
                        if number == 1 { "" } else { "s" },
                        self.timeout,
                        transient.reason
                    ),
                ));
            }
            if let Some(asked) = transient.retry_after {
                limiter.pause_for(asked);
            }
            limiter.note_retry();
            std::thread::sleep(delay);
            number += 1;
        }
    }
}

/// The delay a response asks for: `retry-after-ms` (OpenAI's, milliseconds) if present,
/// else `Retry-After` as delay-seconds or an HTTP-date (relative to `now`; a date in the
/// past means no wait). `None` when neither header is present or parseable.
pub fn parse_retry_after(
    retry_after_ms: Option<&str>,
    retry_after: Option<&str>,
    now: SystemTime,
) -> Option<Duration> {
    if let Some(ms) = retry_after_ms.and_then(|v| v.trim().parse::<f64>().ok())
        && let Ok(d) = Duration::try_from_secs_f64(ms / 1000.0)
    {
        return Some(d);
    }
    let value = retry_after?.trim();
    if let Ok(seconds) = value.parse::<f64>() {
        return Duration::try_from_secs_f64(seconds).ok();
    }
    let date = httpdate::parse_http_date(value).ok()?;
    Some(date.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RateLimits;
    use std::cell::Cell;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn retry_after_seconds_dates_and_milliseconds() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(parse_retry_after(None, Some("3"), now), Some(3000 * MS));
        assert_eq!(parse_retry_after(None, Some(" 0.25 "), now), Some(250 * MS));
        let later = httpdate::fmt_http_date(now + Duration::from_secs(7));
        assert_eq!(
            parse_retry_after(None, Some(&later), now),
            Some(Duration::from_secs(7))
        );
        let earlier = httpdate::fmt_http_date(now - Duration::from_secs(7));
        assert_eq!(
            parse_retry_after(None, Some(&earlier), now),
            Some(Duration::ZERO)
        );
        assert_eq!(
            parse_retry_after(Some("1500"), Some("9"), now),
            Some(1500 * MS)
        );
        assert_eq!(
            parse_retry_after(Some("junk"), Some("2"), now),
            Some(2000 * MS)
        );
        assert_eq!(parse_retry_after(None, Some("-1"), now), None);
        assert_eq!(parse_retry_after(None, Some("tomorrow"), now), None);
        assert_eq!(parse_retry_after(None, None, now), None);
    }

    #[test]
    fn backoff_doubles_within_bounds() {
        let p = RetryPolicy {
            max_attempts: 10,
            base_delay: 100 * MS,
            max_delay: 1000 * MS,
            jitter: 0.5,
            timeout: Duration::from_secs(60),
        };
        assert_eq!(p.backoff_ceiling(1), 100 * MS);
        assert_eq!(p.backoff_ceiling(2), 200 * MS);
        assert_eq!(p.backoff_ceiling(4), 800 * MS);
        assert_eq!(p.backoff_ceiling(5), 1000 * MS);
        assert_eq!(p.backoff_ceiling(100), 1000 * MS);
        assert_eq!(p.backoff_with(3, 0.0), 400 * MS);
        assert_eq!(p.backoff_with(3, 1.0), 200 * MS);
        for attempt in 1..12 {
            for _ in 0..50 {
                let d = p.backoff(attempt);
                let ceiling = p.backoff_ceiling(attempt);
                assert!(d <= ceiling && d >= ceiling / 2, "{attempt}: {d:?}");
            }
        }
    }

    fn quick(max_attempts: u32) -> RetryPolicy {
        RetryPolicy {
            max_attempts,
            base_delay: 5 * MS,
            max_delay: 20 * MS,
            jitter: 0.0,
            timeout: Duration::from_secs(5),
        }
    }

    #[test]
    fn run_retries_transient_failures_up_to_the_bound() {
        let limiter = RateLimiter::new(RateLimits::unlimited());
        let calls = Cell::new(0);
        let r: Result<()> = quick(3).run("svc", &limiter, |n| {
            calls.set(n);
            Outcome::Retry(Transient::new("flaky"))
        });
        assert_eq!(calls.get(), 3);
        let e = r.unwrap_err().to_string();
        assert!(
            e.contains("svc") && e.contains("3 attempts") && e.contains("flaky"),
            "{e}"
        );
        assert_eq!(limiter.stats().retries, 2);

        let ok = quick(3).run("svc", &limiter, |n| {
            if n < 2 {
                Outcome::Retry(Transient::new("once"))
            } else {
                Outcome::Done(n)
            }
        });
        assert_eq!(ok.unwrap(), 2);
    }

    #[test]
    fn permanent_failures_are_not_retried() {
        let limiter = RateLimiter::new(RateLimits::unlimited());
        let calls = Cell::new(0);
        let r: Result<()> = quick(5).run("svc", &limiter, |_| {
            calls.set(calls.get() + 1);
            Outcome::Fail(Error::invalid("input", "bad"))
        });
        assert_eq!(calls.get(), 1);
        assert!(matches!(r, Err(Error::InvalidInput { .. })));
    }

    #[test]
    fn retry_after_beyond_the_budget_fails_without_waiting() {
        let limiter = RateLimiter::new(RateLimits::unlimited());
        let policy = RetryPolicy {
            timeout: 100 * MS,
            ..quick(5)
        };
        let t = Instant::now();
        let r: Result<()> = policy.run("svc", &limiter, |_| {
            Outcome::Retry(Transient {
                reason: "HTTP 429".into(),
                retry_after: Some(Duration::from_secs(3600)),
            })
        });
        assert!(t.elapsed() < 50 * MS);
        let e = r.unwrap_err().to_string();
        assert!(e.contains("retry budget") && e.contains("HTTP 429"), "{e}");
    }

    #[test]
    fn policy_validation() {
        assert!(RetryPolicy::default().validate().is_ok());
        assert!(quick(0).validate().is_err());
        let p = RetryPolicy {
            jitter: 1.5,
            ..quick(1)
        };
        assert!(p.validate().is_err());
    }
}
