//! The memory on synthetic datasets with small deterministic backends: order, split
//! discipline, resume after failures and torn files, extension, locking.

use std::collections::HashSet;
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use vec2prompt_core::{
    Embedder, EmbedderInfo, Error, FinishReason, Generation, GenerationParams, Llm, LlmInfo,
    Pooling, Result,
};
use vec2prompt_dataset::{Record, RecordKind, Split};
use vec2prompt_memory::{
    BuildOptions, DEFAULT_ORDER_SEED, Memory, MemoryConfig, RememberedAnswers, Status, memory_dir,
    train_order,
};

/// `n` records in file order, with the evaluation split of their position.
fn records(n: usize) -> Vec<Record> {
    (0..n)
        .map(|i| Record {
            id: format!("r{i}"),
            index: i,
            prompt: format!("Write about item {i}."),
            output: format!("Item {i} is fine."),
            tokens: 6,
            kind: RecordKind::Instruction,
            split: Split::of_index(i),
        })
        .collect()
}

/// An LLM whose answer is a function of the prompt; records every prompt it is asked and
/// can fail from its `fail_at`-th call on.
struct EchoLlm {
    info: LlmInfo,
    asked: Mutex<Vec<String>>,
    calls: AtomicUsize,
    fail_at: Option<usize>,
}

impl EchoLlm {
    fn new(fail_at: Option<usize>) -> Self {
        Self {
            info: LlmInfo {
                name: "echo".into(),
                context_length: 512,
            },
            asked: Mutex::new(Vec::new()),
            calls: AtomicUsize::new(0),
            fail_at,
        }
    }
}

impl Llm for EchoLlm {
    fn info(&self) -> &LlmInfo {
        &self.info
    }
    fn generate(
        &self,
        prompts: &[String],
        params: &GenerationParams,
    ) -> Result<Vec<Vec<Generation>>> {
        assert_eq!(*params, GenerationParams::default());
        let call = self.calls.fetch_add(1, Ordering::SeqCst);
        if self.fail_at.is_some_and(|f| call >= f) {
            return Err(Error::backend("echo", "simulated failure"));
        }
        self.asked.lock().unwrap().extend(prompts.iter().cloned());
        Ok(prompts
            .iter()
            .map(|p| {
                // Every 10th item answers nothing, to exercise empty answers.
                let text = if p.contains('0') && p.ends_with("0.") {
                    String::new()
                } else {
                    format!("An answer to {p}")
                };
                vec![Generation {
                    completion_tokens: text.len() / 4 + 1,
                    text,
                    prompt_tokens: p.len() / 4,
                    finish_reason: FinishReason::Stop,
                }]
            })
            .collect())
    }
}

/// A 4-dimensional embedder that hashes bytes into the vector.
struct HashEmbedder(EmbedderInfo);

impl HashEmbedder {
    fn new() -> Self {
        Self(EmbedderInfo {
            name: "hash".into(),
            dimension: 4,
            pooling: Pooling::Mean,
            normalized: false,
            max_tokens: 64,
        })
    }
}

impl Embedder for HashEmbedder {
    fn info(&self) -> &EmbedderInfo {
        &self.0
    }
    fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
        Ok(texts
            .iter()
            .map(|t| {
                let mut v = vec![1.0f32; 4];
                for (i, b) in t.bytes().enumerate() {
                    v[i % 4] += b as f32 * (i + 1) as f32;
                }
                v
            })
            .collect())
    }
}

fn config() -> MemoryConfig {
    MemoryConfig {
        llm: "echo max_new_tokens=128 greedy".into(),
        params: GenerationParams::default(),
        order_seed: DEFAULT_ORDER_SEED,
    }
}

fn build(dataset: &Path, recs: &[Record], llm: &EchoLlm, limit: Option<usize>) -> Result<usize> {
    let mut m = Memory::open(dataset, recs, HashEmbedder::new().info(), &config())?;
    let options = BuildOptions { limit, batch: 7 };
    m.build(recs, llm, &HashEmbedder::new(), &options, &mut |_, _| {})?;
    Ok(m.len())
}

fn load(dataset: &Path, recs: &[Record]) -> RememberedAnswers {
    RememberedAnswers::load(dataset, &config().llm, recs).unwrap()
}

#[test]
fn order_is_a_seeded_shuffle_of_the_train_split() {
    let recs = records(1000);
    let order = train_order(&recs, 0);
    assert_eq!(order, train_order(&recs, 0), "not deterministic");
    let train: HashSet<usize> = (0..1000)
        .filter(|&i| recs[i].split == Split::Train)
        .collect();
    assert_eq!(order.len(), train.len());
    assert_eq!(order.iter().copied().collect::<HashSet<_>>(), train);
    assert_ne!(order, train_order(&recs, 1), "the seed changes nothing");
    assert!(
        order.windows(2).filter(|w| w[0] < w[1]).count() < order.len() * 6 / 10,
        "not shuffled"
    );
    // A prefix is spread over the file: of the first 200, about half are from the first
    // half of the file (binomial sd ~7).
    let early = order[..200].iter().filter(|&&i| i < 500).count();
    assert!(
        (70..=130).contains(&early),
        "{early} of 200 from the first half"
    );
    // The order does not depend on where the records are or on other records: dropping
    // records leaves the others in the same relative order.
    let fewer: Vec<Record> = recs.iter().filter(|r| r.index % 3 != 0).cloned().collect();
    let ids = |rs: &[Record], o: Vec<usize>| -> Vec<String> {
        o.into_iter().map(|i| rs[i].id.clone()).collect()
    };
    let kept: HashSet<String> = fewer.iter().map(|r| r.id.clone()).collect();
    let full: Vec<String> = ids(&recs, order)
        .into_iter()
        .filter(|id| kept.contains(id))
        .collect();
    assert_eq!(full, ids(&fewer, train_order(&fewer, 0)));
}

#[test]
fn never_answers_a_validation_or_test_prompt() {
    let dir = tempfile::tempdir().unwrap();
    let recs = records(450);
    let llm = EchoLlm::new(None);
    let n = build(dir.path(), &recs, &llm, None).unwrap();
    let train: Vec<&Record> = recs.iter().filter(|r| r.split == Split::Train).collect();
    assert_eq!(n, train.len());
    let held_out: HashSet<&str> = recs
        .iter()
        .filter(|r| r.split != Split::Train)
        .map(|r| r.prompt.as_str())
        .collect();
    assert_eq!(held_out.len(), 10);
    let asked = llm.asked.lock().unwrap();
    assert_eq!(asked.len(), train.len(), "a prompt was answered twice");
    assert!(asked.iter().all(|p| !held_out.contains(p.as_str())));
    let m = load(dir.path(), &recs);
    assert!(m.entries.iter().all(|e| e.split == Split::Train));
    assert!(m.records.iter().all(|&i| recs[i].split == Split::Train));
    assert_eq!(
        m.entries
            .iter()
            .map(|e| &e.id)
            .collect::<HashSet<_>>()
            .len(),
        train.len()
    );

    // A memory that holds a held-out answer (written by hand) is refused by the loader.
    let lines = memory_dir(dir.path(), &config().llm).join("answers.jsonl");
    let text = std::fs::read_to_string(&lines).unwrap();
    let first = text.lines().next().unwrap();
    let id = &m.entries[0].id;
    let forged = first.replacen(&format!("\"id\":\"{id}\""), "\"id\":\"r7\"", 1);
    assert_ne!(forged, first);
    std::fs::write(&lines, text.replacen(first, &forged, 1)).unwrap();
    let err = RememberedAnswers::load(dir.path(), &config().llm, &recs)
        .unwrap_err()
        .to_string();
    assert!(err.contains("may only hold train answers"), "{err}");
}

#[test]
fn resumes_after_failures_and_torn_files_like_an_uninterrupted_run() {
    let recs = records(240);
    let clean = tempfile::tempdir().unwrap();
    build(clean.path(), &recs, &EchoLlm::new(None), None).unwrap();
    let reference = load(clean.path(), &recs);

    let dir = tempfile::tempdir().unwrap();
    // Fails on its 4th call: 3 batches of 7 are on disk.
    assert!(build(dir.path(), &recs, &EchoLlm::new(Some(3)), None).is_err());
    assert_eq!(Status::of(dir.path(), &config().llm).unwrap().done, 21);
    // A crash mid-batch: a torn line, and a whole line whose vector never made it.
    let mdir = memory_dir(dir.path(), &config().llm);
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(mdir.join("answers.jsonl"))
        .unwrap();
    let extra = load(clean.path(), &recs).entries[21].clone();
    writeln!(f, "{}", serde_json::to_string(&extra).unwrap()).unwrap();
    f.write_all(b"{\"id\":\"r9").unwrap();
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(mdir.join("answers.f32"))
        .unwrap();
    f.write_all(&[0, 1, 2]).unwrap();
    drop(f);
    // Readers see the complete rows only and change nothing.
    assert_eq!(Status::of(dir.path(), &config().llm).unwrap().done, 21);
    assert_eq!(load(dir.path(), &recs).len(), 21);

    let llm = EchoLlm::new(None);
    let n = build(dir.path(), &recs, &llm, None).unwrap();
    assert_eq!(n, reference.len());
    assert_eq!(llm.asked.lock().unwrap().len(), reference.len() - 21);
    let resumed = load(dir.path(), &recs);
    assert_eq!(resumed.entries.len(), reference.entries.len());
    for (a, b) in resumed.entries.iter().zip(&reference.entries) {
        assert_eq!((&a.id, &a.answer), (&b.id, &b.answer));
    }
    assert_eq!(resumed.embeddings, reference.embeddings);
    // Empty answers have the zero vector.
    let empty = resumed
        .entries
        .iter()
        .position(|e| e.answer.is_empty())
        .expect("some answers are empty");
    assert!(resumed.embedding(empty).iter().all(|&x| x == 0.0));
    // A finished memory has nothing left to do.
    let llm = EchoLlm::new(None);
    build(dir.path(), &recs, &llm, None).unwrap();
    assert!(llm.asked.lock().unwrap().is_empty());
}

#[test]
fn limit_builds_a_prefix_and_a_larger_limit_extends_it() {
    let recs = records(300);
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(
        build(dir.path(), &recs, &EchoLlm::new(None), Some(10)).unwrap(),
        10
    );
    let llm = EchoLlm::new(None);
    assert_eq!(build(dir.path(), &recs, &llm, Some(25)).unwrap(), 25);
    assert_eq!(llm.asked.lock().unwrap().len(), 15);
    // A smaller limit removes nothing.
    assert_eq!(
        build(dir.path(), &recs, &EchoLlm::new(None), Some(5)).unwrap(),
        25
    );
    let m = load(dir.path(), &recs);
    let order = train_order(&recs, DEFAULT_ORDER_SEED);
    let ids: Vec<&str> = m.entries.iter().map(|e| e.id.as_str()).collect();
    let expected: Vec<&str> = order[..25].iter().map(|&i| recs[i].id.as_str()).collect();
    assert_eq!(ids, expected);
    let status = Status::of(dir.path(), &config().llm).unwrap();
    assert_eq!(status.done, 25);
    assert_eq!(status.manifest.unwrap().train_records, order.len());
}

#[test]
fn one_writer_per_memory_and_one_memory_per_configuration() {
    let recs = records(120);
    let dir = tempfile::tempdir().unwrap();
    let embedder = HashEmbedder::new();
    let first = Memory::open(dir.path(), &recs, embedder.info(), &config()).unwrap();
    let err = Memory::open(dir.path(), &recs, embedder.info(), &config())
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("being built by another process"), "{err}");
    drop(first);
    // Another LLM configuration gets its own directory.
    let mut other = config();
    other.llm = "echo weights=f32 max_new_tokens=128 greedy".into();
    assert_ne!(
        memory_dir(dir.path(), &other.llm),
        memory_dir(dir.path(), &config().llm)
    );
    // A changed dataset, seed or embedder is refused, not mixed in.
    build(dir.path(), &recs, &EchoLlm::new(None), Some(3)).unwrap();
    let mut changed = recs.clone();
    changed[0].prompt.push_str(" Changed.");
    let err = Memory::open(dir.path(), &changed, embedder.info(), &config())
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("built for another dataset"), "{err}");
    let mut seeded = config();
    seeded.order_seed = 9;
    assert!(Memory::open(dir.path(), &recs, embedder.info(), &seeded).is_err());
    let mut info = embedder.info().clone();
    info.name = "other".into();
    assert!(Memory::open(dir.path(), &recs, &info, &config()).is_err());
}
