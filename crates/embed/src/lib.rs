//! Local sentence-transformers embedder on candle.
//!
//! Loads any sentence-transformers directory of the BERT family (`config.json`,
//! `tokenizer.json`, `model.safetensors`, `1_Pooling/config.json`, optional
//! `sentence_bert_config.json` and `modules.json`) and reproduces
//! `SentenceTransformer.encode`: the directory's pooling mode, its normalization,
//! truncation at `max_seq_length`; inputs are sorted by length and batched to cut padding.

pub mod local;
pub mod st_dir;

pub use local::{LocalEmbedder, LocalEmbedderConfig};
pub use st_dir::SentenceTransformerDir;
