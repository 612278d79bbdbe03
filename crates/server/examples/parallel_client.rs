//! A parallel-requests example against a running `vec2prompt serve`: embed N texts
//! through `/v1/embeddings`, generate a prompt for each embedding sequentially (N
//! `/generate_prompt` requests one after another), then in parallel (one
//! `/generate_prompts_parallel` request, and N concurrent `/generate_prompt` requests),
//! and print the times, the speedups and the parallel summary.
//!
//! ```sh
//! vec2prompt serve &
//! cargo run --release -p vec2prompt-server --example parallel_client -- --n 8 --evaluate-quality
//! ```

use clap::Parser;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// Sequential versus parallel prompt generation against a vec2prompt server.
#[derive(Debug, Parser)]
struct Args {
    /// Base URL of the server.
    #[clap(long, env = "VEC2PROMPT_URL", default_value = "http://127.0.0.1:8080")]
    url: String,
    /// API key, if the server requires one.
    #[clap(long, env = "VEC2PROMPT_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
    /// Number of targets (the first N texts).
    #[clap(long, env = "VEC2PROMPT_EXAMPLE_N", default_value_t = 8)]
    n: usize,
    /// File with one target text per line [default: 16 built-in answer-like texts].
    #[clap(long, env = "VEC2PROMPT_EXAMPLE_TEXTS")]
    texts: Option<std::path::PathBuf>,
    /// Measure each prompt's real similarity (one LLM answer per target): the model work
    /// whose batching the parallel run shows.
    #[clap(long, env = "VEC2PROMPT_EXAMPLE_EVALUATE")]
    evaluate_quality: bool,
    /// LLM calls per target the search may spend (0 = fast mode).
    #[clap(long, env = "VEC2PROMPT_EXAMPLE_BUDGET", default_value_t = 0)]
    budget: usize,
    /// `max_concurrent` of the parallel request (1–50).
    #[clap(long, env = "VEC2PROMPT_EXAMPLE_MAX_CONCURRENT", default_value_t = 16)]
    max_concurrent: usize,
}

const TEXTS: &[&str] = &[
    "Eat a balanced diet, exercise regularly and get enough sleep.",
    "The capital of France is Paris.",
    "Photosynthesis turns light, water and carbon dioxide into sugar and oxygen.",
    "A haiku has three lines of five, seven and five syllables.",
    "To reverse a list in Python, use reversed() or the slice [::-1].",
    "The three primary colors are red, blue and yellow.",
    "Dear team, the meeting is moved to Thursday at 10am.",
    "Saving early lets compound interest do most of the work.",
    "The French Revolution began in 1789 with the storming of the Bastille.",
    "Happy, joyful, cheerful, content and delighted are synonyms.",
    "Water boils at 100 degrees Celsius at sea level.",
    "Start the day with a glass of water and a short walk.",
    "The quick brown fox jumps over the lazy dog.",
    "Renewable energy comes from sources that are naturally replenished, like sun and wind.",
    "A good cover letter is short, specific and addressed to a person.",
    "The mitochondria is the powerhouse of the cell.",
];

struct Client {
    agent: ureq::Agent,
    url: String,
    auth: Option<String>,
}

impl Client {
    fn post(&self, path: &str, body: &Value) -> Result<Value, String> {
        let mut req = self
            .agent
            .post(format!("{}{path}", self.url.trim_end_matches('/')));
        if let Some(a) = &self.auth {
            req = req.header("Authorization", a);
        }
        let mut res = req.send_json(body).map_err(|e| format!("{path}: {e}"))?;
        let status = res.status().as_u16();
        let v: Value = res
            .body_mut()
            .read_json()
            .map_err(|e| format!("{path}: {e}"))?;
        if status != 200 {
            return Err(format!("{path}: {status} {v}"));
        }
        Ok(v)
    }

    fn get(&self, path: &str) -> Result<Value, String> {
        let mut res = self
            .agent
            .get(format!("{}{path}", self.url.trim_end_matches('/')))
            .call()
            .map_err(|e| format!("{path}: {e}"))?;
        res.body_mut()
            .read_json()
            .map_err(|e| format!("{path}: {e}"))
    }
}

fn main() {
    if let Err(e) = run(Args::parse()) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn run(args: Args) -> Result<(), String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(3600)))
        .build()
        .into();
    let client = Client {
        agent,
        url: args.url.clone(),
        auth: args.api_key.as_ref().map(|k| format!("Bearer {k}")),
    };
    let health = client.get("/health")?;
    println!(
        "server: {} (llm {}, embedder {}, {} train records)",
        args.url,
        health["llm"]["name"],
        health["embedder"]["name"],
        health["dataset"]["train_records"]
    );
    let texts: Vec<String> = match &args.texts {
        Some(p) => std::fs::read_to_string(p)
            .map_err(|e| format!("{}: {e}", p.display()))?
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(String::from)
            .collect(),
        None => TEXTS.iter().map(|s| s.to_string()).collect(),
    };
    let texts: Vec<String> = texts.into_iter().cycle().take(args.n).collect();
    let embedded = client.post("/v1/embeddings", &json!({"model": "any", "input": texts}))?;
    let embeddings: Vec<Value> = embedded["data"]
        .as_array()
        .ok_or("no data in /v1/embeddings response")?
        .iter()
        .map(|d| d["embedding"].clone())
        .collect();
    let n = embeddings.len();
    let options = json!({"budget": args.budget});
    println!(
        "{n} targets, evaluate_quality = {}, budget = {}",
        args.evaluate_quality, args.budget
    );

    // Sequential: one request after another.
    let t = Instant::now();
    let mut sequential_sims = Vec::new();
    for e in &embeddings {
        let r = client.post(
            "/generate_prompt",
            &json!({"target_embedding": e, "evaluate_quality": args.evaluate_quality, "options": options}),
        )?;
        if let Some(s) = r["metadata"]["similarity"].as_f64() {
            sequential_sims.push(s);
        }
    }
    let sequential = t.elapsed().as_secs_f64();
    println!("sequential:  {sequential:8.2} s  ({n} × /generate_prompt)");

    // Parallel endpoint: one request, items batched max_concurrent at a time.
    let t = Instant::now();
    let parallel = client.post(
        "/generate_prompts_parallel",
        &json!({
            "embeddings": embeddings,
            "max_concurrent": args.max_concurrent,
            "evaluate_quality": args.evaluate_quality,
            "options": options,
        }),
    )?;
    let endpoint = t.elapsed().as_secs_f64();
    println!(
        "parallel:    {endpoint:8.2} s  (/generate_prompts_parallel, max_concurrent {})  speedup {:.2}×",
        args.max_concurrent,
        sequential / endpoint
    );

    // N concurrent single requests: the server's worker batches them together.
    let t = Instant::now();
    let results: Vec<Result<Value, String>> = std::thread::scope(|s| {
        let handles: Vec<_> = embeddings
            .iter()
            .map(|e| {
                let client = &client;
                let options = &options;
                s.spawn(move || {
                    client.post(
                        "/generate_prompt",
                        &json!({"target_embedding": e, "evaluate_quality": args.evaluate_quality, "options": options}),
                    )
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err("thread panicked".into())))
            .collect()
    });
    let concurrent = t.elapsed().as_secs_f64();
    let failed = results.iter().filter(|r| r.is_err()).count();
    println!(
        "concurrent:  {concurrent:8.2} s  ({n} concurrent /generate_prompt, {failed} failed)  speedup {:.2}×",
        sequential / concurrent
    );
    if let Some(Err(e)) = results.iter().find(|r| r.is_err()) {
        println!("  first failure: {e}");
    }

    let s = &parallel["summary"];
    let pm = &parallel["metadata"]["performance_metrics"];
    println!(
        "summary: {} processed, {} successful, {} failed, {:.2} s; similarity avg {} max {} min {}; \
         {:.2} requests/s, {:.2} s average per item",
        s["total_processed"],
        s["successful"],
        s["failed"],
        s["processing_time"].as_f64().unwrap_or(0.0),
        fmt(&s["average_similarity"]),
        fmt(&s["max_similarity"]),
        fmt(&s["min_similarity"]),
        pm["requests_per_second"].as_f64().unwrap_or(0.0),
        pm["average_processing_time"].as_f64().unwrap_or(0.0),
    );
    if !sequential_sims.is_empty() {
        let mean = sequential_sims.iter().sum::<f64>() / sequential_sims.len() as f64;
        println!("sequential similarity avg {mean:.4}");
    }
    for r in parallel["results"].as_array().into_iter().flatten().take(3) {
        println!(
            "  [{}] {:?} → {}",
            r["embedding_index"],
            r["original_prompt"].as_str().unwrap_or("-"),
            fmt(&r["original_result"]["similarity"])
        );
    }
    Ok(())
}

fn fmt(v: &Value) -> String {
    v.as_f64()
        .map_or_else(|| "-".to_string(), |x| format!("{x:.4}"))
}
