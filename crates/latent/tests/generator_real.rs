//! The generator on the real SmolLM2-135M-Instruct GGUF as its frozen base.

use std::path::PathBuf;
use vec2prompt_latent::Generator;
use vec2prompt_latent::generator::{AdapterManifest, Base, MANIFEST_FILE};
use vec2prompt_latent::generator_decode::{DecodeOptions, Strategy};
use vec2prompt_latent::generator_model::GeneratorConfig;
use vec2prompt_llm::gguf::GgufFile;
use vec2prompt_llm::llama::{Llama, WeightFormat};

fn gguf() -> Option<PathBuf> {
    vec2prompt_core::testing::real_model("SmolLM2-135M-Instruct")
        .map(|d| d.join("SmolLM2-135M-Instruct.Q4_1.gguf"))
}

fn manifest(base: &Base) -> AdapterManifest {
    AdapterManifest {
        config: GeneratorConfig::default(),
        base_name: base.name.clone(),
        base_sha256: base.sha256.clone(),
        embedder: "all-MiniLM-L6-v2".into(),
        embedder_dim: 384,
    }
}

fn targets() -> Vec<Vec<f32>> {
    (0..2)
        .map(|t| {
            let v: Vec<f32> = (0..384)
                .map(|i| ((i * 7 + t * 13) % 11) as f32 - 5.0)
                .collect();
            let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            v.into_iter().map(|x| x / n).collect()
        })
        .collect()
}

#[test]
fn a_fresh_adapter_is_the_base_model_and_writes_prompts_that_survive_a_round_trip() {
    let Some(path) = gguf() else { return };
    let base = Base::load(&path).unwrap();
    assert_eq!(base.weights().unwrap().config.n_layer, 30);
    assert_eq!(base.weights().unwrap().config.hidden, 576);
    let m = manifest(&base);
    let g = Generator::with_base(base, m).unwrap();

    // LoRA B = 0: on plain tokens the generator's network is the project's own f32 llama.
    let ids = g.base.encode("Name three primary colors.").unwrap();
    let mut file = GgufFile::open(&path).unwrap();
    let llama = Llama::load(&mut file, WeightFormat::F32).unwrap();
    let mut kv = llama.new_cache(1, 64).unwrap();
    let reference = llama
        .forward(std::slice::from_ref(&ids), &[0], &mut kv)
        .unwrap();
    let mut cache = g.model().unwrap().new_cache();
    let mut logits = None;
    for &id in &ids {
        logits = Some(g.model().unwrap().step(&[id], &mut cache).unwrap());
    }
    let diff = (logits.unwrap() - &reference)
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    let scale = reference
        .abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    assert!(
        diff < 1e-3 * scale.max(1.0),
        "logits differ by {diff} (scale {scale})"
    );

    // The assistant turn ends with the template's end-of-turn marker, and special
    // tokens are masked.
    assert_eq!(g.base.tokenizer.token(g.layout.end), Some("<|im_end|>"));
    assert!(!g.banned.contains(&g.layout.end) && !g.banned.is_empty());

    let options = DecodeOptions {
        max_tokens: 24,
        ..DecodeOptions::default()
    };
    let greedy = g.generate_with(&targets(), 1, &options).unwrap();
    for ps in &greedy {
        assert_eq!(ps.len(), 1);
        let text = &ps[0].0;
        assert!(!text.trim().is_empty(), "empty prompt");
        assert!(!text.contains("<|"), "special token in {text:?}");
    }
    let beams = g
        .generate(&targets()[..1], 2, Strategy::Beam { width: 2 })
        .unwrap();
    assert_eq!(beams[0].len(), 2);
    assert!(beams[0].iter().all(|p| !p.trim().is_empty()));

    // Ranked by the shipped surrogate through the real embedder, best predicted first.
    let embedder = vec2prompt_core::testing::real_model("all-MiniLM-L6-v2")
        .map(|d| vec2prompt_embed::LocalEmbedder::load(&d, Default::default()).unwrap())
        .unwrap();
    let latent = vec2prompt_latent::LatentModel::load(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../assets/latent"),
    )
    .unwrap();
    let ranked = g
        .generate_ranked(
            &targets()[..1],
            3,
            Strategy::Beam { width: 3 },
            &embedder,
            &latent,
        )
        .unwrap();
    assert!(!ranked[0].is_empty());
    assert!(ranked[0].windows(2).all(|w| w[0].1 >= w[1].1));

    // Round trip: the saved adapter loads on the same base and decodes the same prompts.
    let dir = tempfile::tempdir().unwrap();
    g.save(dir.path()).unwrap();
    let size = std::fs::metadata(dir.path().join("generator.safetensors"))
        .unwrap()
        .len();
    assert!(size < 40 << 20, "adapter of {size} bytes is not small");
    let loaded = Generator::load(&path, dir.path()).unwrap();
    let again = loaded.generate_with(&targets(), 1, &options).unwrap();
    // f16 export: the prompts may differ only if two tokens were nearly tied.
    assert_eq!(greedy[0][0].0, again[0][0].0);

    // A wrong target width and another base are clear errors.
    let err = loaded.generate(&[vec![0.0; 10]], 1, Strategy::Greedy);
    assert!(err.unwrap_err().to_string().contains("384"));
    let mpath = dir.path().join(MANIFEST_FILE);
    let mut m: AdapterManifest =
        serde_json::from_str(&std::fs::read_to_string(&mpath).unwrap()).unwrap();
    m.base_sha256 = "0".repeat(64);
    std::fs::write(&mpath, serde_json::to_string(&m).unwrap()).unwrap();
    let err = Generator::load(&path, dir.path())
        .err()
        .expect("another base");
    assert!(err.to_string().contains("trained on"), "{err}");
}

#[test]
fn the_shipped_generator_merged_writes_what_its_network_writes() {
    let Some(path) = gguf() else { return };
    let adapter = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../assets/generator");
    let mut g = Generator::load(&path, &adapter).unwrap();
    let embedder = vec2prompt_core::testing::real_model("all-MiniLM-L6-v2")
        .map(|d| vec2prompt_embed::LocalEmbedder::load(&d, Default::default()).unwrap())
        .unwrap();
    let texts = [
        "Eat a balanced diet with plenty of fruit and vegetables, exercise regularly, and get enough sleep.",
        "To reset your router, unplug it, wait thirty seconds, plug it back in, and wait for the lights to turn green.",
        "Autumn leaves drift down, painting the quiet street in red and gold while the cool wind hums.",
        "The capital of France is Paris, a city known for its museums and cafes.",
    ];
    let texts: Vec<String> = texts.iter().map(|t| t.to_string()).collect();
    let targets = vec2prompt_core::Embedder::embed(&embedder, &texts).unwrap();
    let options = DecodeOptions {
        max_tokens: 32,
        ..DecodeOptions::default()
    };
    let prompts = |g: &Generator| -> Vec<String> {
        g.generate_with(&targets, 1, &options)
            .unwrap()
            .into_iter()
            .map(|p| p[0].0.clone())
            .collect()
    };
    assert!(!g.is_merged());
    assert!(
        g.release_training_weights().is_err(),
        "released with nothing to decode"
    );
    let network = prompts(&g);
    // In f32 the merged model computes the same function: the same greedy prompts.
    g.merge_for_inference(WeightFormat::F32).unwrap();
    assert_eq!(prompts(&g), network);
    // In int8 the logits move by the rounding of weights and activations; a prompt may
    // then take another token where two were nearly tied, but most stay as they were.
    g.merge_for_inference(WeightFormat::Q8_0).unwrap();
    assert!(g.is_merged());
    let int8 = prompts(&g);
    let same = int8.iter().zip(&network).filter(|(a, b)| a == b).count();
    assert!(same >= 2, "int8 {int8:?} against f32 {network:?}");
    assert!(
        int8.iter()
            .all(|p| !p.trim().is_empty() && !p.contains("<|"))
    );
    g.unmerge().unwrap();
    assert_eq!(prompts(&g), network);
    // Released for inference: the f32 network is gone, the merged copy decodes as before.
    g.merge_for_inference(WeightFormat::Q8_0).unwrap();
    g.release_training_weights().unwrap();
    assert_eq!(prompts(&g), int8);
    assert!(g.model().is_err() && g.base.weights().is_err());
    assert!(g.unmerge().is_err() && g.is_merged());
}
