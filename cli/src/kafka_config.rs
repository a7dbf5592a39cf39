//! `-X KEY=VALUE` librdkafka settings, shared by every subcommand that talks to Kafka itself
//! (the proxy's quarantine producer, the registry's Kafka store, `schemagate quarantine`):
//! `security.protocol`, `ssl.*`, `sasl.*` and the like, passed through unchanged.

use anyhow::Context;

/// Parses repeated `KEY=VALUE` arguments, refusing anything without `=` or with an empty key.
pub fn parse(settings: &[String]) -> anyhow::Result<Vec<(String, String)>> {
    settings
        .iter()
        .map(|kv| {
            kv.split_once('=')
                .map(|(k, v)| (k.trim().to_string(), v.to_string()))
                .filter(|(k, _)| !k.is_empty())
                .with_context(|| format!("-X {kv:?} is not KEY=VALUE"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_keep_everything_after_the_first_equals_sign() {
        let got = parse(&["sasl.jaas=a=b".into(), " security.protocol =SSL".into()]);
        assert_eq!(
            got.ok(),
            Some(vec![
                ("sasl.jaas".to_string(), "a=b".to_string()),
                ("security.protocol".to_string(), "SSL".to_string())
            ])
        );
    }

    #[test]
    fn a_setting_without_a_key_or_equals_sign_is_refused() {
        for bad in ["novalue", "=x"] {
            let err = parse(&[bad.to_string()]).err().map(|e| e.to_string());
            assert!(err.is_some_and(|e| e.contains("KEY=VALUE")), "{bad}");
        }
    }
}
