//! The surrogate trained on the environment memory learns what the LLM really answers,
//! not what the dataset's reference answers say: a tiny synthetic world where the two
//! disagree, trained end to end through the pipeline.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::path::Path;
use vec2prompt_core::{Embedder, EmbedderInfo, Pooling, Result};
use vec2prompt_dataset::{Record, RecordKind, Split};
use vec2prompt_train::{MemoryTargets, ModelKind, TrainData, TrainOptions, run};

const DIM: usize = 8;

/// Stands in for the embedder: the pipeline only reads its name and dimension.
struct Space(EmbedderInfo);

impl Embedder for Space {
    fn info(&self) -> &EmbedderInfo {
        &self.0
    }
    fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
        Ok(texts.iter().map(|_| vec![0.0; DIM]).collect())
    }
}

fn unit(rng: &mut StdRng) -> Vec<f32> {
    let v: Vec<f32> = (0..DIM).map(|_| rng.random_range(-1.0..1.0)).collect();
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.into_iter().map(|x| x / n).collect()
}

fn cos(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let n = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (n(a) * n(b))
}

/// The environment's answer to prompt embedding p: the coordinates reversed (the
/// dataset's reference answers are unrelated random vectors).
fn environment(p: &[f32]) -> Vec<f32> {
    p.iter().rev().copied().collect()
}

struct World {
    data: TrainData,
    /// (prompt embedding, real answer) of held-out prompts.
    probe: Vec<(Vec<f32>, Vec<f32>)>,
}

fn world(n: usize, empty_every: usize) -> World {
    let mut rng = StdRng::seed_from_u64(3);
    let mut records = Vec::new();
    let (mut outputs, mut prompts) = (Vec::new(), Vec::new());
    let mut memory = MemoryTargets {
        llm: "tiny llm".into(),
        positions: Vec::new(),
        vectors: Vec::new(),
    };
    for i in 0..n {
        let p = unit(&mut rng);
        let split = Split::of_index(i);
        records.push(Record {
            id: i.to_string(),
            index: i,
            prompt: format!("prompt {i}"),
            output: format!("output {i}"),
            tokens: 4,
            kind: RecordKind::Instruction,
            split,
        });
        outputs.extend(unit(&mut rng));
        prompts.extend(&p);
        if split == Split::Train {
            memory.positions.push(i);
            // Now and then the LLM answered nothing: a zero row.
            if empty_every > 0 && i % empty_every == 0 {
                memory.vectors.extend([0.0; DIM]);
            } else {
                memory.vectors.extend(environment(&p));
            }
        }
    }
    let probe = (0..50)
        .map(|_| {
            let p = unit(&mut rng);
            let a = environment(&p);
            (p, a)
        })
        .collect();
    World {
        data: TrainData {
            records,
            outputs,
            prompts,
            memory: Some(memory),
        },
        probe,
    }
}

fn options(dir: &Path, config: &Path) -> TrainOptions {
    TrainOptions {
        model: ModelKind::Surrogate,
        dataset: dir.to_path_buf(),
        out: dir.join("latent"),
        train_config: Some(config.to_path_buf()),
        max_steps: None,
        epochs: None,
        limit: None,
        finish: false,
        quiet: true,
        max_minutes: None,
        command: "test".into(),
        init_from: None,
    }
}

fn space() -> Space {
    Space(EmbedderInfo {
        name: "tiny space".into(),
        dimension: DIM,
        pooling: Pooling::Mean,
        normalized: true,
        max_tokens: 16,
    })
}

/// Mean cosine of the exported surrogate's prediction and the real answer on `probe`.
fn probe_cosine(dir: &Path, probe: &[(Vec<f32>, Vec<f32>)]) -> f32 {
    let model = vec2prompt_latent::LatentModel::load(dir).unwrap();
    let inputs: Vec<Vec<f32>> = probe.iter().map(|(p, _)| p.clone()).collect();
    let predicted = model.predict(&inputs).unwrap();
    predicted
        .iter()
        .zip(probe)
        .map(|(y, (_, a))| cos(y, a))
        .sum::<f32>()
        / probe.len() as f32
}

#[test]
fn trained_on_the_memory_it_predicts_the_llms_own_answers() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("train.yaml");
    std::fs::write(
        &config,
        "surrogate:\n  model: {hidden: 32, loss: cosine}\n  train: {epochs: 40, batch_size: 32, lr: 0.01, warmup: 10, weight_decay: 0.0, patience: 40, seed: 0, checkpoint_seconds: 600}\n",
    )
    .unwrap();
    let w = world(800, 17);
    let opts = options(dir.path(), &config);
    run(&opts, w.data, &space(), Path::new("")).unwrap();
    let card = std::fs::read_to_string(opts.out.join("surrogate-card.md")).unwrap();
    assert!(
        card.contains("held-out remembered answers of tiny llm"),
        "{card}"
    );
    let on_memory = probe_cosine(&opts.out, &w.probe);

    // The same world trained on the dataset's reference answers learns nothing about the
    // environment.
    let mut w = world(800, 17);
    w.data.memory = None;
    let dir2 = tempfile::tempdir().unwrap();
    let opts = options(dir2.path(), &config);
    run(&opts, w.data, &space(), Path::new("")).unwrap();
    let on_dataset = probe_cosine(&opts.out, &w.probe);
    assert!(on_memory > 0.9, "memory-trained: {on_memory}");
    assert!(on_dataset < 0.5, "dataset-trained: {on_dataset}");
}

#[test]
fn a_memory_too_small_to_hold_out_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("train.yaml");
    std::fs::write(&config, "surrogate:\n  model: {hidden: 8}\n").unwrap();
    let mut w = world(800, 0);
    if let Some(m) = w.data.memory.as_mut() {
        m.positions.truncate(10);
        m.vectors.truncate(10 * DIM);
    }
    let err = run(
        &options(dir.path(), &config),
        w.data,
        &space(),
        Path::new(""),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("vec2prompt remember --limit"), "{err}");
}
