//! A latency CDF as a small SVG, drawn by hand: a few polylines on a log-scaled
//! time axis need no plotting library.

use std::fmt::Write;

/// One curve: its label and its (latency in ms, share at or below) points.
pub struct Curve<'a> {
    pub label: &'a str,
    pub points: Vec<(f64, f64)>,
}

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 420.0;
const LEFT: f64 = 60.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 30.0;
const BOTTOM: f64 = 50.0;
const COLOURS: [&str; 6] = [
    "#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#a6761d",
];

/// The SVG document: x is latency on a log scale (decades that cover every
/// point), y the share of commands completed within it.
pub fn cdf(title: &str, curves: &[Curve<'_>]) -> String {
    let all = curves.iter().flat_map(|curve| curve.points.iter());
    let (low, high) = all.fold((f64::MAX, f64::MIN), |(low, high), (ms, _)| {
        (low.min(*ms), high.max(*ms))
    });
    let first_decade = low.max(0.001).log10().floor() as i32;
    let last_decade = high
        .max(0.01)
        .log10()
        .ceil()
        .max(f64::from(first_decade) + 1.0) as i32;
    let span = f64::from(last_decade - first_decade);
    let plot_width = WIDTH - LEFT - RIGHT;
    let plot_height = HEIGHT - TOP - BOTTOM;
    let x = |ms: f64| {
        LEFT + (ms.max(10f64.powi(first_decade)).log10() - f64::from(first_decade)) / span
            * plot_width
    };
    let y = |share: f64| TOP + (1.0 - share) * plot_height;

    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>
<text x="{}" y="18" text-anchor="middle" font-size="14">{}</text>
"#,
        WIDTH / 2.0,
        escape(title)
    );
    for decade in first_decade..=last_decade {
        let ms = 10f64.powi(decade);
        let at = x(ms);
        let label = if ms < 1.0 {
            format!("{ms} ms")
        } else {
            format!("{ms:.0} ms")
        };
        let _ = writeln!(
            svg,
            r##"<line x1="{at:.1}" y1="{TOP}" x2="{at:.1}" y2="{:.1}" stroke="#ddd"/><text x="{at:.1}" y="{:.1}" text-anchor="middle">{label}</text>"##,
            HEIGHT - BOTTOM,
            HEIGHT - BOTTOM + 16.0
        );
    }
    for share in [0.0, 0.25, 0.5, 0.75, 0.9, 0.99, 1.0] {
        let at = y(share);
        let _ = writeln!(
            svg,
            r##"<line x1="{LEFT}" y1="{at:.1}" x2="{:.1}" y2="{at:.1}" stroke="#eee"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}%</text>"##,
            WIDTH - RIGHT,
            LEFT - 6.0,
            at + 4.0,
            share * 100.0
        );
    }
    let _ = writeln!(
        svg,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">latency (log scale)</text>"#,
        LEFT + plot_width / 2.0,
        HEIGHT - 12.0
    );
    for (index, curve) in curves.iter().enumerate() {
        let colour = COLOURS[index % COLOURS.len()];
        let points: Vec<String> = curve
            .points
            .iter()
            .map(|(ms, share)| format!("{:.1},{:.1}", x(*ms), y(*share)))
            .collect();
        let _ = writeln!(
            svg,
            r#"<polyline fill="none" stroke="{colour}" stroke-width="2" points="{}"/>"#,
            points.join(" ")
        );
        let legend_y = TOP + 16.0 + 16.0 * index as f64;
        let _ = writeln!(
            svg,
            r#"<line x1="{:.1}" y1="{legend_y:.1}" x2="{:.1}" y2="{legend_y:.1}" stroke="{colour}" stroke-width="3"/><text x="{:.1}" y="{:.1}">{}</text>"#,
            LEFT + 12.0,
            LEFT + 32.0,
            LEFT + 38.0,
            legend_y + 4.0,
            escape(curve.label)
        );
    }
    svg.push_str("</svg>\n");
    svg
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_each_curve_with_its_label() {
        let svg = cdf(
            "t",
            &[Curve {
                label: "a <b>",
                points: vec![(0.2, 0.5), (1.5, 1.0)],
            }],
        );
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>\n"));
        assert_eq!(svg.matches("<polyline").count(), 1);
        assert!(svg.contains("a &lt;b&gt;"));
    }
}
