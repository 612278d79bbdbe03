//! The pipeline of `vec2prompt train rl`, stage 2 of the generator. Loads the stage-1 adapter as both the
//! policy's starting point and the frozen KL reference, scores sampled prompts with the
//! real environment (the configured LLM answers, the embedder embeds, the reward is the
//! cosine to the record's answer embedding) or, with `reward: surrogate`, with the learned
//! surrogate's predicted answer embedding, and reports the real reward of greedy prompts
//! on held-out validation targets before and after, paired (beside the surrogate's
//! predicted reward of the same prompts, which shows how much of a gain it believed was
//! real).

use crate::kit::{Card, RunLimits};
use crate::rl::{RewardSource, RlConfig, RlData, RlStep, greedy_rewards, train_rl};
use anyhow::{Context, Result, bail};
use candle_core::{DType, Device};
use candle_nn::{VarBuilder, VarMap};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use vec2prompt_core::chart::{Series, line_chart};
use vec2prompt_core::{Embedder, Llm};
use vec2prompt_dataset::{Record, Split};
use vec2prompt_eval::stats::{bootstrap_ci95, mean};
use vec2prompt_latent::LatentModel;
use vec2prompt_latent::generator::{Generator, WEIGHTS_FILE, set_vars};
use vec2prompt_latent::generator_decode::is_loop;
use vec2prompt_latent::generator_model::GeneratorModel;
use vec2prompt_search::environment::Environment;

/// The greedy prompts of the held-out targets and their real rewards.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Scored {
    prompts: Vec<String>,
    rewards: Vec<f32>,
}

/// What a stage-2 invocation measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct RlReport {
    steps: usize,
    samples: u64,
    wall_seconds: f64,
    eval_targets: usize,
    reward_before: f64,
    reward_after: f64,
    delta: f64,
    delta_ci95: [f64; 2],
    wins: usize,
    losses: usize,
    kl_last10: f64,
    /// What scored the training samples (`llm` or `surrogate`).
    #[serde(default)]
    reward_source: String,
    /// The surrogate's predicted reward of the same greedy prompts, before and after
    /// (when learned models were loaded).
    #[serde(default)]
    predicted_before: Option<f64>,
    #[serde(default)]
    predicted_after: Option<f64>,
    reward_first10: f64,
    reward_last10: f64,
    loop_rate_after: f64,
}

/// The `rl` section of a training config file, or the defaults without a file or section.
pub fn read_section(path: Option<&Path>) -> Result<RlConfig> {
    let Some(path) = path else {
        return Ok(RlConfig::default());
    };
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let file: serde_yaml::Value =
        serde_yaml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    match file.get("rl") {
        None => Ok(RlConfig::default()),
        Some(v) => serde_yaml::from_value(v.clone())
            .with_context(|| format!("the rl section of {}", path.display())),
    }
}

fn tail_mean(log: &[RlStep], f: impl Fn(&RlStep) -> f64, last: bool) -> f64 {
    let n = log.len().min(10);
    let part = if last {
        &log[log.len() - n..]
    } else {
        &log[..n]
    };
    mean(&part.iter().map(f).collect::<Vec<_>>())
}

/// One `train rl` invocation, as the command line resolved it.
pub struct RlRun<'a> {
    /// The `rl` settings.
    pub config: RlConfig,
    /// The stage-1 generator's directory (the policy's start and the KL reference).
    pub from: PathBuf,
    /// Where the trained adapter, its card, report and curves go.
    pub out: PathBuf,
    /// The stage-1 generator, loaded: the policy that is trained.
    pub policy: Generator,
    /// The dataset's records.
    pub records: &'a [Record],
    /// Their answer embeddings, row-major (the targets).
    pub outputs: Vec<f32>,
    /// The embeddings' width.
    pub dim: usize,
    /// The dataset's directory (for messages).
    pub dataset: &'a Path,
    /// Train on the first this many train records only.
    pub limit: Option<usize>,
    /// The LLM that answers (the real reward).
    pub llm: Arc<dyn Llm>,
    /// The embedder of answers and prompts.
    pub embedder: Arc<dyn Embedder>,
    /// Learned models whose surrogate predicts rewards (required with `reward: surrogate`).
    pub latent: Option<Arc<LatentModel>>,
    /// Limits of this invocation.
    pub limits: RunLimits,
    /// The command line, for the card.
    pub command: String,
}

/// Trains stage 2 from `run.from` into `run.out`, scoring the greedy prompts of held-out
/// validation targets before and after, and writes the adapter, `rl-report.json`,
/// `rl-card.md` and `rl-curves.svg`.
pub fn run(mut run: RlRun<'_>) -> Result<()> {
    let rl = &run.config;
    let (from, out, policy, records, dim) =
        (&run.from, &run.out, &run.policy, run.records, run.dim);
    let outputs = std::mem::take(&mut run.outputs);
    // The reference: the same frozen base, the stage-1 adapter, never updated.
    let ref_vars = VarMap::new();
    let reference = GeneratorModel::new(
        policy.base.weights()?,
        &policy.manifest.config,
        VarBuilder::from_varmap(&ref_vars, DType::F32, &Device::Cpu),
    )?;
    let wpath = from.join(WEIGHTS_FILE);
    let tensors = candle_core::safetensors::load(&wpath, &Device::Cpu)
        .with_context(|| format!("reading {}", wpath.display()))?;
    set_vars(&ref_vars, &tensors).map_err(|e| anyhow::anyhow!("{}: {e}", wpath.display()))?;

    let pick = |split: Split| -> Vec<usize> {
        records
            .iter()
            .enumerate()
            .filter(|(_, r)| r.split == split)
            .map(|(i, _)| i)
            .collect()
    };
    let mut train = pick(Split::Train);
    if let Some(limit) = run.limit {
        train.truncate(limit);
    }
    let val: Vec<usize> = pick(Split::Validation)
        .into_iter()
        .take(rl.eval_targets)
        .collect();
    if val.is_empty() {
        bail!("{} has no validation records", run.dataset.display());
    }
    let data = RlData {
        conditions: outputs,
        dim,
        train,
    };
    let env = Environment::new(run.llm.clone(), run.embedder.clone());
    let latent = run.latent.clone();
    if rl.reward == RewardSource::Surrogate && latent.is_none() {
        bail!(
            "`reward: surrogate` needs learned models with a surrogate for this embedder: train one with `vec2prompt train surrogate`, or pass --latent"
        );
    }
    let tokenizer = &policy.base.tokenizer;
    let texts = |ids: &[Vec<u32>]| -> vec2prompt_core::Result<Vec<String>> {
        ids.iter()
            .map(|s| Ok(tokenizer.decode(s)?.trim().to_string()))
            .collect()
    };
    let mut reward = |ids: &[Vec<u32>], rows: &[usize]| -> vec2prompt_core::Result<Vec<f32>> {
        let prompts = texts(ids)?;
        let targets: Vec<&[f32]> = rows
            .iter()
            .map(|&r| &data.conditions[r * dim..(r + 1) * dim])
            .collect();
        Ok(env
            .evaluate(&prompts, &targets)?
            .into_iter()
            .map(|e| e.similarity)
            .collect())
    };
    let embedder = run.embedder.clone();
    let predicted_texts =
        |prompts: &[String], rows: &[usize]| -> vec2prompt_core::Result<Vec<f32>> {
            let Some(latent) = latent.as_ref() else {
                return Err(vec2prompt_core::Error::invalid(
                    "reward",
                    "no learned surrogate is loaded",
                ));
            };
            // An empty prompt asks nothing: it earns nothing, whatever its embedding predicts.
            let kept: Vec<String> = prompts.iter().filter(|p| !p.is_empty()).cloned().collect();
            let mut predicted = latent.predict(&embedder.embed(&kept)?)?.into_iter();
            Ok(prompts
                .iter()
                .zip(rows)
                .map(|(p, &r)| {
                    if p.is_empty() {
                        0.0
                    } else {
                        let v = predicted.next().unwrap_or_default();
                        vec2prompt_core::similarity::answer_score(
                            &data.conditions[r * dim..(r + 1) * dim],
                            &v,
                        )
                    }
                })
                .collect())
        };
    let predicted = |ids: &[Vec<u32>], rows: &[usize]| -> vec2prompt_core::Result<Vec<f32>> {
        predicted_texts(&texts(ids)?, rows)
    };
    let predicted_mean = |scored: &Scored, rows: &[usize]| -> Result<Option<f64>> {
        if latent.is_none() {
            return Ok(None);
        }
        let r = predicted_texts(&scored.prompts, rows)?;
        Ok(Some(mean(&r.iter().map(|&x| x as f64).collect::<Vec<_>>())))
    };
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    // Before: the stage-1 generator's greedy prompts, scored once per output directory.
    let before_path = out.join("rl-before.json");
    let before: Scored = match std::fs::read_to_string(&before_path) {
        Ok(text) => serde_json::from_str(&text)
            .with_context(|| format!("{} is damaged; delete it", before_path.display()))?,
        Err(_) => {
            eprintln!(
                "scoring the stage-1 generator on {} validation targets",
                val.len()
            );
            let s = score_greedy(&reference, policy, &data, &val, rl.max_tokens, &mut reward)?;
            vec2prompt_core::write_atomic(&before_path, serde_json::to_string(&s)?.as_bytes())?;
            s
        }
    };
    let limits = &run.limits;
    let mut surrogate_reward = predicted;
    let training_reward: &mut crate::rl::RewardFn = match rl.reward {
        RewardSource::Llm => &mut reward,
        RewardSource::Surrogate => &mut surrogate_reward,
    };
    let (state, log) = train_rl(
        policy.model()?,
        &policy.varmap,
        &reference,
        &policy.layout,
        &policy.banned,
        &data,
        rl,
        &out.join("runs").join("rl"),
        limits,
        training_reward,
    )?;
    eprintln!(
        "scoring the policy at step {} on {} validation targets",
        state.step,
        val.len()
    );
    let after = score_greedy(
        policy.model()?,
        policy,
        &data,
        &val,
        rl.max_tokens,
        &mut reward,
    )?;
    let diffs: Vec<f64> = after
        .rewards
        .iter()
        .zip(&before.rewards)
        .map(|(a, b)| (*a - *b) as f64)
        .collect();
    let as_f64 = |v: &[f32]| v.iter().map(|&x| x as f64).collect::<Vec<_>>();
    let report = RlReport {
        steps: state.step,
        samples: (state.step * rl.targets_per_step * rl.group) as u64,
        wall_seconds: state.wall_seconds,
        eval_targets: val.len(),
        reward_before: mean(&as_f64(&before.rewards)),
        reward_after: mean(&as_f64(&after.rewards)),
        delta: mean(&diffs),
        delta_ci95: bootstrap_ci95(&diffs, 2000, 0),
        wins: diffs.iter().filter(|&&d| d > 0.0).count(),
        losses: diffs.iter().filter(|&&d| d < 0.0).count(),
        kl_last10: tail_mean(&log, |s| s.kl, true),
        reward_source: rl.reward.name().to_string(),
        predicted_before: predicted_mean(&before, &val)?,
        predicted_after: predicted_mean(&after, &val)?,
        reward_first10: tail_mean(&log, |s| s.reward, false),
        reward_last10: tail_mean(&log, |s| s.reward, true),
        loop_rate_after: after.prompts.iter().filter(|p| is_loop(p)).count() as f64
            / after.prompts.len().max(1) as f64,
    };
    policy.save(out)?;
    let write = |name: &str, bytes: &[u8]| vec2prompt_core::write_atomic(&out.join(name), bytes);
    write("rl-after.json", serde_json::to_string(&after)?.as_bytes())?;
    write(
        "rl-report.json",
        serde_json::to_string_pretty(&report)?.as_bytes(),
    )?;
    write("rl-curves.svg", curves(&log).as_bytes())?;
    write(
        "rl-card.md",
        card(&report, rl, from, policy, &run.command).as_bytes(),
    )?;
    eprintln!(
        "rl: step {} of {}; validation reward {:.4} → {:.4} (Δ {:+.4}, 95% CI [{:+.4}, {:+.4}], {} better, {} worse); KL {:.4}",
        state.step,
        rl.steps,
        report.reward_before,
        report.reward_after,
        report.delta,
        report.delta_ci95[0],
        report.delta_ci95[1],
        report.wins,
        report.losses,
        report.kl_last10
    );
    eprintln!("wrote {}", out.join(WEIGHTS_FILE).display());
    Ok(())
}

/// The real rewards of `model`'s greedy prompts for the targets `rows`, with the prompts
/// (decoded by `g`'s tokenizer, in `g`'s conversation layout).
fn score_greedy(
    model: &GeneratorModel,
    g: &Generator,
    data: &RlData,
    rows: &[usize],
    max_tokens: usize,
    reward: &mut crate::rl::RewardFn,
) -> Result<Scored> {
    let (ids, rewards) =
        greedy_rewards(model, &g.layout, &g.banned, data, rows, max_tokens, reward)?;
    let prompts = ids
        .iter()
        .map(|s| Ok(g.base.tokenizer.decode(s)?.trim().to_string()))
        .collect::<vec2prompt_core::Result<_>>()?;
    Ok(Scored { prompts, rewards })
}

/// Reward and KL per step, and the reward's moving mean over 10 steps.
fn curves(log: &[RlStep]) -> String {
    let reward: Vec<(f64, f64)> = log.iter().map(|s| (s.step as f64, s.reward)).collect();
    let smooth: Vec<(f64, f64)> = (0..log.len())
        .map(|i| {
            let w = &log[i.saturating_sub(9)..=i];
            (
                log[i].step as f64,
                w.iter().map(|s| s.reward).sum::<f64>() / w.len() as f64,
            )
        })
        .collect();
    let kl: Vec<(f64, f64)> = log.iter().map(|s| (s.step as f64, s.kl)).collect();
    line_chart(
        "generator stage 2: reward (cosine of the real answer) and KL to stage 1",
        "step",
        &[
            Series {
                name: "mean reward of the step's samples",
                points: reward,
                color: "#9ecae1",
            },
            Series {
                name: "reward, mean of 10 steps",
                points: smooth,
                color: "#1f77b4",
            },
            Series {
                name: "KL to stage 1 per token",
                points: kl,
                color: "#d62728",
            },
        ],
    )
}

fn card(r: &RlReport, c: &RlConfig, from: &Path, g: &Generator, command: &str) -> String {
    let mut card = Card::new("generator (stage 2, reinforcement learning)", command);
    card.line(format_args!(
        "started from the stage-1 adapter in `{}` (also the frozen KL reference); base {} (sha256 {})",
        from.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        g.manifest.base_name,
        g.manifest.base_sha256
    ));
    let real = "cosine between the record's answer embedding and the embedding of the configured LLM's real answer (greedy, 128 new tokens)";
    match c.reward {
        RewardSource::Llm => card.item("training reward", format_args!("{real} to the sampled prompt")),
        RewardSource::Surrogate => card.item(
            "training reward",
            format_args!(
                "the learned surrogate's predicted answer embedding of the sampled prompt, its cosine to the record's answer embedding (no LLM call); the held-out check below uses the real reward ({real})"
            ),
        ),
    };
    card.item(
        "objective",
        format_args!(
            "group baseline over {} samples per target, {} targets per step, KL β {}, lr {}, temperature {}, top-p {}",
            c.group, c.targets_per_step, c.kl, c.lr, c.temperature, c.top_p
        ),
    )
    .item(
        "steps",
        format_args!(
            "{} of {} planned, {} sampled prompts scored, training wall time {:.0} s",
            r.steps, c.steps, r.samples, r.wall_seconds
        ),
    )
    .item(
        "held-out reward",
        format_args!(
            "greedy prompt of each of the first {} validation targets, real answer: {:.4} before, {:.4} after; paired Δ {:+.4}, 95% bootstrap CI [{:+.4}, {:+.4}] ({} better, {} worse){}",
            r.eval_targets,
            r.reward_before,
            r.reward_after,
            r.delta,
            r.delta_ci95[0],
            r.delta_ci95[1],
            r.wins,
            r.losses,
            if r.delta_ci95[0] > 0.0 {
                ""
            } else {
                "; not significant"
            }
        ),
    );
    if let (Some(b), Some(a)) = (r.predicted_before, r.predicted_after) {
        card.line(format_args!(
            "the surrogate's predicted reward of the same greedy prompts: {b:.4} before, {a:.4} after (Δ {:+.4}; the real Δ above is what counts)",
            a - b
        ));
    }
    card.item(
        "training reward (mean of the step's samples)",
        format_args!(
            "first 10 steps {:.4}, last 10 {:.4}; KL to stage 1 per token, last 10 steps: {:.4}",
            r.reward_first10, r.reward_last10, r.kl_last10
        ),
    )
    .item(
        "loop rate of the greedy prompts after",
        format_args!("{:.1}%", 100.0 * r.loop_rate_after),
    )
    .item("curves", "rl-curves.svg")
    .licence()
    .finish()
}
