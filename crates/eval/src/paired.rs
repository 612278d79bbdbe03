//! Paired comparisons on the same targets: which baselines each method of a run is
//! compared with, and the mean per-target difference with its bootstrap 95% CI. It reads
//! plain per-method scores, so the report (which tabulates the differences) and the plots
//! (which draw them) both build on it.

use crate::stats;

/// One method of a run, as the comparison reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct MethodScores {
    /// The method's name.
    pub method: String,
    /// LLM calls it spent per target (the knn-best-of-k spending as many is a baseline).
    pub llm_calls_per_target: f64,
    /// Its per-target scores, in target order (`None` when a target lacks the method).
    pub scores: Option<Vec<f64>>,
}

/// A paired comparison of two methods on the same targets.
#[derive(Debug, Clone, PartialEq)]
pub struct Paired {
    /// The method.
    pub method: String,
    /// What it is compared with.
    pub baseline: String,
    /// Mean per-target difference (method − baseline).
    pub mean: f64,
    /// Bootstrap 95% CI of the mean difference.
    pub ci95: [f64; 2],
}

/// Baselines a method is compared with: the oracle, knn-1 and the knn-best-of-k that
/// spends the same LLM calls (when there is one). A method's scores are those of the
/// first of `methods` with its name; `seed` seeds the bootstrap.
pub fn paired_differences(methods: &[MethodScores], resamples: usize, seed: u64) -> Vec<Paired> {
    let scores = |name: &str| {
        methods
            .iter()
            .find(|m| m.method == name)
            .and_then(|m| m.scores.as_ref())
    };
    let mut out = Vec::new();
    for m in methods {
        if matches!(m.method.as_str(), "random" | "oracle") {
            continue;
        }
        let Some(ms) = scores(&m.method) else {
            continue;
        };
        let same_budget = methods
            .iter()
            .find(|b| {
                b.method.starts_with("knn-best-of-")
                    && b.method != m.method
                    && (b.llm_calls_per_target - m.llm_calls_per_target).abs() < 1e-9
            })
            .map(|b| b.method.clone());
        let mut baselines = vec!["oracle".to_string()];
        if m.method != "knn-1" {
            baselines.push("knn-1".to_string());
        }
        baselines.extend(same_budget);
        // The closed loop `loop<r>-<b>` is also compared with the two-stage `search-<b>`.
        if let Some((_, b)) = m
            .method
            .strip_prefix("loop")
            .and_then(|rest| rest.split_once('-'))
        {
            baselines.push(format!("search-{b}"));
        }
        // A method at another answer weight against the same method at the default one.
        if let Some((default, _)) = m.method.rsplit_once("-w") {
            baselines.push(default.to_string());
        }
        // A method at another content margin against the same method at the default one.
        if let Some((default, _)) = m
            .method
            .rsplit_once("-c")
            .filter(|(_, margin)| margin.parse::<f32>().is_ok())
        {
            baselines.push(default.to_string());
        }
        // More surrogate-ranked beams against the default four.
        if m.method.starts_with("generator-ranked-") {
            baselines.push("generator-ranked".to_string());
        }
        // With the memory, a search against the baseline with the same information: the
        // best remembered answer and as many LLM calls.
        if let Some(b) = methods.iter().find(|b| {
            b.method.starts_with("memory+knn-best-of-")
                && (b.llm_calls_per_target - m.llm_calls_per_target).abs() < 1e-9
                && !m.method.starts_with("memory")
                && !m.method.starts_with("knn")
        }) {
            baselines.push(b.method.clone());
        }
        // Fast mode against the best remembered answer it starts from.
        if m.method == "fast" {
            baselines.push("memory-1".to_string());
        }
        // What a search loses without the dataset, and the generator against the inverter.
        if let Some(with_data) = m
            .method
            .strip_prefix("nodata-")
            .filter(|rest| !rest.starts_with("nocontent-"))
        {
            baselines.push(with_data.to_string());
        }
        // What the content candidates (the target's topics) add to the same search.
        let without_content = match m.method.strip_prefix("nodata-") {
            Some(rest) => format!("nodata-nocontent-{rest}"),
            None => format!("nocontent-{}", m.method),
        };
        if methods.iter().any(|b| b.method == without_content) {
            baselines.push(without_content);
        }
        if m.method.starts_with("generator-") {
            baselines.push("inverter-greedy".to_string());
        }
        for b in baselines {
            let Some(bs) = scores(&b) else {
                continue;
            };
            let d: Vec<f64> = ms.iter().zip(bs).map(|(x, y)| x - y).collect();
            out.push(Paired {
                method: m.method.clone(),
                baseline: b,
                mean: stats::mean(&d),
                ci95: stats::bootstrap_ci95(&d, resamples, seed),
            });
        }
    }
    out
}
