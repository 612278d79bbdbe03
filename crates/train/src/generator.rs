//! Stage 1 of the generator: supervised training of the projector and the adapters on
//! E(answer) → prompt, teacher-forced, with the loss on the prompt's tokens only.
//!
//! The loop is step-based and time-boxed (a 135M-parameter decoder does not see a whole
//! epoch in minutes on a CPU): AdamW with warmup and cosine decay over a planned number of
//! steps, a checkpoint every `checkpoint_steps` (adapter, moments, data position, the
//! evaluation history, written so `kill -9` at any moment leaves a consistent pair; see
//! [`crate::kit::checkpoint`]), and an evaluation every `eval_steps` on a fixed validation
//! subset: the validation loss and the same loss with the conditions shuffled across the
//! batch. If the decoder uses the condition, the shuffled loss is clearly higher.

pub use crate::kit::RunLimits;
use crate::kit::checkpoint::{self, EpochLog, TrainState};
use crate::kit::optim::AdamW;
use crate::kit::{Card, Schedule, candle_err as model_err, descend};
use candle_core::{Device, Tensor};
use candle_nn::VarMap;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::Instant;
use vec2prompt_core::chart::{Series, line_chart};
use vec2prompt_core::{Error, Result};
use vec2prompt_latent::generator::{AdapterManifest, Base, Generator, file_sha256, set_vars};
use vec2prompt_latent::generator_decode::{DecodeOptions, is_loop};
use vec2prompt_latent::generator_model::{GeneratorConfig, GeneratorModel, Layout};
use vec2prompt_latent::params::seeded_init;

/// Stage-1 settings (the `generator` section of the training config).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GeneratorTrainConfig {
    /// Shape of the trainable part (`condition` is taken from the dataset's embedder).
    pub model: GeneratorConfig,
    /// Sequences per step.
    pub batch_size: usize,
    /// Peak learning rate.
    pub lr: f64,
    /// Linear warmup steps.
    pub warmup: usize,
    /// Planned steps (the cosine schedule's length; the run is finished after them).
    pub steps: usize,
    /// AdamW decoupled weight decay.
    pub weight_decay: f64,
    /// Steps between checkpoints.
    pub checkpoint_steps: usize,
    /// Steps between evaluations.
    pub eval_steps: usize,
    /// Validation sequences evaluated (the first ones of the split: the same every time).
    pub val_examples: usize,
    /// Longest prompt in tokens; longer ones are cut (and then carry no end-of-turn).
    pub max_prompt_tokens: usize,
    /// Validation targets decoded greedily for the loop rate at the end.
    pub loop_targets: usize,
    /// Seed of initialization and data order.
    pub seed: u64,
}

impl Default for GeneratorTrainConfig {
    fn default() -> Self {
        Self {
            model: GeneratorConfig::default(),
            batch_size: 8,
            lr: 5e-4,
            warmup: 20,
            steps: 5000,
            weight_decay: 0.0,
            checkpoint_steps: 20,
            eval_steps: 100,
            val_examples: 64,
            max_prompt_tokens: 48,
            loop_targets: 64,
            seed: 0,
        }
    }
}

/// Training examples: condition rows and the assistant-turn tokens to write.
pub struct GeneratorData {
    /// Condition vectors, row-major.
    pub conditions: Vec<f32>,
    /// Their width.
    pub dim: usize,
    /// Train examples: (condition row, tokens with the end id when not cut).
    pub train: Vec<(usize, Vec<u32>)>,
    /// Validation examples, same form.
    pub val: Vec<(usize, Vec<u32>)>,
}

/// The assistant-turn tokens of a prompt: cut at `max` tokens, else closed by `end`.
pub fn target_sequence(mut ids: Vec<u32>, end: u32, max: usize) -> Vec<u32> {
    if ids.len() >= max {
        ids.truncate(max.max(1));
    } else {
        ids.push(end);
    }
    ids
}

fn schedule(c: &GeneratorTrainConfig) -> Schedule {
    Schedule {
        peak: c.lr,
        warmup: c.warmup,
        decay_steps: Some(c.steps),
    }
}

fn conditions(data: &GeneratorData, rows: &[usize]) -> candle_core::Result<Tensor> {
    let d = data.dim;
    let flat: Vec<f32> = rows
        .iter()
        .flat_map(|&r| data.conditions[r * d..(r + 1) * d].iter().copied())
        .collect();
    Tensor::from_vec(flat, (rows.len(), d), &Device::Cpu)
}

/// Mean per-token validation loss on the first `config.val_examples` validation
/// sequences, and the same with the conditions rotated by one within each batch (every
/// sequence sees another example's condition).
pub fn evaluate(
    model: &GeneratorModel,
    layout: &Layout,
    data: &GeneratorData,
    config: &GeneratorTrainConfig,
) -> Result<(f64, f64)> {
    let val = &data.val[..config.val_examples.min(data.val.len())];
    let bs = config.batch_size.max(2);
    let (mut own, mut shuffled, mut tokens) = (0f64, 0f64, 0usize);
    for chunk in val.chunks(bs) {
        let seqs: Vec<Vec<u32>> = chunk.iter().map(|(_, s)| s.clone()).collect();
        let rows: Vec<usize> = chunk.iter().map(|(r, _)| *r).collect();
        let mut rotated = rows.clone();
        rotated.rotate_left(1);
        let n: usize = seqs.iter().map(|s| s.len()).sum();
        let score = |rows: &[usize]| -> candle_core::Result<f64> {
            let (logp, _) = model.token_logprobs(layout, &conditions(data, rows)?, &seqs)?;
            Ok(-(logp.sum_all()?.to_scalar::<f32>()? as f64))
        };
        own += score(&rows).map_err(model_err)?;
        shuffled += score(&rotated).map_err(model_err)?;
        tokens += n;
    }
    let t = tokens.max(1) as f64;
    Ok((own / t, shuffled / t))
}

/// The order of one pass over the train examples: shuffled, then sorted by length within
/// windows of 16 batches (so a batch pads little) whose batches are shuffled again (so
/// the run does not go from short to long prompts). A function of the seed alone, so a
/// resumed run sees the same batches.
fn pass_order(data: &GeneratorData, bs: usize, seed: u64) -> Vec<usize> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut order: Vec<usize> = (0..data.train.len()).collect();
    order.shuffle(&mut rng);
    let mut out = Vec::with_capacity(order.len());
    for window in order.chunks(bs * 16) {
        let mut w = window.to_vec();
        w.sort_by_key(|&i| data.train[i].1.len());
        let mut batches: Vec<&[usize]> = w.chunks(bs).collect();
        // A short last batch stays last, so batch `b` is always `order[b·bs..]`.
        let short = batches.pop_if(|b| b.len() < bs);
        batches.shuffle(&mut rng);
        batches.extend(short);
        out.extend(batches.into_iter().flatten());
    }
    out
}

/// Trains `model`'s variables (`varmap`) under `dir`, resuming from its checkpoint.
/// Returns the state and the shuffled-condition loss of every evaluation (parallel to
/// `state.history`).
pub fn train_stage1(
    model: &GeneratorModel,
    varmap: &VarMap,
    layout: &Layout,
    data: &GeneratorData,
    config: &GeneratorTrainConfig,
    dir: &Path,
    limits: &RunLimits,
) -> Result<(TrainState, Vec<f64>)> {
    if data.train.is_empty() {
        return Err(Error::invalid("generator data", "no train examples"));
    }
    let vars = varmap.data().lock().map(|d| d.clone()).unwrap_or_default();
    let mut adam = AdamW::new(vars.clone(), config.weight_decay).map_err(model_err)?;
    let mut state = TrainState::default();
    let mut shuffled_hist: Vec<f64> = Vec::new();
    match checkpoint::resume(dir, &mut adam)? {
        None => seeded_init(varmap, config.seed).map_err(model_err)?,
        Some((saved, tensors)) => {
            set_vars(varmap, &tensors)
                .map_err(|e| Error::model(dir, e, "delete the run directory to start over"))?;
            if let Some(t) = tensors.get("eval.shuffled") {
                shuffled_hist = t.to_vec1::<f64>().map_err(model_err)?;
            }
            state = saved;
            eprintln!(
                "resuming {} at step {} (pass {}, batch {})",
                dir.display(),
                state.step,
                state.epoch,
                state.batch_in_epoch
            );
        }
    }
    let save = |state: &mut TrainState, adam: &AdamW, shuffled: &[f64]| -> Result<()> {
        let mut extra = Vec::new();
        if !shuffled.is_empty() {
            let t = Tensor::from_vec(shuffled.to_vec(), shuffled.len(), &Device::Cpu);
            extra.push(("eval.shuffled", t.map_err(model_err)?));
        }
        checkpoint::save_run(dir, varmap, adam, extra, state)
    };
    let started = Instant::now();
    let n = data.train.len();
    let bs = config.batch_size.max(1);
    let batches = n.div_ceil(bs);
    let mut steps_this_run = 0usize;
    let mut order_epoch = usize::MAX;
    let mut order: Vec<usize> = Vec::new();
    while state.step < config.steps {
        if limits.reached(started, steps_this_run) {
            break;
        }
        if state.batch_in_epoch >= batches {
            state.epoch += 1;
            state.batch_in_epoch = 0;
        }
        if order_epoch != state.epoch {
            order = pass_order(data, bs, config.seed ^ ((state.epoch as u64 + 1) * 0x9E37));
            order_epoch = state.epoch;
        }
        let t0 = Instant::now();
        let b = state.batch_in_epoch;
        let idx = &order[b * bs..((b + 1) * bs).min(n)];
        let rows: Vec<usize> = idx.iter().map(|&i| data.train[i].0).collect();
        let seqs: Vec<Vec<u32>> = idx.iter().map(|&i| data.train[i].1.clone()).collect();
        let cond = conditions(data, &rows).map_err(model_err)?;
        let loss = model.loss(layout, &cond, &seqs).map_err(model_err)?;
        let value = descend(
            &loss,
            &mut adam,
            schedule(config).at(state.step),
            dir,
            state.step,
        )?;
        let tokens: usize = seqs.iter().map(|s| s.len()).sum();
        let dt = t0.elapsed().as_secs_f64();
        state.record_step(value, tokens, dt);
        steps_this_run += 1;
        state.losses.push((state.step, value));
        if !limits.quiet {
            eprintln!(
                "step {}/{}: loss {value:.4}, {:.0} prompt tokens/s, {:.1} s",
                state.step,
                config.steps,
                tokens as f64 / dt,
                dt
            );
        }
        let eval_now = state.step % config.eval_steps.max(1) == 0 || state.step == config.steps;
        if eval_now {
            let t0 = Instant::now();
            let (val, shuffled) = evaluate(model, layout, data, config)?;
            let since = state.history.last().map_or(0, |h| h.step);
            let train_loss = state.epoch_loss_sum / (state.step - since).max(1) as f64;
            state.history.push(EpochLog {
                epoch: state.history.len(),
                step: state.step,
                train_loss,
                val_loss: val,
                wall_seconds: state.wall_seconds,
            });
            shuffled_hist.push(shuffled);
            state.epoch_loss_sum = 0.0;
            state.best_val = Some(state.best_val.map_or(val, |b: f64| b.min(val)));
            state.wall_seconds += t0.elapsed().as_secs_f64();
            if !limits.quiet {
                eprintln!(
                    "step {}: validation loss {val:.4}, with shuffled conditions {shuffled:.4}",
                    state.step
                );
            }
        }
        if state.step % config.checkpoint_steps.max(1) == 0 || eval_now {
            save(&mut state, &adam, &shuffled_hist)?;
        }
    }
    state.finished = state.step >= config.steps;
    save(&mut state, &adam, &shuffled_hist)?;
    Ok((state, shuffled_hist))
}

/// What a finished (or time-boxed) stage-1 invocation measured.
#[derive(Debug, Clone, Serialize)]
pub struct Stage1Report {
    /// Steps taken in all.
    pub steps: usize,
    /// Prompt tokens trained on.
    pub tokens: u64,
    /// Training wall seconds (all invocations).
    pub wall_seconds: f64,
    /// Validation loss per prompt token at the end.
    pub val_loss: f64,
    /// The same with conditions shuffled across the batch.
    pub shuffled_val_loss: f64,
    /// Validation loss of the untrained adapter (step 0), when this run measured it.
    pub initial_val_loss: Option<f64>,
    /// Share of greedy prompts for validation targets that loop, with the controls.
    pub loop_rate: f64,
    /// The same without the repetition controls.
    pub loop_rate_uncontrolled: f64,
    /// The same for the validation records' own (human) prompts.
    pub loop_rate_human: f64,
    /// Greedy prompts that ended their turn (rest: cut at the token limit).
    pub finished_rate: f64,
    /// Targets decoded for the loop rates.
    pub loop_targets: usize,
}

/// A dataset as stage 1 needs it, in record order.
pub struct Stage1Input<'a> {
    /// Each record's prompt text.
    pub prompts: Vec<&'a str>,
    /// Indices of train records.
    pub train: Vec<usize>,
    /// Indices of validation records.
    pub val: Vec<usize>,
    /// E(output) of every record, row-major.
    pub outputs: &'a [f32],
    /// Embedder name.
    pub embedder: String,
    /// Embedder dimension.
    pub dim: usize,
}

/// Trains (or resumes) stage 1 on `input` with the base GGUF `base_gguf`; checkpoints
/// go to `out/runs/generator`, and the adapter, its card and its loss curve to `out`
/// whenever the invocation ends (time box, step limit or planned steps).
pub fn run_stage1(
    base_gguf: &Path,
    input: &Stage1Input,
    config: &GeneratorTrainConfig,
    out: &Path,
    limits: &RunLimits,
    command: &str,
) -> Result<(TrainState, Stage1Report)> {
    let base = Base::load(base_gguf)?;
    let mut model_config = config.model.clone();
    model_config.condition = input.dim;
    let manifest = AdapterManifest {
        config: model_config,
        base_name: base.name.clone(),
        base_sha256: base.sha256.clone(),
        embedder: input.embedder.clone(),
        embedder_dim: input.dim,
    };
    let run_dir = out.join("runs").join("generator");
    check_run_base(&run_dir, &manifest)?;
    let g = Generator::with_base(base, manifest)?;
    let seq = |i: usize| -> Result<(usize, Vec<u32>)> {
        let ids = g.base.encode(input.prompts[i])?;
        Ok((
            i,
            target_sequence(ids, g.layout.end, config.max_prompt_tokens),
        ))
    };
    let data = GeneratorData {
        conditions: input.outputs.to_vec(),
        dim: input.dim,
        train: input.train.iter().map(|&i| seq(i)).collect::<Result<_>>()?,
        val: input.val.iter().map(|&i| seq(i)).collect::<Result<_>>()?,
    };
    if data.val.len() < 2 {
        return Err(Error::invalid(
            "dataset",
            "needs at least 2 validation records for the shuffled-condition control",
        ));
    }
    // The untrained adapter's loss, measured once before the first step of a fresh run.
    let fresh = !run_dir.join("state.json").exists();
    let initial = if fresh {
        seeded_init(&g.varmap, config.seed).map_err(model_err)?;
        Some(evaluate(g.model()?, &g.layout, &data, config)?.0)
    } else {
        None
    };
    let (state, shuffled_hist) = train_stage1(
        g.model()?,
        &g.varmap,
        &g.layout,
        &data,
        config,
        &run_dir,
        limits,
    )?;
    let (val_loss, shuffled_val_loss) = match (state.history.last(), shuffled_hist.last()) {
        (Some(h), Some(&s)) if h.step == state.step => (h.val_loss, s),
        _ => evaluate(g.model()?, &g.layout, &data, config)?,
    };
    let initial_val_loss = initial.or_else(|| read_initial(out));
    // Loop rates on validation targets.
    let k = config.loop_targets.min(data.val.len());
    let d = input.dim;
    let targets: Vec<Vec<f32>> = data.val[..k]
        .iter()
        .map(|(r, _)| input.outputs[r * d..(r + 1) * d].to_vec())
        .collect();
    let options = DecodeOptions::default();
    let controlled = g.generate_with(&targets, 1, &options)?;
    let uncontrolled = g.generate_with(&targets, 1, &options.uncontrolled())?;
    let rate = |ps: &Vec<Vec<(String, vec2prompt_latent::generator_decode::Decoded)>>| {
        ps.iter()
            .filter(|p| p.iter().any(|(t, _)| is_loop(t)))
            .count() as f64
            / k.max(1) as f64
    };
    let human = data.val[..k]
        .iter()
        .filter(|(r, _)| is_loop(input.prompts[*r]))
        .count() as f64
        / k.max(1) as f64;
    let finished = controlled
        .iter()
        .filter(|p| p.iter().all(|(_, d)| d.finished))
        .count() as f64
        / k.max(1) as f64;
    let report = Stage1Report {
        steps: state.step,
        tokens: state.tokens,
        wall_seconds: state.wall_seconds,
        val_loss,
        shuffled_val_loss,
        initial_val_loss,
        loop_rate: rate(&controlled),
        loop_rate_uncontrolled: rate(&uncontrolled),
        loop_rate_human: human,
        finished_rate: finished,
        loop_targets: k,
    };
    g.save(out)?;
    let json = serde_json::to_string_pretty(&report)
        .map_err(|e| Error::invalid("report", e.to_string()))?;
    vec2prompt_core::write_atomic(&out.join("generator-report.json"), json.as_bytes())?;
    vec2prompt_core::write_atomic(
        &out.join("generator-loss.svg"),
        loss_chart(&state, &shuffled_hist).as_bytes(),
    )?;
    vec2prompt_core::write_atomic(
        &out.join("generator-card.md"),
        card(&g, &state, &report, config, command).as_bytes(),
    )?;
    Ok((state, report))
}

/// A run directory belongs to one base model: resuming it on another is an error.
fn check_run_base(run_dir: &Path, manifest: &AdapterManifest) -> Result<()> {
    let path = run_dir.join("base.json");
    if path.exists() {
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        let saved: AdapterManifest = serde_json::from_str(&text)
            .map_err(|e| Error::model(&path, e.to_string(), "delete the run directory"))?;
        if saved != *manifest {
            return Err(Error::model(
                run_dir,
                format!(
                    "this run was started with base {} (sha256 {}), embedder {} ({}) and shape {:?}",
                    saved.base_name,
                    saved.base_sha256,
                    saved.embedder,
                    saved.embedder_dim,
                    saved.config
                ),
                "use the same base model, embedder and config, or another --out",
            ));
        }
        return Ok(());
    }
    std::fs::create_dir_all(run_dir).map_err(|e| Error::io(run_dir, e))?;
    let json = serde_json::to_string_pretty(manifest)
        .map_err(|e| Error::invalid("manifest", e.to_string()))?;
    vec2prompt_core::write_atomic(&path, json.as_bytes())
}

fn read_initial(out: &Path) -> Option<f64> {
    let text = std::fs::read_to_string(out.join("generator-report.json")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v.get("initial_val_loss")?.as_f64()
}

fn loss_chart(state: &TrainState, shuffled: &[f64]) -> String {
    let train: Vec<(f64, f64)> = state.losses.iter().map(|&(s, l)| (s as f64, l)).collect();
    let val: Vec<(f64, f64)> = state
        .history
        .iter()
        .map(|h| (h.step as f64, h.val_loss))
        .collect();
    let shuf: Vec<(f64, f64)> = state
        .history
        .iter()
        .zip(shuffled)
        .map(|(h, &s)| (h.step as f64, s))
        .collect();
    line_chart(
        "generator stage 1: loss per prompt token",
        "step",
        &[
            Series {
                name: "train (batch)",
                points: train,
                color: "#1f77b4",
            },
            Series {
                name: "validation",
                points: val,
                color: "#d62728",
            },
            Series {
                name: "validation, shuffled conditions",
                points: shuf,
                color: "#7f7f7f",
            },
        ],
    )
}

fn card(
    g: &Generator,
    state: &TrainState,
    r: &Stage1Report,
    config: &GeneratorTrainConfig,
    command: &str,
) -> String {
    let m = &g.manifest;
    let initial = r
        .initial_val_loss
        .map_or("not measured".into(), |v| format!("{v:.4}"));
    Card::new("generator (stage 1, supervised)", command)
        .item(
            "base",
            format_args!(
                "{} (sha256 {}), frozen; embedder: {} ({} dimensions)",
                m.base_name, m.base_sha256, m.embedder, m.embedder_dim
            ),
        )
        .item(
            "trainable",
            format_args!(
                "projector {} → {} → {} soft tokens, LoRA r {} α {} on q and v",
                m.config.condition,
                m.config.projector_hidden,
                m.config.soft_tokens,
                m.config.lora_rank,
                m.config.lora_alpha
            ),
        )
        .item(
            "data",
            format_args!(
                "train split E(output) → prompt (at most {} prompt tokens), validation split (index % 100 == 13): first {} records",
                config.max_prompt_tokens, config.val_examples
            ),
        )
        .item(
            "steps",
            format_args!(
                "{} of {} planned (batch {}), prompt tokens: {}, training wall time {:.0} s ({:.1} prompt tokens/s)",
                r.steps,
                config.steps,
                config.batch_size,
                r.tokens,
                r.wall_seconds,
                r.tokens as f64 / r.wall_seconds.max(1e-9)
            ),
        )
        .item(
            "validation loss per prompt token",
            format_args!(
                "{:.4} (untrained adapter: {initial}); with conditions shuffled across the batch: {:.4}",
                r.val_loss, r.shuffled_val_loss
            ),
        )
        .item(
            "loop rate of greedy prompts",
            format_args!(
                "on {} validation targets: {:.1}% with the repetition controls, {:.1}% without, {:.1}% for the records' own prompts; {:.1}% ended their turn within the token limit",
                r.loop_targets,
                100.0 * r.loop_rate,
                100.0 * r.loop_rate_uncontrolled,
                100.0 * r.loop_rate_human,
                100.0 * r.finished_rate
            ),
        )
        .item("loss curve", "generator-loss.svg")
        .licence()
        .history(&state.history, false, "validation loss")
        .finish()
}

/// Training throughput of the generator on `base_gguf`: `steps` full steps (forward,
/// backward, AdamW) of `batch` sequences of `prompt_tokens` random prompt tokens each.
/// Returns (positions computed per second, prompt tokens per second).
pub fn bench_stage1(
    base_gguf: &Path,
    batch: usize,
    prompt_tokens: usize,
    steps: usize,
) -> Result<(f64, f64)> {
    let base = Base::load(base_gguf)?;
    let sha = file_sha256(base_gguf)?;
    let manifest = AdapterManifest {
        config: GeneratorConfig::default(),
        base_name: base.name.clone(),
        base_sha256: sha,
        embedder: "random".into(),
        embedder_dim: GeneratorConfig::default().condition,
    };
    let g = Generator::with_base(base, manifest)?;
    let vars = g
        .varmap
        .data()
        .lock()
        .map(|d| d.clone())
        .unwrap_or_default();
    let mut adam = AdamW::new(vars, 0.0).map_err(model_err)?;
    let mut rng = StdRng::seed_from_u64(0);
    use rand::Rng;
    let vocab = g.model()?.vocab() as u32;
    let seqs: Vec<Vec<u32>> = (0..batch)
        .map(|_| {
            (0..prompt_tokens)
                .map(|_| rng.random_range(100..vocab))
                .collect()
        })
        .collect();
    let cond = Tensor::randn(
        0f32,
        1.0,
        (batch, g.manifest.config.condition),
        &Device::Cpu,
    )
    .map_err(model_err)?;
    let mut step = || -> Result<()> {
        let loss = g
            .model()?
            .loss(&g.layout, &cond, &seqs)
            .map_err(model_err)?;
        let grads = loss.backward().map_err(model_err)?;
        adam.step(&grads, 1e-4).map_err(model_err)?;
        Ok(())
    };
    step()?;
    let t = Instant::now();
    for _ in 0..steps {
        step()?;
    }
    let secs = t.elapsed().as_secs_f64();
    // Positions computed per step: the shared prefix once, then every row's soft tokens,
    // suffix and prompt (its last token is only predicted).
    let per_row = g.manifest.config.soft_tokens + g.layout.suffix.len() + prompt_tokens - 1;
    let positions = (g.layout.prefix.len() + per_row * batch) * steps;
    Ok((
        positions as f64 / secs,
        (prompt_tokens * batch * steps) as f64 / secs,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_generator_config_parses() {
        let file: serde_yaml::Value =
            serde_yaml::from_str(include_str!("../../../configs/generator.yaml")).unwrap();
        let c: GeneratorTrainConfig = serde_yaml::from_value(file["generator"].clone()).unwrap();
        assert_eq!(c.model.soft_tokens, 20);
        assert_eq!(c.model.lora_rank, 16);
    }

    #[test]
    fn long_prompts_are_cut_without_an_end() {
        assert_eq!(target_sequence(vec![5, 6], 9, 4), vec![5, 6, 9]);
        assert_eq!(target_sequence(vec![5, 6, 7, 8, 1], 9, 4), vec![5, 6, 7, 8]);
    }
}
