//! `quarantine list`: counts of quarantined records grouped by reason, schema id and client
//! id, as an aligned table or as data for JSON.

use std::collections::BTreeMap;

use serde::Serialize;

use super::reader::{self, blocking, ReadConfig};
use super::record::QuarantinedRecord;
use super::AuditError;

/// Reads the whole quarantine topic as it stands now and counts it.
pub async fn summarize(read: &ReadConfig, topic: &str) -> Result<Summary, AuditError> {
    let extent = blocking({
        let (read, topic) = (read.clone(), topic.to_string());
        move || reader::snapshot(&read, &topic, None)
    })
    .await?;
    let mut summary = Summary::default();
    let mut records = reader::stream(read.clone(), extent);
    while let Some(record) = records.recv().await {
        summary.add(&record?);
    }
    Ok(summary)
}

/// The grouping key of one row.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct GroupKey {
    /// `schemagate.reason`, None when the header is missing.
    pub reason: Option<String>,
    /// `schemagate.schema-id`, None when the frame had no id.
    pub schema_id: Option<u32>,
    /// `schemagate.client-id`, None when the client sent none.
    pub client_id: Option<String>,
}

/// One row: a group and how many records are in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Group {
    /// The group.
    #[serde(flatten)]
    pub key: GroupKey,
    /// Records in the group.
    pub count: u64,
}

/// Counts over a whole quarantine topic.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    groups: BTreeMap<GroupKey, u64>,
    total: u64,
}

/// The summary as published by `list --json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SummaryReport {
    /// The quarantine topic.
    pub topic: String,
    /// Records read.
    pub total: u64,
    /// Records per reason (missing reason as `""`).
    pub by_reason: BTreeMap<String, u64>,
    /// Rows, largest count first.
    pub groups: Vec<Group>,
}

impl Summary {
    /// Counts one record.
    pub fn add(&mut self, record: &QuarantinedRecord) {
        let key = GroupKey {
            reason: record.reason(),
            schema_id: record.schema_id(),
            client_id: record.client_id(),
        };
        *self.groups.entry(key).or_default() += 1;
        self.total += 1;
    }

    /// Records counted.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Rows, largest count first, then by reason, schema id and client id.
    pub fn groups(&self) -> Vec<Group> {
        let mut rows: Vec<Group> = self
            .groups
            .iter()
            .map(|(key, &count)| Group {
                key: key.clone(),
                count,
            })
            .collect();
        rows.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.key.cmp(&b.key)));
        rows
    }

    /// The data `list --json` prints.
    pub fn report(&self, topic: &str) -> SummaryReport {
        let mut by_reason = BTreeMap::new();
        for (key, count) in &self.groups {
            *by_reason
                .entry(key.reason.clone().unwrap_or_default())
                .or_insert(0) += count;
        }
        SummaryReport {
            topic: topic.to_string(),
            total: self.total,
            by_reason,
            groups: self.groups(),
        }
    }

    /// An aligned table with a header row and a total line; `-` marks a missing value.
    pub fn table(&self) -> String {
        let head = ["REASON", "SCHEMA ID", "CLIENT ID", "COUNT"];
        let rows: Vec<[String; 4]> = self
            .groups()
            .into_iter()
            .map(|g| {
                [
                    g.key.reason.unwrap_or_else(|| "-".into()),
                    g.key
                        .schema_id
                        .map_or_else(|| "-".into(), |i| i.to_string()),
                    g.key.client_id.unwrap_or_else(|| "-".into()),
                    g.count.to_string(),
                ]
            })
            .collect();
        let mut widths = head.map(str::len);
        for row in &rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let total = [
            "total".to_string(),
            String::new(),
            String::new(),
            self.total.to_string(),
        ];
        if let Some(w) = widths.last_mut() {
            *w = (*w).max(total[3].len());
        }
        let mut out = String::new();
        let head = head.map(String::from);
        for row in std::iter::once(&head)
            .chain(&rows)
            .chain(std::iter::once(&total))
        {
            let [reason, id, client, count] = row;
            let line = format!(
                "{reason:<w0$}  {id:>w1$}  {client:<w2$}  {count:>w3$}",
                w0 = widths[0],
                w1 = widths[1],
                w2 = widths[2],
                w3 = widths[3],
            );
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::super::record::tests::quarantined;
    use super::*;

    fn sample() -> Summary {
        let mut s = Summary::default();
        for (reason, id, client) in [
            ("decode-failed", "7", "orders-svc"),
            ("no-magic-byte", "", "legacy-app"),
            ("decode-failed", "7", "orders-svc"),
            ("unknown-schema-id", "99", "orders-svc"),
            ("decode-failed", "7", "billing"),
            ("no-magic-byte", "", ""),
        ] {
            s.add(&quarantined(Vec::new(), reason, id, client));
        }
        s
    }

    #[test]
    fn groups_count_by_reason_schema_id_and_client_id() {
        let s = sample();
        assert_eq!(s.total(), 6);
        let groups = s.groups();
        type Row<'a> = (Option<&'a str>, Option<u32>, Option<&'a str>, u64);
        let rows: Vec<Row<'_>> = groups
            .iter()
            .map(|g| {
                (
                    g.key.reason.as_deref(),
                    g.key.schema_id,
                    g.key.client_id.as_deref(),
                    g.count,
                )
            })
            .collect();
        assert_eq!(
            rows,
            vec![
                (Some("decode-failed"), Some(7), Some("orders-svc"), 2),
                (Some("decode-failed"), Some(7), Some("billing"), 1),
                (Some("no-magic-byte"), None, None, 1),
                (Some("no-magic-byte"), None, Some("legacy-app"), 1),
                (Some("unknown-schema-id"), Some(99), Some("orders-svc"), 1),
            ]
        );
        let report = s.report("orders.quarantine");
        assert_eq!(report.by_reason.get("decode-failed"), Some(&3));
        assert_eq!(report.by_reason.get("no-magic-byte"), Some(&2));
        assert_eq!(report.by_reason.values().sum::<u64>(), 6);
    }

    #[test]
    fn table_is_aligned() {
        let golden = "\
REASON             SCHEMA ID  CLIENT ID   COUNT
decode-failed              7  orders-svc      2
decode-failed              7  billing         1
no-magic-byte              -  -               1
no-magic-byte              -  legacy-app      1
unknown-schema-id         99  orders-svc      1
total                                         6
";
        assert_eq!(sample().table(), golden);
    }
}
