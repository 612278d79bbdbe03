//! The [`Embedder`] trait: text → vectors in one embedding space.

use crate::Result;
use serde::{Deserialize, Serialize};

/// How token vectors are pooled into one sentence vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pooling {
    /// Average of the token vectors under the attention mask.
    Mean,
    /// The first (`[CLS]`) token's vector.
    Cls,
    /// Element-wise maximum over the token vectors under the attention mask.
    Max,
}

/// What an embedder produces; stores and indexes record it so vectors from different
/// embedders are never mixed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmbedderInfo {
    /// Model name (directory name or remote model id).
    pub name: String,
    /// Length of every produced vector.
    pub dimension: usize,
    /// Pooling mode.
    pub pooling: Pooling,
    /// Whether vectors are L2-normalized.
    pub normalized: bool,
    /// Longest input in tokens; longer texts are truncated.
    pub max_tokens: usize,
}

/// Turns texts into vectors. Implementations are thread-safe and batch internally.
pub trait Embedder: Send + Sync {
    /// Describes the embedding space.
    fn info(&self) -> &EmbedderInfo;

    /// Embeds `texts`, returning one vector per text in the same order.
    fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>>;

    /// Number of tokens of `text` in the embedder's vocabulary, when the embedder can
    /// tell without a call (a local tokenizer); `None` otherwise.
    fn count_tokens(&self, _text: &str) -> Option<usize> {
        None
    }

    /// Embeds a single text.
    fn embed_one(&self, text: &str) -> Result<Vec<f32>> {
        let mut v = self.embed(&[text.to_string()])?;
        v.pop()
            .ok_or_else(|| crate::Error::backend(&self.info().name, "returned no vector"))
    }
}

/// A shared embedder is an embedder, so code written for `&dyn Embedder` takes the
/// `Arc<dyn Embedder>` a configuration builds.
impl<T: Embedder + ?Sized> Embedder for std::sync::Arc<T> {
    fn info(&self) -> &EmbedderInfo {
        (**self).info()
    }

    fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
        (**self).embed(texts)
    }

    fn count_tokens(&self, text: &str) -> Option<usize> {
        (**self).count_tokens(text)
    }

    fn embed_one(&self, text: &str) -> Result<Vec<f32>> {
        (**self).embed_one(text)
    }
}

/// Embeddings of `answers` by `embedder`, one per answer, in order; an empty (or
/// whitespace-only) answer gets an empty vector and is not sent to the embedder (its score
/// is 0 under `answer_score`).
pub fn embed_answers(embedder: &dyn Embedder, answers: &[String]) -> Result<Vec<Vec<f32>>> {
    let idx: Vec<usize> = (0..answers.len())
        .filter(|&i| !answers[i].trim().is_empty())
        .collect();
    let texts: Vec<String> = idx.iter().map(|&i| answers[i].clone()).collect();
    let vs = if texts.is_empty() {
        Vec::new()
    } else {
        embedder.embed(&texts)?
    };
    let mut out = vec![Vec::new(); answers.len()];
    for (i, v) in idx.into_iter().zip(vs) {
        out[i] = v;
    }
    Ok(out)
}
