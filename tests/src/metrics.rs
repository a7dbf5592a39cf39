//! The proxy's admin `/metrics` (Prometheus text), parsed for assertions.

use std::collections::BTreeMap;

/// One scrape: sample name with its labels as printed (`name{a="x",b="y"}`) → value.
#[derive(Debug, Clone, Default)]
pub struct Metrics {
    samples: BTreeMap<String, f64>,
    text: String,
}

impl Metrics {
    /// Parses Prometheus text exposition (comments skipped, labels kept verbatim).
    pub fn parse(text: &str) -> Self {
        let samples = text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .filter_map(|l| {
                let (name, value) = l.rsplit_once(' ')?;
                Some((name.trim().to_owned(), value.trim().parse::<f64>().ok()?))
            })
            .collect();
        Self {
            samples,
            text: text.to_owned(),
        }
    }

    /// The value of the sample `name` whose labels include every `labels` pair; 0 when absent.
    /// Fails (None) when several samples match, so a test never sums by accident.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let matching: Vec<f64> = self.matching(name, labels).collect();
        match matching.as_slice() {
            [] => Some(0.0),
            [one] => Some(*one),
            _ => None,
        }
    }

    /// The sum of every sample `name` whose labels include every `labels` pair.
    pub fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.matching(name, labels).sum()
    }

    /// The values of the samples `name` whose labels include every `labels` pair.
    fn matching<'a>(
        &'a self,
        name: &'a str,
        labels: &[(&str, &str)],
    ) -> impl Iterator<Item = f64> + 'a {
        let wanted: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
        self.samples
            .iter()
            .filter(move |(sample, _)| {
                let (sample_name, rest) = sample.split_once('{').unwrap_or((sample, ""));
                let label_list: Vec<&str> = rest.trim_end_matches('}').split(',').collect();
                sample_name == name && wanted.iter().all(|w| label_list.contains(&w.as_str()))
            })
            .map(|(_, v)| *v)
    }

    /// The raw text, for failure messages.
    pub fn text(&self) -> &str {
        &self.text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "# HELP schemagate_records Records\n\
        # TYPE schemagate_records counter\n\
        schemagate_records_total{topic=\"orders\",outcome=\"valid\"} 10\n\
        schemagate_records_total{topic=\"orders\",outcome=\"quarantined\"} 3\n\
        schemagate_records_total{topic=\"other\",outcome=\"valid\"} 4\n\
        schemagate_connections 2\n\
        # EOF\n";

    #[test]
    fn values_are_found_by_name_and_label_subset() {
        let m = Metrics::parse(TEXT);
        let records = "schemagate_records_total";
        let q = [("topic", "orders"), ("outcome", "quarantined")];
        assert_eq!(m.value(records, &q), Some(3.0));
        assert_eq!(m.value(records, &[("outcome", "rejected")]), Some(0.0));
        assert_eq!(m.value(records, &[("outcome", "valid")]), None, "ambiguous");
        assert_eq!(m.sum(records, &[("outcome", "valid")]), 14.0);
        assert_eq!(m.value("schemagate_connections", &[]), Some(2.0));
    }
}
