//! The training pipelines behind `vec2prompt train surrogate|inverter|corrector|generator`:
//! train a latent-space model on a dataset's train split, resumable after a kill, and
//! export the best weights as f16 safetensors next to a model card.

use crate::corrector_data::CorrectorData;
use crate::fit::{TrainConfig, train_from};
use crate::generator::{GeneratorTrainConfig, RunLimits, Stage1Input, run_stage1};
use crate::kit::{Card, TrainState};
use crate::sequences::{Condition, Example, SequenceTask, inverter_example};
use crate::surrogate_task::SurrogateTask;
use anyhow::{Context, Result, bail};
use candle_core::{DType, Device};
use candle_nn::{VarBuilder, VarMap};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;
use vec2prompt_core::Embedder;
use vec2prompt_core::chart::{Series, line_chart};
use vec2prompt_dataset::{Record, Split};
use vec2prompt_latent::decoder::warm_start;
use vec2prompt_latent::{
    ConditionalDecoder, DecoderConfig, LatentModel, PromptTokenizer, Surrogate, SurrogateConfig,
};

/// Which model to train.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelKind {
    /// Prompt embedding → predicted answer embedding.
    Surrogate,
    /// Answer embedding → prompt (and, auxiliary, prompt embedding → prompt).
    Inverter,
    /// (target, current answer, difference) + current prompt → better prompt.
    Corrector,
    /// Answer embedding → prompt with the frozen pretrained LLM (soft prompts + LoRA),
    /// stage 1 (supervised).
    Generator,
}

impl ModelKind {
    /// The model's name: its file stem in the output directory and its run folder.
    pub fn name(self) -> &'static str {
        match self {
            ModelKind::Surrogate => "surrogate",
            ModelKind::Inverter => "inverter",
            ModelKind::Corrector => "corrector",
            ModelKind::Generator => "generator",
        }
    }
}

/// What one training invocation does.
#[derive(Debug, Clone)]
pub struct TrainOptions {
    /// The model to train.
    pub model: ModelKind,
    /// Dataset directory made by `ingest` (named in error messages).
    pub dataset: PathBuf,
    /// Model directory to write (weights, tokenizer, config, card); checkpoints go to its
    /// `runs/<model>` folder.
    pub out: PathBuf,
    /// Training config (YAML with `surrogate`, `inverter`, `corrector`, `generator`
    /// sections); `None` uses the defaults.
    pub train_config: Option<PathBuf>,
    /// Stop after this many steps in this run (resume later by running the same command).
    pub max_steps: Option<usize>,
    /// Override the config's epochs.
    pub epochs: Option<usize>,
    /// Use at most this many train records (quick runs and tests).
    pub limit: Option<usize>,
    /// End a resumable run now: validate the last checkpoint, export it, write the card.
    pub finish: bool,
    /// No progress bar.
    pub quiet: bool,
    /// Stop training after this many minutes (generator).
    pub max_minutes: Option<f64>,
    /// The command line that started the run, recorded in the model card.
    pub command: String,
    /// A model directory whose surrogate a fresh surrogate run starts from (a warm start,
    /// e.g. the dataset-trained one before training on the environment memory).
    pub init_from: Option<PathBuf>,
}

/// The dataset a model trains on: every record with its answer (and prompt) embeddings
/// by the embedder the models are trained for.
pub struct TrainData {
    /// All records, every split.
    pub records: Vec<Record>,
    /// E(output) of each record, row-major.
    pub outputs: Vec<f32>,
    /// E(prompt) of each record, row-major (empty for the generator, which never reads it).
    pub prompts: Vec<f32>,
    /// The environment memory, when the surrogate trains on the LLM's own answers.
    pub memory: Option<MemoryTargets>,
}

/// The environment memory as training targets: the embeddings of the LLM's own answers
/// to train records, in the memory's (seeded, uniform) order.
#[derive(Debug, Clone)]
pub struct MemoryTargets {
    /// The memory's LLM configuration (recorded in the model card).
    pub llm: String,
    /// Position in `TrainData::records` of each remembered record.
    pub positions: Vec<usize>,
    /// The answers' embeddings, row-major; zero rows are empty answers.
    pub vectors: Vec<f32>,
}

/// One remembered answer in this many is held out of a memory-trained surrogate's
/// training to choose its checkpoint (validation and test prompts are never answered
/// into a memory, so the held-out answers are train records).
pub const MEMORY_HOLDOUT_EVERY: usize = 20;

/// A decoder's section of the training config.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DecoderSection {
    /// Model width.
    pub dim: usize,
    /// Blocks.
    pub layers: usize,
    /// Heads.
    pub heads: usize,
    /// Feed-forward width.
    pub hidden: usize,
    /// Soft-prefix tokens.
    pub prefix: usize,
    /// Most tokens per sequence (after the prefix).
    pub max_tokens: usize,
    /// Tokenizer vocabulary (inverter only; the corrector reuses it).
    pub vocab: usize,
    /// Share of extra examples conditioned on E(prompt) instead of E(output) (inverter).
    pub aux_fraction: f64,
    /// Most current-prompt tokens shown to the corrector.
    pub hypothesis_tokens: usize,
    /// Train targets (and as many validation targets) whose current prompt is the
    /// inverter's greedy hypothesis with the surrogate's ê (corrector only; the other
    /// examples use near-miss train prompts with their real ê).
    pub inverter_hypotheses: usize,
    /// Start the corrector from the trained inverter's weights (corrector only).
    pub init_from_inverter: bool,
    /// Optimization.
    pub train: TrainConfig,
}

impl Default for DecoderSection {
    fn default() -> Self {
        Self {
            dim: 256,
            layers: 4,
            heads: 4,
            hidden: 768,
            prefix: 8,
            max_tokens: 64,
            vocab: 8192,
            aux_fraction: 0.25,
            hypothesis_tokens: 24,
            inverter_hypotheses: 0,
            init_from_inverter: false,
            train: TrainConfig::default(),
        }
    }
}

/// The surrogate's section.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SurrogateSection {
    /// Shape and loss.
    pub model: SurrogateConfig,
    /// Optimization.
    pub train: TrainConfig,
}

impl Default for SurrogateSection {
    fn default() -> Self {
        Self {
            model: SurrogateConfig::default(),
            train: TrainConfig {
                batch_size: 256,
                epochs: 30,
                patience: 3,
                warmup: 100,
                ..TrainConfig::default()
            },
        }
    }
}

/// The training config file.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainFile {
    /// Surrogate settings.
    pub surrogate: SurrogateSection,
    /// Inverter settings.
    pub inverter: DecoderSection,
    /// Corrector settings.
    pub corrector: DecoderSection,
    /// Generator (stage 1) settings.
    pub generator: GeneratorTrainConfig,
    /// Generator stage-2 settings (read by `train rl`; parsed here too, so one file can
    /// hold every section and a misspelt key is still an error).
    pub rl: crate::rl::RlConfig,
}

/// Default directory of the learned models.
pub fn default_latent_dir(home: &vec2prompt_core::Home) -> PathBuf {
    home.root.join("latent")
}

struct Data {
    records: Vec<Record>,
    outputs: Vec<f32>,
    prompts: Vec<f32>,
    memory: Option<MemoryTargets>,
    dim: usize,
    train: Vec<usize>,
    val: Vec<usize>,
}

fn split(opts: &TrainOptions, input: TrainData, embedder: &dyn Embedder) -> Result<Data> {
    let TrainData {
        records,
        outputs,
        prompts,
        memory,
    } = input;
    let mut train: Vec<usize> = (0..records.len())
        .filter(|&i| records[i].split == Split::Train)
        .collect();
    if let Some(l) = opts.limit {
        train.truncate(l);
    }
    let val: Vec<usize> = (0..records.len())
        .filter(|&i| records[i].split == Split::Validation)
        .collect();
    if train.is_empty() || val.is_empty() {
        bail!(
            "{} needs train and validation records (index % 100 == 13)",
            opts.dataset.display()
        );
    }
    Ok(Data {
        records,
        outputs,
        prompts,
        memory,
        dim: embedder.info().dimension,
        train,
        val,
    })
}

/// Reads the training config file, or the defaults without one.
pub fn read_train_file(path: Option<&Path>) -> Result<TrainFile> {
    Ok(match path {
        Some(p) => serde_yaml::from_str(
            &std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?,
        )
        .with_context(|| format!("parsing {}", p.display()))?,
        None => TrainFile::default(),
    })
}

/// Trains `opts.model` on `data` (embedded by `embedder`), with `base_llm` the GGUF the
/// generator is trained on top of. A run stopped early (steps or time) says how to resume.
pub fn run(
    opts: &TrainOptions,
    data: TrainData,
    embedder: &dyn Embedder,
    base_llm: &Path,
) -> Result<()> {
    let file = read_train_file(opts.train_config.as_deref())?;
    let out = &opts.out;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let data = split(opts, data, embedder)?;
    let run_dir = out.join("runs").join(opts.model.name());
    let command = opts.command.as_str();
    if opts.model == ModelKind::Generator {
        let name = embedder.info().name.clone();
        return train_generator(opts, &file.generator, &data, out, base_llm, command, name);
    }
    let started = Instant::now();
    let (state, summary) = match opts.model {
        ModelKind::Surrogate => train_surrogate(opts, &file.surrogate, &data, out, &run_dir)?,
        ModelKind::Inverter => train_decoder(opts, &file.inverter, &data, out, &run_dir, None)?,
        ModelKind::Corrector => {
            train_decoder(opts, &file.corrector, &data, out, &run_dir, Some(embedder))?
        }
        ModelKind::Generator => unreachable!("handled above"),
    };
    if !state.finished {
        eprintln!(
            "stopped at step {} (run the same command to resume from {})",
            state.step,
            run_dir.display()
        );
        return Ok(());
    }
    let data_line = match &data.memory {
        Some(m) => format!(
            "the environment memory of {}: the LLM's own answers to {} Alpaca train prompts (targets' E(output) from the dataset), one remembered record in {MEMORY_HOLDOUT_EVERY} held out for validation",
            m.llm,
            m.positions.len()
        ),
        None => "Stanford Alpaca train split (index % 100 not in {7, 13}), validation split index % 100 == 13".to_string(),
    };
    write_card(
        out,
        opts.model.name(),
        command,
        &data_line,
        &state,
        &summary,
        started.elapsed().as_secs_f64(),
    )?;
    eprintln!("{summary}");
    eprintln!(
        "wrote {}",
        out.join(format!("{}.safetensors", opts.model.name()))
            .display()
    );
    Ok(())
}

/// Stage 1 of the generator on the dataset's train split, with the configured LLM as the
/// frozen base.
fn train_generator(
    args: &TrainOptions,
    section: &GeneratorTrainConfig,
    data: &Data,
    out: &Path,
    base_llm: &Path,
    command: &str,
    embedder: String,
) -> Result<()> {
    if !base_llm.exists() {
        bail!(
            "the base model {} is missing: run `vec2prompt models fetch`",
            base_llm.display()
        );
    }
    let input = Stage1Input {
        prompts: data.records.iter().map(|r| r.prompt.as_str()).collect(),
        train: data.train.clone(),
        val: data.val.clone(),
        outputs: &data.outputs,
        embedder,
        dim: data.dim,
    };
    let limits = RunLimits {
        max_minutes: args.max_minutes,
        max_steps: if args.finish { Some(0) } else { args.max_steps },
        quiet: args.quiet,
    };
    let (state, report) = run_stage1(base_llm, &input, section, out, &limits, command)?;
    eprintln!(
        "generator: step {} of {}, validation loss {:.4} (shuffled conditions {:.4}), loop rate {:.1}% ({:.1}% without the repetition controls)",
        state.step,
        section.steps,
        report.val_loss,
        report.shuffled_val_loss,
        100.0 * report.loop_rate,
        100.0 * report.loop_rate_uncontrolled
    );
    if !state.finished {
        eprintln!(
            "exported the adapter at step {}; run the same command to continue from {}",
            state.step,
            out.join("runs/generator").display()
        );
    }
    eprintln!("wrote {}", out.join("generator.safetensors").display());
    Ok(())
}

fn epochs(args: &TrainOptions, t: &TrainConfig) -> TrainConfig {
    let mut t = t.clone();
    if let Some(e) = args.epochs {
        t.epochs = e;
    }
    t.max_steps = args.max_steps.or(t.max_steps);
    t.finish_now = args.finish;
    t
}

fn train_surrogate(
    args: &TrainOptions,
    section: &SurrogateSection,
    data: &Data,
    out: &Path,
    run_dir: &Path,
) -> Result<(TrainState, String)> {
    let mut model_config = section.model.clone();
    model_config.dim = data.dim;
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
    let model = Surrogate::new(&model_config, vb)?;
    let d = data.dim;
    let (targets, train_rows, val_rows, what) = match &data.memory {
        Some(m) => {
            let (targets, train_rows, val_rows) = memory_rows(data, m, args.limit)?;
            let what = format!(
                "held-out remembered answers of {} ({} train, {} held out)",
                m.llm,
                train_rows.len(),
                val_rows.len()
            );
            (std::borrow::Cow::Owned(targets), train_rows, val_rows, what)
        }
        None => (
            std::borrow::Cow::Borrowed(&data.outputs),
            data.train.clone(),
            data.val.clone(),
            format!("{} validation records", data.val.len()),
        ),
    };
    let task = SurrogateTask {
        model: &model,
        inputs: &data.prompts,
        targets: &targets,
        train: train_rows.clone(),
        val: val_rows.clone(),
    };
    let tc = epochs(args, &section.train);
    let init = |vm: &VarMap| -> candle_core::Result<()> {
        if let Some(dir) = &args.init_from {
            let path = dir.join("surrogate.safetensors");
            let source = candle_core::safetensors::load(&path, &Device::Cpu)?;
            warm_start(vm, &source)?;
        }
        Ok(())
    };
    let state = train_from(&task, &varmap, run_dir, &tc, !args.quiet, &init)?;
    if !state.finished {
        return Ok((state, String::new()));
    }
    load_best(&varmap, run_dir)?;
    let val_cos = task.val_cosine()?;
    // Baselines: the prompt's own embedding, and the mean train answer.
    let mut mean = vec![0f32; d];
    for &i in &train_rows {
        for (m, v) in mean.iter_mut().zip(&targets[i * d..(i + 1) * d]) {
            *m += v;
        }
    }
    let row = |t: &[f32], i: usize| t[i * d..(i + 1) * d].to_vec();
    let (mut own, mut avg) = (0.0, 0.0);
    for &i in &val_rows {
        own += vec2prompt_core::cosine(&row(&data.prompts, i), &row(&targets, i)) as f64;
        avg += vec2prompt_core::cosine(&mean, &row(&targets, i)) as f64;
    }
    let n = val_rows.len() as f64;
    let start = match &args.init_from {
        Some(dir) => format!(", warm start from {}", dir.display()),
        None => String::new(),
    };
    let summary = format!(
        "validation mean cos(f(p), E(answer)) = {val_cos:.4}; baselines: cos(E(p), E(answer)) = {:.4}, cos(mean answer, E(answer)) = {:.4} ({what}, loss {}{start})",
        own / n,
        avg / n,
        model_config.loss
    );
    export(
        &varmap,
        out,
        "surrogate",
        &serde_json::to_value(&model_config)?,
    )?;
    plot(out, "surrogate", &state)?;
    Ok((state, summary))
}

/// The surrogate's tables on the environment memory: the targets are the dataset's answer
/// embeddings with every remembered record's replaced by the LLM's own answer, the
/// training rows the remembered records (at most `limit` of them, a prefix of the order)
/// and the validation rows one in [`MEMORY_HOLDOUT_EVERY`] of them. Empty answers teach
/// nothing about where answers land and are left out.
fn memory_rows(
    data: &Data,
    memory: &MemoryTargets,
    limit: Option<usize>,
) -> Result<(Vec<f32>, Vec<usize>, Vec<usize>)> {
    let d = data.dim;
    if memory.vectors.len() != memory.positions.len() * d {
        bail!("the environment memory's embeddings do not match its answers");
    }
    let mut targets = data.outputs.clone();
    let (mut train_rows, mut val_rows) = (Vec::new(), Vec::new());
    let n = limit.map_or(memory.positions.len(), |l| l.min(memory.positions.len()));
    for (k, &pos) in memory.positions[..n].iter().enumerate() {
        let v = &memory.vectors[k * d..(k + 1) * d];
        if data
            .records
            .get(pos)
            .is_none_or(|r| r.split != Split::Train)
        {
            bail!("the environment memory holds a record that is not in the train split");
        }
        if v.iter().all(|&x| x == 0.0) {
            continue;
        }
        targets[pos * d..(pos + 1) * d].copy_from_slice(v);
        if k % MEMORY_HOLDOUT_EVERY == MEMORY_HOLDOUT_EVERY - 1 {
            val_rows.push(pos);
        } else {
            train_rows.push(pos);
        }
    }
    if train_rows.is_empty() || val_rows.is_empty() {
        bail!(
            "the environment memory has {n} answers: too few to train and hold out one in {MEMORY_HOLDOUT_EVERY} (build more with `vec2prompt remember --limit N`)"
        );
    }
    Ok((targets, train_rows, val_rows))
}

fn load_best(varmap: &VarMap, run_dir: &Path) -> Result<()> {
    let best = candle_core::safetensors::load(run_dir.join("best.safetensors"), &Device::Cpu)?;
    let vars = varmap
        .data()
        .lock()
        .map_err(|_| anyhow::anyhow!("poisoned"))?
        .clone();
    for (name, var) in vars {
        let t = best
            .get(&name)
            .with_context(|| format!("best weights lack {name}"))?;
        var.set(t)?;
    }
    Ok(())
}

/// Writes `<name>.safetensors` (f16) and `<name>.json` (shape) into `out`.
fn export(varmap: &VarMap, out: &Path, name: &str, shape: &serde_json::Value) -> Result<()> {
    let tensors: HashMap<String, candle_core::Tensor> = vec2prompt_latent::params::weights(varmap)
        .into_iter()
        .map(|(k, v)| Ok((k, v.to_dtype(DType::F16)?)))
        .collect::<Result<_>>()?;
    let path = out.join(format!("{name}.safetensors"));
    vec2prompt_core::write_atomic_with(&path, |tmp| {
        candle_core::safetensors::save(&tensors, tmp)
            .map_err(|e| vec2prompt_core::Error::io(tmp, std::io::Error::other(e)))
    })?;
    vec2prompt_core::write_atomic(
        &out.join(format!("{name}.json")),
        serde_json::to_string_pretty(shape)?.as_bytes(),
    )?;
    Ok(())
}

/// Writes `<name>-loss.svg` in `out`: the batch losses and the validation losses of `state`.
pub fn plot(out: &Path, name: &str, state: &TrainState) -> Result<()> {
    let steps: Vec<(f64, f64)> = state.losses.iter().map(|&(s, l)| (s as f64, l)).collect();
    let val: Vec<(f64, f64)> = state
        .history
        .iter()
        .map(|h| (h.step as f64, h.val_loss))
        .collect();
    let svg = line_chart(
        &format!("{name} loss"),
        "step",
        &[
            Series {
                name: "train (batch)",
                points: steps,
                color: "#1f77b4",
            },
            Series {
                name: "validation",
                points: val,
                color: "#d62728",
            },
        ],
    );
    vec2prompt_core::write_atomic(&out.join(format!("{name}-loss.svg")), svg.as_bytes())?;
    Ok(())
}

fn tokenizer(out: &Path, data: &Data, vocab: usize, create: bool) -> Result<PromptTokenizer> {
    let path = out.join("tokenizer.json");
    if path.exists() {
        return Ok(PromptTokenizer::load(&path)?);
    }
    if !create {
        bail!("{} is missing: train the inverter first", path.display());
    }
    let prompts = data.train.iter().map(|&i| data.records[i].prompt.as_str());
    let t = PromptTokenizer::train(prompts, vocab)?;
    vec2prompt_core::write_atomic(&path, t.to_json()?.as_bytes())?;
    Ok(t)
}

fn train_decoder(
    args: &TrainOptions,
    section: &DecoderSection,
    data: &Data,
    out: &Path,
    run_dir: &Path,
    corrector_embedder: Option<&dyn Embedder>,
) -> Result<(TrainState, String)> {
    let corrector = corrector_embedder.is_some();
    let tok = tokenizer(out, data, section.vocab, !corrector)?;
    let ids: Vec<Vec<u32>> = data
        .records
        .iter()
        .map(|r| tok.encode(&r.prompt))
        .collect::<vec2prompt_core::Result<_>>()?;
    let n = data.records.len();
    let d = data.dim;
    // One vector table: the outputs' rows, then the prompts' rows.
    let mut table = data.outputs.clone();
    table.extend_from_slice(&data.prompts);
    let config = DecoderConfig {
        vocab: tok.vocab_size(),
        dim: section.dim,
        layers: section.layers,
        heads: section.heads,
        hidden: section.hidden,
        prefix: section.prefix,
        condition: if corrector { 3 * d } else { d },
        max_tokens: section.max_tokens,
    };
    let (train_ex, val_ex) = if let Some(embedder) = corrector_embedder {
        let source = CorrectorData {
            records: &data.records,
            outputs: &data.outputs,
            dim: d,
            train: &data.train,
            val: &data.val,
            ids: &ids,
            hypothesis_tokens: section.hypothesis_tokens,
            max_tokens: section.max_tokens,
        };
        let built = match &data.memory {
            // Real feedback: every current prompt's ê is the LLM's own answer.
            Some(m) => {
                let n = args
                    .limit
                    .map_or(m.positions.len(), |l| l.min(m.positions.len()));
                source.from_memory(
                    &m.positions[..n],
                    &m.vectors[..n * d],
                    MEMORY_HOLDOUT_EVERY,
                    table.len() / d,
                )?
            }
            None => {
                // The inverter and surrogate make the hypotheses; not needed without them.
                let trained = (section.inverter_hypotheses > 0 && LatentModel::exists(out))
                    .then(|| LatentModel::load(out))
                    .transpose()?;
                source.build(
                    trained.as_ref(),
                    &tok,
                    embedder,
                    section.inverter_hypotheses,
                    table.len() / d,
                    run_dir,
                    args.quiet,
                )?
            }
        };
        table.extend_from_slice(&built.extra_rows);
        eprintln!(
            "corrector examples: {} train, {} validation",
            built.train.len(),
            built.val.len()
        );
        (built.train, built.val)
    } else {
        let mut train_ex: Vec<Example> = data
            .train
            .iter()
            .map(|&i| inverter_example(Condition::Vector(i as u32), &ids[i], config.max_tokens))
            .collect();
        let aux = (data.train.len() as f64 * section.aux_fraction) as usize;
        // Every k-th train record also teaches E(prompt) → prompt.
        let step = (data.train.len() / aux.max(1)).max(1);
        train_ex.extend(data.train.iter().step_by(step).take(aux).map(|&i| {
            inverter_example(
                Condition::Vector((n + i) as u32),
                &ids[i],
                config.max_tokens,
            )
        }));
        let val_ex = data
            .val
            .iter()
            .map(|&i| inverter_example(Condition::Vector(i as u32), &ids[i], config.max_tokens))
            .collect();
        (train_ex, val_ex)
    };
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
    let decoder = ConditionalDecoder::new(&config, vb)?;
    let task = SequenceTask {
        decoder: &decoder,
        vectors: &table,
        dim: d,
        train: train_ex,
        val: val_ex,
    };
    let tc = epochs(args, &section.train);
    let source = match (&args.init_from, corrector) {
        (Some(dir), true) => {
            let path = dir.join("corrector.safetensors");
            Some((
                candle_core::safetensors::load(&path, &Device::Cpu)
                    .with_context(|| format!("--from: reading {}", path.display()))?,
                format!("the corrector in {}", dir.display()),
            ))
        }
        (None, true) if section.init_from_inverter => {
            Some((inverter_weights(out, &config)?, "the inverter".to_string()))
        }
        _ => None,
    };
    let init = |vm: &VarMap| -> candle_core::Result<()> {
        if let Some((weights, name)) = &source {
            let copied = warm_start(vm, weights)?;
            eprintln!("corrector starts from {name} ({copied} tensors)");
        }
        Ok(())
    };
    let state = train_from(&task, &varmap, run_dir, &tc, !args.quiet, &init)?;
    let name = if corrector { "corrector" } else { "inverter" };
    if !state.finished {
        return Ok((state, String::new()));
    }
    load_best(&varmap, run_dir)?;
    export(&varmap, out, name, &serde_json::to_value(&config)?)?;
    plot(out, name, &state)?;
    let tps = state.tokens as f64 / state.wall_seconds.max(1e-9);
    let feedback = match (&data.memory, corrector) {
        (Some(m), true) => format!(
            "; real feedback from the environment memory of {} (validation: one remembered target in {MEMORY_HOLDOUT_EVERY})",
            m.llm
        ),
        _ => String::new(),
    };
    let summary = format!(
        "{name}: best validation loss {:.4} (perplexity {:.1}) after {} steps, {} tokens, {:.0} tokens/s{feedback}",
        state.best_val.unwrap_or(f64::NAN),
        state.best_val.unwrap_or(f64::NAN).exp(),
        state.step,
        state.tokens,
        tps
    );
    Ok((state, summary))
}

/// The trained inverter's weights in `out`, checked against the corrector's shape (all but
/// the condition width must agree for a warm start).
fn inverter_weights(
    out: &Path,
    corrector: &DecoderConfig,
) -> Result<HashMap<String, candle_core::Tensor>> {
    let path = out.join("inverter.safetensors");
    if !path.exists() {
        bail!(
            "{} is missing: train the inverter first, or set corrector.init_from_inverter: false",
            path.display()
        );
    }
    let shape: DecoderConfig = serde_json::from_str(
        &std::fs::read_to_string(out.join("inverter.json"))
            .with_context(|| format!("reading {}", out.join("inverter.json").display()))?,
    )?;
    let widened = DecoderConfig {
        condition: corrector.condition,
        ..shape.clone()
    };
    if widened != *corrector {
        bail!(
            "the corrector's shape {corrector:?} differs from the inverter's {shape:?} beyond the condition width: make the corrector section match the inverter to start from it"
        );
    }
    Ok(candle_core::safetensors::load(&path, &Device::Cpu)?)
}

fn write_card(
    out: &Path,
    name: &str,
    command: &str,
    data: &str,
    state: &TrainState,
    summary: &str,
    wall: f64,
) -> Result<()> {
    let s = Card::new(name, command)
        .item("data", data)
        .item(
            "steps",
            format_args!(
                "{}, epochs: {}, tokens/examples: {}, training wall time: {:.0} s (this invocation {:.0} s)",
                state.step,
                state.history.len(),
                state.tokens,
                state.wall_seconds,
                wall
            ),
        )
        .item("result", summary)
        .item("loss curve", format_args!("{name}-loss.svg"))
        .licence()
        .history(&state.history, true, "validation loss")
        .finish();
    vec2prompt_core::write_atomic(&out.join(format!("{name}-card.md")), s.as_bytes())?;
    Ok(())
}
