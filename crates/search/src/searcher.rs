//! The search: propose candidates, rank them cheaply, answer the top ones for real within
//! a budget, return the best measured prompt (or the best ranked one in fast mode).

use crate::environment::Environment;
use crate::lexicon::{Lexicon, TopicOptions, content_prompts};
use crate::neighbours::Neighbours;
use crate::recall::Recall;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::{Duration, Instant};
use vec2prompt_core::{Error, Result, TargetVector, cosine};
use vec2prompt_latent::LatentModel;
use vec2prompt_latent::generator::Generator;
use vec2prompt_latent::generator_decode::Strategy as GenStrategy;

/// How much real feedback a search may spend.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SearchBudget {
    /// Most LLM calls (answers generated) spent choosing the prompt; 0 is fast mode.
    pub max_llm_calls: usize,
    /// Wall-time limit; once passed, no further LLM round starts.
    pub max_wall: Option<Duration>,
}

impl SearchBudget {
    /// Fast mode: no LLM calls, the cheap ranking decides.
    pub fn fast() -> Self {
        Self {
            max_llm_calls: 0,
            max_wall: None,
        }
    }

    /// Quality mode with at most `calls` LLM calls.
    pub fn calls(calls: usize) -> Self {
        Self {
            max_llm_calls: calls,
            max_wall: None,
        }
    }
}

/// The default [`SearchOptions::answer_weight`]. On the first 50 validation targets
/// (answers sampled at T 0.7, the mean of 4 seeds), choosing at 0.75 instead of 1 raised
/// search-4's score by +0.014 (95% CI [+0.002, +0.028]) and cost −0.003 in the greedy
/// environment; 0.5 gained about as much under sampling and lost more under greedy.
pub const DEFAULT_ANSWER_WEIGHT: f32 = 0.75;

/// Settings of one search.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchOptions {
    /// The budget of real feedback.
    pub budget: SearchBudget,
    /// Candidates proposed per target before ranking.
    pub candidates: usize,
    /// Candidates returned as variants (best first), at least 1.
    pub variants: usize,
    /// Seed of any sampling in the proposal step.
    pub seed: u64,
    /// Keep each returned candidate's predicted and real answer vectors (for plots and for
    /// comparing answers with other points); off by default, they are 1 KB+ each.
    pub keep_vectors: bool,
    /// The closed loop: spend the budget in this many rounds, each measured answer
    /// recalibrating the ranking of the rest (see [`crate::calibrate`]), the corrector
    /// rewriting the best measured prompt between rounds, and each round's picks kept
    /// diverse. `None`: the two-stage search (half the budget on the best ranked, the
    /// rest on corrections of the best measured).
    pub rounds: Option<usize>,
    /// How much one real answer is trusted when the measured candidates are compared: each
    /// one's [`Candidate::estimate`] is `w · similarity + (1 − w) · prediction`, the
    /// prediction being the surrogate's, calibrated on the *other* real answers. 1 chooses
    /// on the measured similarity alone (best in a deterministic environment); below 1 the
    /// choice favours prompts whose expected answer lands near the target, not those that
    /// won on one lucky answer (a sampling LLM, another quantization).
    pub answer_weight: f32,
    /// The price, in cosine, of a content request (a template around the target's topic
    /// words, [`CandidateSource::Content`]): such a candidate is answered, and chosen, only
    /// when its predicted or measured similarity beats the other candidates' by this much.
    /// 0 ranks every source alike; a large value (≥ 2) makes the templates a fallback used
    /// only when no other source proposes anything. It trades similarity for natural
    /// prompts; see [`DEFAULT_CONTENT_MARGIN`].
    pub content_margin: f32,
}

/// The default [`SearchOptions::content_margin`]. On 40 validation targets (a 3,996-record
/// dataset, the shipped models, greedy answers) 0.1 left every search's similarity where
/// it was at 0 (nothing ingested: fast −0.001 [−0.014, +0.009], search-4 −0.004 [−0.023,
/// +0.012]) while the templates among the chosen prompts fell from 72% to 38% (search-4,
/// nothing ingested) and their fluency ratio to the human prompts from 17.9 to 2.1;
/// 0.2 and above cost similarity (search-4 −0.031, −0.044 at 0.3).
pub const DEFAULT_CONTENT_MARGIN: f32 = 0.1;

/// A margin this large keeps content requests behind every other candidate (cosines lie
/// in [−1, 1]) while still ordering them among themselves.
const FALLBACK_MARGIN: f32 = 2.0;

impl SearchOptions {
    /// The method's name on the leaderboard: `fast`, `search-<b>` (two-stage) or
    /// `loop<r>-<b>` (the closed loop, r clamped to the budget), with `-w<weight>` when
    /// the answer weight is not the default one.
    pub fn method(&self) -> String {
        let budget = self.budget.max_llm_calls;
        let base = match self.rounds {
            _ if budget == 0 => "fast".to_string(),
            Some(r) => format!("loop{}-{budget}", r.clamp(1, budget)),
            None => format!("search-{budget}"),
        };
        let base = if (self.answer_weight - DEFAULT_ANSWER_WEIGHT).abs() > 1e-6 {
            format!("{base}-w{}", self.answer_weight)
        } else {
            base
        };
        if (self.price(CandidateSource::Content) - DEFAULT_CONTENT_MARGIN).abs() > 1e-6 {
            format!("{base}-c{}", self.price(CandidateSource::Content))
        } else {
            base
        }
    }

    /// What a candidate from `source` must pay in similarity to be answered or chosen
    /// (see [`Self::content_margin`]).
    pub fn price(&self, source: CandidateSource) -> f32 {
        match source {
            CandidateSource::Content if self.content_margin.is_finite() => {
                self.content_margin.clamp(0.0, FALLBACK_MARGIN)
            }
            CandidateSource::Content => FALLBACK_MARGIN,
            _ => 0.0,
        }
    }
}

impl Default for SearchOptions {
    fn default() -> Self {
        Self {
            budget: SearchBudget::fast(),
            candidates: 32,
            variants: 1,
            seed: 0,
            keep_vectors: false,
            rounds: None,
            answer_weight: DEFAULT_ANSWER_WEIGHT,
            content_margin: DEFAULT_CONTENT_MARGIN,
        }
    }
}

/// Where a candidate prompt came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CandidateSource {
    /// The prompt of a train record whose answer is near the target.
    Neighbour,
    /// Decoded by the inverter from the target.
    Inverter,
    /// Rewritten by the corrector from a measured candidate.
    Corrector,
    /// The prompt of a train record whose remembered real answer (the environment memory)
    /// is near the target; its similarity is known without an LLM call.
    Memory,
    /// Written by the generator (the pretrained LLM with the trained soft prompt and
    /// adapters) from the target.
    Generator,
    /// The instruction of one of the best measured prompts with the input of another
    /// (closed loop, from the second round on).
    Recombined,
    /// A request naming the target's topics: the words that, written together, embed
    /// nearest the target (found with the embedder alone, see [`crate::lexicon`]).
    Content,
}

impl CandidateSource {
    /// The source's name as serialized (`neighbour`, `content`, …).
    pub fn name(self) -> &'static str {
        match self {
            Self::Neighbour => "neighbour",
            Self::Inverter => "inverter",
            Self::Corrector => "corrector",
            Self::Memory => "memory",
            Self::Generator => "generator",
            Self::Recombined => "recombined",
            Self::Content => "content",
        }
    }
}

/// One candidate prompt and what is known about it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    /// The prompt text.
    pub prompt: String,
    /// Where it came from.
    pub source: CandidateSource,
    /// The dataset record it was taken from, for neighbours and memory candidates.
    pub record_id: Option<String>,
    /// The cheap ranking score (predicted cosine to the target).
    pub predicted: f32,
    /// The measured cosine of its real answer to the target, if it was evaluated or its
    /// answer is in the environment memory.
    pub similarity: Option<f32>,
    /// For a candidate with a real answer, the expected similarity the choice was made on:
    /// `similarity` shrunk towards the surrogate's calibrated prediction by
    /// [`SearchOptions::answer_weight`] (equal to `similarity` at weight 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimate: Option<f32>,
    /// The real answer, if it was evaluated or remembered.
    pub answer: Option<String>,
    /// The surrogate's predicted embedding of the answer, when a learned model ranked it
    /// (for plotting where a candidate is expected to land).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub predicted_vector: Option<Vec<f32>>,
    /// The embedding of the real answer, if it was evaluated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer_vector: Option<Vec<f32>>,
}

/// Where a search spent its time, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct SearchTimings {
    /// Proposing candidates.
    pub propose_ms: f64,
    /// Ranking them cheaply.
    pub rank_ms: f64,
    /// Answering and scoring with the real LLM and embedder.
    pub evaluate_ms: f64,
    /// The whole search.
    pub total_ms: f64,
}

/// The outcome of one search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchResult {
    /// The chosen prompt: the best measured candidate, or the best ranked one when none was
    /// measured.
    pub best: Candidate,
    /// The top candidates, best first (measured ones by similarity, then by prediction).
    pub candidates: Vec<Candidate>,
    /// LLM calls spent choosing (never more than the budget).
    pub llm_calls: usize,
    /// Remembered real answers (the environment memory) among the candidates: measurements
    /// the choice used besides its LLM calls.
    #[serde(default)]
    pub remembered: usize,
    /// The method, as named on the leaderboard (`fast`, `search-16`, …).
    pub method: String,
    /// Time spent per stage (for a batch: this target's share).
    pub timings: SearchTimings,
}

/// Finds prompts for target embeddings.
pub struct Searcher {
    env: Environment,
    neighbours: Option<Arc<Neighbours>>,
    latent: Option<Arc<LatentModel>>,
    recall: Option<Arc<Recall>>,
    generator: Option<Arc<Generator>>,
    lexicon: Option<Arc<Lexicon>>,
}

/// A candidate while the search works on it.
#[derive(Clone)]
struct Working {
    candidate: Candidate,
    /// E(prompt), once known.
    prompt_vector: Option<Vec<f32>>,
    /// ê, once evaluated.
    answer_vector: Option<Vec<f32>>,
    /// The surrogate's predicted ê, once ranked.
    predicted_vector: Option<Vec<f32>>,
}

/// Beams the inverter proposes per target.
const INVERTER_BEAMS: usize = 4;
/// Samples the inverter adds per target in quality mode.
const INVERTER_SAMPLES: usize = 8;
/// Beams the generator proposes per target.
const GENERATOR_BEAMS: usize = 4;
/// Samples the generator adds per target in quality mode.
const GENERATOR_SAMPLES: usize = 8;
/// Corrections proposed from the best measured candidate.
const CORRECTIONS: usize = 6;
/// Current-prompt tokens the corrector sees (as in training).
pub const HYPOTHESIS_TOKENS: usize = 24;

impl Searcher {
    /// A searcher checked in `env`, proposing from the dataset's nearest neighbours and/or
    /// the learned models; at least one source is required.
    pub fn new(
        env: Environment,
        neighbours: Option<Arc<Neighbours>>,
        latent: Option<Arc<LatentModel>>,
    ) -> Result<Self> {
        Self::with_sources(env, neighbours, latent, None)
    }

    /// Like [`Searcher::new`], with the generator as a further source of candidates (it
    /// alone is enough: no dataset and no inverter are needed then).
    pub fn with_sources(
        env: Environment,
        neighbours: Option<Arc<Neighbours>>,
        latent: Option<Arc<LatentModel>>,
        generator: Option<Arc<Generator>>,
    ) -> Result<Self> {
        if let Some(g) = generator
            .as_ref()
            .filter(|g| g.manifest.embedder_dim != env.dimension())
        {
            return Err(Error::invalid(
                "generator",
                format!(
                    "it was trained on {}-dimensional embeddings ({}) but the embedder produces {}",
                    g.manifest.embedder_dim,
                    g.manifest.embedder,
                    env.dimension()
                ),
            ));
        }
        if let Some(n) = neighbours
            .as_ref()
            .filter(|n| n.dimension() != env.dimension())
        {
            return Err(Error::invalid(
                "dataset",
                format!(
                    "its embeddings have {} dimensions but the embedder produces {}",
                    n.dimension(),
                    env.dimension()
                ),
            ));
        }
        if let Some(l) = latent
            .as_ref()
            .filter(|l| l.surrogate.config().dim != env.dimension())
        {
            return Err(Error::invalid(
                "latent",
                format!(
                    "the learned models in {} were trained for {}-dimensional embeddings but the \
                     embedder produces {}; train them for this embedder",
                    l.dir.display(),
                    l.surrogate.config().dim,
                    env.dimension()
                ),
            ));
        }
        let info = env.embedder.info();
        if let Some((l, trained)) = latent
            .as_ref()
            .and_then(|l| Some((l, l.embedder.as_ref()?)))
            && !vec2prompt_latent::model::same_space(trained, info)
        {
            return Err(Error::invalid(
                "latent",
                format!(
                    "the learned models in {} were trained for the embedder {} ({} dimensions) \
                     but the configured embedder is {} ({} dimensions); train them for this \
                     embedder or configure that one",
                    l.dir.display(),
                    trained.name,
                    trained.dimension,
                    info.name,
                    info.dimension
                ),
            ));
        }
        if neighbours.is_none()
            && generator.is_none()
            && latent.as_ref().is_none_or(|l| l.inverter.is_none())
        {
            return Err(Error::invalid(
                "search",
                "needs candidates: an ingested dataset (nearest neighbours), a trained \
                 generator or a trained inverter",
            ));
        }
        Ok(Self {
            env,
            neighbours,
            latent,
            recall: None,
            generator,
            lexicon: None,
        })
    }

    /// Adds content candidates: requests that name the target's topics, the words from
    /// `lexicon` whose written list embeds nearest the target (embedder calls only).
    pub fn with_lexicon(mut self, lexicon: Arc<Lexicon>) -> Result<Self> {
        if lexicon.dimension() != self.env.dimension() {
            return Err(Error::invalid(
                "lexicon",
                format!(
                    "its word embeddings have {} dimensions but the embedder produces {}",
                    lexicon.dimension(),
                    self.env.dimension()
                ),
            ));
        }
        self.lexicon = Some(lexicon);
        Ok(self)
    }

    /// Whether content candidates (the target's topics) are proposed.
    pub fn has_lexicon(&self) -> bool {
        self.lexicon.is_some()
    }

    /// Adds the environment memory: train prompts whose remembered real answers are nearest
    /// the target join the candidates with their real similarity, and a neighbour whose
    /// answer is remembered is known without an LLM call. The memory must belong to this
    /// environment (same LLM configuration), which is how it was keyed when built.
    pub fn with_recall(mut self, recall: Arc<Recall>) -> Result<Self> {
        if recall.dimension() != self.env.dimension() {
            return Err(Error::invalid(
                "memory",
                format!(
                    "its answer embeddings have {} dimensions but the embedder produces {}",
                    recall.dimension(),
                    self.env.dimension()
                ),
            ));
        }
        self.recall = Some(recall);
        Ok(self)
    }

    /// The environment (LLM and embedder) the search checks candidates in.
    pub fn environment(&self) -> &Environment {
        &self.env
    }

    /// Dimension of target vectors.
    pub fn dimension(&self) -> usize {
        self.env.dimension()
    }

    /// The learned models, when loaded.
    pub fn latent(&self) -> Option<&LatentModel> {
        self.latent.as_deref()
    }

    /// The generator, when loaded.
    pub fn generator(&self) -> Option<&Generator> {
        self.generator.as_deref()
    }

    /// The generator as shared with the search, when loaded (to watch or stop its decoding
    /// from another thread).
    pub fn shared_generator(&self) -> Option<Arc<Generator>> {
        self.generator.clone()
    }

    /// Whether candidates come from a dataset's nearest neighbours.
    pub fn has_neighbours(&self) -> bool {
        self.neighbours.is_some()
    }

    /// Searches one target.
    pub fn search(&self, target: &TargetVector, options: &SearchOptions) -> Result<SearchResult> {
        self.search_batch(std::slice::from_ref(target), options)
            .pop()
            .unwrap_or_else(|| Err(Error::invalid("target", "no result")))
    }

    /// Searches many targets, batching their LLM calls; the result at `i` belongs to
    /// `targets[i]`. Errors of the environment fail every target of the batch.
    pub fn search_batch(
        &self,
        targets: &[TargetVector],
        options: &SearchOptions,
    ) -> Vec<Result<SearchResult>> {
        match self.search_all(targets, options) {
            Ok(results) => results,
            Err(e) => targets
                .iter()
                .map(|_| Err(Error::backend("search", &e)))
                .collect(),
        }
    }

    /// Candidates from the neighbours and the inverter for each target.
    fn propose(&self, queries: &[Vec<f32>], options: &SearchOptions) -> Result<Vec<Vec<Working>>> {
        let mut all: Vec<Vec<Working>> = queries.iter().map(|_| Vec::new()).collect();
        let k = options.candidates.max(1);
        if let Some(recall) = &self.recall {
            for (cands, hits) in all.iter_mut().zip(recall.nearest(queries, k)?) {
                cands.extend(hits.into_iter().map(|(similarity, r)| Working {
                    candidate: Candidate {
                        prompt: r.prompt.clone(),
                        source: CandidateSource::Memory,
                        record_id: Some(r.record_id.clone()),
                        predicted: similarity,
                        similarity: Some(similarity),
                        estimate: None,
                        answer: Some(r.answer.clone()),
                        predicted_vector: None,
                        answer_vector: None,
                    },
                    prompt_vector: r.prompt_vector.clone(),
                    answer_vector: Some(r.answer_vector.clone()),
                    predicted_vector: None,
                }));
            }
        }
        if let Some(n) = &self.neighbours {
            for ((cands, hits), q) in all.iter_mut().zip(n.nearest(queries, k)?).zip(queries) {
                for h in hits {
                    if cands.iter().any(|w| w.candidate.prompt == h.prompt) {
                        continue;
                    }
                    // A neighbour whose real answer is remembered needs no LLM call.
                    let known = self.recall.as_ref().and_then(|r| r.get(&h.record_id));
                    cands.push(Working {
                        candidate: Candidate {
                            prompt: h.prompt,
                            source: CandidateSource::Neighbour,
                            record_id: Some(h.record_id),
                            predicted: h.score,
                            similarity: known.map(|r| cosine(q, &r.answer_vector)),
                            estimate: None,
                            answer: known.map(|r| r.answer.clone()),
                            predicted_vector: None,
                            answer_vector: None,
                        },
                        prompt_vector: h.prompt_vector,
                        answer_vector: known.map(|r| r.answer_vector.clone()),
                        predicted_vector: None,
                    });
                }
            }
        }
        // In fast mode with a dataset, the inverter's candidate is left out: on the first 100
        // test targets fast mode never chose it over a neighbour (reports/leaderboard.json,
        // before this change) while its decode was most of fast mode's latency.
        let fast = options.budget.max_llm_calls == 0;
        let latent = self
            .latent
            .as_ref()
            .filter(|_| !(fast && self.neighbours.is_some()));
        if let Some(latent) = latent {
            // Beams and samples for every target of the batch share forward passes; target i
            // keeps its own seed, so a batch proposes what one-target searches would.
            let sampled = if fast {
                Vec::new()
            } else {
                let seeds: Vec<u64> = (0..queries.len())
                    .map(|i| options.seed.wrapping_add(i as u64))
                    .collect();
                latent.invert_samples_batch(queries, INVERTER_SAMPLES, 0.8, 0.95, &seeds)?
            };
            // Fast mode keeps to one greedy decode: its latency is the point.
            let width = if fast { 1 } else { INVERTER_BEAMS };
            let beams = latent.invert_beams_batch(queries, width)?;
            let mut sampled = sampled.into_iter();
            for (cands, mut texts) in all.iter_mut().zip(beams) {
                texts.extend(sampled.next().unwrap_or_default());
                push_new(cands, texts, CandidateSource::Inverter);
            }
        }
        // With a dataset the generator is left out: on the first 50 validation targets
        // search-4 chose the same prompt for every target with and without it
        // (reports/generator-validation and generator-ablation-validation) while its
        // decode added seconds per target. Without a dataset it is the main source of
        // candidates.
        if let Some(g) = self
            .generator
            .as_ref()
            .filter(|_| self.neighbours.is_none())
        {
            // Beams always (the surrogate ranks them in fast mode); seeded samples join
            // them when real answers will choose. Sample j of the batch's target i draws
            // from its own stream of the search's seed.
            let beams = g.generate(
                queries,
                GENERATOR_BEAMS,
                GenStrategy::Beam {
                    width: GENERATOR_BEAMS,
                },
            )?;
            let sampled = if fast {
                Vec::new()
            } else {
                g.generate(
                    queries,
                    GENERATOR_SAMPLES,
                    GenStrategy::Sample {
                        temperature: 0.8,
                        top_p: 0.95,
                        seed: options.seed,
                    },
                )?
            };
            let mut sampled = sampled.into_iter();
            for (cands, mut texts) in all.iter_mut().zip(beams) {
                texts.extend(sampled.next().unwrap_or_default());
                push_new(cands, texts, CandidateSource::Generator);
            }
        }
        if let Some(lexicon) = &self.lexicon {
            let lists = lexicon.topic_lists_batch(
                queries,
                self.env.embedder.as_ref(),
                &TopicOptions::default(),
            )?;
            for (cands, lists) in all.iter_mut().zip(lists) {
                for t in lists {
                    let start = cands.len();
                    push_new(cands, content_prompts(&t), CandidateSource::Content);
                    // Without a surrogate, how near the list embeds is the cheap score.
                    for w in &mut cands[start..] {
                        w.candidate.predicted = t.similarity;
                    }
                }
            }
        }
        Ok(all)
    }

    /// Embeds candidates lacking E(p), sets `predicted` to the surrogate's cosine and
    /// orders each target's candidates by it, less each source's price.
    fn rank(
        &self,
        queries: &[Vec<f32>],
        all: &mut [Vec<Working>],
        options: &SearchOptions,
    ) -> Result<()> {
        let Some(latent) = &self.latent else {
            // No surrogate: each source's own cheap score orders the candidates.
            resort(all, options);
            return Ok(());
        };
        let missing: Vec<String> = all
            .iter()
            .flatten()
            .filter(|w| w.prompt_vector.is_none())
            .map(|w| w.candidate.prompt.clone())
            .collect();
        let mut vectors = self.env.embedder.embed(&missing)?.into_iter();
        for w in all.iter_mut().flatten() {
            if w.prompt_vector.is_none() {
                w.prompt_vector = vectors.next();
            }
        }
        for (cands, q) in all.iter_mut().zip(queries) {
            let inputs: Vec<Vec<f32>> = cands
                .iter()
                .map(|w| {
                    w.prompt_vector
                        .clone()
                        .unwrap_or_else(|| vec![0.0; q.len()])
                })
                .collect();
            let predicted = latent.predict(&inputs)?;
            for (w, p) in cands.iter_mut().zip(predicted) {
                w.candidate.predicted = cosine(q, &p);
                w.predicted_vector = Some(p);
            }
        }
        resort(all, options);
        Ok(())
    }

    /// Answers the `take[i]` best-ranked unmeasured candidates of each target for real.
    fn evaluate_round(
        &self,
        queries: &[Vec<f32>],
        all: &mut [Vec<Working>],
        take: &[usize],
        llm_calls: &mut [usize],
    ) -> Result<()> {
        let picks: Vec<Vec<usize>> = all
            .iter()
            .enumerate()
            .map(|(i, cands)| {
                cands
                    .iter()
                    .enumerate()
                    .filter(|(_, w)| w.candidate.similarity.is_none())
                    .take(take[i])
                    .map(|(j, _)| j)
                    .collect()
            })
            .collect();
        self.evaluate_picks(queries, all, &picks, llm_calls)
    }

    /// Answers the candidates `picks[i]` of each target `i` for real, in one batch.
    fn evaluate_picks(
        &self,
        queries: &[Vec<f32>],
        all: &mut [Vec<Working>],
        picks: &[Vec<usize>],
        llm_calls: &mut [usize],
    ) -> Result<()> {
        let mut prompts = Vec::new();
        let mut owners = Vec::new();
        for (i, js) in picks.iter().enumerate() {
            for &j in js {
                prompts.push(all[i][j].candidate.prompt.clone());
                owners.push((i, j));
            }
        }
        let tv: Vec<&[f32]> = owners.iter().map(|&(i, _)| &queries[i][..]).collect();
        let evals = self.env.evaluate(&prompts, &tv)?;
        for (&(i, j), e) in owners.iter().zip(evals) {
            let w = &mut all[i][j];
            w.candidate.similarity = Some(e.similarity);
            w.candidate.answer = Some(e.answer);
            w.answer_vector = Some(e.vector);
            llm_calls[i] += 1;
        }
        Ok(())
    }

    /// The closed loop: `rounds` rounds within the budget. Before every round after the
    /// first, the corrector rewrites each target's best measured prompt (conditioned on
    /// its real answer), everything is ranked again, and the surrogate's predictions are
    /// recalibrated on every real answer known so far (measured, or remembered); each
    /// round then answers a diverse set of the best-ranked unmeasured candidates.
    fn closed_loop(
        &self,
        queries: &[Vec<f32>],
        all: &mut [Vec<Working>],
        options: &SearchOptions,
        rounds: usize,
        llm_calls: &mut [usize],
        out_of_time: &dyn Fn() -> bool,
    ) -> Result<f64> {
        let budget = options.budget.max_llm_calls;
        let rounds = rounds.clamp(1, budget.max(1));
        let corrector = self.latent.as_ref().is_some_and(|l| l.corrector.is_some());
        let mut rerank_ms = 0.0;
        for round in 0..rounds {
            if out_of_time() {
                break;
            }
            if round > 0 {
                let t = Instant::now();
                if corrector {
                    self.add_corrections(queries, all, options)?;
                }
                add_recombinations(all);
                self.rank(queries, all, options)?;
                calibrate(queries, all);
                rerank_ms += t.elapsed().as_secs_f64() * 1e3;
            } else {
                calibrate(queries, all);
            }
            let picks: Vec<Vec<usize>> = all
                .iter()
                .zip(llm_calls.iter())
                .map(|(cands, &spent)| {
                    // What is left, spread evenly over the rounds left.
                    let take = budget.saturating_sub(spent).div_ceil(rounds - round);
                    pick_round(cands, take, options)
                })
                .collect();
            if picks.iter().all(Vec::is_empty) {
                break;
            }
            self.evaluate_picks(queries, all, &picks, llm_calls)?;
        }
        Ok(rerank_ms)
    }

    fn search_all(
        &self,
        targets: &[TargetVector],
        options: &SearchOptions,
    ) -> Result<Vec<Result<SearchResult>>> {
        let started = Instant::now();
        let n = targets.len().max(1) as f64;
        let queries: Vec<Vec<f32>> = targets.iter().map(|t| t.values.clone()).collect();
        let budget = options.budget.max_llm_calls;
        let out_of_time = || {
            options
                .budget
                .max_wall
                .is_some_and(|w| started.elapsed() >= w)
        };
        let t = Instant::now();
        let mut all = self.propose(&queries, options)?;
        // Nothing is measured yet: every known similarity is a remembered answer.
        let remembered: Vec<usize> = all
            .iter()
            .map(|c| {
                c.iter()
                    .filter(|w| w.candidate.similarity.is_some())
                    .count()
            })
            .collect();
        let propose_ms = t.elapsed().as_secs_f64() * 1e3 / n;
        let t = Instant::now();
        self.rank(&queries, &mut all, options)?;
        // Remembered answers are real measurements at no cost: the surrogate's other
        // predictions for this target are calibrated on them before anything is chosen.
        if self.recall.is_some() {
            calibrate(&queries, &mut all);
            resort(&mut all, options);
        }
        let mut rank_ms = t.elapsed().as_secs_f64() * 1e3;
        let mut rerank_ms = 0.0;
        let t = Instant::now();
        let mut llm_calls = vec![0usize; targets.len()];
        let corrector = self.latent.as_ref().is_some_and(|l| l.corrector.is_some());
        if let Some(rounds) = options.rounds.filter(|_| budget > 0 && !out_of_time()) {
            rerank_ms = self.closed_loop(
                &queries,
                &mut all,
                options,
                rounds,
                &mut llm_calls,
                &out_of_time,
            )?;
            rank_ms += rerank_ms;
        } else if budget > 0 && !out_of_time() {
            // Round 1: the best-ranked candidates; with a corrector, keep part of the budget
            // for rewrites of the best measured one.
            let first = if corrector && budget >= 2 {
                budget.div_ceil(2)
            } else {
                budget
            };
            let take = vec![first; all.len()];
            self.evaluate_round(&queries, &mut all, &take, &mut llm_calls)?;
            if corrector && budget > first && !out_of_time() {
                let tc = Instant::now();
                self.add_corrections(&queries, &mut all, options)?;
                self.rank(&queries, &mut all, options)?;
                if self.recall.is_some() {
                    calibrate(&queries, &mut all);
                    resort(&mut all, options);
                }
                rerank_ms = tc.elapsed().as_secs_f64() * 1e3;
                rank_ms += rerank_ms;
                let rest: Vec<usize> = llm_calls.iter().map(|&c| budget - c).collect();
                self.evaluate_round(&queries, &mut all, &rest, &mut llm_calls)?;
            }
        }
        let evaluate_ms = (t.elapsed().as_secs_f64() * 1e3 - rerank_ms) / n;
        let total_ms = started.elapsed().as_secs_f64() * 1e3 / n;
        let method = options.method();
        estimate(&queries, &mut all, options.answer_weight);
        Ok(all
            .into_iter()
            .zip(llm_calls)
            .zip(remembered)
            .map(|((cands, calls), remembered)| {
                let mut cands: Vec<Candidate> = cands
                    .into_iter()
                    .map(|w| {
                        let keep = options.keep_vectors;
                        Candidate {
                            predicted_vector: w.predicted_vector.filter(|_| keep),
                            answer_vector: w.answer_vector.filter(|_| keep),
                            ..w.candidate
                        }
                    })
                    .collect();
                if cands.is_empty() {
                    return Err(Error::backend(
                        "search",
                        "no candidate prompt: the inverter decoded none and no dataset is loaded",
                    ));
                }
                sort_candidates(&mut cands, budget == 0, options);
                cands.truncate(options.variants.max(1));
                Ok(SearchResult {
                    best: cands[0].clone(),
                    candidates: cands,
                    llm_calls: calls,
                    remembered,
                    method: method.clone(),
                    timings: SearchTimings {
                        propose_ms,
                        rank_ms: rank_ms / n,
                        evaluate_ms,
                        total_ms,
                    },
                })
            })
            .collect())
    }

    /// Rewrites of each target's best measured candidate, from the corrector.
    fn add_corrections(
        &self,
        queries: &[Vec<f32>],
        all: &mut [Vec<Working>],
        options: &SearchOptions,
    ) -> Result<()> {
        let Some(latent) = &self.latent else {
            // No surrogate: each source's own cheap score orders the candidates.
            resort(all, options);
            return Ok(());
        };
        // Each target's best measured candidate (less its source's price); all targets'
        // rewrites decode together.
        let mut owners = Vec::new();
        let (mut targets, mut answers, mut currents) = (Vec::new(), Vec::new(), Vec::new());
        let measured =
            |w: &Working| w.candidate.similarity.unwrap_or(0.0) - options.price(w.candidate.source);
        for (i, (cands, q)) in all.iter().zip(queries).enumerate() {
            let best = cands
                .iter()
                .filter(|w| w.answer_vector.as_ref().is_some_and(|v| !v.is_empty()))
                .max_by(|a, b| measured(a).total_cmp(&measured(b)));
            let Some(best) = best else { continue };
            owners.push(i);
            targets.push(q.clone());
            answers.push(best.answer_vector.clone().unwrap_or_default());
            currents.push(best.candidate.prompt.clone());
        }
        if owners.is_empty() {
            return Ok(());
        }
        let rewrites = latent.correct_batch(
            &targets,
            &answers,
            &currents,
            HYPOTHESIS_TOKENS,
            CORRECTIONS,
        )?;
        for (i, texts) in owners.into_iter().zip(rewrites) {
            push_new(&mut all[i], texts, CandidateSource::Corrector);
        }
        Ok(())
    }
}

/// Recombinations added per target and round: the instruction of one of the best
/// measured prompts with the input of another.
const RECOMBINATIONS: usize = 4;
/// Best measured prompts whose parts are recombined.
const RECOMBINED_FROM: usize = 3;

/// An instruction and, when the prompt has one after a blank line, its input (the shape of
/// instruction datasets: `instruction\n\ninput`).
fn split_prompt(prompt: &str) -> (&str, Option<&str>) {
    match prompt.split_once("\n\n") {
        Some((instruction, input))
            if !instruction.trim().is_empty() && !input.trim().is_empty() =>
        {
            (instruction, Some(input))
        }
        _ => (prompt, None),
    }
}

/// Adds, for each target, prompts made of the instruction of one of its best measured
/// prompts (measured or remembered) and the input of another: what the target asks may be
/// one prompt's task on another's material. They are ranked like every candidate.
fn add_recombinations(all: &mut [Vec<Working>]) {
    for cands in all.iter_mut() {
        let mut best: Vec<(f32, &str)> = cands
            .iter()
            .filter_map(|w| Some((w.candidate.similarity?, w.candidate.prompt.as_str())))
            .collect();
        best.sort_by(|a, b| b.0.total_cmp(&a.0));
        best.truncate(RECOMBINED_FROM);
        let parts: Vec<(&str, Option<&str>)> = best.iter().map(|(_, p)| split_prompt(p)).collect();
        let mut texts = Vec::new();
        for (i, (instruction, _)) in parts.iter().enumerate() {
            for (j, (_, input)) in parts.iter().enumerate() {
                if let (true, Some(input)) = (i != j, input) {
                    texts.push(format!("{instruction}\n\n{input}"));
                }
            }
        }
        texts.truncate(RECOMBINATIONS);
        push_new(cands, texts, CandidateSource::Recombined);
    }
}

/// Weight of the ranking score against closeness to what is already measured, when a
/// round of the closed loop picks its candidates.
const MMR_RELEVANCE: f32 = 0.8;

/// Recalibrates each target's unmeasured predictions on its candidates with a real answer
/// (see [`crate::calibrate`]); `predicted` becomes the calibrated cosine. Candidates the
/// surrogate did not rank (no learned model) keep their score.
fn calibrate(queries: &[Vec<f32>], all: &mut [Vec<Working>]) {
    use crate::calibrate::{BANDWIDTH, Calibration, Measured, SHRINK};
    for (cands, q) in all.iter_mut().zip(queries) {
        let measured: Vec<Measured> = cands
            .iter()
            .filter_map(|w| {
                Some(Measured {
                    prompt: w.prompt_vector.clone()?,
                    predicted: w.predicted_vector.clone()?,
                    answer: w.answer_vector.clone()?,
                })
            })
            .collect();
        let c = Calibration::fit(&measured, BANDWIDTH, SHRINK);
        if c.is_empty() {
            continue;
        }
        for w in cands
            .iter_mut()
            .filter(|w| w.candidate.similarity.is_none())
        {
            if let (Some(p), Some(pred)) = (&w.prompt_vector, &w.predicted_vector) {
                w.candidate.predicted = cosine(q, &c.correct(p, pred));
            }
        }
    }
}

/// Orders each target's candidates by their (calibrated) prediction again.
fn resort(all: &mut [Vec<Working>], options: &SearchOptions) {
    let key = |w: &Working| w.candidate.predicted - options.price(w.candidate.source);
    for cands in all.iter_mut() {
        cands.sort_by(|a, b| key(b).total_cmp(&key(a)));
    }
}

/// Up to `take` unmeasured candidates for one round: the best by (calibrated) prediction,
/// kept apart from each other and from the measured ones.
fn pick_round(cands: &[Working], take: usize, options: &SearchOptions) -> Vec<usize> {
    let open: Vec<usize> = (0..cands.len())
        .filter(|&j| cands[j].candidate.similarity.is_none())
        .collect();
    let empty: &[f32] = &[];
    let vector = |j: usize| cands[j].prompt_vector.as_deref().unwrap_or(empty);
    let scores: Vec<f32> = open
        .iter()
        .map(|&j| cands[j].candidate.predicted - options.price(cands[j].candidate.source))
        .collect();
    let vectors: Vec<&[f32]> = open.iter().map(|&j| vector(j)).collect();
    let taken: Vec<&[f32]> = (0..cands.len())
        .filter(|&j| cands[j].candidate.similarity.is_some())
        .map(vector)
        .collect();
    crate::calibrate::diverse_picks(&scores, &vectors, &taken, take, MMR_RELEVANCE)
        .into_iter()
        .map(|k| open[k])
        .collect()
}

/// Adds `texts` not already among `cands`.
fn push_new(cands: &mut Vec<Working>, texts: Vec<String>, source: CandidateSource) {
    for text in texts {
        if cands.iter().any(|w| w.candidate.prompt == text) {
            continue;
        }
        cands.push(Working {
            candidate: Candidate {
                prompt: text,
                source,
                record_id: None,
                predicted: 0.0,
                similarity: None,
                estimate: None,
                answer: None,
                predicted_vector: None,
                answer_vector: None,
            },
            prompt_vector: None,
            answer_vector: None,
            predicted_vector: None,
        });
    }
}

/// Sets [`Candidate::estimate`] on every candidate with a real answer: with weight `w`,
/// `w · similarity + (1 − w) · p`, where `p` is the surrogate's prediction calibrated on
/// the target's other real answers (leave-one-out, so an answer never vouches for itself).
/// One greedy answer is one draw of what the LLM may say; among many measured candidates
/// the highest measured similarity is biased upwards (it won partly on luck), and the
/// calibrated prediction is an independent estimate of the same expected similarity.
/// Without the vectors (no learned model) or at `w ≥ 1` the estimate is the similarity.
fn estimate(queries: &[Vec<f32>], all: &mut [Vec<Working>], w: f32) {
    use crate::calibrate::{BANDWIDTH, Calibration, Measured, SHRINK};
    let w = w.clamp(0.0, 1.0);
    for (cands, q) in all.iter_mut().zip(queries) {
        let measured: Vec<(usize, Measured)> = cands
            .iter()
            .enumerate()
            .filter(|_| w < 1.0)
            .filter_map(|(j, c)| {
                c.candidate.similarity?;
                Some((
                    j,
                    Measured {
                        prompt: c.prompt_vector.clone()?,
                        predicted: c.predicted_vector.clone()?,
                        answer: c.answer_vector.clone()?,
                    },
                ))
            })
            .collect();
        for (j, c) in cands.iter_mut().enumerate() {
            let Some(m) = c.candidate.similarity else {
                continue;
            };
            let own = measured.iter().find(|(k, _)| *k == j);
            c.candidate.estimate = Some(match own {
                Some((_, own)) => {
                    let others: Vec<Measured> = measured
                        .iter()
                        .filter(|(k, _)| *k != j)
                        .map(|(_, o)| o.clone())
                        .collect();
                    let cal = Calibration::fit(&others, BANDWIDTH, SHRINK);
                    let p = cosine(q, &cal.correct(&own.prompt, &own.predicted));
                    w * m + (1.0 - w) * p
                }
                None => m,
            });
        }
    }
}

/// With a budget: measured candidates first (by their estimate), then the rest by
/// prediction. In fast mode nothing was measured in this search; a candidate whose
/// similarity is known from the memory is ranked by its estimate, the others by
/// prediction, all on one scale (cosine to the target), so a partial memory's distant
/// answers do not crowd out a better-predicted neighbour. Every score is less the
/// candidate's source price ([`SearchOptions::price`]).
fn sort_candidates(cands: &mut [Candidate], fast: bool, options: &SearchOptions) {
    let price = |c: &Candidate| options.price(c.source);
    let known = |c: &Candidate| c.estimate.or(c.similarity).map(|s| s - price(c));
    let predicted = |c: &Candidate| c.predicted - price(c);
    if fast {
        let score = |c: &Candidate| known(c).unwrap_or(predicted(c));
        cands.sort_by(|a, b| score(b).total_cmp(&score(a)));
        return;
    }
    cands.sort_by(|a, b| match (known(a), known(b)) {
        (Some(x), Some(y)) => y.total_cmp(&x),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => predicted(b).total_cmp(&predicted(a)),
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(v: &[f32]) -> Vec<f32> {
        let mut v = v.to_vec();
        vec2prompt_core::l2_normalize(&mut v);
        v
    }

    /// A measured candidate: its prompt's embedding, the surrogate's prediction and the
    /// real answer's embedding.
    fn measured(prompt: &[f32], predicted: &[f32], answer: &[f32], q: &[f32]) -> Working {
        let answer = unit(answer);
        Working {
            candidate: Candidate {
                prompt: format!("{prompt:?}"),
                source: CandidateSource::Neighbour,
                record_id: None,
                predicted: 0.0,
                similarity: Some(cosine(q, &answer)),
                estimate: None,
                answer: Some(String::new()),
                predicted_vector: None,
                answer_vector: None,
            },
            prompt_vector: Some(unit(prompt)),
            answer_vector: Some(answer),
            predicted_vector: Some(unit(predicted)),
        }
    }

    #[test]
    fn source_names_are_the_serialized_ones() {
        use CandidateSource::*;
        for s in [
            Neighbour, Inverter, Corrector, Memory, Generator, Recombined, Content,
        ] {
            assert_eq!(serde_json::to_value(s).unwrap(), s.name());
        }
    }

    #[test]
    fn a_lucky_answer_loses_to_a_backed_one_below_weight_one() {
        let q = unit(&[1.0, 0.0, 0.0, 0.0]);
        // Two near-identical prompts whose real answers both land at cos 0.6, where the
        // surrogate predicted them; and a lone prompt the surrogate expects far from the
        // target whose one answer happened to land at cos 0.8.
        let near = [0.6, 0.8, 0.0, 0.0];
        let lucky = [0.8, 0.0, 0.6, 0.0];
        let far = [0.1, 0.0, 0.0, 1.0];
        let cands = vec![
            measured(&[0.0, 1.0, 0.0, 0.0], &near, &near, &q),
            measured(&[0.0, 1.0, 0.05, 0.0], &near, &near, &q),
            measured(&[0.0, 0.0, 0.0, 1.0], &far, &lucky, &q),
        ];
        let best = |w: f32| {
            let mut all = vec![cands.clone()];
            estimate(std::slice::from_ref(&q), &mut all, w);
            let mut c: Vec<Candidate> = all.remove(0).into_iter().map(|w| w.candidate).collect();
            sort_candidates(&mut c, false, &SearchOptions::default());
            c
        };
        let trusting = best(1.0);
        assert_eq!(trusting[0].prompt, cands[2].candidate.prompt);
        for c in &trusting {
            assert_eq!(
                c.estimate, c.similarity,
                "weight 1 is the measurement alone"
            );
        }
        let robust = best(0.5);
        assert_ne!(robust[0].prompt, cands[2].candidate.prompt);
        // The backed prompts keep (about) their measurement: the other one vouches for it.
        assert!((robust[0].estimate.unwrap() - 0.6).abs() < 0.02);
        // The lucky one is pulled halfway to its prediction, which has no answer near it.
        let lone = robust
            .iter()
            .find(|c| c.prompt == cands[2].candidate.prompt)
            .unwrap();
        let expected = 0.5 * 0.8 + 0.5 * cosine(&q, &unit(&far));
        assert!((lone.estimate.unwrap() - expected).abs() < 0.02, "{lone:?}");
        // What is reported as measured stays the measurement.
        assert!((lone.similarity.unwrap() - 0.8).abs() < 1e-5);
    }

    fn candidate(prompt: &str, source: CandidateSource, predicted: f32) -> Candidate {
        Candidate {
            prompt: prompt.to_string(),
            source,
            record_id: None,
            predicted,
            similarity: None,
            estimate: None,
            answer: None,
            predicted_vector: None,
            answer_vector: None,
        }
    }

    fn with_margin(margin: f32) -> SearchOptions {
        SearchOptions {
            content_margin: margin,
            ..SearchOptions::default()
        }
    }

    #[test]
    fn a_template_is_chosen_only_when_it_wins_by_the_content_margin() {
        let natural = candidate("Give three tips.", CandidateSource::Neighbour, 0.50);
        let template = candidate("Write about a, b and c.", CandidateSource::Content, 0.58);
        let first = |fast: bool, margin: f32, cands: &[Candidate]| {
            let mut c = cands.to_vec();
            sort_candidates(&mut c, fast, &with_margin(margin));
            c[0].prompt.clone()
        };
        let both = [natural.clone(), template.clone()];
        // Fast mode ranks on predictions: 0.08 ahead wins at margin 0.05, not at 0.1.
        assert_eq!(first(true, 0.0, &both), template.prompt);
        assert_eq!(first(true, 0.05, &both), template.prompt);
        assert_eq!(first(true, 0.1, &both), natural.prompt);
        // Measured candidates compare their measurements less the price.
        let measured = |c: &Candidate, s: f32| Candidate {
            similarity: Some(s),
            ..c.clone()
        };
        let m = [measured(&natural, 0.60), measured(&template, 0.70)];
        assert_eq!(first(false, 0.05, &m), template.prompt);
        assert_eq!(first(false, 0.2, &m), natural.prompt);
        // As a fallback a template is chosen only when nothing else was proposed, and
        // templates still keep their own order.
        assert_eq!(first(true, 2.0, &both), natural.prompt);
        let other = candidate("Describe a, b and c.", CandidateSource::Content, 0.40);
        assert_eq!(
            first(true, 2.0, &[other, template.clone()]),
            template.prompt
        );
        // A margin out of range is clamped: a negative one prices nothing, an infinite or
        // NaN one is the fallback.
        assert_eq!(with_margin(-1.0).price(CandidateSource::Content), 0.0);
        assert_eq!(
            with_margin(f32::INFINITY).price(CandidateSource::Content),
            2.0
        );
        assert_eq!(with_margin(f32::NAN).price(CandidateSource::Content), 2.0);
        assert_eq!(with_margin(0.3).price(CandidateSource::Memory), 0.0);
    }

    #[test]
    fn the_budget_goes_to_natural_candidates_before_templates() {
        let working = |c: Candidate, v: &[f32]| Working {
            candidate: c,
            prompt_vector: Some(unit(v)),
            answer_vector: None,
            predicted_vector: None,
        };
        let cands = vec![
            working(
                candidate("Write about a.", CandidateSource::Content, 0.7),
                &[1.0, 0.1, 0.0],
            ),
            working(
                candidate("Give tips.", CandidateSource::Generator, 0.6),
                &[0.0, 1.0, 0.0],
            ),
            working(
                candidate("Explain a.", CandidateSource::Content, 0.65),
                &[0.0, 0.0, 1.0],
            ),
        ];
        let order = |margin: f32| {
            let mut all = vec![cands.clone()];
            let o = with_margin(margin);
            resort(&mut all, &o);
            let picks = pick_round(&all[0], 1, &o);
            (
                all[0][0].candidate.prompt.clone(),
                all[0][picks[0]].candidate.prompt.clone(),
            )
        };
        assert_eq!(
            order(0.0),
            ("Write about a.".into(), "Write about a.".into())
        );
        assert_eq!(order(0.2), ("Give tips.".into(), "Give tips.".into()));
    }

    #[test]
    fn a_non_default_margin_names_the_method() {
        assert_eq!(with_margin(DEFAULT_CONTENT_MARGIN).method(), "fast");
        let o = SearchOptions {
            budget: SearchBudget::calls(4),
            ..with_margin(0.3)
        };
        assert_eq!(o.method(), "search-4-c0.3");
        assert_eq!(with_margin(f32::INFINITY).method(), "fast-c2");
    }
}
