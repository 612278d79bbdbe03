//! Training examples of the conditional decoder: a condition vector, a prefix that is
//! given (not scored) and a target that is scored. The inverter's prefix is just BOS; the
//! corrector's is BOS, the current prompt and SEP.

use crate::fit::Task;
use candle_core::{Device, Tensor};
use vec2prompt_latent::bpe::{BOS, EOS, PAD};
use vec2prompt_latent::decoder::{ConditionalDecoder, condition_tensor, ids_tensor};

/// Where an example's condition comes from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Condition {
    /// The row of the vector table.
    Vector(u32),
    /// The corrector's (e*, ê, e* − ê) from two rows of the vector table.
    Feedback {
        /// Row of the target e*.
        target: u32,
        /// Row of the current prompt's answer embedding ê.
        current: u32,
    },
}

/// One example.
#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    /// Its condition.
    pub condition: Condition,
    /// Given tokens (starting with BOS).
    pub prefix: Vec<u32>,
    /// Scored tokens (ending with EOS).
    pub target: Vec<u32>,
}

/// A set of examples over one vector table (rows of `dim` floats).
pub struct SequenceTask<'a> {
    /// The decoder being trained.
    pub decoder: &'a ConditionalDecoder,
    /// The vector table the conditions point into.
    pub vectors: &'a [f32],
    /// Width of one vector.
    pub dim: usize,
    /// Training examples.
    pub train: Vec<Example>,
    /// Validation examples.
    pub val: Vec<Example>,
}

impl SequenceTask<'_> {
    fn row(&self, r: u32) -> &[f32] {
        let r = r as usize;
        &self.vectors[r * self.dim..(r + 1) * self.dim]
    }

    fn condition(&self, c: Condition) -> Vec<f32> {
        match c {
            Condition::Vector(r) => self.row(r).to_vec(),
            Condition::Feedback { target, current } => {
                let (t, e) = (self.row(target), self.row(current));
                let mut v = Vec::with_capacity(3 * self.dim);
                v.extend_from_slice(t);
                v.extend_from_slice(e);
                v.extend(t.iter().zip(e).map(|(a, b)| a - b));
                v
            }
        }
    }

    /// Mean loss of `examples` and the number of scored tokens.
    pub fn loss(&self, examples: &[&Example]) -> candle_core::Result<(Tensor, usize)> {
        let device = Device::Cpu;
        let len = examples
            .iter()
            .map(|e| e.prefix.len() + e.target.len() - 1)
            .max()
            .unwrap_or(1);
        let mut inputs = Vec::with_capacity(examples.len());
        let mut targets = Vec::with_capacity(examples.len());
        let mut weights = Vec::with_capacity(examples.len() * len);
        let mut conds = Vec::with_capacity(examples.len());
        let mut scored = 0;
        for e in examples {
            let mut seq: Vec<u32> = e.prefix.iter().chain(&e.target).copied().collect();
            // Inputs are the sequence without its last token; targets are shifted by one.
            let mut tgt = seq[1..].to_vec();
            seq.pop();
            let given = e.prefix.len() - 1;
            let mut w: Vec<f32> = (0..tgt.len()).map(|i| (i >= given) as u8 as f32).collect();
            scored += e.target.len();
            seq.resize(len, PAD);
            tgt.resize(len, PAD);
            w.resize(len, 0.0);
            inputs.push(seq);
            targets.push(tgt);
            weights.extend(w);
            conds.push(self.condition(e.condition));
        }
        let inputs = ids_tensor(&inputs, &device)?;
        let targets = ids_tensor(&targets, &device)?;
        let weights = Tensor::from_vec(weights, (examples.len(), len), &device)?;
        let conds = condition_tensor(&conds, &device)?;
        let loss = self.decoder.loss(&conds, &inputs, &targets, &weights)?;
        Ok((loss, scored))
    }
}

impl Task for SequenceTask<'_> {
    fn train_len(&self) -> usize {
        self.train.len()
    }

    fn train_loss(&self, batch: &[usize]) -> candle_core::Result<(Tensor, usize)> {
        let ex: Vec<&Example> = batch.iter().map(|&i| &self.train[i]).collect();
        self.loss(&ex)
    }

    fn val_loss(&self) -> candle_core::Result<f64> {
        let mut sum = 0.0;
        let mut count = 0.0;
        for chunk in self.val.chunks(64) {
            let ex: Vec<&Example> = chunk.iter().collect();
            let (loss, tokens) = self.loss(&ex)?;
            sum += loss.to_scalar::<f32>()? as f64 * tokens as f64;
            count += tokens as f64;
        }
        Ok(sum / count.max(1.0))
    }

    /// Groups examples of similar length into the same batch (less padding), keeping the
    /// epoch's shuffle between groups.
    fn order(&self, shuffled: Vec<usize>, batch_size: usize) -> Vec<usize> {
        let mut out = Vec::with_capacity(shuffled.len());
        for chunk in shuffled.chunks(batch_size * 32) {
            let mut c = chunk.to_vec();
            c.sort_by_key(|&i| self.train[i].prefix.len() + self.train[i].target.len());
            out.extend(c);
        }
        out
    }
}

/// The inverter's example for a prompt's ids: prefix BOS, target ids + EOS, truncated so
/// the whole sequence fits `max_tokens`.
pub fn inverter_example(condition: Condition, ids: &[u32], max_tokens: usize) -> Example {
    let keep = ids.len().min(max_tokens.saturating_sub(1));
    let mut target = ids[..keep].to_vec();
    target.push(EOS);
    Example {
        condition,
        prefix: vec![BOS],
        target,
    }
}
