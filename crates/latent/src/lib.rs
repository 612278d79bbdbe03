//! The latent prompt space: the models that map between prompts and the embeddings of
//! their answers, and their training (`vec2prompt train`; the pipelines that drive them are
//! in `vec2prompt-train`, stage 2 of the generator in the CLI's `rl_cmd`).
//!
//! - [`bpe`]: the prompt tokenizer (byte-level BPE trained on train prompts).
//! - [`layers`]: differentiable building blocks; [`fused`]: single-pass CPU ops with their
//!   backward passes.
//! - [`decoder`]: the conditional decoder (soft-prefix projector + causal transformer)
//!   behind the inverter and the corrector; [`decode`] turns it into prompts.
//! - [`model`]: the trained models loaded together, as search uses them ([`LatentModel`]).
//! - [`surrogate`]: prompt → predicted answer embedding.
//! - [`sequences`]: the decoder's training examples.
//! - [`trainer`], [`optim`], [`checkpoint`], [`plot`]: the resumable training loop.
//! - [`generator`]: a frozen pretrained GGUF decoder conditioned on the target through
//!   soft-prompt tokens ([`soft_prompt`]) and LoRA adapters ([`lora`]), built in
//!   [`generator_model`] on frozen projections ([`frozen`]), decoded by
//!   [`generator_decode`], trained by [`generator_train`] (stage 1, supervised) and
//!   [`generator_rl`] (stage 2, policy gradient on the real reward).
//!
//! Search needs only [`model`], [`generator`] and what they use; the trainers live here too,
//! so every crate that searches links them (a known dependency debt, see ARCHITECTURE.md).
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
//! Training (`trainer::train`) is one loop for all three: shuffled epochs (length-bucketed
//! batches for the decoders), AdamW (`optim::AdamW`) with warmup and cosine decay and
//! gradient clipping, validation each epoch, best weights kept, early stopping, a progress
//! bar. Checkpoints (weights + AdamW moments + `state.json`) are written every
//! `checkpoint_seconds` and at each epoch's end: new safetensors through
//! `write_atomic_with`, then `state.json` through `write_atomic`, so `kill -9` at any moment
//! leaves a consistent pair. Initialization is seeded (candle's CPU initializers cannot be),
//! so a resumed run ends with exactly the bytes of an uninterrupted one (tested through the
//! CLI with a real `kill -9`). `--finish` closes a time-boxed run at its checkpoint. The
//! export is f16 safetensors + shape JSON + a model card + an SVG loss curve. candle's fused
//! norm, softmax and RoPE have no backward pass, so `fused` holds single-pass CPU ops with
//! single-pass backward ops (RMS norm by a frozen scale, softmax, log-softmax, interleaved
//! RoPE, SwiGLU; each tested against candle's composed ops, values and gradients); the small
//! models' attention and loss use its softmax and log-softmax, their learned-scale norms
//! stay composed (`rms_norm_slow`). A test checks that every trainable tensor of every model
//! receives a non-zero gradient. candle's f32 matmuls run on gemm with its AVX-512 kernels
//! enabled (`x86-v4`, chosen at run time).
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
//! - `generator_train`: step-based (a pass over 50k prompts is hours here), AdamW with warmup
//!   and cosine decay over the planned steps, length-bucketed shuffled batches, a checkpoint
//!   every N steps (adapter, moments, data position and evaluation history through
//!   `checkpoint`, so `kill -9` is safe and a resumed run gives the uninterrupted run's
//!   weights), evaluation every M steps on a fixed validation subset: the loss and the loss
//!   with conditions rotated across the batch (if the decoder uses the condition, the second
//!   is clearly higher). `--max-minutes` ends an invocation, which then evaluates, measures
//!   the loop rate and exports (`generator.safetensors` f16 + `generator.json` naming the
//!   base's sha256 and the embedder; `Generator::load` refuses another base or width).
//! - `generator_rl` (`vec2prompt train rl`, the CLI's `rl_cmd`): stage 2. Each step takes
//!   the next targets of a seeded order, samples a group of prompts per target
//!   (`sample_groups`: temperature and top-p with the decode controls, the step's own seed),
//!   gets one reward per prompt from a closure (the CLI's: the configured LLM answers through
//!   `Environment::evaluate`, reward = cosine of the answer's embedding to the target; with
//!   `reward: surrogate`, the surrogate's predicted answer embedding of the prompt's
//!   embedding instead, an empty prompt scoring 0),
//!   forms group-baseline advantages (`advantages`: reward − group mean, over the step's
//!   reward std floored at 0.02) and minimizes `objective`: −Σ A_i · mean_t log π(y_it) / n +
//!   β · mean k3(π, π_ref) on the sampled tokens (`objective_part`: a micro-batch's share,
//!   normalized by the whole step's counts, so gradients accumulated over micro-batches are
//!   the step's gradient), with the reference a second
//!   `GeneratorModel` on the same base weights holding the stage-1 adapter, never updated.
//!   Checkpoints (adapter, moments, the per-step reward/KL log) every N steps through
//!   `checkpoint`, so an interrupted run resumes to the uninterrupted run's weights.
//!   `greedy_rewards` scores held-out targets' greedy prompts before (cached in
//!   `rl-before.json`) and after; the CLI writes the paired difference with its bootstrap CI
//!   (`rl-report.json`, `rl-card.md`) and the reward/KL curves (`rl-curves.svg`).

pub mod bpe;
pub mod checkpoint;
pub mod decode;
pub mod decoder;
pub mod frozen;
pub mod fused;
pub mod generator;
pub mod generator_decode;
pub mod generator_model;
pub mod generator_rl;
pub mod generator_train;
pub mod layers;
pub mod lora;
pub mod model;
pub mod optim;
pub mod plot;
pub mod sequences;
pub mod soft_prompt;
pub mod surrogate;
pub mod trainer;

pub use bpe::PromptTokenizer;
pub use decoder::{ConditionalDecoder, DecoderConfig};
pub use generator::Generator;
pub use model::LatentModel;
pub use surrogate::{Surrogate, SurrogateConfig};
pub use trainer::{Task, TrainConfig, train, train_from};
