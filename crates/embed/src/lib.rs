//! Local sentence-transformers embedder on candle.
//!
//! Loads any sentence-transformers directory of the BERT family (`config.json`,
//! `tokenizer.json`, `model.safetensors`, `1_Pooling/config.json`, optional
//! `sentence_bert_config.json` and `modules.json`) and reproduces
//! `SentenceTransformer.encode`: the directory's pooling mode, its normalization,
//! truncation at `max_seq_length`; inputs are sorted by length and batched to cut padding.
//!
//! - [`st_dir`]: `SentenceTransformerDir`, the directory's configuration files.
//! - [`local`]: `LocalEmbedder::load` reads the directory and the BERT weights
//!   (candle-transformers' `BertModel`, f32). `embed` tokenizes all texts (truncation at
//!   `max_seq_length`), sorts them by length (longest first), runs batches of `batch_size`
//!   padded only to the longest text of the batch, pools under the attention mask (mean,
//!   CLS or max, as the directory says), L2-normalizes if `modules.json` has a Normalize
//!   module, and returns the vectors in input order.
//!
//! candle-transformers' BERT matches sentence-transformers to cos ≥ 0.9999 on every fixture
//! sentence (measured: 1.0000000), so the embedder is not a model of its own.

pub mod local;
pub mod st_dir;

pub use local::{LocalEmbedder, LocalEmbedderConfig};
pub use st_dir::SentenceTransformerDir;
