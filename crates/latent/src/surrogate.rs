//! The surrogate: prompt → predicted answer embedding. It reads the
//! prompt through the embedder (E(p), 384 numbers) and maps it with a residual MLP, so
//! scoring a candidate whose E(p) is known costs one small matrix product.

use crate::layers::Mlp;
use crate::trainer::Task;
use candle_core::{D, Device, Module, Result, Tensor};
use candle_nn::{Linear, VarBuilder, linear_no_bias};
use serde::{Deserialize, Serialize};

/// Shape and loss of the surrogate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SurrogateConfig {
    /// Embedding width (input and output).
    pub dim: usize,
    /// Hidden width of the MLP.
    pub hidden: usize,
    /// `cosine` (1 − cos) or `mse` on normalized vectors.
    pub loss: String,
}

impl Default for SurrogateConfig {
    fn default() -> Self {
        Self {
            dim: 384,
            hidden: 1536,
            loss: "cosine".into(),
        }
    }
}

/// f(E(p)) = skip(E(p)) + MLP(E(p)).
#[derive(Debug, Clone)]
pub struct Surrogate {
    /// Linear path.
    skip: Linear,
    /// Non-linear path.
    mlp: Mlp,
    /// Its shape.
    config: SurrogateConfig,
}

impl Surrogate {
    /// Creates (or loads, depending on `vb`) a surrogate.
    pub fn new(config: &SurrogateConfig, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            skip: linear_no_bias(config.dim, config.dim, vb.pp("skip"))?,
            mlp: Mlp::new(config.dim, config.hidden, config.dim, vb.pp("mlp"))?,
            config: config.clone(),
        })
    }

    /// Its shape.
    pub fn config(&self) -> &SurrogateConfig {
        &self.config
    }

    /// Predicted answer embeddings (n, dim), L2-normalized, of prompt embeddings (n, dim).
    pub fn forward(&self, prompts: &Tensor) -> Result<Tensor> {
        let y = (self.skip.forward(prompts)? + self.mlp.forward(prompts)?)?;
        let norm = y.sqr()?.sum_keepdim(D::Minus1)?.sqrt()?;
        y.broadcast_div(&(norm + 1e-6)?)
    }

    /// Predicted answer embeddings of prompt embedding rows.
    pub fn predict(&self, prompts: &[Vec<f32>]) -> Result<Vec<Vec<f32>>> {
        if prompts.is_empty() {
            return Ok(Vec::new());
        }
        let flat: Vec<f32> = prompts.iter().flatten().copied().collect();
        let x = Tensor::from_vec(flat, (prompts.len(), self.config.dim), &Device::Cpu)?;
        self.forward(&x)?.to_vec2()
    }
}

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
        let d = self.model.config.dim;
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
        if self.model.config.loss == "mse" {
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
