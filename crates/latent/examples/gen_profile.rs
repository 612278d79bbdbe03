use candle_core::{Device, Tensor};
use std::time::Instant;
use vec2prompt_latent::generator::{AdapterManifest, Base, Generator};
use vec2prompt_latent::generator_model::GeneratorConfig;
fn main() {
    let path = std::path::PathBuf::from(std::env::args().nth(1).unwrap());
    let t = Instant::now();
    let base = Base::load(&path).unwrap();
    eprintln!("load {:.1}s", t.elapsed().as_secs_f64());
    let m = AdapterManifest {
        config: GeneratorConfig::default(),
        base_name: base.name.clone(),
        base_sha256: base.sha256.clone(),
        embedder: "x".into(),
        embedder_dim: 384,
    };
    let g = Generator::with_base(base, m).unwrap();
    eprintln!(
        "layout prefix {} suffix {}",
        g.layout.prefix.len(),
        g.layout.suffix.len()
    );
    let seqs: Vec<Vec<u32>> = (0..8)
        .map(|i| (0..24).map(|j| 1000 + i * 31 + j).collect())
        .collect();
    let cond = Tensor::randn(0f32, 1.0, (8, 384), &Device::Cpu).unwrap();
    for _ in 0..2 {
        let t = Instant::now();
        let loss = g.model.loss(&g.layout, &cond, &seqs).unwrap();
        let _ = loss.to_scalar::<f32>().unwrap();
        let f = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let _grads = loss.backward().unwrap();
        let b = t.elapsed().as_secs_f64();
        eprintln!("forward {f:.2}s backward {b:.2}s");
    }
    let t = Instant::now();
    let (logits, mut cache) = g.model.start(&g.layout, &cond).unwrap();
    let _ = logits.to_vec2::<f32>().unwrap();
    eprintln!("prefill {:.2}s", t.elapsed().as_secs_f64());
    let t = Instant::now();
    for _ in 0..5 {
        let _ = g.model.step(&[5u32; 8], &mut cache).unwrap();
    }
    eprintln!(
        "decode step (8 rows) {:.3}s",
        t.elapsed().as_secs_f64() / 5.0
    );
}
