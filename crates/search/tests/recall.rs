//! Fast mode and search with the environment memory, on a memory really built (by
//! `vec2prompt_memory`) with counting fakes of the LLM and the embedder: memory candidates
//! carry their real similarity and cost no LLM call; a neighbour whose answer is remembered
//! is not answered again; a partial memory's distant answers do not beat a better
//! neighbour in fast mode.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use vec2prompt_core::{
    Embedder, EmbedderInfo, FinishReason, Generation, GenerationParams, Llm, LlmInfo, Pooling,
    Result, TargetVector,
};
use vec2prompt_dataset::{Record, RecordKind, Split};
use vec2prompt_memory::{BuildOptions, Memory, MemoryConfig, RememberedAnswers};
use vec2prompt_search::{
    CandidateSource, Environment, Neighbours, Recall, SearchBudget, SearchOptions, Searcher,
};

const DIM: usize = 8;

/// Answers with a fixed transformation of the prompt and records every prompt answered.
struct RecordingLlm {
    info: LlmInfo,
    asked: Mutex<Vec<String>>,
}

impl Llm for RecordingLlm {
    fn info(&self) -> &LlmInfo {
        &self.info
    }
    fn generate(&self, prompts: &[String], _: &GenerationParams) -> Result<Vec<Vec<Generation>>> {
        self.asked.lock().unwrap().extend(prompts.iter().cloned());
        Ok(prompts
            .iter()
            .map(|p| {
                vec![Generation {
                    text: format!("the reply {}", p.to_uppercase()),
                    prompt_tokens: 1,
                    completion_tokens: 1,
                    finish_reason: FinishReason::Stop,
                }]
            })
            .collect())
    }
}

/// A deterministic, normalized bag-of-bytes embedding.
struct HashEmbedder(EmbedderInfo);

impl Embedder for HashEmbedder {
    fn info(&self) -> &EmbedderInfo {
        &self.0
    }
    fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
        Ok(texts
            .iter()
            .map(|t| {
                let mut v = vec![0.01f32; DIM];
                for (i, b) in t.bytes().enumerate() {
                    v[(b as usize * 7 + i) % DIM] += 1.0;
                }
                vec2prompt_core::l2_normalize(&mut v);
                v
            })
            .collect())
    }
}

struct World {
    /// The dataset directory (records.jsonl, embeddings/, memory/).
    dir: tempfile::TempDir,
    records: Vec<Record>,
    llm: Arc<RecordingLlm>,
    embedder: Arc<HashEmbedder>,
    memory: RememberedAnswers,
    searcher: Searcher,
}

/// 60 records (58 train), a memory of the first `remembered` train records of the order.
fn world(remembered: usize) -> World {
    let records: Vec<Record> = (0..60)
        .map(|i| Record {
            id: format!("r{i}"),
            index: i,
            prompt: format!("prompt number {i} {}", "xyzw".repeat(i % 5)),
            output: format!("output {} {i}", "ab".repeat(i % 7)),
            tokens: 4,
            kind: RecordKind::Instruction,
            split: Split::of_index(i),
        })
        .collect();
    let llm = Arc::new(RecordingLlm {
        info: LlmInfo {
            name: "recording".into(),
            context_length: 1024,
        },
        asked: Mutex::new(Vec::new()),
    });
    let embedder = Arc::new(HashEmbedder(EmbedderInfo {
        name: "hash".into(),
        dimension: DIM,
        pooling: Pooling::Mean,
        normalized: true,
        max_tokens: 64,
    }));
    let dir = tempfile::tempdir().unwrap();
    vec2prompt_dataset::write_records(&dir.path().join("records.jsonl"), &records).unwrap();
    let config = MemoryConfig {
        llm: "recording greedy".into(),
        params: GenerationParams::default(),
        order_seed: 0,
    };
    let mut m = Memory::open(dir.path(), &records, embedder.info(), &config).unwrap();
    let options = BuildOptions {
        limit: Some(remembered),
        batch: 8,
    };
    m.build(
        &records,
        llm.as_ref(),
        embedder.as_ref(),
        &options,
        &mut |_, _| {},
    )
    .unwrap();
    drop(m);
    let memory = RememberedAnswers::load(dir.path(), &config.llm, &records).unwrap();
    llm.asked.lock().unwrap().clear();

    let texts = |f: fn(&Record) -> &str| -> Vec<String> {
        records.iter().map(|r| f(r).to_string()).collect()
    };
    let outputs: Vec<f32> = embedder.embed(&texts(|r| &r.output)).unwrap().concat();
    let prompts: Vec<f32> = embedder.embed(&texts(|r| &r.prompt)).unwrap().concat();
    let neighbours =
        Neighbours::from_parts(records.clone(), &outputs, Some(&prompts), DIM).unwrap();
    let recall = Recall::new(&memory, &records, Some(&prompts)).unwrap();
    assert_eq!(recall.len(), remembered);
    let env = Environment::new(llm.clone(), embedder.clone());
    let searcher = Searcher::new(env, Some(Arc::new(neighbours)), None)
        .unwrap()
        .with_recall(Arc::new(recall))
        .unwrap();
    World {
        dir,
        records,
        llm,
        embedder,
        memory,
        searcher,
    }
}

fn options(budget: usize) -> SearchOptions {
    SearchOptions {
        budget: SearchBudget::calls(budget),
        candidates: 4,
        ..SearchOptions::default()
    }
}

#[test]
fn fast_mode_picks_the_prompt_whose_real_answer_is_nearest_without_an_llm_call() {
    let w = world(40);
    // The target is a remembered answer itself: its prompt is the best possible pick.
    let pick = 17;
    let target = TargetVector::new("t", w.memory.embedding(pick).to_vec(), DIM).unwrap();
    let r = w.searcher.search(&target, &options(0)).unwrap();
    assert_eq!(r.llm_calls, 0);
    assert!(
        w.llm.asked.lock().unwrap().is_empty(),
        "fast mode called the LLM"
    );
    assert_eq!(r.best.source, CandidateSource::Memory);
    assert_eq!(
        r.best.record_id.as_deref(),
        Some(w.memory.entries[pick].id.as_str())
    );
    assert_eq!(
        r.best.answer.as_deref(),
        Some(w.memory.entries[pick].answer.as_str())
    );
    let s = r.best.similarity.unwrap();
    assert!((s - 1.0).abs() < 1e-5, "similarity {s}");
    // The known similarity is the real one: the environment agrees.
    let real = w
        .searcher
        .environment()
        .evaluate(std::slice::from_ref(&r.best.prompt), &[&target.values])
        .unwrap();
    assert!((real[0].similarity - s).abs() < 1e-5);
}

#[test]
fn search_never_spends_a_call_on_a_remembered_prompt() {
    let w = world(58);
    let remembered: HashSet<String> = w
        .memory
        .records
        .iter()
        .map(|&i| w.records[i].prompt.clone())
        .collect();
    let target =
        TargetVector::new("t", w.embedder.embed_one("output abab 3").unwrap(), DIM).unwrap();
    let r = w.searcher.search(&target, &options(2)).unwrap();
    // Every candidate is a remembered train prompt (the whole train split is in memory),
    // so the search knows all of their real similarities and answers none.
    assert_eq!(r.llm_calls, 0);
    let asked = w.llm.asked.lock().unwrap();
    assert!(asked.iter().all(|p| !remembered.contains(p)), "{asked:?}");
    let best = r
        .candidates
        .iter()
        .filter_map(|c| c.similarity)
        .fold(f32::MIN, f32::max);
    assert_eq!(r.best.similarity, Some(best));
}

#[test]
fn fast_mode_prefers_a_better_predicted_neighbour_to_a_distant_memory() {
    // A memory of 3 answers: far from most targets.
    let w = world(3);
    let remembered: HashSet<&str> = w.memory.entries.iter().map(|e| e.id.as_str()).collect();
    // The target is the output embedding of a train record that is not remembered: its
    // neighbour score is 1.0, above what any of the 3 remembered answers reaches.
    let (i, r) = w
        .records
        .iter()
        .enumerate()
        .find(|(_, r)| r.split == Split::Train && !remembered.contains(r.id.as_str()))
        .unwrap();
    let target = TargetVector::new("t", w.embedder.embed_one(&r.output).unwrap(), DIM).unwrap();
    let res = w.searcher.search(&target, &options(0)).unwrap();
    let memory_best = res
        .candidates
        .iter()
        .filter(|c| c.source == CandidateSource::Memory)
        .filter_map(|c| c.similarity)
        .fold(f32::MIN, f32::max);
    assert!(
        memory_best < 0.999,
        "the constructed case needs a distant memory"
    );
    assert_eq!(res.best.source, CandidateSource::Neighbour);
    assert_eq!(
        res.best.record_id.as_deref(),
        Some(w.records[i].id.as_str())
    );
    assert_eq!(res.llm_calls, 0);
}

#[test]
fn loads_from_a_dataset_directory_with_its_prompt_embeddings() {
    let w = world(20);
    let llm = "recording greedy";
    // Without prompt embeddings in the store, the candidates carry none.
    let recall = Recall::load(w.dir.path(), llm, w.embedder.info(), None).unwrap();
    assert_eq!(recall.len(), 20);
    let id = &w.memory.entries[5].id;
    let r = recall.get(id).unwrap();
    assert_eq!(r.answer, w.memory.entries[5].answer);
    assert_eq!(r.answer_vector, w.memory.embedding(5));
    assert!(r.prompt_vector.is_none());
    // A limit keeps a prefix of the memory's order: a smaller memory.
    let small = Recall::load(w.dir.path(), llm, w.embedder.info(), Some(7)).unwrap();
    assert_eq!(small.len(), 7);
    assert!(small.get(&w.memory.entries[6].id).is_some());
    assert!(small.get(&w.memory.entries[7].id).is_none());
    // With them, each remembered prompt carries its own E(p).
    let prompts: Vec<String> = w.records.iter().map(|x| x.prompt.clone()).collect();
    let mut store =
        vec2prompt_store::EmbeddingStore::open(w.dir.path(), w.embedder.info()).unwrap();
    store
        .fill("prompts", &prompts, w.embedder.as_ref(), 16, &mut |_, _| {})
        .unwrap();
    let recall = Recall::load(w.dir.path(), llm, w.embedder.info(), None).unwrap();
    let r = recall.get(id).unwrap();
    let expected = w.embedder.embed_one(&r.prompt).unwrap();
    assert_eq!(r.prompt_vector.as_deref(), Some(expected.as_slice()));
    // Another embedder's space is refused, as is a memory that was never built.
    let mut other = w.embedder.info().clone();
    other.name = "other".into();
    assert!(Recall::load(w.dir.path(), llm, &other, None).is_err());
    let err = Recall::load(w.dir.path(), "another llm", w.embedder.info(), None)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("vec2prompt remember"), "{err}");
}
