//! The prompt tokenizer: byte-level BPE trained on the train split's prompts, so the
//! decoders spend their small vocabulary on the words instructions actually use.

use std::path::Path;
use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::TrainerWrapper;
use tokenizers::models::bpe::{BPE, BpeTrainerBuilder};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::{AddedToken, Tokenizer};
use vec2prompt_core::{Error, Result};

/// Padding (ignored by the loss).
pub const PAD: u32 = 0;
/// Start of a sequence.
pub const BOS: u32 = 1;
/// End of a sequence.
pub const EOS: u32 = 2;
/// Separates the corrector's current prompt from the prompt it writes.
pub const SEP: u32 = 3;
const SPECIALS: [&str; 4] = ["<pad>", "<bos>", "<eos>", "<sep>"];

/// A byte-level BPE tokenizer for prompts.
#[derive(Clone)]
pub struct PromptTokenizer {
    /// The underlying Hugging Face tokenizer.
    inner: Tokenizer,
}

fn err(what: &str, e: impl std::fmt::Display) -> Error {
    Error::model(
        "prompt tokenizer",
        format!("{what}: {e}"),
        "retrain it with `vec2prompt train inverter`",
    )
}

impl PromptTokenizer {
    /// Trains a tokenizer of at most `vocab` entries on `prompts`.
    pub fn train<'a>(prompts: impl Iterator<Item = &'a str> + Send, vocab: usize) -> Result<Self> {
        let mut inner = Tokenizer::new(BPE::default());
        inner.with_pre_tokenizer(Some(ByteLevel::new(false, true, true)));
        inner.with_decoder(Some(ByteLevelDecoder::default()));
        let specials: Vec<AddedToken> = SPECIALS
            .iter()
            .map(|s| AddedToken::from(s.to_string(), true))
            .collect();
        let trainer = BpeTrainerBuilder::new()
            .vocab_size(vocab)
            .min_frequency(2)
            .show_progress(false)
            .special_tokens(specials)
            .initial_alphabet(ByteLevel::alphabet().into_iter().collect())
            .build();
        let mut trainer = TrainerWrapper::from(trainer);
        inner
            .train(&mut trainer, prompts)
            .map_err(|e| err("training", e))?;
        let t = Self { inner };
        for (i, s) in SPECIALS.iter().enumerate() {
            if t.inner.token_to_id(s) != Some(i as u32) {
                return Err(err("training", format!("special token {s} is not id {i}")));
            }
        }
        Ok(t)
    }

    /// Loads a tokenizer saved by [`PromptTokenizer::save`].
    pub fn load(path: &Path) -> Result<Self> {
        let inner = Tokenizer::from_file(path).map_err(|e| err(&path.display().to_string(), e))?;
        Ok(Self { inner })
    }

    /// Parses a tokenizer from its JSON text.
    pub fn from_json(json: &str) -> Result<Self> {
        let inner: Tokenizer = json.parse().map_err(|e| err("parsing", e))?;
        Ok(Self { inner })
    }

    /// The tokenizer as JSON text.
    pub fn to_json(&self) -> Result<String> {
        self.inner.to_string(false).map_err(|e| err("saving", e))
    }

    /// Number of ids.
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// Ids of `text`, without special tokens.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let enc = self
            .inner
            .encode(text, false)
            .map_err(|e| err("encoding", e))?;
        Ok(enc.get_ids().to_vec())
    }

    /// Text of `ids`; special tokens are skipped.
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        self.inner.decode(ids, true).map_err(|e| err("decoding", e))
    }
}
