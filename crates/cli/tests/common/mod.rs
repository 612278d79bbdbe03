//! Helpers shared by the end-to-end tests of the `vec2prompt` binary.
#![allow(dead_code)] // each test file uses its own subset

use std::process::Command;

/// The binary under test, without the generator and the content lexicon unless a test
/// sets `VEC2PROMPT_GENERATOR` or `VEC2PROMPT_LEXICON` itself: the generator's decode adds
/// seconds to every search, the lexicon's first build half a minute to every fresh home,
/// and most tests are about something else (tests/generator.rs and tests/content.rs run
/// the product with them).
pub fn bin() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vec2prompt"));
    cmd.env("VEC2PROMPT_GENERATOR", "none");
    cmd.env("VEC2PROMPT_LEXICON", "none");
    cmd
}

/// The shipped generator adapter in the source tree.
pub fn shipped_generator() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../assets/generator")
}

/// Whether the real models are fetched (fails the test when they are missing, unless
/// `VEC2PROMPT_SKIP_MODEL_TESTS=1`, see `vec2prompt_core::testing::real_model`).
pub fn models_present() -> bool {
    vec2prompt_core::testing::real_model("all-MiniLM-L6-v2").is_some()
        && vec2prompt_core::testing::real_model("SmolLM2-135M-Instruct").is_some()
}

/// Links the real base models into a fresh `$VEC2PROMPT_HOME`'s `models/`.
pub fn link_models(home: &std::path::Path) {
    let models = home.join("models");
    std::fs::create_dir_all(&models).unwrap();
    for name in ["all-MiniLM-L6-v2", "SmolLM2-135M-Instruct"] {
        let real = vec2prompt_core::testing::real_model(name).expect("checked by models_present");
        std::os::unix::fs::symlink(real, models.join(name)).unwrap();
    }
}

/// Topics of the synthetic instruction datasets.
pub const TOPICS: &[&str] = &[
    "the ocean",
    "a mountain",
    "bread",
    "a violin",
    "the moon",
    "a garden",
    "chess",
    "rain",
    "a train",
    "coffee",
    "a library",
    "winter",
    "a bicycle",
    "volcanoes",
    "honey bees",
];

/// A running `vec2prompt serve` on a free loopback port, killed when dropped.
pub struct Served {
    /// The server process.
    pub child: std::process::Child,
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    /// Its stderr lines so far.
    pub log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Served {
    /// Starts `vec2prompt serve` with `args` and waits until it listens.
    pub fn start(args: &[&str]) -> Served {
        Served::start_in(None, args)
    }

    /// Starts `vec2prompt serve` with `args`, and with `home` as `$VEC2PROMPT_HOME` when
    /// one is given, and waits until it listens.
    pub fn start_in(home: Option<&std::path::Path>, args: &[&str]) -> Served {
        use std::io::BufRead;
        let mut cmd = bin();
        if let Some(home) = home {
            cmd.env("VEC2PROMPT_HOME", home);
        }
        let mut child = cmd
            .args(["serve", "--host", "127.0.0.1", "--port", "0"])
            .args(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("the binary starts");
        let stderr = child.stderr.take().expect("piped stderr");
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let lines = log.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                if let Some(addr) = line.split("listening on http://").nth(1) {
                    let _ = tx.send(addr.trim().to_string());
                }
                lines.lock().unwrap().push(line);
            }
        });
        match rx.recv_timeout(std::time::Duration::from_secs(180)) {
            Ok(addr) => Served {
                child,
                url: format!("http://{addr}"),
                log,
            },
            Err(_) => {
                let _ = child.kill();
                panic!("server did not start: {:?}", log.lock().unwrap());
            }
        }
    }

    /// POSTs JSON and returns (status, body as JSON).
    pub fn post(&self, path: &str, body: &serde_json::Value) -> (u16, serde_json::Value) {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(std::time::Duration::from_secs(600)))
            .build()
            .into();
        let mut r = agent
            .post(&format!("{}{path}", self.url))
            .header("content-type", "application/json")
            .send(body.to_string())
            .unwrap_or_else(|e| panic!("POST {path}: {e}"));
        let status = r.status().as_u16();
        let text = r.body_mut().read_to_string().unwrap_or_default();
        let json = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("POST {path} answered non-JSON ({e}): {status} {text}"));
        (status, json)
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A synthetic instruction dataset in JSONL (Alpaca fields), `n` rows.
pub fn write_jsonl(path: &std::path::Path, n: usize) {
    let mut s = String::new();
    for i in 0..n {
        let topic = TOPICS[i % TOPICS.len()];
        let row = serde_json::json!({
            "instruction": format!("Write one sentence about {topic} (variant {i})."),
            "input": if i % 3 == 0 { format!("Mention the number {i}.") } else { String::new() },
            "output": format!("Here is a sentence about {topic}: it is remarkable in its own way, number {i}."),
        });
        s.push_str(&row.to_string());
        s.push('\n');
    }
    std::fs::write(path, s).unwrap();
}

/// `vec2prompt ingest` of `input` into `dataset`, in batches of 40.
pub fn ingest(input: &std::path::Path, dataset: &std::path::Path) -> Command {
    let mut c = bin();
    c.args(["ingest", "--batch", "40", "--input"])
        .arg(input)
        .arg("--dataset")
        .arg(dataset);
    c
}

/// A synthetic dataset of `n` rows written and ingested under `dir`; returns the
/// dataset directory.
pub fn ingested_dataset(dir: &std::path::Path, n: usize) -> std::path::PathBuf {
    let input = dir.join("rows.jsonl");
    write_jsonl(&input, n);
    let dataset = dir.join("dataset");
    assert!(ingest(&input, &dataset).status().unwrap().success());
    dataset
}

/// Starts `c`, waits until the checkpoint state in `state` (a run's `state.json`) has
/// reached `step`, and kills the process (SIGKILL) while it still runs: a resume test's
/// interruption. Fails if no such checkpoint appears within `timeout` or the run ends
/// first.
pub fn kill_at_checkpoint(
    mut c: Command,
    state: &std::path::Path,
    step: u64,
    timeout: std::time::Duration,
) {
    use std::process::Stdio;
    let mut child = c
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    loop {
        let reached = std::fs::read_to_string(state)
            .ok()
            .and_then(|s| serde_json::from_str::<serde_json::Value>(&s).ok())
            .and_then(|v| v["step"].as_u64())
            .unwrap_or(0);
        if reached >= step {
            break;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before step {step}"
        );
        assert!(started.elapsed() < timeout, "no checkpoint written");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(
        child.try_wait().unwrap().is_none(),
        "the run finished before it could be killed"
    );
    child.kill().unwrap();
    child.wait().unwrap();
}
