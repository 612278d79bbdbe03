//! Progress of long work: a bar with rate and ETA on a terminal, a line every 10%
//! otherwise (CI logs, pipes).

use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::time::Instant;

/// Reports `done / total` of one task.
pub struct Progress {
    bar: Option<ProgressBar>,
    label: String,
    total: usize,
    started: Instant,
    start_done: Option<usize>,
    next_line: usize,
}

impl Progress {
    /// A progress report for `total` items of `label`.
    pub fn new(label: &str, total: usize) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(total as u64);
            let style = ProgressStyle::with_template(
                "{msg:>16} [{bar:30}] {pos}/{len} {per_sec} ETA {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar());
            bar.set_style(style.progress_chars("=> "));
            bar.set_message(label.to_string());
            bar
        });
        Self {
            bar,
            label: label.into(),
            total,
            started: Instant::now(),
            start_done: None,
            next_line: 0,
        }
    }

    /// Records that `done` items are finished.
    pub fn set(&mut self, done: usize) {
        let first = self.start_done.is_none();
        let start = *self.start_done.get_or_insert(done);
        if let Some(bar) = &self.bar {
            bar.set_position(done as u64);
            if first {
                // A resumed task starts at `done`: the rate and ETA count from here, not
                // from an instant jump over the work done before.
                bar.tick();
                bar.reset_eta();
            }
            return;
        }
        if done >= self.next_line || done == self.total {
            let rate = (done - start) as f64 / self.started.elapsed().as_secs_f64().max(1e-9);
            if done == start {
                // Nothing measured yet (or already complete): no rate to report.
                eprintln!("{}: {done}/{}", self.label, self.total);
            } else {
                let eta = (self.total - done) as f64 / rate;
                eprintln!(
                    "{}: {done}/{} ({}/s, ETA {})",
                    self.label,
                    self.total,
                    rate_text(rate),
                    duration_text(eta)
                );
            }
            self.next_line = done + (self.total / 10).max(1);
        }
    }

    /// Ends the report.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish();
        }
    }
}

/// Progress of work in named stages, one [`Progress`] per stage: a new label ends the
/// current stage's report and starts the next.
#[derive(Default)]
pub struct Stages {
    current: Option<(String, Progress)>,
}

impl Stages {
    /// Records `done / total` items of the stage `label`.
    pub fn update(&mut self, label: &str, done: usize, total: usize) {
        if self.current.as_ref().is_none_or(|(l, _)| l != label) {
            self.finish();
            self.current = Some((label.to_string(), Progress::new(label, total)));
        }
        if let Some((_, p)) = self.current.as_mut() {
            p.set(done);
        }
    }

    /// Ends the current stage's report.
    pub fn finish(&mut self) {
        if let Some((_, p)) = self.current.take() {
            p.finish();
        }
    }
}

/// A rate with enough digits to be read at any size (0.034/s, 2.1/s, 143/s).
fn rate_text(rate: f64) -> String {
    if rate >= 10.0 {
        format!("{rate:.0}")
    } else if rate >= 1.0 {
        format!("{rate:.1}")
    } else {
        format!("{rate:.3}")
    }
}

/// Seconds as `42 s`, `12 min 5 s` or `3 h 20 min` (long builds run for hours).
fn duration_text(secs: f64) -> String {
    let s = secs.max(0.0).round() as u64;
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min {} s", s / 60, s % 60),
        _ => format!("{} h {} min", s / 3600, s % 3600 / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_and_durations_read_at_any_size() {
        assert_eq!(rate_text(0.0344), "0.034");
        assert_eq!(rate_text(2.06), "2.1");
        assert_eq!(rate_text(142.6), "143");
        assert_eq!(duration_text(42.4), "42 s");
        assert_eq!(duration_text(725.0), "12 min 5 s");
        assert_eq!(duration_text(25_260.0), "7 h 1 min");
    }
}
