//! The search's promises, on tiny random models and counting fakes of the LLM and the
//! embedder: fast mode makes zero LLM calls, a search never exceeds its budget of calls,
//! the wall-time limit stops new rounds, the best prompt is the one with the best expected
//! similarity (at answer weight 1 the best measured one), and the
//! closed loop recombines the best measured prompts' instructions and inputs.

use candle_core::{DType, Device};
use candle_nn::{VarBuilder, VarMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use vec2prompt_core::{
    Embedder, EmbedderInfo, FinishReason, Generation, GenerationParams, Llm, LlmInfo, Pooling,
    Result, TargetVector,
};
use vec2prompt_dataset::{Record, RecordKind, Split};
use vec2prompt_latent::params::seeded_init;
use vec2prompt_latent::{
    ConditionalDecoder, DecoderConfig, LatentModel, PromptTokenizer, Surrogate, SurrogateConfig,
};
use vec2prompt_search::{
    CandidateSource, Environment, Neighbours, SearchBudget, SearchOptions, Searcher,
};

const DIM: usize = 8;

/// Answers every prompt with a fixed transformation and counts the prompts it answered.
struct CountingLlm {
    info: LlmInfo,
    calls: AtomicUsize,
}

impl Llm for CountingLlm {
    fn info(&self) -> &LlmInfo {
        &self.info
    }
    fn generate(&self, prompts: &[String], _: &GenerationParams) -> Result<Vec<Vec<Generation>>> {
        self.calls.fetch_add(prompts.len(), Ordering::SeqCst);
        Ok(prompts
            .iter()
            .map(|p| {
                vec![Generation {
                    text: format!("an answer about {p}"),
                    prompt_tokens: 1,
                    completion_tokens: 1,
                    finish_reason: FinishReason::Stop,
                }]
            })
            .collect())
    }
}

/// A deterministic bag-of-bytes embedding.
struct HashEmbedder {
    info: EmbedderInfo,
}

impl Embedder for HashEmbedder {
    fn info(&self) -> &EmbedderInfo {
        &self.info
    }
    fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
        Ok(texts
            .iter()
            .map(|t| {
                let mut v = vec![0.01f32; DIM];
                for (i, b) in t.bytes().enumerate() {
                    v[(b as usize + i) % DIM] += 1.0;
                }
                vec2prompt_core::l2_normalize(&mut v);
                v
            })
            .collect())
    }
}

fn env() -> (Environment, Arc<CountingLlm>) {
    let llm = Arc::new(CountingLlm {
        info: LlmInfo {
            name: "counting".into(),
            context_length: 1024,
        },
        calls: AtomicUsize::new(0),
    });
    let embedder = Arc::new(HashEmbedder {
        info: EmbedderInfo {
            name: "hash".into(),
            dimension: DIM,
            pooling: Pooling::Mean,
            normalized: true,
            max_tokens: 64,
        },
    });
    (Environment::new(llm.clone(), embedder), llm)
}

const PROMPTS: [&str; 6] = [
    "Give three tips for staying healthy.",
    "Describe the water cycle.",
    "Write a poem about the sea.",
    "List the planets of the solar system.",
    "Explain how a bicycle works.",
    "Name five fruits.",
];

fn neighbours(embedder: &dyn Embedder) -> Neighbours {
    // Every other prompt has an input after a blank line, as instruction data does.
    neighbours_with(embedder, |i| i % 2 == 0)
}

fn neighbours_with(embedder: &dyn Embedder, has_input: fn(usize) -> bool) -> Neighbours {
    let n = 200;
    let records: Vec<Record> = (0..n)
        .map(|i| Record {
            id: i.to_string(),
            index: i,
            prompt: if has_input(i) {
                format!(
                    "{} (variant {i})\n\nabout item {i}",
                    PROMPTS[i % PROMPTS.len()]
                )
            } else {
                format!("{} (variant {i})", PROMPTS[i % PROMPTS.len()])
            },
            output: format!("output {i}"),
            tokens: 5,
            kind: RecordKind::Instruction,
            split: Split::of_index(i),
        })
        .collect();
    let outputs: Vec<f32> = embedder
        .embed(&records.iter().map(|r| r.output.clone()).collect::<Vec<_>>())
        .unwrap()
        .concat();
    let prompts: Vec<f32> = embedder
        .embed(&records.iter().map(|r| r.prompt.clone()).collect::<Vec<_>>())
        .unwrap()
        .concat();
    Neighbours::from_parts(records, &outputs, Some(&prompts), DIM).unwrap()
}

fn latent() -> LatentModel {
    latent_with(true)
}

/// The tiny random models; without the inverter the candidates are the dataset's prompts.
fn latent_with(inverter: bool) -> LatentModel {
    let corpus: Vec<String> = (0..20)
        .flat_map(|_| PROMPTS.iter().map(|s| s.to_string()))
        .collect();
    let tok = PromptTokenizer::train(corpus.iter().map(|s| s.as_str()), 120).unwrap();
    let decoder = |condition: usize| {
        let cfg = DecoderConfig {
            vocab: tok.vocab_size(),
            dim: 16,
            layers: 1,
            heads: 2,
            hidden: 16,
            prefix: 2,
            condition,
            max_tokens: 40,
        };
        let vm = VarMap::new();
        let d =
            ConditionalDecoder::new(&cfg, VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu))
                .unwrap();
        // Seeded weights: every run of a test sees the same random models.
        seeded_init(&vm, condition as u64).unwrap();
        d
    };
    let vm = VarMap::new();
    let surrogate = Surrogate::new(
        &SurrogateConfig {
            dim: DIM,
            hidden: 16,
            loss: "cosine".into(),
        },
        VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu),
    )
    .unwrap();
    seeded_init(&vm, 1).unwrap();
    let (inv, cor) = (decoder(DIM), decoder(3 * DIM));
    LatentModel::from_parts(
        PathBuf::from("tiny"),
        surrogate,
        Some(tok),
        inverter.then_some(inv),
        Some(cor),
    )
}

fn searcher() -> (Searcher, Arc<CountingLlm>) {
    let (env, llm) = env();
    let n = neighbours(env.embedder.as_ref());
    let s = Searcher::new(env, Some(Arc::new(n)), Some(Arc::new(latent()))).unwrap();
    (s, llm)
}

fn targets(s: &Searcher) -> Vec<TargetVector> {
    s.environment()
        .embedder
        .embed(&[
            "output 7".into(),
            "output 42".into(),
            "something else".into(),
        ])
        .unwrap()
        .into_iter()
        .map(|v| TargetVector::new("target", v, DIM).unwrap())
        .collect()
}

#[test]
fn fast_mode_makes_zero_llm_calls() {
    let (s, llm) = searcher();
    let options = SearchOptions {
        variants: 5,
        ..SearchOptions::default()
    };
    for r in s.search_batch(&targets(&s), &options) {
        let r = r.unwrap();
        assert_eq!(r.llm_calls, 0);
        assert_eq!(r.method, "fast");
        assert!(r.best.similarity.is_none(), "fast mode measures nothing");
        assert!(!r.best.prompt.is_empty());
        assert!(r.candidates.len() > 1);
    }
    assert_eq!(llm.calls.load(Ordering::SeqCst), 0);
}

#[test]
fn search_never_exceeds_its_budget() {
    // The two-stage search, and the closed loop with one, three and more rounds than calls.
    for (budget, rounds) in [1, 2, 3, 4, 7, 16]
        .into_iter()
        .flat_map(|b| [None, Some(1), Some(3), Some(20)].map(|r| (b, r)))
    {
        let (s, llm) = searcher();
        let ts = targets(&s);
        let options = SearchOptions {
            budget: SearchBudget::calls(budget),
            variants: 40,
            rounds,
            ..SearchOptions::default()
        };
        let results = s.search_batch(&ts, &options);
        let mut reported = 0;
        for r in results {
            let r = r.unwrap();
            assert!(
                r.llm_calls <= budget,
                "budget {budget}: {} calls",
                r.llm_calls
            );
            assert!(r.llm_calls >= 1, "a budget is used");
            let method = match rounds {
                None => format!("search-{budget}"),
                Some(r) => format!("loop{}-{budget}", r.min(budget)),
            };
            assert_eq!(r.method, method);
            let measured = r
                .candidates
                .iter()
                .filter(|c| c.similarity.is_some())
                .count();
            assert_eq!(measured, r.llm_calls, "every call measured one candidate");
            // The best prompt is the measured one with the best expected similarity.
            assert!(
                r.candidates
                    .iter()
                    .all(|c| c.similarity.is_some() == c.estimate.is_some())
            );
            let top = r
                .candidates
                .iter()
                .filter_map(|c| c.estimate)
                .fold(f32::MIN, f32::max);
            assert!(r.best.similarity.is_some());
            assert_eq!(r.best.estimate, Some(top));
            reported += r.llm_calls;
        }
        let made = llm.calls.load(Ordering::SeqCst);
        assert_eq!(
            made, reported,
            "budget {budget}, rounds {rounds:?}: the LLM saw exactly the reported calls"
        );
        assert!(made <= budget * ts.len());
    }
}

#[test]
fn wall_time_limit_stops_llm_rounds() {
    for rounds in [None, Some(4)] {
        let (s, llm) = searcher();
        let options = SearchOptions {
            budget: SearchBudget {
                max_llm_calls: 16,
                max_wall: Some(Duration::ZERO),
            },
            rounds,
            ..SearchOptions::default()
        };
        let r = s.search(&targets(&s)[0], &options).unwrap();
        assert_eq!(r.llm_calls, 0);
        assert_eq!(llm.calls.load(Ordering::SeqCst), 0);
    }
}

#[test]
fn without_a_dataset_the_inverter_alone_proposes() {
    let (env, llm) = env();
    let s = Searcher::new(env, None, Some(Arc::new(latent()))).unwrap();
    let ts = targets(&s);
    let fast = s.search(&ts[0], &SearchOptions::default()).unwrap();
    assert_eq!(fast.llm_calls, 0);
    assert_eq!(fast.best.source, CandidateSource::Inverter);
    assert_eq!(llm.calls.load(Ordering::SeqCst), 0);
    let options = SearchOptions {
        budget: SearchBudget::calls(3),
        ..SearchOptions::default()
    };
    let r = s.search(&ts[0], &options).unwrap();
    assert!(r.llm_calls <= 3);
    assert_eq!(llm.calls.load(Ordering::SeqCst), r.llm_calls);
}

#[test]
fn at_answer_weight_one_the_best_prompt_is_the_best_measured() {
    let (s, _) = searcher();
    for rounds in [None, Some(2)] {
        let options = SearchOptions {
            budget: SearchBudget::calls(5),
            variants: 40,
            rounds,
            answer_weight: 1.0,
            ..SearchOptions::default()
        };
        for r in s.search_batch(&targets(&s), &options) {
            let r = r.unwrap();
            assert!(r.method.ends_with("-w1"), "{}", r.method);
            let top = r
                .candidates
                .iter()
                .filter_map(|c| c.similarity)
                .fold(f32::MIN, f32::max);
            assert_eq!(r.best.similarity, Some(top));
            assert_eq!(r.best.estimate, Some(top));
        }
    }
}

#[test]
fn the_closed_loop_recombines_the_best_measured_prompts() {
    // Every remembered prompt has an input and no inverter samples inputless ones, so
    // whichever prompts the random surrogate ranks first, the first round measures prompts
    // whose parts can be recombined.
    let (env, _) = env();
    let n = neighbours_with(env.embedder.as_ref(), |_| true);
    let s = Searcher::new(env, Some(Arc::new(n)), Some(Arc::new(latent_with(false)))).unwrap();
    let options = SearchOptions {
        budget: SearchBudget::calls(6),
        variants: 400,
        rounds: Some(2),
        ..SearchOptions::default()
    };
    for r in s.search_batch(&targets(&s), &options) {
        let r = r.unwrap();
        assert!(r.llm_calls <= 6);
        let mut seen = 0;
        let measured: Vec<&str> = r
            .candidates
            .iter()
            .filter(|c| c.similarity.is_some() && c.source != CandidateSource::Recombined)
            .map(|c| c.prompt.as_str())
            .collect();
        let parts: Vec<(&str, Option<&str>)> = measured
            .iter()
            .map(|p| match p.split_once("\n\n") {
                Some((a, b)) => (a, Some(b)),
                None => (*p, None),
            })
            .collect();
        for c in r
            .candidates
            .iter()
            .filter(|c| c.source == CandidateSource::Recombined)
        {
            seen += 1;
            let (instruction, input) = c.prompt.split_once("\n\n").unwrap();
            // Another measured prompt's input under a measured prompt's instruction.
            assert!(
                parts
                    .iter()
                    .any(|(a, b)| *a == instruction && *b != Some(input)),
                "{:?} from {measured:?}",
                c.prompt
            );
            assert!(parts.iter().any(|(_, b)| *b == Some(input)));
        }
        assert!(seen > 0, "no recombination was proposed for a target");
    }
}
