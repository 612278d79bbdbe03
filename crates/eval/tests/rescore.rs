//! Re-scoring in a perturbed environment: the same choices, new scores. A prompt that
//! scored well on the luck of its greedy answer loses its score when answers are sampled;
//! one whose answers land near the target whatever the sample keeps it.

use std::sync::Arc;
use vec2prompt_core::{
    Embedder, EmbedderInfo, FinishReason, Generation, GenerationParams, Llm, LlmInfo, Pooling,
    Result, Sampling,
};
use vec2prompt_dataset::{Record, RecordKind, Split};
use vec2prompt_eval::report::{Choice, TargetRow};
use vec2prompt_eval::{AnswerCache, CachedLlm, MethodReport, Perturbed, Report, rescore};

/// Answers `on target` to the robust prompt always; to the lucky prompt only when greedy.
struct Fickle(LlmInfo);

impl Llm for Fickle {
    fn info(&self) -> &LlmInfo {
        &self.0
    }
    fn generate(
        &self,
        prompts: &[String],
        params: &GenerationParams,
    ) -> Result<Vec<Vec<Generation>>> {
        let greedy = params.sampling == Sampling::Greedy;
        Ok(prompts
            .iter()
            .map(|p| {
                let text = match p.as_str() {
                    "robust" => "on target",
                    "lucky" if greedy => "on target",
                    _ => "off target",
                };
                vec![Generation {
                    text: text.into(),
                    prompt_tokens: 1,
                    completion_tokens: 2,
                    finish_reason: FinishReason::Stop,
                }]
            })
            .collect())
    }
}

/// `on target` → e0, anything else → e1.
struct Axis(EmbedderInfo);

impl Embedder for Axis {
    fn info(&self) -> &EmbedderInfo {
        &self.0
    }
    fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
        Ok(texts
            .iter()
            .map(|t| {
                if t == "on target" {
                    vec![1.0, 0.0]
                } else {
                    vec![0.0, 1.0]
                }
            })
            .collect())
    }
}

fn method(name: &str, mean: f64) -> MethodReport {
    MethodReport {
        method: name.into(),
        mean,
        median: mean,
        ci95: [mean, mean],
        normalized: 0.0,
        win_rate_vs_oracle: 0.0,
        llm_calls_per_target: 3.0,
        seconds_per_target: 1.5,
        seconds_p50: 1.5,
        prompt_tokens: 1.0,
        copy_rate: 0.0,
        remembered_per_target: 0.0,
        quality: None,
        sources: Default::default(),
    }
}

#[test]
fn the_same_choices_score_again_and_luck_is_lost() {
    // Record 0 is the target (its output points at e0); its own prompt is `robust`.
    let records: Vec<Record> = ["robust", "lucky", "other"]
        .iter()
        .enumerate()
        .map(|(i, p)| Record {
            id: i.to_string(),
            index: 100 + i,
            prompt: p.to_string(),
            output: String::new(),
            tokens: 1,
            kind: RecordKind::Instruction,
            split: if i == 0 { Split::Test } else { Split::Train },
        })
        .collect();
    let outputs = vec![1.0, 0.0, 0.0, 1.0, 0.0, 1.0];
    let choice = |m: &str, record: Option<usize>, prompt: Option<&str>| Choice {
        method: m.into(),
        prompt_record: record,
        prompt: prompt.map(str::to_string),
        score: 1.0,
    };
    let greedy = Report {
        command: "test".into(),
        date: String::new(),
        llm: "fickle".into(),
        embedder: "axis".into(),
        targets: 1,
        split: "test".into(),
        seed: 0,
        answers_generated: 0,
        answers_cached: 0,
        memory_answers: 0,
        methods: vec![
            method("random", 0.0),
            method("oracle", 1.0),
            method("lucky-search", 1.0),
            method("robust-writer", 1.0),
        ],
        per_target: vec![TargetRow {
            id: "0".into(),
            index: 100,
            choices: vec![
                choice("random", Some(102), None),
                choice("oracle", Some(100), None),
                choice("lucky-search", Some(101), None),
                // A prompt the learned models wrote (no record).
                choice("robust-writer", None, Some("robust")),
            ],
        }],
        ranking: None,
        answer_prefix: Vec::new(),
        environment: String::new(),
        provenance: None,
        perturbed: Vec::new(),
    };
    let dir = tempfile::tempdir().unwrap();
    let inner: Arc<dyn Llm> = Arc::new(Fickle(LlmInfo {
        name: "fickle".into(),
        context_length: 64,
    }));
    let llms: Vec<CachedLlm> = (0..3)
        .map(|seed| {
            let params = GenerationParams {
                sampling: Sampling::Sample {
                    temperature: 0.7,
                    top_p: 1.0,
                    seed,
                },
                ..Default::default()
            };
            let cache = AnswerCache::open(dir.path(), &format!("fickle seed={seed}")).unwrap();
            CachedLlm::new(inner.clone(), cache, params, 8)
        })
        .collect();
    let env = Perturbed {
        name: "sampled".into(),
        llms: llms.iter().collect(),
    };
    let embedder = Axis(EmbedderInfo {
        name: "axis".into(),
        dimension: 2,
        pooling: Pooling::Mean,
        normalized: true,
        max_tokens: 8,
    });
    let mut seen = Vec::new();
    let r = rescore(
        &greedy,
        &records,
        &outputs,
        &env,
        &embedder,
        50,
        &mut |done, total| seen.push((done, total)),
    )
    .unwrap();
    assert_eq!(r.environment, "sampled");
    let score = |name: &str| r.methods.iter().find(|m| m.method == name).unwrap().mean;
    assert_eq!(score("oracle"), 1.0);
    assert_eq!(score("robust-writer"), 1.0);
    assert_eq!(score("lucky-search"), 0.0);
    assert_eq!(score("random"), 0.0);
    let normalized = |name: &str| {
        r.methods
            .iter()
            .find(|m| m.method == name)
            .unwrap()
            .normalized
    };
    assert_eq!(normalized("robust-writer"), 1.0);
    assert_eq!(normalized("lucky-search"), 0.0);
    // The choices and their costs are the greedy run's.
    let lucky = &r.per_target[0].choices[2];
    assert_eq!(lucky.prompt_record, Some(101));
    assert_eq!(lucky.score, 0.0);
    assert_eq!(r.methods[2].llm_calls_per_target, 3.0);
    // Three distinct prompts answered in each of three seeded environments.
    assert_eq!(seen.last(), Some(&(9, 9)));
    // The greedy report renders the perturbed one below its own table.
    let mut both = greedy.clone();
    both.perturbed.push(r);
    let md = both.to_markdown();
    assert!(md.contains("perturbed environment: sampled"), "{md}");
}
