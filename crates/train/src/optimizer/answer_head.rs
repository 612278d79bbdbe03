//! Fitting the optimizer's answer head (`vec2prompt_optimizer::answer_head`): a raw prompt
//! of a train record, written by one of the training families with its input kept → the
//! embedding of the record's reference answer. The surrogate's shape, loss (1 − cos) and
//! loop ([`crate::fit`]: resumable, best weights kept), warm-started from a surrogate
//! when one is given.

use super::data::degrade;
use crate::fit::{TrainConfig, train_from};
use crate::kit::TrainState;
use crate::surrogate_task::SurrogateTask;
use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;
use vec2prompt_core::{Error, Result, cosine};
use vec2prompt_dataset::{Record, Split};
use vec2prompt_latent::{Surrogate, SurrogateConfig};
use vec2prompt_optimizer::answer_head::net_from_tensors;
use vec2prompt_optimizer::families::RawFamily;

/// The `answer_head` section of the optimizer's training config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AnswerHeadTrainConfig {
    /// Train records to fit on (one raw prompt each).
    pub pairs: usize,
    /// Validation records to judge it on.
    pub val_pairs: usize,
    /// Hidden width (the surrogate's when warm-started from one).
    pub hidden: usize,
    /// The loop's settings.
    pub train: TrainConfig,
}

impl Default for AnswerHeadTrainConfig {
    fn default() -> Self {
        Self {
            pairs: 12_000,
            val_pairs: 500,
            hidden: 1536,
            train: TrainConfig {
                epochs: 20,
                batch_size: 64,
                lr: 3e-4,
                warmup: 50,
                patience: 3,
                ..TrainConfig::default()
            },
        }
    }
}

/// One (raw prompt, reference answer) pair.
#[derive(Debug, Clone, PartialEq)]
pub struct HeadPair {
    /// The raw prompt, its input kept.
    pub raw: String,
    /// The record's reference answer.
    pub answer: String,
}

/// Up to `n` pairs from the records of `split` in a seeded order, their raw prompts
/// written by `families` in turn; records without an answer, or whose raw prompt is
/// empty, are skipped.
pub fn head_pairs(
    records: &[Record],
    split: Split,
    n: usize,
    families: &[RawFamily],
    seed: u64,
) -> Vec<HeadPair> {
    if families.is_empty() {
        return Vec::new();
    }
    let mut rows: Vec<&Record> = records.iter().filter(|r| r.split == split).collect();
    rows.shuffle(&mut StdRng::seed_from_u64(seed));
    rows.iter()
        .enumerate()
        .map(|(i, r)| HeadPair {
            raw: degrade(r, families[i % families.len()]),
            answer: r.output.clone(),
        })
        .filter(|p| !p.raw.trim().is_empty() && !p.answer.trim().is_empty())
        .take(n)
        .collect()
}

/// A fitted head.
pub struct HeadFit {
    /// The loop's final state (curves, steps).
    pub state: TrainState,
    /// The best weights (f32).
    pub tensors: HashMap<String, Tensor>,
    /// Mean cosine to the validation answers: the head's, the warm start's (when given)
    /// and the raw prompt's own embedding's, by name.
    pub validation: Vec<(String, f64)>,
    /// Whether the loop finished (else it stopped at its step limit and resumes).
    pub finished: bool,
}

/// Fits the head on `inputs` → `targets` (row-major, `dim` wide; the first `n_train` rows
/// train, the rest validate) with checkpoints in `run_dir`, starting from `warm`'s
/// weights when given.
#[allow(clippy::too_many_arguments)]
pub fn fit_head(
    inputs: &[f32],
    targets: &[f32],
    n_train: usize,
    dim: usize,
    hidden: usize,
    config: &TrainConfig,
    run_dir: &Path,
    warm: Option<&HashMap<String, Tensor>>,
    show_progress: bool,
) -> Result<HeadFit> {
    let rows = inputs.len() / dim.max(1);
    if dim == 0 || inputs.len() != targets.len() || rows * dim != inputs.len() {
        return Err(Error::invalid(
            "answer head",
            "inputs and answers must be tables of the same shape",
        ));
    }
    if n_train == 0 || n_train >= rows {
        return Err(Error::invalid(
            "answer head",
            format!("{rows} pairs cannot give {n_train} to train and some to validate"),
        ));
    }
    let model_config = SurrogateConfig {
        dim,
        hidden,
        loss: "cosine".into(),
    };
    let err = |e: candle_core::Error| Error::invalid("answer head", e.to_string());
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
    let model = Surrogate::new(&model_config, vb).map_err(err)?;
    let task = SurrogateTask {
        model: &model,
        inputs,
        targets,
        train: (0..n_train).collect(),
        val: (n_train..rows).collect(),
    };
    let mut validation = Vec::new();
    if let Some(w) = warm {
        let start = net_from_tensors(&model_config, w).map_err(err)?;
        let probe = SurrogateTask {
            model: &start,
            inputs,
            targets,
            train: Vec::new(),
            val: (n_train..rows).collect(),
        };
        validation.push((
            "warm start (the surrogate)".to_string(),
            probe.val_cosine().map_err(err)?,
        ));
    }
    let own = (n_train..rows)
        .map(|i| {
            cosine(
                &inputs[i * dim..(i + 1) * dim],
                &targets[i * dim..(i + 1) * dim],
            ) as f64
        })
        .sum::<f64>()
        / (rows - n_train) as f64;
    validation.push(("the raw prompt's own embedding".to_string(), own));
    let init = |vm: &VarMap| -> candle_core::Result<()> {
        if let Some(w) = warm {
            vec2prompt_latent::decoder::warm_start(vm, w)?;
        }
        Ok(())
    };
    let state = train_from(&task, &varmap, run_dir, config, show_progress, &init)?;
    let finished = state.finished;
    let tensors = if finished {
        let best = candle_core::safetensors::load(run_dir.join("best.safetensors"), &Device::Cpu)
            .map_err(err)?;
        for (name, var) in vec2prompt_latent::params::named_vars(&varmap) {
            if let Some(t) = best.get(&name) {
                var.set(t).map_err(err)?;
            }
        }
        validation.insert(
            0,
            ("answer head".to_string(), task.val_cosine().map_err(err)?),
        );
        vec2prompt_latent::params::weights(&varmap)
    } else {
        HashMap::new()
    };
    Ok(HeadFit {
        state,
        tensors,
        validation,
        finished,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(i: usize, split: Split) -> Record {
        Record {
            id: format!("r{i}"),
            index: i,
            prompt: format!("Please describe the ancient harbor city number {i} carefully"),
            output: if i % 5 == 4 {
                String::new()
            } else {
                format!("answer {i}")
            },
            tokens: 10,
            kind: vec2prompt_dataset::RecordKind::Instruction,
            split,
        }
    }

    #[test]
    fn pairs_come_from_the_split_asked_for_skip_empty_answers_and_cycle_families() {
        let mut records: Vec<Record> = (0..20).map(|i| record(i, Split::Train)).collect();
        records.extend((20..30).map(|i| record(i, Split::Validation)));
        let fam = [RawFamily::Typos, RawFamily::ChatSpeak];
        let p = head_pairs(&records, Split::Train, 100, &fam, 3);
        assert_eq!(p.len(), 16, "4 of 20 train records have no answer");
        assert!(p.iter().all(|x| {
            let n: usize = x.answer[7..].parse().unwrap();
            n < 20 && n % 5 != 4
        }));
        assert_eq!(head_pairs(&records, Split::Train, 5, &fam, 3).len(), 5);
        assert_eq!(
            head_pairs(&records, Split::Train, 5, &fam, 3),
            head_pairs(&records, Split::Train, 5, &fam, 3),
            "seeded"
        );
        assert!(head_pairs(&records, Split::Train, 5, &[], 3).is_empty());
    }

    /// A head fitted on a linear map of random vectors beats the inputs' own cosine to
    /// their targets on held-out rows.
    #[test]
    fn a_head_learns_a_map_it_can_represent() {
        let dim = 8;
        use rand::Rng;
        let mut rng = StdRng::seed_from_u64(1);
        let rows = 600;
        let mut inputs = Vec::with_capacity(rows * dim);
        let mut targets = Vec::with_capacity(rows * dim);
        for _ in 0..rows {
            let x: Vec<f32> = (0..dim).map(|_| rng.random_range(-1.0..1.0)).collect();
            // Target: a fixed permutation with a sign flip, unit length.
            let mut y: Vec<f32> = (0..dim).map(|j| -x[(j + 3) % dim]).collect();
            let n = y.iter().map(|v| v * v).sum::<f32>().sqrt();
            y.iter_mut().for_each(|v| *v /= n);
            inputs.extend(x);
            targets.extend(y);
        }
        let dir = tempfile::tempdir().unwrap();
        let config = TrainConfig {
            epochs: 30,
            batch_size: 32,
            lr: 3e-3,
            warmup: 10,
            patience: 30,
            ..TrainConfig::default()
        };
        let fit = fit_head(
            &inputs,
            &targets,
            500,
            dim,
            16,
            &config,
            dir.path(),
            None,
            false,
        )
        .unwrap();
        assert!(fit.finished);
        let head = fit.validation[0].1;
        let own = fit.validation.last().unwrap().1;
        assert!(own < 0.2, "the inputs alone point elsewhere: {own}");
        assert!(head > 0.9, "the head learned the map: {head}");
        assert!(fit.tensors.contains_key("skip.weight"));
        // Too few rows for a validation part: refused, not a panic.
        assert!(
            fit_head(
                &inputs,
                &targets,
                rows,
                dim,
                16,
                &config,
                dir.path(),
                None,
                false
            )
            .is_err()
        );
    }
}
