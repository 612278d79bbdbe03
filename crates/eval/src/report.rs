//! The leaderboard: a JSON report (machines) and a Markdown table (people).

use crate::paired::{MethodScores, Paired, paired_differences};
use serde::{Deserialize, Serialize};

/// Statistics of one method over all targets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MethodReport {
    /// Method name (random, oracle, knn-1, knn-best-of-4, …).
    pub method: String,
    /// Mean score (cosine of target and answer embedding).
    pub mean: f64,
    /// Median score.
    pub median: f64,
    /// Bootstrap 95% confidence interval of the mean.
    pub ci95: [f64; 2],
    /// `(mean − random) / (oracle − random)`.
    pub normalized: f64,
    /// Share of targets where the method beats the oracle (ties count one half).
    pub win_rate_vs_oracle: f64,
    /// LLM calls made to choose the prompt (not counting the final scoring answer).
    pub llm_calls_per_target: f64,
    /// Wall seconds to choose the prompt (search, LLM calls, embeddings).
    pub seconds_per_target: f64,
    /// Median of the per-target choosing time (for batched methods: the batch's share).
    #[serde(default)]
    pub seconds_p50: f64,
    /// Mean prompt length in LLM tokens (words if the LLM cannot count tokens).
    pub prompt_tokens: f64,
    /// Share of prompts containing an 8-word run of the reference output.
    pub copy_rate: f64,
    /// Remembered real answers (the environment memory) in the method's candidate pool per
    /// target: information it used besides its LLM calls.
    #[serde(default)]
    pub remembered_per_target: f64,
    /// How its chosen prompts read (fluency, non-words, word lists, templates, length,
    /// diversity, task kept), beside the human prompts of the same targets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quality: Option<crate::quality::PromptQuality>,
    /// For a search: how many of its chosen prompts came from each candidate source
    /// (`neighbour`, `memory`, `content`, `generator`, …).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub sources: std::collections::BTreeMap<String, usize>,
}

/// One target's outcome for every method.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetRow {
    /// Record id of the target.
    pub id: String,
    /// Record index in the source file.
    pub index: usize,
    /// Per method (same order as `Report::methods`): the chosen prompt and its score.
    pub choices: Vec<Choice>,
}

/// A method's choice for one target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Choice {
    /// Method name.
    pub method: String,
    /// Source row index of the record whose prompt was chosen. Reports name dataset
    /// prompts by row, so they never copy the (non-commercially licensed) data.
    pub prompt_record: Option<usize>,
    /// The prompt's text, for prompts the learned models wrote (not from the dataset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    /// Its score.
    pub score: f64,
}

/// The whole evaluation run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// The command that produced the report.
    pub command: String,
    /// When it ran (UTC, RFC 3339).
    pub date: String,
    /// LLM configuration.
    pub llm: String,
    /// Embedder name.
    pub embedder: String,
    /// Number of targets.
    pub targets: usize,
    /// The split the targets come from (`test`; `validation` for development runs).
    #[serde(default = "test_split")]
    pub split: String,
    /// Seed of the random choices and the bootstrap.
    pub seed: u64,
    /// Answers generated in this run / taken from the cache.
    pub answers_generated: usize,
    /// Answers taken from the cache.
    pub answers_cached: usize,
    /// Remembered answers of the environment memory the run used (0: none).
    #[serde(default)]
    pub memory_answers: usize,
    /// Per-method statistics.
    pub methods: Vec<MethodReport>,
    /// Per-target choices.
    pub per_target: Vec<TargetRow>,
    /// How well the surrogate ranks candidates, when learned models were evaluated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ranking: Option<RankingReport>,
    /// Whether answers cut to a few tokens rank the knn candidates as full answers do.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub answer_prefix: Vec<crate::prefix::PrefixRanking>,
    /// The environment that scored the choices: empty for the default one (the
    /// environment that also chose them: greedy answers, the default weights).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub environment: String,
    /// What made the report: the commit, the models' hashes, the command.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provenance: Option<vec2prompt_core::provenance::Provenance>,
    /// The same choices scored again in perturbed environments (sampled answers, other
    /// weights), each a report of its own.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub perturbed: Vec<Report>,
}

/// Ranking quality of the surrogate: for each target, the Spearman correlation between
/// the predicted and the real scores of its k nearest-neighbour candidates, averaged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RankingReport {
    /// Targets counted (those whose candidates' scores are not all equal).
    pub targets: usize,
    /// Candidates per target.
    pub candidates: usize,
    /// Mean Spearman of cos(f(E(p)), e*) against the real scores.
    pub spearman_surrogate: f64,
    /// Mean Spearman of the neighbour's answer similarity cos(E(output), e*) against the
    /// real scores (the ranking the dataset alone gives).
    pub spearman_knn_score: f64,
}

/// The split of reports written before it was recorded: they were all on test targets.
fn test_split() -> String {
    "test".to_string()
}

impl Report {
    /// The Markdown leaderboard.
    pub fn to_markdown(&self) -> String {
        let mut s = String::new();
        s.push_str("# vec2prompt leaderboard\n\n");
        s.push_str(&format!(
            "{} targets (first {} records) · LLM `{}` · embedder `{}` · seed {} · {}\n\n",
            self.targets, self.split, self.llm, self.embedder, self.seed, self.date
        ));
        match &self.provenance {
            Some(p) => {
                s.push_str(&p.markdown());
                s.push('\n');
            }
            None => s.push_str(&format!("Command: `{}`\n\n", self.command)),
        }
        self.tables(&mut s);
        for p in &self.perturbed {
            s.push_str(&format!(
                "\n## The same choices in a perturbed environment: {}\n\n\
                 Every method chose its prompts in the environment above; here only the \
                 scores change (LLM calls and times are the choosing ones).\n\n",
                p.environment
            ));
            p.tables(&mut s);
        }
        s
    }

    /// The method table, the notes and the paired differences.
    fn tables(&self, s: &mut String) {
        s.push_str("| method | mean | median | 95% CI | normalized | win vs oracle | LLM calls/target | remembered/target | s/target | p50 s | prompt tokens | copy rate |\n");
        s.push_str("|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
        for m in &self.methods {
            s.push_str(&format!(
                "| {} | {:.3} | {:.3} | [{:.3}, {:.3}] | {:.2} | {:.0}% | {} | {:.1} | {:.2} | {:.3} | {:.1} | {:.1}% |\n",
                m.method,
                m.mean,
                m.median,
                m.ci95[0],
                m.ci95[1],
                m.normalized,
                m.win_rate_vs_oracle * 100.0,
                m.llm_calls_per_target,
                m.remembered_per_target,
                m.seconds_per_target,
                m.seconds_p50,
                m.prompt_tokens,
                m.copy_rate * 100.0
            ));
        }
        s.push_str(&format!(
            "\nScore = cos(E(output), E(LLM(prompt))); normalized = (method − random) / (oracle − random). \
             s/target = wall time to choose the prompt (search, LLM calls, embeddings), not the final scoring answer. \
             Answers: {} generated in this run, {} from the cache.\n",
            self.answers_generated, self.answers_cached
        ));
        if self.memory_answers > 0 {
            s.push_str(&format!(
                "\nEnvironment memory: the LLM's own answers to {} train prompts (their answers score them here too). memory-1 = the remembered prompt whose real answer lies nearest the target (0 LLM calls); memory-best-of-k = the best remembered answer among the k remembered records whose reference outputs lie nearest the target (knn-best-of-k with remembered answers instead of LLM calls); memory+knn-best-of-k = the better of memory-1 and knn-best-of-k (the search's information: the memory and k LLM calls). remembered/target counts the remembered answers in a method's candidate pool; memory-1 and every search with the memory take theirs as the nearest of the whole memory.\n",
                self.memory_answers
            ));
        }
        // The perturbed environments score the same prompts, so their quality is the same.
        if self.environment.is_empty() && self.methods.iter().any(|m| m.quality.is_some()) {
            s.push_str(
                "\nPrompt quality of the chosen prompts (the oracle row is the human prompts; fluency = median over targets of perplexity(pick) / perplexity(human prompt) under the LLM read as plain text; non-words = prompts holding a token outside the dictionary; word lists = content is a bare list of 3+ words; templates = one of the five content templates around a word list; length = median word-count ratio to the human prompt; task kept = mean cos(E(pick), E(human prompt)) and leading-verb class match, reported only):\n\n",
            );
            let rows: Vec<(String, crate::quality::PromptQuality)> = self
                .methods
                .iter()
                .filter_map(|m| Some((m.method.clone(), m.quality.clone()?)))
                .collect();
            s.push_str(&crate::quality::markdown_table(&rows));
        }
        let searches: Vec<&MethodReport> = self
            .methods
            .iter()
            .filter(|m| !m.sources.is_empty())
            .collect();
        if !searches.is_empty() {
            s.push_str("\nWhere each search's chosen prompts came from (targets per candidate source):\n\n| method | sources |\n|---|---|\n");
            for m in searches {
                let mut counts: Vec<(&String, &usize)> = m.sources.iter().collect();
                counts.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
                let list: Vec<String> = counts.iter().map(|(k, v)| format!("{k} {v}")).collect();
                s.push_str(&format!("| {} | {} |\n", m.method, list.join(", ")));
            }
        }
        if let Some(r) = &self.ranking {
            s.push_str(&format!(
                "\nRanking ({} targets × {} nearest-neighbour candidates, each answered for real): mean Spearman of the surrogate's predicted score vs the real score {:.3}; of the neighbour's own answer similarity vs the real score {:.3}.\n",
                r.targets, r.candidates, r.spearman_surrogate, r.spearman_knn_score
            ));
        }
        if let Some(first) = self.answer_prefix.first() {
            s.push_str(&format!(
                "\nShorter answers ({} targets × {} nearest-neighbour candidates; each full greedy answer cut to its first tokens, which greedy decoding with that limit would write): does the cut answer rank the candidates as the full one does?\n\n| tokens | answers cut | Spearman vs full | same best candidate | full score lost by picking on the cut |\n|---:|---:|---:|---:|---:|\n",
                first.targets, first.candidates
            ));
            for p in &self.answer_prefix {
                s.push_str(&format!(
                    "| {} | {:.0}% | {:.3} | {:.0}% | {:.4} |\n",
                    p.tokens,
                    100.0 * p.cut,
                    p.spearman,
                    100.0 * p.same_best,
                    p.regret
                ));
            }
        }
        let pairs = self.paired_differences(1000);
        if !pairs.is_empty() {
            s.push_str(
                "\nPaired differences on the same targets (method − baseline; bootstrap 95% CI; \
                 significant only when the CI excludes 0):\n\n| method | baseline | mean difference | 95% CI | |\n|---|---|---:|---|---|\n",
            );
            for p in pairs {
                let verdict = if p.ci95[0] > 0.0 {
                    "better"
                } else if p.ci95[1] < 0.0 {
                    "worse"
                } else {
                    "not significant"
                };
                s.push_str(&format!(
                    "| {} | {} | {:+.3} | [{:+.3}, {:+.3}] | {verdict} |\n",
                    p.method, p.baseline, p.mean, p.ci95[0], p.ci95[1]
                ));
            }
        }
    }

    /// Per-target scores of `method`, in target order (`None` when the run has no such
    /// method or a target lacks it).
    pub fn scores(&self, method: &str) -> Option<Vec<f64>> {
        let i = self.methods.iter().position(|m| m.method == method)?;
        self.per_target
            .iter()
            .map(|row| row.choices.get(i).map(|c| c.score))
            .collect()
    }

    /// Each method's paired differences against its baselines
    /// ([`crate::paired::paired_differences`]), bootstrapped `resamples` times with the
    /// run's seed.
    pub fn paired_differences(&self, resamples: usize) -> Vec<Paired> {
        let methods: Vec<MethodScores> = self
            .methods
            .iter()
            .map(|m| MethodScores {
                method: m.method.clone(),
                llm_calls_per_target: m.llm_calls_per_target,
                scores: self.scores(&m.method),
            })
            .collect();
        paired_differences(&methods, resamples, self.seed)
    }
}
