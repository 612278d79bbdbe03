//! Pictures of a leaderboard run, as small standalone SVG files (no plotting dependency):
//! the score distribution of every method, each method's paired difference against the
//! baselines with its bootstrap 95% CI, and quality against LLM calls.

use crate::paired::Paired;
use crate::report::Report;
use crate::stats;
use std::fmt::Write;
use vec2prompt_core::chart::{PALETTE, escape, header};

fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let pos = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// Vertical grid lines and labels for x values `ticks` mapped by `sx`, from `top` to
/// `bottom`.
fn x_axis(s: &mut String, ticks: &[f64], sx: &dyn Fn(f64) -> f64, top: f64, bottom: f64) {
    for &t in ticks {
        let x = sx(t);
        let _ = write!(
            s,
            r##"<line x1="{x:.1}" y1="{top}" x2="{x:.1}" y2="{bottom}" stroke="#e3e3e3"/><text x="{x:.1}" y="{}" text-anchor="middle">{t:.2}</text>"##,
            bottom + 15.0
        );
    }
}

fn ticks(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    (0..=n)
        .map(|i| lo + (hi - lo) * i as f64 / n as f64)
        .collect()
}

impl Report {
    /// The report's pictures as (file suffix, SVG): score distributions, paired
    /// differences against the baselines, and quality against LLM calls.
    pub fn plots(&self) -> Vec<(&'static str, String)> {
        let pairs = self.paired_differences(1000);
        vec![
            ("scores", score_distributions(self)),
            ("paired", paired_differences_svg(&pairs, self.targets)),
            ("calls", quality_vs_calls(self)),
        ]
    }
}

/// Box plots of every method's per-target scores (whiskers: 5th–95th percentile; the
/// dot is the mean).
pub fn score_distributions(report: &Report) -> String {
    let rows: Vec<(String, Vec<f64>)> = report
        .methods
        .iter()
        .filter_map(|m| report.scores(&m.method).map(|s| (m.method.clone(), s)))
        .collect();
    let (label_w, w, row_h, top) = (150.0, 720.0, 28.0, 40.0);
    let h = top + row_h * rows.len() as f64 + 45.0;
    let (lo, hi) = (-0.2, 1.0);
    let sx = |x: f64| label_w + (x.clamp(lo, hi) - lo) / (hi - lo) * (w - label_w - 20.0);
    let mut s = String::new();
    header(
        &mut s,
        w,
        h,
        &format!(
            "Score per target, {} targets (cos of answer and target)",
            report.targets
        ),
    );
    let bottom = top + row_h * rows.len() as f64;
    x_axis(&mut s, &ticks(lo, hi, 6), &sx, top, bottom);
    for (i, (name, xs)) in rows.iter().enumerate() {
        let mut sorted = xs.clone();
        sorted.sort_by(f64::total_cmp);
        let y = top + row_h * (i as f64 + 0.5);
        let color = PALETTE[i % PALETTE.len()];
        let (p5, q1, med, q3, p95) = (
            quantile(&sorted, 0.05),
            quantile(&sorted, 0.25),
            quantile(&sorted, 0.5),
            quantile(&sorted, 0.75),
            quantile(&sorted, 0.95),
        );
        let mean = stats::mean(xs);
        let _ = write!(
            s,
            r##"<text x="{}" y="{:.1}" text-anchor="end">{}</text><line x1="{:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="{color}"/><rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{color}" fill-opacity="0.25" stroke="{color}"/><line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="{color}" stroke-width="2"/><circle cx="{:.1}" cy="{y:.1}" r="3.5" fill="black"/>"##,
            label_w - 8.0,
            y + 4.0,
            escape(name),
            sx(p5),
            sx(p95),
            sx(q1),
            y - 8.0,
            (sx(q3) - sx(q1)).max(1.0),
            16.0,
            sx(med),
            y - 8.0,
            sx(med),
            y + 8.0,
            sx(mean),
        );
    }
    let _ = write!(
        s,
        r#"<text x="{}" y="{}" text-anchor="middle">box: quartiles and median · whiskers: 5th–95th percentile · dot: mean</text></svg>"#,
        (label_w + w) / 2.0,
        h - 8.0
    );
    s.push('\n');
    s
}

/// A forest plot of [`Report::paired_differences`]: each bar is a 95% CI; one that does not
/// cross zero is a significant difference.
pub fn paired_differences_svg(pairs: &[Paired], targets: usize) -> String {
    let (label_w, w, row_h, top) = (260.0, 760.0, 22.0, 40.0);
    let h = top + row_h * pairs.len().max(1) as f64 + 45.0;
    let lim = pairs
        .iter()
        .flat_map(|p| [p.ci95[0].abs(), p.ci95[1].abs()])
        .fold(0.05f64, f64::max)
        * 1.1;
    // The right margin holds each row's value.
    let sx = |x: f64| label_w + (x + lim) / (2.0 * lim) * (w - label_w - 80.0);
    let mut s = String::new();
    header(
        &mut s,
        w,
        h,
        &format!("Paired difference per target (method − baseline), {targets} targets, 95% CI"),
    );
    let bottom = top + row_h * pairs.len().max(1) as f64;
    x_axis(&mut s, &ticks(-lim, lim, 4), &sx, top, bottom);
    let _ = write!(
        s,
        r#"<line x1="{0:.1}" y1="{top}" x2="{0:.1}" y2="{bottom}" stroke="black"/>"#,
        sx(0.0)
    );
    for (i, p) in pairs.iter().enumerate() {
        let y = top + row_h * (i as f64 + 0.5);
        let significant = p.ci95[0] > 0.0 || p.ci95[1] < 0.0;
        let color = match (significant, p.mean > 0.0) {
            (true, true) => "#2ca02c",
            (true, false) => "#d62728",
            _ => "#7f7f7f",
        };
        let _ = write!(
            s,
            r#"<text x="{}" y="{:.1}" text-anchor="end">{} − {}</text><line x1="{:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="{color}" stroke-width="3"/><circle cx="{:.1}" cy="{y:.1}" r="4" fill="{color}"/><text x="{}" y="{:.1}" fill="{color}">{:+.3}</text>"#,
            label_w - 8.0,
            y + 4.0,
            escape(&p.method),
            escape(&p.baseline),
            sx(p.ci95[0]),
            sx(p.ci95[1]),
            sx(p.mean),
            w - 70.0,
            y + 4.0,
            p.mean
        );
    }
    let _ = write!(
        s,
        r##"<text x="{}" y="{}" text-anchor="middle">green: CI above 0 · red: below 0 · grey: not significant</text></svg>"##,
        (label_w + w) / 2.0,
        h - 8.0
    );
    s.push('\n');
    s
}

/// Normalized score against LLM calls per target, one labelled point per method, with its
/// normalized 95% CI.
pub fn quality_vs_calls(report: &Report) -> String {
    let (w, h, m) = (640.0, 400.0, 55.0);
    let random = report.methods.iter().find(|x| x.method == "random");
    let oracle = report.methods.iter().find(|x| x.method == "oracle");
    let norm = |v: f64| match (random, oracle) {
        (Some(r), Some(o)) => stats::normalized(v, r.mean, o.mean),
        _ => v,
    };
    let xmax = report
        .methods
        .iter()
        .map(|x| x.llm_calls_per_target)
        .fold(1.0f64, f64::max);
    // log2(1 + calls): 0, 1, 2, 4, 8, 16 … spread evenly.
    let lx = |c: f64| (1.0 + c).log2();
    let sx = |c: f64| m + lx(c) / lx(xmax) * (w - 2.0 * m);
    let ys: Vec<f64> = report
        .methods
        .iter()
        .flat_map(|x| [norm(x.ci95[0]), norm(x.ci95[1])])
        .collect();
    let (y0, y1) = (
        ys.iter().copied().fold(0.0f64, f64::min) - 0.05,
        ys.iter().copied().fold(1.0f64, f64::max) + 0.05,
    );
    let sy = |y: f64| h - m - (y - y0) / (y1 - y0) * (h - 2.0 * m);
    let mut s = String::new();
    header(&mut s, w, h, "Quality against LLM calls per target");
    let _ = write!(
        s,
        r##"<line x1="{m}" y1="{0:.1}" x2="{1}" y2="{0:.1}" stroke="#999" stroke-dasharray="4 3"/><text x="{2}" y="{3:.1}" fill="#999">oracle = 1</text>"##,
        sy(1.0),
        w - m,
        w / 2.0,
        sy(1.0) - 4.0
    );
    let mut c = 0.0;
    while c <= xmax {
        let x = sx(c);
        let _ = write!(
            s,
            r##"<line x1="{x:.1}" y1="{m}" x2="{x:.1}" y2="{}" stroke="#eee"/><text x="{x:.1}" y="{}" text-anchor="middle">{c}</text>"##,
            h - m,
            h - m + 15.0
        );
        c = if c == 0.0 { 1.0 } else { c * 2.0 };
    }
    for t in ticks(y0, y1, 5) {
        let _ = write!(
            s,
            r#"<text x="{}" y="{:.1}" text-anchor="end">{t:.2}</text>"#,
            m - 6.0,
            sy(t) + 4.0
        );
    }
    let _ = write!(
        s,
        r#"<text x="{}" y="{}" text-anchor="middle">LLM calls per target (log scale)</text><text x="14" y="{}" transform="rotate(-90 14 {})" text-anchor="middle">normalized score (random 0, oracle 1)</text>"#,
        w / 2.0,
        h - 12.0,
        h / 2.0,
        h / 2.0
    );
    // Labels of methods with the same number of calls are spread at least 13 px apart,
    // top to bottom, so they never overlap.
    let mut label_y = vec![0.0; report.methods.len()];
    let mut order: Vec<usize> = (0..report.methods.len()).collect();
    order.sort_by(|&a, &b| {
        let (ma, mb) = (&report.methods[a], &report.methods[b]);
        ma.llm_calls_per_target
            .total_cmp(&mb.llm_calls_per_target)
            .then(sy(ma.normalized).total_cmp(&sy(mb.normalized)))
    });
    let mut prev: Option<(f64, f64)> = None;
    for &i in &order {
        let x = &report.methods[i];
        let want = sy(x.normalized) - 5.0;
        let y = match prev {
            Some((calls, last)) if (calls - x.llm_calls_per_target).abs() < 1e-9 => {
                want.max(last + 13.0)
            }
            _ => want,
        };
        label_y[i] = y;
        prev = Some((x.llm_calls_per_target, y));
    }
    for (i, x) in report.methods.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        let (px, py) = (sx(x.llm_calls_per_target), sy(x.normalized));
        let right_edge = px > w - 2.0 * m;
        let _ = write!(
            s,
            r#"<line x1="{px:.1}" y1="{:.1}" x2="{px:.1}" y2="{:.1}" stroke="{color}"/><circle cx="{px:.1}" cy="{py:.1}" r="4.5" fill="{color}"/><text x="{:.1}" y="{:.1}" fill="{color}" text-anchor="{}">{}</text>"#,
            sy(norm(x.ci95[0])),
            sy(norm(x.ci95[1])),
            if right_edge { px - 9.0 } else { px + 9.0 },
            label_y[i],
            if right_edge { "end" } else { "start" },
            escape(&x.method)
        );
    }
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{Choice, MethodReport, TargetRow};

    fn method(name: &str, calls: f64, mean: f64) -> MethodReport {
        MethodReport {
            method: name.into(),
            mean,
            median: mean,
            ci95: [mean - 0.02, mean + 0.02],
            normalized: 0.0,
            win_rate_vs_oracle: 0.5,
            llm_calls_per_target: calls,
            seconds_per_target: 0.0,
            seconds_p50: 0.0,
            prompt_tokens: 10.0,
            copy_rate: 0.0,
            remembered_per_target: 0.0,
            quality: None,
            sources: Default::default(),
        }
    }

    fn report() -> Report {
        let names = [
            "random",
            "oracle",
            "knn-1",
            "knn-best-of-4",
            "search-4",
            "loop2-4",
            "generator-ranked",
            "generator-ranked-8",
        ];
        let methods = vec![
            method("random", 0.0, 0.05),
            method("oracle", 0.0, 0.6),
            method("knn-1", 0.0, 0.5),
            method("knn-best-of-4", 4.0, 0.6),
            method("search-4", 4.0, 0.65),
            method("loop2-4", 4.0, 0.67),
            method("generator-ranked", 0.0, 0.5),
            method("generator-ranked-8", 0.0, 0.53),
        ];
        // search-4 beats knn-best-of-4 by 0.05 on every target, loop2-4 beats search-4 by
        // 0.02; knn-1 = oracle − 0.1; eight ranked beams beat four by 0.03.
        let per_target = (0..20)
            .map(|i| {
                let base = 0.4 + 0.01 * i as f64;
                let s = [
                    0.05,
                    base + 0.1,
                    base,
                    base + 0.1,
                    base + 0.15,
                    base + 0.17,
                    base,
                    base + 0.03,
                ];
                TargetRow {
                    id: format!("r{i}"),
                    index: i,
                    choices: names
                        .iter()
                        .zip(s)
                        .map(|(m, score)| Choice {
                            method: m.to_string(),
                            prompt_record: None,
                            prompt: None,
                            score,
                        })
                        .collect(),
                }
            })
            .collect();
        Report {
            command: "test".into(),
            date: String::new(),
            llm: "llm".into(),
            embedder: "e".into(),
            targets: 20,
            split: "test".into(),
            seed: 0,
            answers_generated: 0,
            answers_cached: 0,
            memory_answers: 0,
            methods,
            per_target,
            ranking: None,
            answer_prefix: Vec::new(),
            environment: String::new(),
            provenance: None,
            perturbed: Vec::new(),
        }
    }

    #[test]
    fn paired_differences_compare_with_the_same_budget() {
        let p = report().paired_differences(200);
        let find = |m: &str, b: &str| {
            p.iter()
                .find(|x| x.method == m && x.baseline == b)
                .unwrap_or_else(|| panic!("{m} vs {b} in {p:?}"))
        };
        let d = find("search-4", "knn-best-of-4");
        assert!((d.mean - 0.05).abs() < 1e-9 && d.ci95[0] > 0.0);
        let d = find("knn-1", "oracle");
        assert!((d.mean + 0.1).abs() < 1e-9 && d.ci95[1] < 0.0);
        // The closed loop is also compared with the two-stage search of its budget.
        let d = find("loop2-4", "search-4");
        assert!((d.mean - 0.02).abs() < 1e-9 && d.ci95[0] > 0.0);
        find("loop2-4", "knn-best-of-4");
        // A wider generator beam against the default four beams.
        let d = find("generator-ranked-8", "generator-ranked");
        assert!((d.mean - 0.03).abs() < 1e-9 && d.ci95[0] > 0.0);
        assert!(
            !p.iter()
                .any(|x| x.method == "generator-ranked" && x.baseline == "generator-ranked")
        );
        assert!(
            !p.iter()
                .any(|x| x.method == "knn-1" && x.baseline == "knn-1")
        );
        assert!(
            !p.iter()
                .any(|x| x.method == "oracle" || x.method == "random")
        );
        let svg = paired_differences_svg(&p, 20);
        assert!(svg.starts_with("<svg") && svg.contains("search-4 − knn-best-of-4"));
    }

    #[test]
    fn every_method_gets_a_box_and_a_point() {
        let r = report();
        let svg = score_distributions(&r);
        assert_eq!(svg.matches("<rect x=").count(), r.methods.len());
        let q = quality_vs_calls(&r);
        for m in &r.methods {
            assert!(q.contains(&format!(">{}</text>", m.method)), "{}", m.method);
        }
        assert!(q.ends_with("</svg>\n"));
    }

    #[test]
    fn quantiles_interpolate() {
        let xs = [0.0, 1.0, 2.0, 3.0];
        assert_eq!(quantile(&xs, 0.5), 1.5);
        assert_eq!(quantile(&xs, 0.0), 0.0);
        assert_eq!(quantile(&xs, 1.0), 3.0);
    }
}
