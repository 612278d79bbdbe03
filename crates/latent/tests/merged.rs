//! The merged generator (adapters added into the base, run by the LLM crate's
//! transformer) against the generator's own network, on a tiny random llama whose
//! adapters and projector are all non-zero.

mod common;

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use vec2prompt_latent::generator_decode::{
    DecodeNet, DecodeOptions, Strategy, decode, decode_until,
};
use vec2prompt_latent::generator_model::{BaseWeights, GeneratorConfig, GeneratorModel, Layout};
use vec2prompt_latent::merged::MergedGenerator;
use vec2prompt_llm::WeightFormat;

const COND: usize = 6;

/// Widths that are multiples of 32, so every projection can be held in int8.
fn base() -> BaseWeights {
    BaseWeights::random(&common::tiny_llama(16), 64, 7).unwrap()
}

fn layout() -> Layout {
    Layout {
        prefix: vec![1, 2],
        suffix: vec![3],
        end: 4,
    }
}

/// A generator whose every trainable tensor (LoRA `B` included) holds seeded values.
fn trained(base: &BaseWeights) -> GeneratorModel {
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
    let config = GeneratorConfig {
        condition: COND,
        soft_tokens: 3,
        projector_hidden: 16,
        lora_rank: 4,
        lora_alpha: 8.0,
        ..GeneratorConfig::default()
    };
    let m = GeneratorModel::new(base, &config, vb).unwrap();
    let vars = varmap.data().lock().unwrap();
    let mut names: Vec<&String> = vars.keys().collect();
    names.sort();
    for (i, name) in names.into_iter().enumerate() {
        let var = &vars[name];
        let shape = var.as_tensor().shape().clone();
        let values = common::random_rows(1, shape.elem_count(), 100 + i as u64);
        var.set(&Tensor::from_vec(values, shape, &Device::Cpu).unwrap())
            .unwrap();
    }
    m
}

fn conditions() -> Tensor {
    let rows: Vec<f32> = common::random_rows(3, COND, 5)
        .iter()
        .map(|v| v * 4.0)
        .collect();
    Tensor::from_vec(rows, (3, COND), &Device::Cpu).unwrap()
}

fn rows(t: &Tensor) -> Vec<Vec<f32>> {
    t.to_vec2::<f32>().unwrap()
}

fn max_diff(a: &[Vec<f32>], b: &[Vec<f32>]) -> f32 {
    a.iter()
        .flatten()
        .zip(b.iter().flatten())
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let n = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (n(a) * n(b))
}

/// Runs the context and three steps of the given tokens; every step's logits.
fn trace<N: DecodeNet>(net: &N, steps: &[[u32; 3]]) -> Vec<Vec<Vec<f32>>> {
    let (logits, mut cache) = net.start(&layout(), &conditions(), 8).unwrap();
    let mut out = vec![rows(&logits)];
    for ids in steps {
        out.push(rows(&net.step(ids, &mut cache).unwrap()));
    }
    out
}

#[test]
fn merged_in_f32_computes_the_adapted_network_and_int8_stays_close() {
    let base = base();
    let model = trained(&base);
    let steps = [[5, 9, 11], [7, 7, 20], [30, 2, 6]];
    let reference = trace(&model, &steps);
    let scale = reference
        .iter()
        .flatten()
        .flatten()
        .fold(0f32, |m, v| m.max(v.abs()));
    assert!(scale > 0.1, "logits of scale {scale}");

    let f32_merged = MergedGenerator::new(&model, WeightFormat::F32).unwrap();
    for (i, (a, b)) in reference.iter().zip(trace(&f32_merged, &steps)).enumerate() {
        let d = max_diff(a, &b);
        assert!(d < 1e-4 * scale.max(1.0), "step {i}: logits differ by {d}");
    }

    // Without the adapters the logits would be far off: the merge carries them.
    let plain = GeneratorModel::new(
        &base,
        &model.config,
        VarBuilder::from_varmap(&VarMap::new(), DType::F32, &Device::Cpu),
    )
    .unwrap();
    let (unadapted, _) = plain.start(&layout(), &conditions()).unwrap();
    assert!(max_diff(&reference[0], &rows(&unadapted)) > 1e-2 * scale);

    let int8 = MergedGenerator::new(&model, WeightFormat::Q8_0).unwrap();
    for (i, (a, b)) in reference.iter().zip(trace(&int8, &steps)).enumerate() {
        for (x, y) in a.iter().zip(&b) {
            let c = cosine(x, y);
            assert!(c > 0.995, "step {i}: int8 logits at cosine {c}");
        }
    }
}

/// Three prompts per condition, as token ids.
fn prompts<N: DecodeNet>(net: &N, options: &DecodeOptions) -> Vec<Vec<Vec<u32>>> {
    decode(net, &layout(), &conditions(), 3, options, &[0])
        .unwrap()
        .into_iter()
        .map(|d| d.into_iter().map(|p| p.ids).collect())
        .collect()
}

#[test]
fn merged_in_f32_decodes_the_same_prompts_by_every_strategy() {
    let base = base();
    let model = trained(&base);
    let merged = MergedGenerator::new(&model, WeightFormat::F32).unwrap();
    let strategies = [
        Strategy::Greedy,
        Strategy::Beam { width: 3 },
        Strategy::Sample {
            temperature: 0.9,
            top_p: 0.9,
            seed: 3,
        },
    ];
    for strategy in strategies {
        let options = DecodeOptions {
            strategy: strategy.clone(),
            max_tokens: 10,
            ..DecodeOptions::default()
        };
        let want = prompts(&model, &options);
        let got = prompts(&merged, &options);
        assert_eq!(got, want, "{strategy:?}");
        let written = want.iter().flatten().filter(|p| !p.is_empty()).count();
        assert!(written > 0, "{strategy:?} wrote nothing");
    }
}

#[test]
fn a_decode_stops_at_the_first_forward_pass_its_check_refuses() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let base = base();
    let model = trained(&base);
    let merged = MergedGenerator::new(&model, WeightFormat::Q8_0).unwrap();
    let options = DecodeOptions {
        strategy: Strategy::Beam { width: 3 },
        max_tokens: 10,
        ..DecodeOptions::default()
    };
    fn run<N: DecodeNet>(net: &N, options: &DecodeOptions, allowed: usize) -> (bool, usize) {
        let asked = AtomicUsize::new(0);
        let stop = || asked.fetch_add(1, Ordering::Relaxed) >= allowed;
        let out = decode_until(net, &layout(), &conditions(), 3, options, &[0], &stop);
        (out.is_ok(), asked.load(Ordering::Relaxed))
    }
    for allowed in [0, 1, 4] {
        assert_eq!(run(&model, &options, allowed), (false, allowed + 1));
        assert_eq!(run(&merged, &options, allowed), (false, allowed + 1));
    }
    // Unstopped, a decode asks once per forward pass: the context, then each step.
    let (ok, asked) = run(&merged, &options, usize::MAX);
    assert!(ok && (2..=10).contains(&asked), "{asked} passes");
}
