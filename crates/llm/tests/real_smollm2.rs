//! Integration tests on the real SmolLM2-135M-Instruct Q4_1 GGUF.
//!
//! `fixtures/smollm2_token_ids.json` holds token ids computed once with an independent
//! implementation, transformers' GGUF loader, by `scripts/make_reference_fixtures.py`
//! (the file's `how` field records the exact call).

use std::path::PathBuf;
use std::sync::OnceLock;
use vec2prompt_core::{FinishReason, GenerationParams, Llm, Sampling};
use vec2prompt_llm::{LocalLlm, LocalLlmConfig, WeightFormat};

fn gguf() -> Option<PathBuf> {
    vec2prompt_core::testing::real_model("SmolLM2-135M-Instruct")
        .map(|d| d.join("SmolLM2-135M-Instruct.Q4_1.gguf"))
}

fn llm() -> Option<&'static LocalLlm> {
    static LLM: OnceLock<Option<LocalLlm>> = OnceLock::new();
    LLM.get_or_init(|| gguf().map(|p| LocalLlm::load(&p, LocalLlmConfig::default()).unwrap()))
        .as_ref()
}

#[derive(serde::Deserialize)]
struct Case {
    text: String,
    ids: Vec<u32>,
}

#[derive(serde::Deserialize)]
struct Fixture {
    how: String,
    cases: Vec<Case>,
}

#[test]
fn a_fluent_request_has_lower_perplexity_than_its_words_shuffled() {
    let Some(llm) = llm() else { return };
    let fluent = llm
        .perplexity("Write a short thank-you email after a job interview.")
        .unwrap();
    let shuffled = llm
        .perplexity("interview email job thank-you after short a Write a.")
        .unwrap();
    let list = llm
        .perplexity("Explain regards, best, cheers and gratitude.")
        .unwrap();
    assert!(fluent < shuffled, "fluent {fluent} shuffled {shuffled}");
    assert!(fluent < list, "fluent {fluent} word list {list}");
    assert!(fluent > 1.0);
}

#[test]
fn tokenizer_matches_reference_ids() {
    let Some(llm) = llm() else { return };
    let fixture: Fixture =
        serde_json::from_str(include_str!("fixtures/smollm2_token_ids.json")).unwrap();
    assert!(fixture.how.contains("GGUF loader"));
    assert!(fixture.cases.len() >= 12);
    for case in &fixture.cases {
        let ids = llm.tokenizer().encode(&case.text).unwrap();
        assert_eq!(ids, case.ids, "token ids differ for {:?}", case.text);
        // Decoding gives the text back (special markers are dropped on decode).
        if !case.text.contains("<|") {
            assert_eq!(llm.tokenizer().decode(&ids).unwrap(), case.text);
        }
    }
}

#[test]
fn chat_prompt_uses_the_models_template() {
    let Some(llm) = llm() else { return };
    let ids = llm.prompt_ids("What is 2+2?").unwrap();
    let text = llm.tokenizer().inner.decode(&ids, false).unwrap();
    assert!(
        text.starts_with("<|im_start|>system\nYou are a helpful AI assistant named SmolLM"),
        "{text}"
    );
    assert!(
        text.ends_with("<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n"),
        "{text}"
    );
}

#[test]
fn greedy_answer_is_sensible_and_stops() {
    let Some(path) = gguf() else { return };
    // f32 weights: the exact computation, whose answer to this prompt is known.
    let config = LocalLlmConfig {
        weights: WeightFormat::F32,
        max_batch: 8,
    };
    let llm = LocalLlm::load(&path, config).unwrap();
    let g = llm
        .answer(
            "What is the capital of France?",
            &GenerationParams::default(),
        )
        .unwrap();
    // Quantized activations make the exact words depend on the weight format; any working
    // model answers about France, a broken one produces unrelated tokens.
    assert!(
        g.text.contains("Paris") || g.text.contains("France"),
        "{g:?}"
    );
    assert_eq!(g.finish_reason, FinishReason::Stop);
    assert!(g.completion_tokens < 128);
}

#[test]
fn left_padded_batch_matches_single_sequences() {
    use vec2prompt_llm::gguf::GgufFile;
    use vec2prompt_llm::llama::Llama;
    let Some(path) = gguf() else { return };
    let llm = llm().unwrap();
    // f32 weights: no activation quantization, so any difference comes from the batching.
    let model = Llama::load(&mut GgufFile::open(&path).unwrap(), WeightFormat::F32).unwrap();
    let prompts: Vec<Vec<u32>> = [
        "Name a color.",
        "Give three tips for staying healthy, with details.",
    ]
    .iter()
    .map(|p| llm.prompt_ids(p).unwrap())
    .collect();
    let longest = prompts.iter().map(|p| p.len()).max().unwrap();
    let pads: Vec<usize> = prompts.iter().map(|p| longest - p.len()).collect();
    let rows: Vec<Vec<u32>> = prompts
        .iter()
        .zip(&pads)
        .map(|(p, &pad)| {
            std::iter::repeat_n(0, pad)
                .chain(p.iter().copied())
                .collect()
        })
        .collect();
    let mut cache = model.new_cache(2, longest + 2).unwrap();
    let prefill = model
        .forward(&rows, &pads, &mut cache)
        .unwrap()
        .to_vec2::<f32>()
        .unwrap();
    let next = vec![vec![504u32], vec![504u32]];
    let step = model
        .forward(&next, &pads, &mut cache)
        .unwrap()
        .to_vec2::<f32>()
        .unwrap();
    for (i, p) in prompts.iter().enumerate() {
        let mut single = model.new_cache(1, p.len() + 2).unwrap();
        let a = model
            .forward(std::slice::from_ref(p), &[0], &mut single)
            .unwrap()
            .to_vec2::<f32>()
            .unwrap();
        let b = model
            .forward(&[vec![504]], &[0], &mut single)
            .unwrap()
            .to_vec2::<f32>()
            .unwrap();
        for (batched, alone) in [(&prefill[i], &a[0]), (&step[i], &b[0])] {
            let diff = batched
                .iter()
                .zip(alone)
                .map(|(x, y)| (x - y).abs())
                .fold(0f32, f32::max);
            assert!(diff < 1e-2, "row {i}: batched logits differ by {diff}");
        }
    }
}

#[test]
fn batch_answers_every_prompt_in_order() {
    let Some(llm) = llm() else { return };
    let prompts: Vec<String> = [
        "Count from 1 to 5.",
        "Name a color.",
        "Write the word banana three times.",
    ]
    .map(String::from)
    .to_vec();
    let params = GenerationParams {
        max_new_tokens: 24,
        ..Default::default()
    };
    let batched = llm.generate(&prompts, &params).unwrap();
    assert_eq!(batched.len(), 3);
    // Each answer belongs to its own prompt.
    assert!(batched[0][0].text.contains('3'), "{batched:?}");
    assert!(
        batched[1][0].text.to_lowercase().contains("colo"),
        "{batched:?}"
    );
    assert!(
        batched[2][0].text.to_lowercase().contains("banana"),
        "{batched:?}"
    );
}

#[test]
fn seeded_samples_are_reproducible_and_n_per_prompt() {
    let Some(llm) = llm() else { return };
    let params = GenerationParams {
        max_new_tokens: 16,
        sampling: Sampling::Sample {
            temperature: 0.9,
            top_p: 0.95,
            seed: 42,
        },
        n: 3,
    };
    let prompts = vec!["Write a short poem about the sea.".to_string()];
    let a = llm.generate(&prompts, &params).unwrap();
    let b = llm.generate(&prompts, &params).unwrap();
    assert_eq!(a, b);
    assert_eq!(a[0].len(), 3);
    assert!(
        a[0].iter().any(|g| g.text != a[0][0].text),
        "3 samples were identical: {a:?}"
    );
    assert!(a[0].iter().all(|g| g.completion_tokens <= 16));
}

#[test]
fn weight_formats_agree_on_next_token_logits() {
    use vec2prompt_llm::gguf::GgufFile;
    use vec2prompt_llm::llama::Llama;
    let Some(path) = gguf() else { return };
    let ids = llm()
        .unwrap()
        .prompt_ids("What is the capital of France?")
        .unwrap();
    let logits = |format| {
        let model = Llama::load(&mut GgufFile::open(&path).unwrap(), format).unwrap();
        let mut cache = model.new_cache(1, ids.len()).unwrap();
        model
            .forward(std::slice::from_ref(&ids), &[0], &mut cache)
            .unwrap()
            .to_vec2::<f32>()
            .unwrap()
            .remove(0)
    };
    let exact = logits(WeightFormat::F32);
    for format in [WeightFormat::Native, WeightFormat::Q8_0] {
        let c = vec2prompt_core::cosine(&exact, &logits(format));
        assert!(c > 0.99, "{format:?} logits diverge from f32: cos {c}");
    }
}

#[test]
fn overlong_prompt_is_a_clear_error() {
    let Some(llm) = llm() else { return };
    let long = "word ".repeat(9000);
    let err = llm
        .answer(&long, &GenerationParams::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("exceeds the model's context of 8192 tokens"),
        "{err}"
    );
    let err = llm
        .answer("  ", &GenerationParams::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("empty"), "{err}");
}

#[test]
fn greedy_answers_are_the_same_alone_and_in_batches_of_4_and_32() {
    let Some(llm) = llm() else { return };
    let topics = [
        "the ocean",
        "a city at night",
        "learning to cook",
        "saving money",
        "a lost key",
        "winter mornings",
        "a first job",
        "old trains",
    ];
    let forms = [
        "Write one sentence about {}.",
        "Give two tips about {}, each with a short reason.",
        "Describe {}.",
        "Explain to a child why people care about {}, in three sentences.",
    ];
    let prompts: Vec<Vec<u32>> = (0..32)
        .map(|i| {
            let text = forms[i % forms.len()].replace("{}", topics[i / forms.len()]);
            llm.prompt_ids(&text).unwrap()
        })
        .collect();
    let params = GenerationParams {
        max_new_tokens: 32,
        ..Default::default()
    };
    let answer = |batch: &[Vec<u32>]| -> Vec<Vec<u32>> {
        llm.generate_ids(batch, &params, false)
            .unwrap()
            .into_iter()
            .map(|mut a| a.remove(0).ids)
            .collect()
    };
    let alone: Vec<Vec<u32>> = prompts
        .iter()
        .flat_map(|p| answer(std::slice::from_ref(p)))
        .collect();
    for batch in [4, 32] {
        let together: Vec<Vec<u32>> = prompts.chunks(batch).flat_map(answer).collect();
        let differ: Vec<usize> = (0..prompts.len())
            .filter(|&i| together[i] != alone[i])
            .collect();
        assert!(
            differ.is_empty(),
            "batch {batch}: prompts {differ:?} got other greedy tokens than alone"
        );
    }
}
