//! Content candidates on a constructed embedding space where a text's vector is the sum of
//! its words' vectors: the greedy choice recovers the words a target was made from, the
//! word vectors are embedded once and then read from disk, and the search proposes and
//! measures requests naming the topics within its budget.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use vec2prompt_core::{
    Embedder, EmbedderInfo, FinishReason, Generation, GenerationParams, Llm, LlmInfo, Pooling,
    Result, TargetVector,
};
use vec2prompt_dataset::{Record, RecordKind, Split};
use vec2prompt_search::lexicon::join_words;
use vec2prompt_search::{
    CandidateSource, Environment, Lexicon, Neighbours, SearchBudget, SearchOptions, Searcher,
    TopicOptions,
};

const DIM: usize = 64;

/// Words the constructed space knows; any other word (and "and", "about", punctuation)
/// adds nothing to a text's vector.
const WORDS: &[&str] = &[
    "diet", "fruit", "sleep", "exercise", "paris", "france", "tower", "river", "poem", "ocean",
    "planet", "orbit", "bicycle", "wheel", "music", "guitar", "python", "code", "market", "price",
    "garden", "flower", "winter", "snow", "school", "teacher", "doctor", "health",
];

/// A text's vector is the normalized sum of fixed pseudo-random vectors of its known
/// words, so the nearest list to a target made of words is those words.
struct BagOfWords {
    info: EmbedderInfo,
    calls: AtomicUsize,
}

fn word_vector(word: &str) -> Vec<f32> {
    // A splitmix-style hash of the word seeds its vector: the same word, the same vector.
    let mut h: u64 = 0x9e37_79b9_7f4a_7c15;
    for b in word.bytes() {
        h = (h ^ b as u64).wrapping_mul(0x0100_0000_01b3);
    }
    (0..DIM)
        .map(|_| {
            h = h.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = h;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^= z >> 31;
            (z as f64 / u64::MAX as f64 * 2.0 - 1.0) as f32
        })
        .collect()
}

impl BagOfWords {
    fn new() -> Self {
        Self {
            info: EmbedderInfo {
                name: "bag-of-words".into(),
                dimension: DIM,
                pooling: Pooling::Mean,
                normalized: true,
                max_tokens: 512,
            },
            calls: AtomicUsize::new(0),
        }
    }
}

impl Embedder for BagOfWords {
    fn info(&self) -> &EmbedderInfo {
        &self.info
    }
    fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
        self.calls.fetch_add(texts.len(), Ordering::SeqCst);
        Ok(texts
            .iter()
            .map(|t| {
                let mut v = vec![1e-3f32; DIM];
                for w in t
                    .split(|c: char| !c.is_ascii_alphabetic())
                    .map(str::to_ascii_lowercase)
                    .filter(|w| WORDS.contains(&w.as_str()))
                {
                    for (x, y) in v.iter_mut().zip(word_vector(&w)) {
                        *x += y;
                    }
                }
                vec2prompt_core::l2_normalize(&mut v);
                v
            })
            .collect())
    }
}

/// Answers a prompt with its own words, so a request naming the target's words lands
/// near it; counts the prompts it answered.
struct EchoLlm {
    info: LlmInfo,
    calls: AtomicUsize,
}

impl Llm for EchoLlm {
    fn info(&self) -> &LlmInfo {
        &self.info
    }
    fn generate(&self, prompts: &[String], _: &GenerationParams) -> Result<Vec<Vec<Generation>>> {
        self.calls.fetch_add(prompts.len(), Ordering::SeqCst);
        Ok(prompts
            .iter()
            .map(|p| {
                vec![Generation {
                    text: format!("Here is an answer. {p}"),
                    prompt_tokens: 1,
                    completion_tokens: 1,
                    finish_reason: FinishReason::Stop,
                }]
            })
            .collect())
    }
}

fn words() -> Vec<String> {
    WORDS.iter().map(|w| w.to_string()).collect()
}

fn lexicon(embedder: &BagOfWords, cache: &std::path::Path) -> Lexicon {
    Lexicon::load_or_build(words(), embedder, cache, &mut |_, _| {}).unwrap()
}

#[test]
fn the_greedy_choice_recovers_the_words_a_target_was_made_of() {
    let embedder = BagOfWords::new();
    let dir = tempfile::tempdir().unwrap();
    let lexicon = lexicon(&embedder, dir.path());
    let made_of = [
        vec!["diet", "fruit", "sleep"],
        vec!["paris", "tower"],
        vec!["python", "code", "market", "price"],
    ];
    let texts: Vec<String> = made_of.iter().map(|w| w.join(" ")).collect();
    let targets = embedder.embed(&texts).unwrap();
    let topics = lexicon
        .topics_batch(&targets, &embedder, &TopicOptions::default())
        .unwrap();
    for (t, want) in topics.iter().zip(&made_of) {
        let got: HashSet<&str> = t.words.iter().map(String::as_str).collect();
        let want: HashSet<&str> = want.iter().copied().collect();
        assert_eq!(got, want, "topics {:?}", t.words);
        assert!(t.similarity > 0.99, "similarity {}", t.similarity);
    }
    // Each query is searched as it would be alone: the batch changes nothing.
    let alone = lexicon
        .topics_batch(&targets[1..2], &embedder, &TopicOptions::default())
        .unwrap();
    assert_eq!(alone[0], topics[1]);
    // A list is capped at the maximum word count.
    let capped = lexicon
        .topics_batch(
            &targets[2..3],
            &embedder,
            &TopicOptions {
                max_words: 2,
                ..TopicOptions::default()
            },
        )
        .unwrap();
    assert_eq!(capped[0].words.len(), 2);
    assert!(
        lexicon
            .topics_batch(&[vec![0.0; 3]], &embedder, &TopicOptions::default())
            .is_err()
    );
}

#[test]
fn word_vectors_are_embedded_once_then_read_from_disk() {
    let embedder = BagOfWords::new();
    let dir = tempfile::tempdir().unwrap();
    let first = lexicon(&embedder, dir.path());
    let built = embedder.calls.load(Ordering::SeqCst);
    assert_eq!(built, WORDS.len());
    let again = lexicon(&embedder, dir.path());
    assert_eq!(
        embedder.calls.load(Ordering::SeqCst),
        built,
        "read from disk"
    );
    let q = embedder.embed_one("snow winter").unwrap();
    assert_eq!(first.nearest(&q, 2), again.nearest(&q, 2));
    // Another word list is another file: nothing stale is read.
    let fewer: Vec<String> = words().into_iter().take(10).collect();
    let small = Lexicon::load_or_build(fewer, &embedder, dir.path(), &mut |_, _| {}).unwrap();
    assert_eq!(small.len(), 10);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
}

fn neighbours(embedder: &dyn Embedder) -> Neighbours {
    // Train records about other things than the targets below.
    let records: Vec<Record> = (0..20)
        .map(|i| Record {
            id: i.to_string(),
            index: i,
            prompt: format!("Write a poem about the ocean (variant {i})."),
            output: "ocean poem".to_string(),
            tokens: 5,
            kind: RecordKind::Instruction,
            split: Split::of_index(i),
        })
        .collect();
    let outputs: Vec<f32> = embedder
        .embed(&records.iter().map(|r| r.output.clone()).collect::<Vec<_>>())
        .unwrap()
        .concat();
    Neighbours::from_parts(records, &outputs, None, DIM).unwrap()
}

#[test]
fn the_search_proposes_and_measures_requests_naming_the_topics() {
    let embedder = Arc::new(BagOfWords::new());
    let llm = Arc::new(EchoLlm {
        info: LlmInfo {
            name: "echo".into(),
            context_length: 1024,
        },
        calls: AtomicUsize::new(0),
    });
    let dir = tempfile::tempdir().unwrap();
    let lexicon = Arc::new(lexicon(&embedder, dir.path()));
    let env = Environment::new(llm.clone(), embedder.clone());
    let searcher = Searcher::new(env, Some(Arc::new(neighbours(embedder.as_ref()))), None)
        .unwrap()
        .with_lexicon(lexicon)
        .unwrap();
    let target = TargetVector::new(
        "target",
        embedder.embed_one("garden flower winter").unwrap(),
        DIM,
    )
    .unwrap();
    let options = SearchOptions {
        budget: SearchBudget::calls(2),
        variants: 8,
        ..SearchOptions::default()
    };
    let r = searcher.search(&target, &options).unwrap();
    assert!(r.llm_calls <= 2 && llm.calls.load(Ordering::SeqCst) <= 2);
    let content: Vec<_> = r
        .candidates
        .iter()
        .filter(|c| c.source == CandidateSource::Content)
        .collect();
    assert!(!content.is_empty());
    let list = join_words(&["garden".into(), "flower".into(), "winter".into()]);
    // The best list names all three words; the other lists name some of them.
    assert!(
        ["garden", "flower", "winter"]
            .iter()
            .all(|w| content[0].prompt.contains(w)),
        "{content:?} should name {list} first"
    );
    assert!(
        content.iter().all(|c| c.prompt.contains("garden")
            || c.prompt.contains("flower")
            || c.prompt.contains("winter")),
        "{content:?}"
    );
    // The ocean poems are far from the target; a measured request naming it is the best.
    assert_eq!(r.best.source, CandidateSource::Content);
    assert!(r.best.similarity.unwrap() > 0.95, "{:?}", r.best);
    // A lexicon of another dimension is refused.
    let other = Lexicon::from_parts(vec!["x".into()], vec![1.0, 0.0], 2).unwrap();
    let env = Environment::new(llm, embedder.clone());
    assert!(
        Searcher::new(env, Some(Arc::new(neighbours(embedder.as_ref()))), None)
            .unwrap()
            .with_lexicon(Arc::new(other))
            .is_err()
    );
}

#[test]
fn the_beam_keeps_distinct_lists_best_first() {
    let embedder = BagOfWords::new();
    let dir = tempfile::tempdir().unwrap();
    let lexicon = lexicon(&embedder, dir.path());
    let target = embedder.embed_one("ocean planet orbit").unwrap();
    let options = TopicOptions {
        lists: 3,
        ..TopicOptions::default()
    };
    let lists = lexicon
        .topic_lists_batch(std::slice::from_ref(&target), &embedder, &options)
        .unwrap()
        .pop()
        .unwrap();
    assert_eq!(lists.len(), 3);
    // The best list is the greedy one, and no two lists hold the same words.
    let greedy = lexicon
        .topics_batch(std::slice::from_ref(&target), &embedder, &options)
        .unwrap()
        .pop()
        .unwrap();
    assert_eq!(lists[0].words.len(), 3);
    let set = |t: &vec2prompt_search::Topics| t.words.iter().cloned().collect::<HashSet<_>>();
    assert_eq!(set(&lists[0]), set(&greedy));
    for (a, b) in lists.iter().zip(&lists[1..]) {
        assert!(a.similarity >= b.similarity);
        assert_ne!(set(a), set(b));
    }
    for (i, a) in lists.iter().enumerate() {
        for b in &lists[i + 1..] {
            assert_ne!(set(a), set(b));
        }
    }
}

#[test]
fn a_few_estimated_extensions_per_step_find_the_lists_that_embedding_every_one_finds() {
    let embedder = BagOfWords::new();
    let dir = tempfile::tempdir().unwrap();
    let lexicon = lexicon(&embedder, dir.path());
    let targets: Vec<Vec<f32>> = [
        "diet fruit sleep exercise",
        "ocean planet orbit",
        "music guitar python code market",
        "garden flower winter snow school",
    ]
    .iter()
    .map(|t| embedder.embed_one(t).unwrap())
    .collect();
    let run = |checked: usize| {
        let options = TopicOptions {
            checked,
            ..TopicOptions::default()
        };
        let before = embedder.calls.load(Ordering::SeqCst);
        let lists = lexicon
            .topic_lists_batch(&targets, &embedder, &options)
            .unwrap();
        (lists, embedder.calls.load(Ordering::SeqCst) - before)
    };
    let (every, all_texts) = run(0);
    let (few, few_texts) = run(2);
    assert_eq!(few, every);
    assert!(
        few_texts * 3 < all_texts,
        "{few_texts} texts embedded against {all_texts}"
    );
}
