//! Behaviour of both indexes through the public API: exactness of the flat index against
//! a brute-force reference, recall and determinism of HNSW, input validation, and the
//! edge cases (empty index, k = 0, k > len, ties).

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::time::Instant;
use vec2prompt_core::{Error, cosine};
use vec2prompt_index::{FlatIndex, Hit, HnswIndex, HnswParams, VectorIndex};

/// A standard normal sample (Box-Muller).
fn gaussian(rng: &mut StdRng) -> f32 {
    let u = 1.0 - rng.random::<f64>();
    let v = rng.random::<f64>();
    ((-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()) as f32
}

/// `n` random rows of dimension `d`, each with its own scale, so nothing is normalized.
fn random_rows(rng: &mut StdRng, n: usize, d: usize) -> Vec<f32> {
    let mut data = Vec::with_capacity(n * d);
    for _ in 0..n {
        let scale = 0.01 + 10.0 * rng.random::<f32>();
        data.extend((0..d).map(|_| gaussian(rng) * scale));
    }
    data
}

/// Points around `centers` random centers, like embeddings of texts on a few topics.
fn clustered(rng: &mut StdRng, n: usize, d: usize, centers: usize, spread: f32) -> Vec<f32> {
    let middles: Vec<Vec<f32>> = (0..centers)
        .map(|_| (0..d).map(|_| gaussian(rng)).collect())
        .collect();
    let mut data = Vec::with_capacity(n * d);
    for _ in 0..n {
        let c = &middles[rng.random_range(0..centers)];
        data.extend(c.iter().map(|&x| x + spread * gaussian(rng)));
    }
    data
}

fn rows_of(data: &[f32], d: usize) -> Vec<Vec<f32>> {
    data.chunks_exact(d).map(<[f32]>::to_vec).collect()
}

/// The obvious exact search: cosine with every row, sorted by score then id.
fn brute_force(d: usize, ids: &[u32], data: &[f32], query: &[f32], k: usize) -> Vec<Hit> {
    let mut all: Vec<Hit> = data
        .chunks_exact(d)
        .zip(ids)
        .map(|(row, &id)| Hit {
            id,
            score: cosine(query, row),
        })
        .collect();
    all.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.id.cmp(&b.id)));
    all.truncate(k);
    all
}

fn assert_same_hits(got: &[Hit], want: &[Hit], context: &str) {
    let ids = |h: &[Hit]| h.iter().map(|h| h.id).collect::<Vec<_>>();
    assert_eq!(ids(got), ids(want), "{context}: ids differ");
    for (g, w) in got.iter().zip(want) {
        assert!(
            (g.score - w.score).abs() < 1e-5,
            "{context}: id {} scored {} instead of {}",
            g.id,
            g.score,
            w.score
        );
    }
}

/// The argument an invalid-input error names; fails on success or another error.
fn invalid_argument<T: std::fmt::Debug>(result: vec2prompt_core::Result<T>) -> String {
    match result {
        Err(Error::InvalidInput { argument, reason }) => {
            assert!(!reason.is_empty());
            argument
        }
        other => panic!("expected an invalid-input error, got {other:?}"),
    }
}

fn recall(got: &[Hit], want: &[Hit]) -> f64 {
    let hits = got
        .iter()
        .filter(|g| want.iter().any(|w| w.id == g.id))
        .count();
    hits as f64 / want.len().max(1) as f64
}

#[test]
fn flat_matches_brute_force_for_every_k() {
    let (n, d) = (700, 48);
    let mut rng = StdRng::seed_from_u64(1);
    let data = random_rows(&mut rng, n, d);
    // Non-sequential ids, to catch a row position returned in place of the id.
    let ids: Vec<u32> = (0..n as u32).map(|i| (i * 7919) % 100_003).collect();
    let index = FlatIndex::from_rows(d, ids.clone(), &data).expect("valid rows");
    assert_eq!((index.len(), index.dimension()), (n, d));
    for q in 0..20 {
        let query: Vec<f32> = (0..d).map(|_| gaussian(&mut rng)).collect();
        for k in [1, 5, 50, n, n + 300] {
            let got = index.search(&query, k).expect("valid query");
            assert_eq!(got.len(), k.min(n));
            let want = brute_force(d, &ids, &data, &query, k);
            assert_same_hits(&got, &want, &format!("query {q}, k {k}"));
        }
    }
}

#[test]
fn flat_large_scan_matches_brute_force() {
    // Over a million values: the scan is split across threads.
    let (n, d) = (5500, 200);
    let mut rng = StdRng::seed_from_u64(2);
    let data = random_rows(&mut rng, n, d);
    let ids: Vec<u32> = (0..n as u32).rev().collect();
    let index = FlatIndex::from_rows(d, ids.clone(), &data).expect("valid rows");
    for q in 0..4 {
        let query: Vec<f32> = (0..d).map(|_| gaussian(&mut rng)).collect();
        for k in [1, 10, 1000] {
            let got = index.search(&query, k).expect("valid query");
            let want = brute_force(d, &ids, &data, &query, k);
            assert_same_hits(&got, &want, &format!("query {q}, k {k}"));
        }
    }
}

#[test]
fn equal_scores_are_ordered_by_id() {
    // The same direction under ids 9, 3, 7 (at different scales), and others.
    let v = [0.3f32, -1.2, 0.7, 2.0];
    let scaled = |s: f32| v.iter().map(|x| x * s).collect::<Vec<f32>>();
    let rows = [
        (5, vec![1.0, 0.0, 0.0, 0.0]),
        (9, scaled(1.0)),
        (3, scaled(2.0)),
        (1, vec![0.0, 0.0, -1.0, 0.5]),
        (7, scaled(0.5)),
    ];
    let ids: Vec<u32> = rows.iter().map(|r| r.0).collect();
    let data: Vec<f32> = rows.iter().flat_map(|r| r.1.clone()).collect();
    let flat = FlatIndex::from_rows(4, ids.clone(), &data).expect("valid rows");
    let params = HnswParams {
        m: 2,
        ..HnswParams::default()
    };
    let hnsw = HnswIndex::build(4, ids, &data, params).expect("valid rows");
    for index in [&flat as &dyn VectorIndex, &hnsw] {
        for k in 1..=3 {
            let got = index.search(&v, k).expect("valid query");
            let got_ids: Vec<u32> = got.iter().map(|h| h.id).collect();
            assert_eq!(got_ids, [3, 7, 9][..k].to_vec(), "k {k}");
            assert!(got.iter().all(|h| h.score == got[0].score));
        }
        assert_eq!(index.search(&v, 10).expect("valid query").len(), 5);
    }
}

#[test]
fn scores_are_cosines_whatever_the_scale() {
    let ids = vec![10, 11, 12, 13];
    let data = [1.0, 0.0, 1.0, 1.0, 0.0, 1.0, -1.0, 0.0];
    let index = FlatIndex::from_rows(2, ids.clone(), &data).expect("valid rows");
    let got = index.search(&[2.0, 0.0], 4).expect("valid query");
    let want = [
        (10, 1.0),
        (11, std::f32::consts::FRAC_1_SQRT_2),
        (12, 0.0),
        (13, -1.0),
    ];
    for (g, (id, score)) in got.iter().zip(want) {
        assert_eq!(g.id, id);
        assert!((g.score - score).abs() < 1e-6, "{g:?}");
    }

    // Random data: unnormalized rows and queries rank and score like normalized ones.
    let (n, d) = (300, 32);
    let mut rng = StdRng::seed_from_u64(3);
    let raw = random_rows(&mut rng, n, d);
    let unit: Vec<f32> = rows_of(&raw, d)
        .into_iter()
        .flat_map(|mut r| {
            vec2prompt_core::l2_normalize(&mut r);
            r
        })
        .collect();
    let ids: Vec<u32> = (0..n as u32).collect();
    let from_raw = FlatIndex::from_rows(d, ids.clone(), &raw).expect("valid rows");
    let from_unit = FlatIndex::from_rows(d, ids, &unit).expect("valid rows");
    for _ in 0..10 {
        let query: Vec<f32> = (0..d).map(|_| gaussian(&mut rng)).collect();
        let big: Vec<f32> = query.iter().map(|x| x * 1000.0).collect();
        let a = from_raw.search(&query, 15).expect("valid query");
        let b = from_unit.search(&big, 15).expect("valid query");
        assert_same_hits(&a, &b, "raw vs normalized");
        for hit in &a {
            let row = &raw[hit.id as usize * d..(hit.id as usize + 1) * d];
            assert!((hit.score - cosine(&query, row)).abs() < 1e-6);
        }
    }
}

#[test]
fn empty_index_and_k_edge_cases() {
    let empty = FlatIndex::new(3);
    assert!(empty.is_empty());
    assert_eq!(
        empty.search(&[1.0, 2.0, 3.0], 5).expect("valid query"),
        vec![]
    );
    let empty_hnsw = HnswIndex::build(3, vec![], &[], HnswParams::default()).expect("empty");
    assert!(empty_hnsw.is_empty());
    assert_eq!(
        empty_hnsw.search(&[1.0, 2.0, 3.0], 5).expect("valid query"),
        vec![]
    );
    assert_eq!(
        empty
            .search_batch(&[vec![1.0, 0.0, 0.0]], 3)
            .expect("valid"),
        vec![Vec::<Hit>::new()]
    );

    let mut rng = StdRng::seed_from_u64(4);
    let data = random_rows(&mut rng, 6, 3);
    let ids: Vec<u32> = (100..106).collect();
    let flat = FlatIndex::from_rows(3, ids.clone(), &data).expect("valid rows");
    let hnsw = HnswIndex::build(3, ids, &data, HnswParams::default()).expect("valid rows");
    for index in [&flat as &dyn VectorIndex, &hnsw] {
        assert_eq!(
            index.search(&[1.0, 2.0, 3.0], 0).expect("valid query"),
            vec![]
        );
        let all = index.search(&[1.0, 2.0, 3.0], 100).expect("valid query");
        let mut ids: Vec<u32> = all.iter().map(|h| h.id).collect();
        ids.sort_unstable();
        assert_eq!(ids, (100..106).collect::<Vec<u32>>());
        assert!(all.windows(2).all(|w| w[0].score >= w[1].score));
    }
}

#[test]
fn from_rows_equals_adding_one_by_one() {
    let (n, d) = (200, 16);
    let mut rng = StdRng::seed_from_u64(5);
    let data = random_rows(&mut rng, n, d);
    let ids: Vec<u32> = (0..n as u32).map(|i| i * 3 + 1).collect();
    let built = FlatIndex::from_rows(d, ids.clone(), &data).expect("valid rows");
    let mut added = FlatIndex::new(d);
    for (row, &id) in rows_of(&data, d).iter().zip(&ids) {
        added.add(id, row).expect("valid vector");
    }
    assert_eq!(added.len(), n);
    for _ in 0..10 {
        let query: Vec<f32> = (0..d).map(|_| gaussian(&mut rng)).collect();
        assert_eq!(
            built.search(&query, 20).expect("valid query"),
            added.search(&query, 20).expect("valid query")
        );
    }
}

#[test]
fn bad_input_names_the_argument() {
    let mut flat = FlatIndex::new(3);
    assert_eq!(invalid_argument(flat.add(1, &[1.0, 2.0])), "vector");
    assert_eq!(
        invalid_argument(flat.add(1, &[1.0, f32::NAN, 0.0])),
        "vector"
    );
    assert_eq!(
        invalid_argument(flat.add(1, &[f32::INFINITY, 0.0, 0.0])),
        "vector"
    );
    assert_eq!(invalid_argument(flat.add(1, &[0.0, 0.0, 0.0])), "vector");
    assert!(flat.is_empty(), "a rejected vector must not be stored");
    flat.add(1, &[1.0, 2.0, 3.0]).expect("valid vector");

    let hnsw =
        HnswIndex::build(3, vec![1], &[1.0, 2.0, 3.0], HnswParams::default()).expect("valid rows");
    for index in [&flat as &dyn VectorIndex, &hnsw] {
        assert_eq!(
            invalid_argument(index.search(&[1.0, 2.0, 3.0, 4.0], 1)),
            "query"
        );
        assert_eq!(invalid_argument(index.search(&[], 1)), "query");
        assert_eq!(
            invalid_argument(index.search(&[1.0, f32::NAN, 3.0], 1)),
            "query"
        );
        assert_eq!(
            invalid_argument(index.search(&[f32::NEG_INFINITY, 0.0, 0.0], 1)),
            "query"
        );
        assert_eq!(invalid_argument(index.search(&[0.0; 3], 1)), "query");
        // Validated even when nothing would be returned.
        assert_eq!(invalid_argument(index.search(&[0.0; 3], 0)), "query");
        let batch = vec![vec![1.0, 0.0, 0.0], vec![1.0, 0.0], vec![0.0; 3]];
        assert_eq!(
            invalid_argument(index.search_batch(&batch, 1)),
            "queries[1]"
        );
    }

    type Build = fn(usize, Vec<u32>, &[f32]) -> vec2prompt_core::Result<()>;
    let flat_build: Build = |d, ids, data| FlatIndex::from_rows(d, ids, data).map(|_| ());
    let hnsw_build: Build =
        |d, ids, data| HnswIndex::build(d, ids, data, HnswParams::default()).map(|_| ());
    for build in [flat_build, hnsw_build] {
        assert_eq!(invalid_argument(build(0, vec![], &[])), "dimension");
        assert_eq!(
            invalid_argument(build(2, vec![1, 2], &[1.0, 2.0, 3.0])),
            "data"
        );
        assert_eq!(
            invalid_argument(build(2, vec![1], &[1.0, 2.0, 3.0, 4.0])),
            "ids"
        );
        assert_eq!(
            invalid_argument(build(2, vec![1, 2, 3], &[1.0, 2.0])),
            "ids"
        );
        assert_eq!(
            invalid_argument(build(2, vec![1, 2], &[1.0, 2.0, f32::NAN, 1.0])),
            "data"
        );
        assert_eq!(
            invalid_argument(build(2, vec![1, 2], &[1.0, f32::INFINITY, 1.0, 1.0])),
            "data"
        );
        assert_eq!(
            invalid_argument(build(2, vec![1, 2], &[1.0, 2.0, 0.0, 0.0])),
            "data"
        );
        assert!(build(2, vec![1, 2], &[1.0, 2.0, 0.0, 1.0]).is_ok());
    }
    // A bad row is reported with its position and id.
    let message = FlatIndex::from_rows(2, vec![5, 6], &[1.0, 2.0, 0.0, 0.0])
        .expect_err("zero row")
        .to_string();
    assert!(message.contains("row 1 (id 6)"), "{message}");

    let data = [1.0, 0.0];
    let with = |params: HnswParams| HnswIndex::build(2, vec![1], &data, params);
    let default = HnswParams::default();
    assert_eq!(invalid_argument(with(HnswParams { m: 1, ..default })), "m");
    assert_eq!(
        invalid_argument(with(HnswParams {
            m: 100_000,
            ..default
        })),
        "m"
    );
    assert_eq!(
        invalid_argument(with(HnswParams {
            ef_construction: 0,
            ..default
        })),
        "ef_construction"
    );
    assert_eq!(
        invalid_argument(with(HnswParams {
            ef_search: 0,
            ..default
        })),
        "ef_search"
    );
}

#[test]
fn search_batch_equals_one_search_per_query() {
    let (n, d) = (1500, 24);
    let mut rng = StdRng::seed_from_u64(6);
    let data = clustered(&mut rng, n, d, 10, 0.5);
    let ids: Vec<u32> = (0..n as u32).map(|i| i ^ 0x55).collect();
    let flat = FlatIndex::from_rows(d, ids.clone(), &data).expect("valid rows");
    let params = HnswParams {
        ef_construction: 64,
        ef_search: 16,
        ..HnswParams::default()
    };
    let hnsw = HnswIndex::build(d, ids, &data, params).expect("valid rows");
    // Over a million values: the flat index scans groups of queries together.
    let (big_n, big_d) = (4000, 300);
    let big_ids: Vec<u32> = (0..big_n as u32).map(|i| i / 2).collect();
    let big_flat = FlatIndex::from_rows(big_d, big_ids, &random_rows(&mut rng, big_n, big_d))
        .expect("valid rows");
    let cases = [
        (&flat as &dyn VectorIndex, d),
        (&hnsw, d),
        (&big_flat, big_d),
    ];
    for (index, d) in cases {
        let queries = rows_of(&random_rows(&mut rng, 150, d), d);
        for count in [1, 3, queries.len()] {
            for k in [0, 1, 10] {
                let batch = index
                    .search_batch(&queries[..count], k)
                    .expect("valid queries");
                assert_eq!(batch.len(), count);
                for (query, got) in queries.iter().zip(&batch) {
                    assert_eq!(got, &index.search(query, k).expect("valid query"));
                    assert_eq!(got.len(), k);
                }
            }
        }
        assert_eq!(
            index.search_batch(&[], 5).expect("no queries"),
            Vec::<Vec<Hit>>::new()
        );
    }
}

/// 3000 clustered 64-d vectors, 100 fresh queries from the same clusters.
fn recall_setup() -> (Vec<u32>, Vec<f32>, Vec<Vec<f32>>) {
    let (n, d) = (3000, 64);
    let mut rng = StdRng::seed_from_u64(7);
    let data = clustered(&mut rng, n, d, 30, 0.6);
    let queries = rows_of(&clustered(&mut rng, 100, d, 30, 0.6), d);
    ((0..n as u32).map(|i| 50_000 + i).collect(), data, queries)
}

#[test]
fn hnsw_recall_at_10_is_at_least_95_percent() {
    let (ids, data, queries) = recall_setup();
    let d = 64;
    let flat = FlatIndex::from_rows(d, ids.clone(), &data).expect("valid rows");
    let start = Instant::now();
    let hnsw = HnswIndex::build(d, ids, &data, HnswParams::default()).expect("valid rows");
    let built = start.elapsed();
    let exact = flat.search_batch(&queries, 10).expect("valid queries");
    let approx = hnsw.search_batch(&queries, 10).expect("valid queries");
    let mean = exact
        .iter()
        .zip(&approx)
        .map(|(e, a)| recall(a, e))
        .sum::<f64>()
        / queries.len() as f64;
    eprintln!("HNSW 3000x64: built in {built:?}, recall@10 {mean:.4}");
    assert!(mean >= 0.95, "recall@10 {mean}");
    // Hits that are found carry the exact cosine.
    for (e, a) in exact.iter().zip(&approx) {
        for hit in a {
            if let Some(same) = e.iter().find(|x| x.id == hit.id) {
                assert!((same.score - hit.score).abs() < 1e-6);
            }
        }
    }
}

#[test]
fn hnsw_is_deterministic_for_a_seed_whatever_the_threads() {
    let (ids, data, queries) = recall_setup();
    let params = HnswParams {
        m: 8,
        ef_construction: 40,
        ef_search: 10,
        seed: 42,
    };
    let build_with = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("thread pool");
        pool.install(|| HnswIndex::build(64, ids.clone(), &data, params))
            .expect("valid rows")
    };
    let (one, three) = (build_with(1), build_with(3));
    let results = |index: &HnswIndex| index.search_batch(&queries, 10).expect("valid queries");
    // Bitwise equal results: a narrow search exposes any difference in the graph.
    assert_eq!(results(&one), results(&three));
    assert_eq!(results(&one), results(&one));
    let other_seed = HnswIndex::build(64, ids.clone(), &data, HnswParams { seed: 43, ..params })
        .expect("valid rows");
    assert_ne!(
        results(&one),
        results(&other_seed),
        "the seed must shape the graph (else this test proves nothing)"
    );
}

#[test]
fn hnsw_with_a_wide_search_is_exact_on_a_small_set() {
    let (n, d) = (300, 20);
    let mut rng = StdRng::seed_from_u64(8);
    let data = random_rows(&mut rng, n, d);
    let ids: Vec<u32> = (0..n as u32).map(|i| 1_000_000 - i * 13).collect();
    let mut hnsw =
        HnswIndex::build(d, ids.clone(), &data, HnswParams::default()).expect("valid rows");
    hnsw.set_ef_search(n);
    assert_eq!(hnsw.params().ef_search, n);
    for _ in 0..20 {
        let query: Vec<f32> = (0..d).map(|_| gaussian(&mut rng)).collect();
        for k in [1, 10, n, n + 1] {
            let got = hnsw.search(&query, k).expect("valid query");
            assert_same_hits(&got, &brute_force(d, &ids, &data, &query, k), "hnsw");
        }
    }
    hnsw.set_ef_search(0);
    assert_eq!(hnsw.params().ef_search, 1);
    assert_eq!(hnsw.search(&data[..d], 3).expect("valid query").len(), 3);
}

/// Points around `centers` centers that vary mostly within a `rank`-dimensional subspace
/// (plus a little isotropic noise): closer to sentence embeddings, whose neighbourhoods
/// have far fewer effective dimensions than the vectors.
fn low_rank_clustered(
    rng: &mut StdRng,
    n: usize,
    d: usize,
    centers: usize,
    rank: usize,
) -> Vec<f32> {
    let basis: Vec<f32> = (0..rank * d).map(|_| gaussian(rng)).collect();
    let latent = clustered(rng, n, rank, centers, 0.5);
    let mut data = Vec::with_capacity(n * d);
    for z in latent.chunks_exact(rank) {
        data.extend((0..d).map(|j| {
            let x: f32 = z
                .iter()
                .zip(&basis[j * rank..(j + 1) * rank])
                .map(|(a, b)| a * b)
                .sum();
            x + 0.3 * gaussian(rng)
        }));
    }
    data
}

fn speed_on(name: &str, n: usize, d: usize, data: &[f32], queries: &[Vec<f32>]) {
    eprintln!(
        "== {name}: {n} x {d}, {} threads",
        rayon::current_num_threads()
    );
    let ids: Vec<u32> = (0..n as u32).collect();
    let start = Instant::now();
    let flat = FlatIndex::from_rows(d, ids.clone(), data).expect("valid rows");
    eprintln!("flat build: {:?}", start.elapsed());
    let _ = flat.search(&queries[0], 10);
    let start = Instant::now();
    for q in &queries[..20] {
        std::hint::black_box(flat.search(q, 10).expect("valid query"));
    }
    eprintln!("flat single query (k=10): {:?} each", start.elapsed() / 20);
    let start = Instant::now();
    let exact = flat.search_batch(queries, 10).expect("valid queries");
    eprintln!(
        "flat batch of {} (k=10): {:?}",
        queries.len(),
        start.elapsed()
    );

    let start = Instant::now();
    let mut hnsw = HnswIndex::build(d, ids, data, HnswParams::default()).expect("valid rows");
    eprintln!(
        "hnsw build (m 16, ef_construction 200): {:?}",
        start.elapsed()
    );
    for ef in [16, 32, 64, 128, 256] {
        hnsw.set_ef_search(ef);
        let start = Instant::now();
        let approx: Vec<Vec<Hit>> = queries
            .iter()
            .map(|q| hnsw.search(q, 10).expect("valid query"))
            .collect();
        let each = start.elapsed() / queries.len() as u32;
        let start = Instant::now();
        std::hint::black_box(hnsw.search_batch(queries, 10).expect("valid queries"));
        let batch = start.elapsed();
        let mean = exact
            .iter()
            .zip(&approx)
            .map(|(e, a)| recall(a, e))
            .sum::<f64>()
            / queries.len() as f64;
        eprintln!(
            "hnsw ef_search {ef}: recall@10 {mean:.4}, single query {each:?}, batch {batch:?}"
        );
    }
}

/// Speed on sets the size of the project's dataset (52,000 × 384; `BENCH_N` overrides the
/// count). Run with
/// `cargo test --release -p vec2prompt-index --test indexes speed -- --ignored --nocapture`.
#[test]
#[ignore = "benchmark: prints timings, takes minutes"]
fn speed_on_52k_by_384() {
    let n = std::env::var("BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(52_000);
    let d = 384;
    let which = std::env::var("BENCH_DATA").unwrap_or_default();
    let mut rng = StdRng::seed_from_u64(9);
    if which != "isotropic" {
        let all = low_rank_clustered(&mut rng, n + 100, d, 300, 24);
        let queries = rows_of(&all[n * d..], d);
        speed_on(
            "low-rank clusters (embedding-like)",
            n,
            d,
            &all[..n * d],
            &queries,
        );
    }
    if which != "low-rank" {
        let data = clustered(&mut rng, n, d, 300, 0.7);
        let queries = rows_of(&clustered(&mut rng, 100, d, 300, 0.7), d);
        speed_on("isotropic clusters (hard)", n, d, &data, &queries);
    }
}
