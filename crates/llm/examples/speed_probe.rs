use vec2prompt_core::GenerationParams;
use vec2prompt_llm::{LocalLlm, LocalLlmConfig, WeightFormat};
fn main() {
    let p = std::path::PathBuf::from(std::env::args().nth(1).unwrap());
    let f: WeightFormat = std::env::args().nth(2).unwrap().parse().unwrap();
    let b: usize = std::env::args().nth(3).unwrap().parse().unwrap();
    let llm = LocalLlm::load(
        &p,
        LocalLlmConfig {
            weights: f,
            max_batch: 64,
        },
    )
    .unwrap();
    let ids = llm
        .prompt_ids("Write a long story about a dragon who learns to code.")
        .unwrap();
    let prompts = vec![ids.clone(); b];
    let params = GenerationParams {
        max_new_tokens: 128,
        ..Default::default()
    };
    let t = std::time::Instant::now();
    llm.generate_ids(&prompts, &params, true).unwrap();
    let dt = t.elapsed().as_secs_f64();
    println!(
        "{f:?} batch {b}: {:.1} tok/s (incl prefill)",
        (b * 128) as f64 / dt
    );
}
