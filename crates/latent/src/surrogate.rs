//! The surrogate: prompt → predicted answer embedding. It reads the
//! prompt through the embedder (E(p), 384 numbers) and maps it with a residual MLP, so
//! scoring a candidate whose E(p) is known costs one small matrix product.

use crate::layers::Mlp;
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
