//! `vec2prompt train answer-head`: fits the prompt optimizer's answer head (raw prompt →
//! the answer its intent should get, the default goal of `/optimize`'s measured answers)
//! on the train split, warm-started from the learned surrogate, and writes it with its
//! card beside the optimizer.

use crate::common::{load_records, optimizer_dir, read_optimizer_file};
use crate::train_args::TrainArgs;
use anyhow::{Context, Result, bail};
use std::path::Path;
use vec2prompt_core::Embedder;
use vec2prompt_dataset::Split;
use vec2prompt_optimizer::answer_head::{AnswerHead, AnswerHeadManifest};
use vec2prompt_train::kit::Card;
use vec2prompt_train::optimizer::answer_head::{HeadPair, fit_head, head_pairs};

/// Embeds the raw prompts and the answers of `pairs`, 64 at a time, appending the rows to
/// `inputs` and `targets`.
fn embed_pairs(
    embedder: &dyn Embedder,
    pairs: &[HeadPair],
    inputs: &mut Vec<f32>,
    targets: &mut Vec<f32>,
    bar: &mut Option<vec2prompt_core::progress::Progress>,
    done: &mut usize,
) -> Result<()> {
    for chunk in pairs.chunks(64) {
        let raws: Vec<String> = chunk.iter().map(|p| p.raw.clone()).collect();
        let answers: Vec<String> = chunk.iter().map(|p| p.answer.clone()).collect();
        for v in embedder.embed(&raws)? {
            inputs.extend(v);
        }
        for v in embedder.embed(&answers)? {
            targets.extend(v);
        }
        *done += chunk.len();
        if let Some(b) = bar {
            b.set(*done);
        }
    }
    Ok(())
}

/// The surrogate weights of a latent model directory, checked to be of `embedder`'s
/// space, with their hidden width.
fn warm_start(
    dir: &Path,
    embedder: &vec2prompt_core::EmbedderInfo,
) -> Result<(
    std::collections::HashMap<String, candle_core::Tensor>,
    usize,
)> {
    let latent = vec2prompt_latent::LatentModel::load(dir)?;
    if let Some(e) = &latent.embedder
        && !vec2prompt_latent::model::same_space(e, embedder)
    {
        bail!(
            "the surrogate in {} was trained for the embedder {}, not {}: give --from a model directory of this embedder",
            dir.display(),
            e.name,
            embedder.name
        );
    }
    let path = dir.join("surrogate.safetensors");
    let tensors = candle_core::safetensors::load(&path, &candle_core::Device::Cpu)
        .with_context(|| format!("reading {}", path.display()))?;
    Ok((tensors, latent.surrogate.config().hidden))
}

/// `path` with the home directory written `~`, so a card does not carry the machine's
/// home path.
fn home_relative(path: &Path) -> String {
    let shown = path.display().to_string();
    match std::env::var("HOME") {
        Ok(h) if h.len() > 1 => shown.replacen(&format!("{h}/"), "~/", 1),
        _ => shown,
    }
}

/// The 1-based epoch with the lowest validation loss.
fn best_epoch(history: &[vec2prompt_train::kit::checkpoint::EpochLog]) -> usize {
    history
        .iter()
        .min_by(|a, b| a.val_loss.total_cmp(&b.val_loss))
        .map_or(0, |h| h.epoch + 1)
}

/// Runs `train answer-head`.
pub fn train(args: &TrainArgs, config: &crate::config::Config) -> Result<()> {
    let file = read_optimizer_file(args.train_config.as_deref())?;
    let mut h = file.answer_head.clone();
    let families = file.train.raw_families()?;
    if families.is_empty() {
        bail!("optimizer.train.families is empty: name the raw families to train on");
    }
    let out = match &args.out {
        Some(o) => o.clone(),
        None => optimizer_dir(None, config)?,
    };
    if let Some(l) = args.limit {
        h.pairs = h.pairs.min(l);
        h.val_pairs = h.val_pairs.min(l.div_ceil(4).max(1));
    }
    if let Some(e) = args.epochs {
        h.train.epochs = e;
    }
    h.train.max_steps = args.max_steps.or(h.train.max_steps);
    h.train.finish_now = args.finish;
    let embedder = config.load_embedder()?;
    let info = embedder.info().clone();
    // A head beside an optimizer must map the space that optimizer reads.
    let manifest_path = out.join(vec2prompt_optimizer::model::MANIFEST_FILE);
    if manifest_path.exists() {
        let text = std::fs::read_to_string(&manifest_path)
            .with_context(|| format!("reading {}", manifest_path.display()))?;
        let m: vec2prompt_optimizer::OptimizerManifest = serde_json::from_str(&text)
            .with_context(|| format!("parsing {}", manifest_path.display()))?;
        if m.embedder != info.name || m.embedder_dim != info.dimension {
            bail!(
                "the optimizer in {} reads {} ({} dimensions), but the configured embedder is {} ({}): configure the optimizer's embedder or write the head elsewhere",
                out.display(),
                m.embedder,
                m.embedder_dim,
                info.name,
                info.dimension
            );
        }
    }
    let from = args.from.clone().or_else(|| config.latent.clone());
    let warm = match &from {
        Some(d) if vec2prompt_latent::LatentModel::exists(d) => Some(warm_start(d, &info)?),
        Some(d) if args.from.is_some() => {
            bail!("--from {}: no surrogate there to start from", d.display())
        }
        _ => None,
    };
    let hidden = warm.as_ref().map_or(h.hidden, |(_, hidden)| *hidden);
    let records = load_records(&args.dataset)?;
    let seed = h.train.seed;
    let train = head_pairs(&records, Split::Train, h.pairs, &families, seed);
    let val = head_pairs(
        &records,
        Split::Validation,
        h.val_pairs,
        &families,
        seed ^ 1,
    );
    if train.is_empty() || val.is_empty() {
        bail!(
            "{} has {} train and {} validation records with an answer: the answer head needs both",
            args.dataset.display(),
            train.len(),
            val.len()
        );
    }
    let names: Vec<&str> = families.iter().map(|f| f.name()).collect();
    eprintln!(
        "answer head: {} train and {} validation pairs, raw prompts by {}",
        train.len(),
        val.len(),
        names.join(", ")
    );
    let (mut inputs, mut targets) = (Vec::new(), Vec::new());
    let mut bar = (!args.quiet).then(|| {
        vec2prompt_core::progress::Progress::new("embedding pairs", train.len() + val.len())
    });
    let mut done = 0;
    embed_pairs(
        embedder.as_ref(),
        &train,
        &mut inputs,
        &mut targets,
        &mut bar,
        &mut done,
    )?;
    embed_pairs(
        embedder.as_ref(),
        &val,
        &mut inputs,
        &mut targets,
        &mut bar,
        &mut done,
    )?;
    if let Some(b) = &bar {
        b.finish();
    }
    let run_dir = out.join("runs").join("answer-head");
    let fit = fit_head(
        &inputs,
        &targets,
        train.len(),
        info.dimension,
        hidden,
        &h.train,
        &run_dir,
        warm.as_ref().map(|(w, _)| w),
        !args.quiet,
    )?;
    if !fit.finished {
        eprintln!(
            "answer head: step {}; run the same command to continue (or add --finish)",
            fit.state.step
        );
        return Ok(());
    }
    let target = format!(
        "the embedding of the reference answer of the record's own instruction ({} train records of {})",
        train.len(),
        args.dataset.file_name().map_or_else(
            || args.dataset.display().to_string(),
            |n| n.to_string_lossy().into_owned()
        )
    );
    let manifest = AnswerHeadManifest {
        model: vec2prompt_latent::SurrogateConfig {
            dim: info.dimension,
            hidden,
            loss: "cosine".into(),
        },
        embedder: info.name.clone(),
        embedder_dim: info.dimension,
        target,
        families: names.iter().map(|s| s.to_string()).collect(),
        validation: fit.validation.clone(),
    };
    AnswerHead::save(&out, &manifest, &fit.tensors)?;
    vec2prompt_train::pipeline::plot(&out, "answer-head", &fit.state)?;
    let mut card = Card::new("answer head", &crate::common::command_line());
    card.item(
        "network",
        format_args!(
            "residual MLP {d} → {hidden} → {d} with a linear skip, unit-length output (the surrogate's shape); {}",
            match &from {
                Some(d) if warm.is_some() => format!("warm-started from the surrogate in {}", home_relative(d)),
                _ => "from a seeded initialization".to_string(),
            },
            d = info.dimension
        ),
    )
    .item(
        "data",
        format_args!(
            "{} train-split pairs: a raw prompt written by {} (input kept) → E(the record's reference answer); {} validation-split pairs",
            train.len(),
            names.join(", "),
            val.len()
        ),
    )
    .item(
        "steps",
        format_args!(
            "{} (batch {}, peak lr {}, 1 − cos loss); the weights kept are epoch {}'s, the best on validation",
            fit.state.step,
            h.train.batch_size,
            h.train.lr,
            best_epoch(&fit.state.history)
        ),
    );
    for (name, cos) in &fit.validation {
        card.item(
            &format!("validation mean cos to the answer, {name}"),
            format_args!("{cos:.4}"),
        );
    }
    card.licence()
        .history(&fit.state.history, true, "validation 1 − cos");
    vec2prompt_core::write_atomic(&out.join("answer-head-card.md"), card.finish().as_bytes())?;
    for (name, cos) in &fit.validation {
        eprintln!("validation mean cos to the answer, {name}: {cos:.4}");
    }
    eprintln!("answer head written to {}", out.display());
    Ok(())
}
