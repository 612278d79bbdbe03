//! Integration test on the real all-MiniLM-L6-v2: vec2prompt's embeddings must reproduce
//! sentence-transformers. The reference vectors in `fixtures/minilm_reference.json` were
//! computed once with the Python sentence-transformers package by
//! `scripts/make_reference_fixtures.py` (the file's `how` field records the exact call).

use vec2prompt_core::{Embedder, cosine};
use vec2prompt_embed::{LocalEmbedder, LocalEmbedderConfig};

#[derive(serde::Deserialize)]
struct Fixture {
    how: String,
    max_seq_length: usize,
    sentences: Vec<String>,
    vectors: Vec<Vec<f32>>,
}

#[test]
fn reproduces_sentence_transformers() {
    let Some(dir) = vec2prompt_core::testing::real_model("all-MiniLM-L6-v2") else {
        return;
    };
    let fixture: Fixture =
        serde_json::from_str(include_str!("fixtures/minilm_reference.json")).unwrap();
    assert!(fixture.how.contains("sentence-transformers"));
    // Batch size 3 mixes lengths across batches: padding must not change any vector.
    let embedder = LocalEmbedder::load(&dir, LocalEmbedderConfig { batch_size: 3 }).unwrap();
    assert_eq!(embedder.info().max_tokens, fixture.max_seq_length);
    assert!(embedder.info().normalized);
    let got = embedder.embed(&fixture.sentences).unwrap();
    for ((s, want), got) in fixture.sentences.iter().zip(&fixture.vectors).zip(&got) {
        assert_eq!(got.len(), 384);
        let c = cosine(want, got);
        eprintln!("cos {c:.7} {}", &s[..s.len().min(30)]);
        assert!(c >= 0.9999, "cos {c} < 0.9999 for {s:?}");
    }
    // The long sentence really was truncated at the model's limit.
    let long = fixture.sentences.iter().max_by_key(|s| s.len()).unwrap();
    assert_eq!(
        embedder.tokenize(long).unwrap().len(),
        fixture.max_seq_length
    );
}
