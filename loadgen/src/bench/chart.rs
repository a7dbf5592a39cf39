//! The ratio chart (PNG, plotters' bitmap backend): every path's median events/s over
//! direct's, one bar per producer count, written beside the report JSON.

use std::path::Path;

use plotters::prelude::*;
use serde_json::Value;

use super::path::BenchPath;

/// Rows of the chart are this many units tall on the y axis (ticks fall on multiples of it).
const ROW: i32 = 10;

/// One producer count's ratios, in path order.
#[derive(Debug, Clone, PartialEq)]
pub struct RatioSet {
    /// Concurrent producers of the runs.
    pub producers: u64,
    /// (path key, median events/s over direct's median events/s).
    pub ratios: Vec<(String, f64)>,
}

/// Each path's ratio to direct, per producer count (from `by_producers` when the report has
/// several counts, else from its `paths`); paths that did not run, and counts without a
/// direct run, are left out.
pub fn ratios(report: &Value) -> Vec<RatioSet> {
    let of = |producers: u64, section: &Value| -> Option<RatioSet> {
        let eps = |key: &str| {
            let p = section.get("paths")?.get(key)?;
            (p.get("status")?.as_str()? == "ok")
                .then(|| p.get("events_per_sec")?.as_f64())
                .flatten()
        };
        let direct = eps("direct").filter(|d| *d > 0.0)?;
        let ratios = BenchPath::ALL
            .iter()
            .filter(|p| **p != BenchPath::Direct)
            .filter_map(|p| Some((p.key().to_string(), eps(p.key())? / direct)))
            .collect();
        Some(RatioSet { producers, ratios })
    };
    match report.get("by_producers").and_then(Value::as_object) {
        Some(by) => {
            let mut sets: Vec<RatioSet> = by
                .iter()
                .filter_map(|(n, section)| of(n.parse().ok()?, section))
                .collect();
            sets.sort_by_key(|s| s.producers);
            sets
        }
        None => {
            let producers = report
                .pointer("/workload/producers")
                .and_then(|p| p.as_u64().or_else(|| p.get(0)?.as_u64()))
                .unwrap_or(1);
            of(producers, report).into_iter().collect()
        }
    }
}

/// Draws [`ratios`] of `report` as horizontal bars, one row per path and one bar per producer
/// count, with direct's 1.0 marked; labels need the DejaVu font, without it the bars are drawn
/// unlabelled.
pub fn draw_ratios(report: &Value, out: &Path) -> Result<(), String> {
    let sets = ratios(report);
    let mut rows: Vec<String> = Vec::new();
    for set in &sets {
        for (key, _) in &set.ratios {
            if !rows.contains(key) {
                rows.push(key.clone());
            }
        }
    }
    let labelled = crate::lab::chart::font();
    let height = 140 + 44 * rows.len().max(1) as u32 * (sets.len().max(1) as u32).min(4);
    let root = BitMapBackend::new(out, (1000, height)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let top = sets
        .iter()
        .flat_map(|s| s.ratios.iter().map(|(_, r)| *r))
        .fold(1.0f64, f64::max)
        * 1.15;
    let n_rows = rows.len().max(1) as i32;
    let mut builder = ChartBuilder::on(&root);
    builder.margin(16);
    if labelled {
        let broker = report
            .pointer("/workload/broker")
            .and_then(Value::as_str)
            .map(|b| b.split(',').next().unwrap_or(b).to_string())
            .unwrap_or_default();
        builder
            .caption(
                format!("events/s relative to direct (median of rounds) — {broker}"),
                ("sans-serif", 18),
            )
            .x_label_area_size(36)
            .y_label_area_size(210);
    }
    // Row i is centred on y = i * ROW (top row first), so the mesh's ticks name the rows.
    let mut chart = builder
        .build_cartesian_2d(0.0..top, (-ROW / 2)..(n_rows * ROW - ROW / 2))
        .map_err(|e| e.to_string())?;
    let row_of = |i: usize| (n_rows - 1 - i as i32) * ROW;
    if labelled {
        let names = rows.clone();
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(rows.len().max(1))
            .y_label_formatter(&move |y: &i32| {
                let i = n_rows - 1 - y.div_euclid(ROW);
                match (y.rem_euclid(ROW), usize::try_from(i)) {
                    (0, Ok(i)) => names.get(i).cloned().unwrap_or_default(),
                    _ => String::new(),
                }
            })
            .x_desc("ratio to direct (1.0 = as fast as producing straight to the broker)")
            .label_style(("sans-serif", 14))
            .draw()
            .map_err(|e| e.to_string())?;
    }
    let bars = sets.len().max(1) as i32;
    let bar = (ROW - 2) / bars;
    for (j, set) in sets.iter().enumerate() {
        let color = Palette99::pick(j).mix(0.9);
        let offset = ROW / 2 - 1 - j as i32 * bar;
        let drawn = chart
            .draw_series(set.ratios.iter().filter_map(|(key, ratio)| {
                let i = rows.iter().position(|r| r == key)?;
                let y = row_of(i) + offset;
                Some(Rectangle::new(
                    [(0.0, y), (*ratio, y - bar)],
                    color.filled(),
                ))
            }))
            .map_err(|e| e.to_string())?;
        if labelled {
            let label = match set.producers {
                1 => "1 producer".to_string(),
                n => format!("{n} producers"),
            };
            drawn.label(label).legend(move |(x, y)| {
                Rectangle::new([(x, y - 5), (x + 14, y + 5)], Palette99::pick(j).filled())
            });
            chart
                .draw_series(set.ratios.iter().filter_map(|(key, ratio)| {
                    let i = rows.iter().position(|r| r == key)?;
                    let y = row_of(i) + offset - bar / 2;
                    Some(Text::new(
                        format!(" {ratio:.2}"),
                        (*ratio, y + 1),
                        ("sans-serif", 13),
                    ))
                }))
                .map_err(|e| e.to_string())?;
        }
    }
    chart
        .draw_series(std::iter::once(PathElement::new(
            vec![(1.0, -ROW / 2), (1.0, n_rows * ROW - ROW / 2)],
            BLACK.stroke_width(2),
        )))
        .map_err(|e| e.to_string())?;
    if labelled && !sets.is_empty() {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font(("sans-serif", 14))
            .draw()
            .map_err(|e| e.to_string())?;
    }
    root.present().map_err(|e| e.to_string())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn section(direct: f64, proxy: f64) -> Value {
        json!({"paths": {
            "direct": {"status": "ok", "events_per_sec": direct},
            "proxy": {"status": "ok", "events_per_sec": proxy},
            "relay": {"status": "not_run", "events_per_sec": null},
        }})
    }

    #[test]
    fn ratios_come_per_producer_count_in_path_order() {
        let mut one = section(100.0, 90.0);
        one["workload"] = json!({"producers": [1]});
        assert_eq!(
            ratios(&one),
            vec![RatioSet {
                producers: 1,
                ratios: vec![("proxy".into(), 0.9)]
            }]
        );
        let mut both = section(100.0, 90.0);
        both["by_producers"] = json!({"8": section(400.0, 100.0), "1": section(100.0, 90.0)});
        let sets = ratios(&both);
        assert_eq!(sets.len(), 2);
        assert_eq!((sets[0].producers, sets[1].producers), (1, 8));
        assert_eq!(sets[1].ratios, vec![("proxy".to_string(), 0.25)]);
        // No direct run, no ratios.
        assert!(
            ratios(&json!({"paths": {"proxy": {"status": "ok", "events_per_sec": 5.0}}}))
                .is_empty()
        );
    }

    #[test]
    fn draws_a_png_of_a_small_report() {
        let dir = std::env::temp_dir().join(format!("loadgen-chart-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let out = dir.join("ratios.png");
        let mut report = section(100.0, 90.0);
        report["by_producers"] = json!({"1": section(100.0, 95.0), "8": section(400.0, 300.0)});
        report["workload"] = json!({"broker": "test broker, details"});
        draw_ratios(&report, &out).unwrap();
        let bytes = std::fs::read(&out).unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
        // An empty report still draws (an empty chart), it does not fail.
        draw_ratios(&json!({}), &out).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
