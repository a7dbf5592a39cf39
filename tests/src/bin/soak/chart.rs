//! The soak's chart (PNG, plotters) and its growth figures.

use std::path::Path;

use plotters::prelude::*;

use crate::Sample;

/// One panel: its title and how to read its value from a sample.
type Panel = (&'static str, fn(&Sample) -> f64);

/// The font the labels are drawn with, when the machine has it.
const FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

/// Resource growth after warm-up: the mean of the last fifth of the samples minus the mean of
/// the fifth after the first fifth (the warm-up), and the RSS slope over everything after
/// warm-up (least squares).
pub fn growth(samples: &[Sample]) -> serde_json::Value {
    let fifth = (samples.len() / 5).max(1);
    if samples.len() < 3 * fifth {
        return serde_json::json!({"note": "too few samples"});
    }
    let early = &samples[fifth..2 * fifth];
    let late = &samples[samples.len() - fifth..];
    let mean = |s: &[Sample], f: fn(&Sample) -> f64| s.iter().map(f).sum::<f64>() / s.len() as f64;
    let after = &samples[fifth..];
    let n = after.len() as f64;
    let (mx, my) = (mean(after, |s| s.at_s), mean(after, |s| s.rss_mib));
    let cov: f64 = after.iter().map(|s| (s.at_s - mx) * (s.rss_mib - my)).sum();
    let var: f64 = after.iter().map(|s| (s.at_s - mx).powi(2)).sum();
    let slope_per_hour = if var > 0.0 { cov / var * 3600.0 } else { 0.0 };
    serde_json::json!({
        "warmup_s": samples[fifth].at_s,
        "rss_mib_early": round(mean(early, |s| s.rss_mib)),
        "rss_mib_late": round(mean(late, |s| s.rss_mib)),
        "rss_slope_mib_per_hour": round(slope_per_hour),
        "fds_early": round(mean(early, |s| s.fds as f64)),
        "fds_late": round(mean(late, |s| s.fds as f64)),
        "threads_early": round(mean(early, |s| s.threads as f64)),
        "threads_late": round(mean(late, |s| s.threads as f64)),
        "cpu_pct_mean": round(mean(after, |s| s.cpu_pct)),
        "samples_after_warmup": n,
    })
}

fn round(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// Draws RSS, CPU, descriptors and threads against minutes, one panel each, with the broker
/// restarts shaded. Without the font the panels are drawn without labels.
pub fn draw(path: &Path, samples: &[Sample], restarts: &[(f64, f64)]) -> Result<(), String> {
    let labelled = std::fs::read(FONT)
        .ok()
        .map(|bytes| {
            let leaked: &'static [u8] = Box::leak(bytes.into_boxed_slice());
            plotters::style::register_font("sans-serif", FontStyle::Normal, leaked).is_ok()
        })
        .unwrap_or(false);
    let root = BitMapBackend::new(path, (1200, 1000)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let panels = root.split_evenly((4, 1));
    let minutes = samples.last().map_or(1.0, |s| s.at_s / 60.0).max(0.1);
    let series: [Panel; 4] = [
        ("proxy RSS (MiB)", |s| s.rss_mib),
        ("proxy CPU (% of a core)", |s| s.cpu_pct),
        ("open file descriptors", |s| s.fds as f64),
        ("threads", |s| s.threads as f64),
    ];
    for ((name, f), area) in series.iter().zip(panels.iter()) {
        let top = samples.iter().map(f).fold(1.0f64, f64::max) * 1.15;
        let mut builder = ChartBuilder::on(area);
        builder.margin(10);
        if labelled {
            builder
                .caption(*name, ("sans-serif", 18))
                .x_label_area_size(30)
                .y_label_area_size(60);
        }
        let mut chart = builder
            .build_cartesian_2d(0.0..minutes, 0.0..top)
            .map_err(|e| e.to_string())?;
        if labelled {
            chart
                .configure_mesh()
                .x_desc("minutes")
                .draw()
                .map_err(|e| e.to_string())?;
        }
        chart
            .draw_series(restarts.iter().map(|(from, to)| {
                Rectangle::new(
                    [
                        (from / 60.0, 0.0),
                        ((to / 60.0).max(from / 60.0 + 0.05), top),
                    ],
                    RGBColor(255, 220, 200).filled(),
                )
            }))
            .map_err(|e| e.to_string())?;
        chart
            .draw_series(LineSeries::new(
                samples.iter().map(|s| (s.at_s / 60.0, f(s))),
                BLUE.stroke_width(2),
            ))
            .map_err(|e| e.to_string())?;
    }
    root.present().map_err(|e| e.to_string())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(at_s: f64, rss_mib: f64) -> Sample {
        Sample {
            at_s,
            rss_mib,
            cpu_pct: 10.0,
            fds: 40,
            threads: 12,
            acked: 0,
        }
    }

    #[test]
    fn flat_memory_has_no_slope_and_a_leak_has_one() {
        let flat: Vec<Sample> = (0..50).map(|i| sample(f64::from(i) * 10.0, 80.0)).collect();
        assert_eq!(growth(&flat)["rss_slope_mib_per_hour"], 0.0);
        let leak: Vec<Sample> = (0..50)
            .map(|i| sample(f64::from(i) * 10.0, 80.0 + f64::from(i)))
            .collect();
        // One MiB every 10 s is 360 MiB an hour.
        assert_eq!(growth(&leak)["rss_slope_mib_per_hour"], 360.0);
        assert_eq!(growth(&flat[..2])["note"], "too few samples");
    }

    #[test]
    fn draws_a_png() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("chart.png");
        let samples: Vec<Sample> = (0..30).map(|i| sample(f64::from(i) * 10.0, 80.0)).collect();
        draw(&path, &samples, &[(60.0, 75.0)]).unwrap_or_else(|e| panic!("{e}"));
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(&bytes[1..4], b"PNG");
    }
}
