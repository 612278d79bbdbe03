//! Small standalone SVG charts with no plotting dependency: the shared pieces (font,
//! palette, escaping, the page header) and a line chart for training curves. The
//! benchmark's report pictures build on the same pieces.

use std::fmt::Write;

/// The font attributes of every chart.
pub const FONT: &str = r#"font-family="sans-serif" font-size="12""#;

/// Series colours, in order.
pub const PALETTE: [&str; 8] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
];

/// `s` with the characters SVG text must not hold raw escaped.
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Opens an SVG page `w` × `h` on a white ground with `title` centred on top.
pub fn header(s: &mut String, w: f64, h: f64, title: &str) {
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" {FONT}><rect width="100%" height="100%" fill="white"/><text x="{}" y="20" text-anchor="middle" font-size="14">{}</text>"#,
        w / 2.0,
        escape(title)
    );
}

/// One named line of (x, y) points.
pub struct Series<'a> {
    /// Legend text.
    pub name: &'a str,
    /// Points, x ascending.
    pub points: Vec<(f64, f64)>,
    /// Stroke colour (CSS).
    pub color: &'a str,
}

/// An SVG line chart of `series` titled `title`, x labelled `x_label`.
pub fn line_chart(title: &str, x_label: &str, series: &[Series<'_>]) -> String {
    let (w, h, m) = (640.0, 360.0, 50.0);
    let all = series.iter().flat_map(|s| s.points.iter());
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in all {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    if x0 > x1 {
        (x0, x1, y0, y1) = (0.0, 1.0, 0.0, 1.0);
    }
    let sx = |x: f64| m + (x - x0) / (x1 - x0).max(1e-12) * (w - 2.0 * m);
    let sy = |y: f64| h - m - (y - y0) / (y1 - y0).max(1e-12) * (h - 2.0 * m);
    let mut s = String::new();
    header(&mut s, w, h, title);
    let _ = write!(
        s,
        r#"<line x1="{m}" y1="{}" x2="{}" y2="{}" stroke="black"/><line x1="{m}" y1="{m}" x2="{m}" y2="{}" stroke="black"/>"#,
        h - m,
        w - m,
        h - m,
        h - m
    );
    let _ = write!(
        s,
        r#"<text x="{}" y="{}" text-anchor="middle">{x_label}</text><text x="{m}" y="{}" text-anchor="middle">{x0:.0}</text><text x="{}" y="{}" text-anchor="middle">{x1:.0}</text><text x="{}" y="{}" text-anchor="end">{y0:.3}</text><text x="{}" y="{}" text-anchor="end">{y1:.3}</text>"#,
        w / 2.0,
        h - 10.0,
        h - m + 15.0,
        w - m,
        h - m + 15.0,
        m - 4.0,
        h - m,
        m - 4.0,
        m + 4.0
    );
    for (i, se) in series.iter().enumerate() {
        let pts: Vec<String> = se
            .points
            .iter()
            .map(|&(x, y)| format!("{:.1},{:.1}", sx(x), sy(y)))
            .collect();
        let _ = write!(
            s,
            r#"<polyline fill="none" stroke="{}" stroke-width="1.5" points="{}"/><text x="{}" y="{}" fill="{}">{}</text>"#,
            se.color,
            pts.join(" "),
            w - m - 120.0,
            m + 15.0 * (i as f64 + 1.0),
            se.color,
            escape(se.name)
        );
    }
    s.push_str("</svg>\n");
    s
}
