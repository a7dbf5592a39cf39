//! The rollout's charts (PNG, `plotters`' bitmap backend): per run, against seconds, the
//! deserialize errors, each group's consumer lag, the acknowledged throughput, and how many
//! instances run the new version; the window where both versions coexist is shaded in every
//! panel.

use std::path::Path;
use std::sync::OnceLock;

use plotters::prelude::*;

use crate::lab::rollout::{RunReport, Sample};

/// Where the labels' font is looked for (DejaVu, as the soak chart uses).
const FONT_FILE: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

/// Registers the font once per process; false when the machine does not have it (the panels
/// are then drawn without text). The bench's ratio chart uses it too.
pub(crate) fn font() -> bool {
    static READY: OnceLock<bool> = OnceLock::new();
    *READY.get_or_init(|| match std::fs::read(FONT_FILE) {
        Ok(bytes) => {
            let data: &'static [u8] = Box::leak(bytes.into_boxed_slice());
            plotters::style::register_font("sans-serif", FontStyle::Normal, data).is_ok()
        }
        Err(_) => false,
    })
}

/// One series of a panel: its legend and its points.
struct Line {
    name: String,
    color: RGBColor,
    points: Vec<(f64, f64)>,
}

const COLORS: [RGBColor; 4] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
];

fn color(i: usize) -> RGBColor {
    COLORS.get(i % COLORS.len()).copied().unwrap_or(BLUE)
}

fn series(samples: &[Sample], name: &str, i: usize, f: impl Fn(&Sample) -> f64) -> Line {
    Line {
        name: name.to_string(),
        color: color(i),
        points: samples.iter().map(|s| (s.t_s, f(s))).collect(),
    }
}

/// The four panels of a run.
fn panels(r: &RunReport) -> Vec<(String, Vec<Line>)> {
    let s = &r.samples;
    let groups = s.first().map_or(0, |x| x.lag.len());
    let lag = (0..groups)
        .map(|g| {
            let name = r.groups.get(g).map_or(format!("group {g}"), |n| {
                n.rsplit('-').next().unwrap_or(n).to_string()
            });
            series(s, &name, g, move |x| {
                x.lag.get(g).copied().unwrap_or(0) as f64
            })
        })
        .collect();
    vec![
        (
            format!(
                "deserialize errors, cumulative ({} in all)",
                r.deserialize_errors
            ),
            vec![series(s, "errors", 3, |x| x.errors as f64)],
        ),
        ("consumer lag (records)".to_string(), lag),
        (
            format!(
                "acknowledged records/s (target {:.0}, reached {:.0})",
                r.rate_target, r.rate_reached
            ),
            vec![series(s, "records/s", 0, |x| x.acked_per_s)],
        ),
        (
            format!("instances on {}", r.change),
            vec![
                series(s, "producers", 0, |x| x.producers_new as f64),
                series(s, "consumers", 1, |x| x.consumers_new as f64),
            ],
        ),
    ]
}

/// Draws `r`'s panels into `path`.
pub fn draw(path: &Path, r: &RunReport) -> Result<(), String> {
    let labelled = font();
    let err = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
    let root = BitMapBackend::new(path, (1100, 1100)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let root = if labelled {
        root.titled(
            &format!(
                "{} {} ({}), {}: {} errors, both versions for {:.1} s",
                r.mode,
                r.change,
                r.change_class,
                r.order,
                r.deserialize_errors,
                r.coexistence.seconds
            ),
            ("sans-serif", 22),
        )
        .map_err(|e| err(&e))?
    } else {
        root
    };
    let end = r.samples.last().map_or(1.0, |s| s.t_s).max(1.0);
    let window = (r.coexistence.from_s, r.coexistence.to_s);
    for ((title, lines), area) in panels(r).iter().zip(root.split_evenly((4, 1)).iter()) {
        let top = lines
            .iter()
            .flat_map(|l| l.points.iter().map(|p| p.1))
            .fold(1.0f64, f64::max)
            * 1.15;
        let mut builder = ChartBuilder::on(area);
        builder.margin(8);
        if labelled {
            builder
                .caption(title, ("sans-serif", 17))
                .x_label_area_size(28)
                .y_label_area_size(70);
        }
        let mut chart = builder
            .build_cartesian_2d(0.0..end, 0.0..top)
            .map_err(|e| err(&e))?;
        if labelled {
            chart
                .configure_mesh()
                .x_desc("seconds")
                .draw()
                .map_err(|e| err(&e))?;
        }
        if window.1 > window.0 {
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(window.0, 0.0), (window.1, top)],
                    RGBColor(255, 236, 200).filled(),
                )))
                .map_err(|e| err(&e))?;
        }
        for l in lines {
            let drawn = chart
                .draw_series(LineSeries::new(
                    l.points.iter().copied(),
                    l.color.stroke_width(2),
                ))
                .map_err(|e| err(&e))?;
            if labelled {
                let c = l.color;
                drawn
                    .label(l.name.clone())
                    .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], c));
            }
        }
        if labelled {
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.8))
                .border_style(BLACK)
                .position(SeriesLabelPosition::UpperLeft)
                .draw()
                .map_err(|e| err(&e))?;
        }
    }
    root.present().map_err(|e| err(&e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::rollout::{Coexistence, RunReport};
    use std::collections::BTreeMap;

    fn report() -> RunReport {
        let samples = (0..20u32)
            .map(|i| Sample {
                t_s: f64::from(i) * 0.5,
                acked: u64::from(i) * 500,
                acked_per_s: 1000.0,
                received: vec![u64::from(i) * 450, u64::from(i) * 480],
                lag: vec![u64::from(i) * 50, u64::from(i) * 20],
                errors: u64::from(i.saturating_sub(8)) * 30,
                producers_new: (i as usize / 4).min(4),
                consumers_new: (i as usize / 3).min(4),
                proxy_cpu_s: f64::from(i) * 0.1,
            })
            .collect();
        RunReport {
            mode: "BACKWARD".into(),
            change: "v4".into(),
            change_class: "remove customer_email".into(),
            order: "producers-first".into(),
            predicted_failing_order: Some("producers-first".into()),
            topic: "t".into(),
            groups: vec!["t-g0".into(), "t-g1".into()],
            registrations: vec![],
            rate_target: 1000.0,
            rate_reached: 990.0,
            produce_seconds: 10.0,
            produced: BTreeMap::new(),
            received: vec![],
            decoded: 0,
            deserialize_errors: 330,
            deserialize_errors_total_metric: 330,
            errors_by_reader: BTreeMap::new(),
            errors_in_window: 330,
            client_errors: BTreeMap::new(),
            drained: true,
            unread: vec![0, 0],
            ready_seconds: 1.0,
            steps: vec![],
            coexistence: Coexistence {
                from_s: 2.0,
                to_s: 7.0,
                seconds: 5.0,
                writers_seconds: 2.0,
                readers_seconds: 3.0,
            },
            max_lag: 950,
            proxy_cpu_s: 1.0,
            loadgen_cpu_s: 2.0,
            mean_record_bytes: 500.0,
            chart: None,
            samples,
        }
    }

    #[test]
    fn a_run_has_four_panels_with_a_lag_line_per_group() {
        let p = panels(&report());
        assert_eq!(p.len(), 4);
        assert!(p[0].0.contains("330 in all"), "{}", p[0].0);
        let lag: Vec<&str> = p[1].1.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(lag, ["g0", "g1"]);
        assert_eq!(p[1].1[0].points.len(), 20);
        assert_eq!(p[1].1[0].points[19], (9.5, 950.0));
    }

    #[test]
    fn draws_a_png_of_a_small_report() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("rollout.png");
        draw(&path, &report()).unwrap_or_else(|e| panic!("{e}"));
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
        // Not a blank canvas: a 1100×1100 white PNG compresses to a few kB.
        assert!(bytes.len() > 10_000, "{} bytes", bytes.len());
        // A report without samples still draws (empty panels), not a panic.
        let mut empty = report();
        empty.samples.clear();
        draw(&dir.path().join("empty.png"), &empty).unwrap_or_else(|e| panic!("{e}"));
    }
}
