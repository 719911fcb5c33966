//! Charts drawn on the server as inline SVG: no script, no external asset (the page's
//! Content-Security-Policy allows neither). A chart is values → coordinates, kept apart from
//! the markup so the arithmetic is tested on its own.
//!
//! Values are counts and rates (a KPI, not money): `f64` is what a coordinate needs.

use maud::{Markup, html};

pub const WIDTH: f64 = 600.0;
pub const HEIGHT: f64 = 160.0;
/// Room around the plot for the axis and its labels.
const PAD: f64 = 24.0;

/// One line of a chart: its name in the legend, its colour, its values (one per label).
pub struct Series<'a> {
    pub name: &'a str,
    pub colour: &'a str,
    pub values: Vec<f64>,
}

/// Where `values` go in the plot: spread evenly from left to right (one value in the middle),
/// `0` on the bottom line and `top` on the top one; a value above `top` is drawn at the top.
pub fn points(values: &[f64], top: f64) -> Vec<(f64, f64)> {
    let (left, right) = (PAD, WIDTH - PAD);
    let (bottom, up) = (HEIGHT - PAD, PAD);
    let n = values.len();
    values
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            let x = if n <= 1 {
                (left + right) / 2.0
            } else {
                left + (right - left) * i as f64 / (n - 1) as f64
            };
            let share = if top > 0.0 {
                (v / top).clamp(0.0, 1.0)
            } else {
                0.0
            };
            let y = bottom - (bottom - up) * share;
            (round(x), round(y))
        })
        .collect()
}

fn round(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

/// The top of the scale: the largest value, or `fixed` (a rate's 1.0).
pub fn top_of(series: &[Series<'_>], fixed: Option<f64>) -> f64 {
    fixed.unwrap_or_else(|| {
        series
            .iter()
            .flat_map(|s| s.values.iter().copied())
            .fold(0.0, f64::max)
    })
}

/// A line chart of `series` over `labels` (the first and the last are written under the
/// axis), titled `title`; `top` fixes the scale (1.0 for a rate), else the largest value.
pub fn line_chart(
    title: &str,
    labels: &[String],
    series: &[Series<'_>],
    top: Option<f64>,
    shown_top: &str,
) -> Markup {
    let scale = top_of(series, top);
    let empty = labels.is_empty() || series.iter().all(|s| s.values.is_empty());
    html! {
        svg.chart xmlns="http://www.w3.org/2000/svg" width=(WIDTH) height=(HEIGHT)
            viewBox=(format!("0 0 {WIDTH} {HEIGHT}")) role="img" aria-label=(title) {
            title { (title) }
            line x1=(PAD) y1=(HEIGHT - PAD) x2=(WIDTH - PAD) y2=(HEIGHT - PAD) stroke="#5d6778" {}
            @if empty {
                text x=(WIDTH / 2.0) y=(HEIGHT / 2.0) text-anchor="middle" fill="#5d6778" { "no runs in these days" }
            } @else {
                text x="2" y=(PAD - 8.0) fill="#5d6778" font-size="11" { (shown_top) }
                @if let Some(first) = labels.first() {
                    text x=(PAD) y=(HEIGHT - 6.0) fill="#5d6778" font-size="11" { (first) }
                }
                @if labels.len() > 1 {
                    text x=(WIDTH - PAD) y=(HEIGHT - 6.0) text-anchor="end" fill="#5d6778" font-size="11" {
                        (labels[labels.len() - 1])
                    }
                }
                @for (k, s) in series.iter().enumerate() {
                    @let pts = points(&s.values, scale);
                    @if pts.len() == 1 {
                        circle cx=(pts[0].0) cy=(pts[0].1) r="3" fill=(s.colour) {}
                    } @else {
                        polyline fill="none" stroke=(s.colour) stroke-width="2"
                            points=(pts.iter().map(|(x, y)| format!("{x},{y}")).collect::<Vec<_>>().join(" ")) {}
                    }
                    text x=(WIDTH - PAD - 120.0 * (series.len() - k) as f64 + 10.0) y=(PAD - 8.0)
                        fill=(s.colour) font-size="11" { (s.name) }
                }
            }
        }
    }
}

/// Bars, one per `(label, value)`: the ageing of the open breaks.
pub fn bar_chart(title: &str, bars: &[(String, u64)]) -> Markup {
    let values: Vec<f64> = bars.iter().map(|(_, v)| *v as f64).collect();
    let top = values.iter().copied().fold(0.0, f64::max);
    let pts = points(&values, top);
    let slot = if bars.is_empty() {
        0.0
    } else {
        (WIDTH - 2.0 * PAD) / bars.len() as f64
    };
    html! {
        svg.chart xmlns="http://www.w3.org/2000/svg" width=(WIDTH) height=(HEIGHT)
            viewBox=(format!("0 0 {WIDTH} {HEIGHT}")) role="img" aria-label=(title) {
            title { (title) }
            line x1=(PAD) y1=(HEIGHT - PAD) x2=(WIDTH - PAD) y2=(HEIGHT - PAD) stroke="#5d6778" {}
            @for (i, ((label, v), (_, y))) in bars.iter().zip(&pts).enumerate() {
                @let x = round(PAD + slot * i as f64 + slot * 0.15);
                rect x=(x) y=(y) width=(round(slot * 0.7)) height=(round(HEIGHT - PAD - y)) fill="#1f5fbf" {}
                text x=(round(x + slot * 0.35)) y=(HEIGHT - 6.0) text-anchor="middle" fill="#5d6778" font-size="11" { (label) }
                text x=(round(x + slot * 0.35)) y=(y - 3.0) text-anchor="middle" font-size="11" { (v) }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_spread_from_left_to_right_and_scale_to_the_top() {
        let p = points(&[0.0, 5.0, 10.0], 10.0);
        assert_eq!(
            p,
            [
                (PAD, HEIGHT - PAD),
                (WIDTH / 2.0, HEIGHT / 2.0),
                (WIDTH - PAD, PAD)
            ]
        );
    }

    #[test]
    fn one_value_sits_in_the_middle() {
        assert_eq!(points(&[3.0], 6.0), [(WIDTH / 2.0, HEIGHT / 2.0)]);
    }

    #[test]
    fn nothing_to_draw_draws_no_point_and_says_so() {
        assert!(points(&[], 1.0).is_empty());
        // All zero: the scale is zero, every point on the bottom line, no division by zero.
        assert_eq!(
            points(&[0.0, 0.0], 0.0),
            [(PAD, HEIGHT - PAD), (WIDTH - PAD, HEIGHT - PAD)]
        );
        let chart = line_chart("STP", &[], &[], Some(1.0), "100%").into_string();
        assert!(chart.contains("no runs in these days"), "{chart}");
        assert!(!chart.contains("polyline"));
    }

    #[test]
    fn a_value_over_a_fixed_top_is_drawn_at_the_top() {
        assert_eq!(points(&[2.0], 1.0), [(WIDTH / 2.0, PAD)]);
    }

    #[test]
    fn a_chart_is_inline_svg_with_a_line_per_series() {
        let labels = vec!["2026-03-01".to_string(), "2026-03-02".to_string()];
        let chart = line_chart(
            "Breaks",
            &labels,
            &[
                Series {
                    name: "opened",
                    colour: "#b3261e",
                    values: vec![1.0, 3.0],
                },
                Series {
                    name: "closed",
                    colour: "#1a7f37",
                    values: vec![0.0, 2.0],
                },
            ],
            None,
            "3",
        )
        .into_string();
        assert!(chart.starts_with("<svg"));
        assert_eq!(chart.matches("<polyline").count(), 2);
        assert!(chart.contains("2026-03-01") && chart.contains("2026-03-02"));
        let bars = bar_chart("Ageing", &[("0-1".into(), 4), ("2-5".into(), 0)]).into_string();
        assert_eq!(bars.matches("<rect").count(), 2);
    }
}
