//! [`RateLimiter`]: one budget shared by every outbound request of a process.
//!
//! Sliding windows (a log of the requests started in the last minute and the last day)
//! rather than token buckets: a provider counts what was sent in the trailing window, so
//! the log says exactly when the next request fits. Waiters are served first come, first
//! served (a ticket queue), so a large request is not starved by a stream of small ones.

use crate::RateLimits;
use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// A rough token count of `text` for budgeting before the response's `usage` is known:
/// one token per 4 bytes, the usual rule of thumb for English with BPE vocabularies.
pub fn estimate_tokens(text: &str) -> u64 {
    (text.len() as u64).div_ceil(4) + 1
}

/// Counters since the limiter was created, for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LimiterStats {
    /// Requests admitted (each HTTP attempt counts, retries included).
    pub requests: u64,
    /// Attempts that failed transiently and were retried.
    pub retries: u64,
    /// Admissions that had to wait for a slot or a budget.
    pub waits: u64,
    /// Total time admissions spent waiting.
    pub wait_time: Duration,
    /// Tokens used, as reported by responses (or estimated where a response had no usage).
    pub tokens: u64,
    /// Requests in flight now.
    pub in_flight: usize,
}

/// One request in the minute window.
#[derive(Debug)]
struct Entry {
    /// When it was admitted.
    at: Instant,
    /// Its permit's id, to correct `tokens` once the response says what was used.
    id: u64,
    /// Tokens charged: the estimate until corrected.
    tokens: u64,
}

#[derive(Debug, Default)]
struct State {
    /// Next ticket handed to a caller of `acquire`.
    next_ticket: u64,
    /// Ticket allowed to be admitted next.
    serving: u64,
    /// Next permit id.
    next_id: u64,
    /// Permits alive.
    in_flight: usize,
    /// Requests of the last minute (only kept when a per-minute limit exists).
    minute: VecDeque<Entry>,
    /// Sum of `minute[..].tokens`.
    minute_tokens: u64,
    /// Admission times of the last day (only kept when a daily limit exists).
    day: VecDeque<Instant>,
    /// No admissions before this instant (a server's `Retry-After`).
    paused_until: Option<Instant>,
    /// Counters.
    stats: LimiterStats,
}

/// Why an admission has to wait.
enum Blocked {
    /// Until this instant (a window frees budget, or a pause ends).
    Until(Instant),
    /// Until a permit is dropped.
    Slot,
}

/// Shared request/token budget. Create one per process (or per provider account), wrap it
/// in an `Arc`, and hand it to every client: `OpenAiEmbedder` and `OpenAiLlm` then draw from
/// the same budget.
#[derive(Debug)]
pub struct RateLimiter {
    /// The budgets enforced.
    limits: RateLimits,
    /// Length of the "minute" window (60 s; shorter in tests).
    minute: Duration,
    /// Length of the "day" window (24 h; shorter in tests).
    day: Duration,
    /// Everything that changes.
    state: Mutex<State>,
    /// Signalled whenever a permit is admitted or dropped.
    changed: Condvar,
}

/// A held request slot. Dropping it frees the concurrency slot; the request stays counted in
/// the windows until it ages out.
#[derive(Debug)]
pub struct Permit<'a> {
    /// The limiter that admitted it.
    limiter: &'a RateLimiter,
    /// Its entry in the minute window.
    id: u64,
    /// Tokens charged on admission.
    estimated_tokens: u64,
}

/// How much longer than the provider's the client's windows are. A provider counts a
/// request when it arrives, a little after it was sent, and arrival delays vary: with
/// windows of exactly 60 s, a request sent just as the oldest one leaves the client's
/// window can arrive while that one, having arrived late itself, still counts at the
/// provider, and is refused with 429. Half a second costs under 1% of the rate.
pub const WINDOW_MARGIN: Duration = Duration::from_millis(500);

impl RateLimiter {
    /// A limiter enforcing `limits` over sliding windows of a minute and a day, each
    /// [`WINDOW_MARGIN`] longer than the provider's.
    pub fn new(limits: RateLimits) -> Self {
        Self::with_windows(
            limits,
            Duration::from_secs(60) + WINDOW_MARGIN,
            Duration::from_secs(86_400) + WINDOW_MARGIN,
        )
    }

    /// A limiter whose "minute" and "day" windows have other lengths: for providers that
    /// count over other periods, and for tests that cannot wait a minute.
    pub fn with_windows(limits: RateLimits, minute: Duration, day: Duration) -> Self {
        Self {
            limits,
            minute,
            day,
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
        }
    }

    /// The budgets enforced.
    pub fn limits(&self) -> &RateLimits {
        &self.limits
    }

    /// Waits until a request estimated at `estimated_tokens` fits every budget, then
    /// admits it. An estimate above `tokens_per_minute` is charged as the whole minute's
    /// budget (it waits for an empty window rather than forever). When the daily budget is
    /// spent this blocks until the oldest request of the day ages out.
    pub fn acquire(&self, estimated_tokens: u64) -> Permit<'_> {
        let charge = match self.limits.tokens_per_minute {
            Some(tpm) => estimated_tokens.min(tpm),
            None => estimated_tokens,
        };
        let started = Instant::now();
        let mut state = self.lock();
        let ticket = state.next_ticket;
        state.next_ticket += 1;
        let mut waited = false;
        loop {
            let now = Instant::now();
            let blocked = if state.serving == ticket {
                self.prune(&mut state, now);
                self.blocked(&state, now, charge)
            } else {
                Some(Blocked::Slot)
            };
            match blocked {
                None => break,
                Some(Blocked::Slot) => {
                    waited = true;
                    state = self
                        .changed
                        .wait(state)
                        .unwrap_or_else(PoisonError::into_inner);
                }
                Some(Blocked::Until(at)) => {
                    waited = true;
                    let timeout = at.saturating_duration_since(now);
                    state = self
                        .changed
                        .wait_timeout(state, timeout)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0;
                }
            }
        }
        let now = Instant::now();
        let id = state.next_id;
        state.next_id += 1;
        state.serving += 1;
        state.in_flight += 1;
        if self.limits.requests_per_minute.is_some() || self.limits.tokens_per_minute.is_some() {
            state.minute.push_back(Entry {
                at: now,
                id,
                tokens: charge,
            });
            state.minute_tokens += charge;
        }
        if self.limits.requests_per_day.is_some() {
            state.day.push_back(now);
        }
        state.stats.requests += 1;
        state.stats.in_flight = state.in_flight;
        if waited {
            state.stats.waits += 1;
            state.stats.wait_time += started.elapsed();
        }
        drop(state);
        // The next ticket may fit right away.
        self.changed.notify_all();
        Permit {
            limiter: self,
            id,
            estimated_tokens: charge,
        }
    }

    /// Holds back every admission for `delay` from now (a server said `Retry-After`: the
    /// whole account is throttled, not just the request that saw it).
    pub fn pause_for(&self, delay: Duration) {
        let until = Instant::now() + delay;
        let mut state = self.lock();
        state.paused_until = Some(state.paused_until.map_or(until, |p| p.max(until)));
    }

    /// Counts one retried attempt (called by the retry policy).
    pub fn note_retry(&self) {
        self.lock().stats.retries += 1;
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> LimiterStats {
        self.lock().stats
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves the counters consistent enough to go on.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Drops window entries older than their window.
    fn prune(&self, state: &mut State, now: Instant) {
        while let Some(front) = state.minute.front() {
            if now.saturating_duration_since(front.at) < self.minute {
                break;
            }
            state.minute_tokens -= front.tokens;
            state.minute.pop_front();
        }
        while let Some(&front) = state.day.front() {
            if now.saturating_duration_since(front) < self.day {
                break;
            }
            state.day.pop_front();
        }
        if state.paused_until.is_some_and(|p| p <= now) {
            state.paused_until = None;
        }
    }

    /// The first budget that keeps a request charged `charge` tokens from starting now.
    fn blocked(&self, state: &State, now: Instant, charge: u64) -> Option<Blocked> {
        if let Some(until) = state.paused_until.filter(|&p| p > now) {
            return Some(Blocked::Until(until));
        }
        if self
            .limits
            .max_concurrent
            .is_some_and(|max| state.in_flight >= max)
        {
            return Some(Blocked::Slot);
        }
        if let Some(rpm) = self.limits.requests_per_minute {
            let rpm = rpm as usize;
            if state.minute.len() >= rpm {
                // The request at this position must age out before one more fits.
                let at = state.minute[state.minute.len() - rpm].at;
                return Some(Blocked::Until(at + self.minute));
            }
        }
        if let Some(rpd) = self.limits.requests_per_day {
            let rpd = rpd as usize;
            if state.day.len() >= rpd {
                return Some(Blocked::Until(state.day[state.day.len() - rpd] + self.day));
            }
        }
        if let Some(tpm) = self.limits.tokens_per_minute
            && state.minute_tokens + charge > tpm
        {
            let mut used = state.minute_tokens;
            for entry in &state.minute {
                used -= entry.tokens;
                if used + charge <= tpm {
                    return Some(Blocked::Until(entry.at + self.minute));
                }
            }
        }
        None
    }
}

impl Permit<'_> {
    /// Replaces this request's token estimate with what the response says it used, so the
    /// minute's token budget reflects real usage.
    pub fn record_usage(&self, tokens: u64) {
        let mut state = self.limiter.lock();
        state.stats.tokens += tokens;
        // Ids grow along the window, so the entry (if not aged out yet) is found by search.
        let position = state.minute.binary_search_by_key(&self.id, |e| e.id);
        if let Ok(i) = position {
            let old = std::mem::replace(&mut state.minute[i].tokens, tokens);
            state.minute_tokens = state.minute_tokens - old + tokens;
        }
        drop(state);
        if tokens < self.estimated_tokens {
            // Budget was freed: a waiter may fit now.
            self.limiter.changed.notify_all();
        }
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        let mut state = self.limiter.lock();
        state.in_flight -= 1;
        state.stats.in_flight = state.in_flight;
        drop(state);
        self.limiter.changed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn limits(
        rpm: Option<u32>,
        rpd: Option<u32>,
        tpm: Option<u64>,
        c: Option<usize>,
    ) -> RateLimits {
        RateLimits {
            requests_per_minute: rpm,
            requests_per_day: rpd,
            tokens_per_minute: tpm,
            max_concurrent: c,
        }
    }

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn requests_per_window_wait_for_the_oldest_to_age_out() {
        let l =
            RateLimiter::with_windows(limits(Some(2), None, None, None), 150 * MS, 10 * 150 * MS);
        let t = Instant::now();
        drop(l.acquire(1));
        drop(l.acquire(1));
        assert!(t.elapsed() < 50 * MS);
        drop(l.acquire(1));
        assert!(t.elapsed() >= 150 * MS, "{:?}", t.elapsed());
        let s = l.stats();
        assert_eq!((s.requests, s.waits), (3, 1));
    }

    #[test]
    fn daily_budget_is_enforced_separately() {
        let l = RateLimiter::with_windows(limits(None, Some(1), None, None), 10 * MS, 120 * MS);
        let t = Instant::now();
        drop(l.acquire(1));
        drop(l.acquire(1));
        assert!(t.elapsed() >= 120 * MS, "{:?}", t.elapsed());
    }

    #[test]
    fn reported_usage_replaces_the_estimate() {
        let l = RateLimiter::with_windows(limits(None, None, Some(100), None), 150 * MS, 150 * MS);
        let t = Instant::now();
        let p = l.acquire(90);
        p.record_usage(10);
        drop(p);
        // 10 used + 90 estimated fits in 100: no wait.
        drop(l.acquire(90));
        assert!(t.elapsed() < 50 * MS, "{:?}", t.elapsed());
        // Now 100 are charged: the next must wait for the window.
        drop(l.acquire(5));
        assert!(t.elapsed() >= 150 * MS, "{:?}", t.elapsed());
        assert_eq!(l.stats().tokens, 10);
    }

    #[test]
    fn oversized_estimates_wait_for_an_empty_window_not_forever() {
        let l = RateLimiter::with_windows(limits(None, None, Some(100), None), 100 * MS, 100 * MS);
        let t = Instant::now();
        drop(l.acquire(1_000));
        drop(l.acquire(1_000));
        let e = t.elapsed();
        assert!(e >= 100 * MS && e < 1_000 * MS, "{e:?}");
    }

    #[test]
    fn concurrency_slots_are_released_on_drop() {
        let l = Arc::new(RateLimiter::new(limits(None, None, None, Some(1))));
        let p = l.acquire(1);
        let l2 = Arc::clone(&l);
        let h = std::thread::spawn(move || {
            let t = Instant::now();
            drop(l2.acquire(1));
            t.elapsed()
        });
        std::thread::sleep(80 * MS);
        assert_eq!(l.stats().in_flight, 1);
        drop(p);
        let waited = h.join().unwrap();
        assert!(waited >= 60 * MS, "{waited:?}");
        assert_eq!(l.stats().in_flight, 0);
    }

    #[test]
    fn pause_holds_back_everyone() {
        let l = RateLimiter::new(RateLimits::unlimited());
        l.pause_for(80 * MS);
        let t = Instant::now();
        drop(l.acquire(1));
        assert!(t.elapsed() >= 80 * MS);
    }

    #[test]
    fn token_estimate_is_a_quarter_of_the_bytes() {
        assert_eq!(estimate_tokens(""), 1);
        assert_eq!(estimate_tokens("abcd"), 2);
        assert_eq!(estimate_tokens("abcde"), 3);
    }
}
