//! The surrogate's training data as the loop sees it: (E(prompt), E(answer)) pairs as
//! rows of two tables, with the cosine (or MSE) loss.

use crate::fit::Task;
use candle_core::{D, Device, Result, Tensor};
use vec2prompt_latent::Surrogate;

/// Training pairs (E(p), E(output)) as rows of two tables.
pub struct SurrogateTask<'a> {
    /// The model.
    pub model: &'a Surrogate,
    /// Prompt embeddings (rows).
    pub inputs: &'a [f32],
    /// Answer embeddings (rows).
    pub targets: &'a [f32],
    /// Train rows.
    pub train: Vec<usize>,
    /// Validation rows.
    pub val: Vec<usize>,
}

impl SurrogateTask<'_> {
    fn rows(&self, table: &[f32], idx: &[usize]) -> Result<Tensor> {
        let d = self.model.config().dim;
        let flat: Vec<f32> = idx
            .iter()
            .flat_map(|&i| table[i * d..(i + 1) * d].iter().copied())
            .collect();
        Tensor::from_vec(flat, (idx.len(), d), &Device::Cpu)
    }

    fn loss(&self, idx: &[usize]) -> Result<Tensor> {
        let x = self.rows(self.inputs, idx)?;
        let y = self.rows(self.targets, idx)?;
        let p = self.model.forward(&x)?;
        if self.model.config().loss == "mse" {
            // Mean squared error per vector (summed over dimensions).
            (p - y)?.sqr()?.sum(D::Minus1)?.mean_all()
        } else {
            let cos = (p * y)?.sum(D::Minus1)?;
            (cos.ones_like()? - cos)?.mean_all()
        }
    }

    /// Mean cos(f(p), E(output)) over validation rows.
    pub fn val_cosine(&self) -> Result<f64> {
        let mut sum = 0.0;
        for chunk in self.val.chunks(1024) {
            let x = self.rows(self.inputs, chunk)?;
            let y = self.rows(self.targets, chunk)?;
            let cos = (self.model.forward(&x)? * y)?.sum(D::Minus1)?;
            sum += cos.sum_all()?.to_scalar::<f32>()? as f64;
        }
        Ok(sum / self.val.len().max(1) as f64)
    }
}

impl Task for SurrogateTask<'_> {
    fn train_len(&self) -> usize {
        self.train.len()
    }

    fn train_loss(&self, batch: &[usize]) -> Result<(Tensor, usize)> {
        let idx: Vec<usize> = batch.iter().map(|&i| self.train[i]).collect();
        Ok((self.loss(&idx)?, idx.len()))
    }

    fn val_loss(&self) -> Result<f64> {
        let mut sum = 0.0;
        for chunk in self.val.chunks(1024) {
            sum += self.loss(chunk)?.to_scalar::<f32>()? as f64 * chunk.len() as f64;
        }
        Ok(sum / self.val.len().max(1) as f64)
    }
}
