//! The latent prompt space: the models that map between prompts and the embeddings of
//! their answers, as search loads and runs them. Their training (the loops, the
//! optimizer, checkpoints, curves and the pipelines) lives in `vec2prompt-train`; nothing
//! here imports a trainer.
//!
//! - [`bpe`]: the prompt tokenizer (byte-level BPE trained on train prompts).
//! - [`layers`]: differentiable building blocks; [`fused`]: single-pass CPU ops with their
//!   backward passes.
//! - [`decoder`]: the conditional decoder (soft-prefix projector + causal transformer)
//!   behind the inverter and the corrector; [`decode`] turns it into prompts.
//! - [`model`]: the trained models loaded together, as search uses them ([`LatentModel`]).
//! - [`surrogate`]: prompt → predicted answer embedding.
//! - [`params`]: a model's variables by name and their seeded initialization.
//! - [`generator`]: a frozen pretrained GGUF decoder conditioned on the target through
//!   soft-prompt tokens ([`soft_prompt`]) and LoRA adapters ([`lora`]), built in
//!   [`generator_model`] on frozen projections ([`frozen`]), decoded by
//!   [`generator_decode`].
//!
//! Three small models, trained on the train split (never test or validation):
//!
//! - *Surrogate* f: E(p) → predicted E(answer). It reads the prompt through the embedder
//!   (MiniLM, 384 numbers; train prompts' E(p) are already in the store) and maps it with a
//!   residual MLP (linear skip + 384→1536→384, output L2-normalized), trained with 1 − cos
//!   (or MSE) on (E(prompt), E(output)) pairs. Scoring a candidate costs one small matmul once
//!   E(p) is known; a warm start from another surrogate goes through `decoder::warm_start`.
//! - *Inverter* g: e → prompt. A causal transformer (d256, 4 blocks, SwiGLU, RMS norm,
//!   learned positions, tied 8k-token BPE embedding) whose condition enters as K = 8
//!   soft-prefix tokens through a projector MLP (384 → 1024 → 8×256), like
//!   vec2text's pseudo-tokens. Trained on E(output) → prompt plus, as an auxiliary task,
//!   E(prompt) → prompt (15% extra examples). Decoding: greedy, beam, seeded top-p sampling
//!   (`decode::{decode, beam_batch, sample_batch, Strategy}`).
//! - *Corrector*: the same decoder conditioned on (e*, ê, e* − ê) (1152 numbers) with the
//!   current prompt's tokens (at most 24) as a given prefix (`<bos> current <sep>`), trained
//!   to write the target record's prompt. It starts from the inverter's weights (the
//!   projector's extra input columns zero, so at step 0 it decodes exactly what the inverter
//!   decodes from e*). Its examples are built in `vec2prompt-train` (`corrector_data`).
//!
//! There is no KV cache in the small decoders: prompts are short (≤ 64 tokens) and a step is
//! dominated by candle's per-op overhead, not by recomputing the sequence.
//!
//! candle's fused norm, softmax and RoPE have no backward pass, so `fused` holds
//! single-pass CPU ops with single-pass backward ops (RMS norm by a frozen scale, softmax,
//! log-softmax, interleaved RoPE, SwiGLU; each tested against candle's composed ops, values
//! and gradients); the small models' attention and loss use its softmax and log-softmax,
//! their learned-scale norms stay composed (`rms_norm_slow`). candle's f32 matmuls run on
//! gemm with its AVX-512 kernels enabled (`x86-v4`, chosen at run time).
//!
//! The generator (`vec2prompt train generator`, then `vec2prompt train rl`) is a prompt
//! writer on the pretrained LLM instead of a decoder trained from scratch:
//!
//! - `generator_model::BaseWeights` dequantizes every tensor of the llama-family GGUF to f32
//!   once (Q/K/V and gate/up stacked); `GeneratorModel` mirrors `vec2prompt_llm::Llama`
//!   (grouped-query attention, interleaved RoPE with the GGUF's `rope.freq_base`, RMS norm,
//!   SiLU MLP, tied head; a test checks its logits against `Llama` in f32). Frozen
//!   projections go through `frozen::FrozenLinear`, a custom op whose backward forms only the
//!   input's gradient (candle's matmul backward always forms both operands', a third of the
//!   step and a vocabulary-sized matmul at the head for nothing). The training path's norms,
//!   softmax, RoPE, SwiGLU and the head's log-softmax are the `fused` ops.
//! - Trainable: `soft_prompt::SoftPrompt` (MLP condition → 1024 → K × 576, each soft token
//!   RMS-normalized to the RMS of the token embeddings, so the frozen model sees inputs of its
//!   usual size) and `lora::Lora` on q and v of every layer (`A` random, `B` zero, so an
//!   untrained adapter is the base model). Only these are `Var`s.
//! - Layout: the model's chat template with a system turn and a user turn whose fixed
//!   instruction surrounds the K soft tokens; the assistant turn is the prompt, closed by the
//!   template's end-of-turn token. Keeping the model in instruction mode means the untrained
//!   generator already writes instructions; training teaches it which one. The fixed prefix
//!   before the soft tokens is the same for every sequence: its keys and values are computed
//!   once per batch and shared (also in decoding).
//! - One forward for everything: `token_logprobs` scores given assistant-turn sequences with
//!   the graph kept (stage 1's cross-entropy; `sequence_logprobs` is `log π(p | e)` for a
//!   policy-gradient step on sampled prompts), and `start`/`step` run the same network with a
//!   key/value cache (fused norm, softmax and RoPE, no graph) for decoding.
//! - `generator_decode`: greedy, beam (all targets' beams in one batch) and seeded top-p
//!   sampling; special tokens masked except the end of turn, which is masked at the first
//!   step; no repeated 3-gram; repetition penalty 1.2. `is_loop` (a repeated run of four
//!   words) measures the loop rate.

pub mod bpe;
pub mod decode;
pub mod decoder;
pub mod frozen;
pub mod fused;
pub mod generator;
pub mod generator_decode;
pub mod generator_model;
pub mod layers;
pub mod lora;
pub mod merged;
pub mod model;
pub mod params;
pub mod soft_prompt;
pub mod surrogate;

pub use bpe::PromptTokenizer;
pub use decoder::{ConditionalDecoder, DecoderConfig};
pub use generator::Generator;
pub use model::LatentModel;
pub use surrogate::{Surrogate, SurrogateConfig};

/// A candle error as the project's model error, saying what was being done (`what`).
pub fn candle_err(what: &'static str) -> impl Fn(candle_core::Error) -> vec2prompt_core::Error {
    move |e| vec2prompt_core::Error::model(what, e.to_string(), "")
}
