//! `kafka-cluster`: starts Apache Kafka 4.4 KRaft nodes from `SCHEMAGATE_KAFKA_LIBS` and keeps
//! them running until its standard input closes, so a shell script that holds the other end of
//! the pipe (scripts/test, scripts/up) stops the cluster when it exits, however it exits.
//!
//! ```text
//! kafka-cluster --nodes 3 --dir target/kafka/test-run --ready-file F [--first-port P]
//!               [--set KEY=VALUE]... [--tls-dir D] [--front L:A,L:A,...]
//! ```
//!
//! When every node lists every node, it writes `F` (atomically): one line,
//! `host:port,host:port,...`, and reports the start time on stderr.
//!
//! With `--tls-dir D`, a test CA and a broker certificate for 127.0.0.1 are made in `D`
//! (`D/ca.pem` is what clients trust) and the clients' listener is `SSL`; `F` then holds the
//! `SSL` addresses on its first line and the nodes' plaintext (`INTERNAL`) addresses on a
//! second. `loadgen bench --broker kafka` uses this to run TLS and plaintext paths against one
//! broker.
//!
//! With `--front L1:A1,L2:A2,...`, node N also listens (plaintext) on port `LN` and advertises
//! it as `127.0.0.1:AN`, so a relay that rewrites nothing can sit on `AN` in front of each node
//! (`loadgen bench`'s relay paths); the brokers keep replicating on their own listener.
#![forbid(unsafe_code)]

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use schemagate_tests::certs::{TestCa, Validity, LOOPBACK};
use schemagate_tests::kafka::BrokerTls;
use schemagate_tests::{KafkaCluster, KafkaConfig};

struct Args {
    config: KafkaConfig,
    ready_file: PathBuf,
    tls_dir: Option<PathBuf>,
}

fn parse(mut args: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut config = KafkaConfig::nodes(1);
    config.remove_on_drop = false;
    let mut ready_file = None;
    let mut tls_dir = None;
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--nodes" => config.nodes = value()?.parse().map_err(|e| format!("--nodes: {e}"))?,
            "--dir" => config.dir = Some(PathBuf::from(value()?)),
            "--ready-file" => ready_file = Some(PathBuf::from(value()?)),
            "--first-port" => {
                config.first_port =
                    Some(value()?.parse().map_err(|e| format!("--first-port: {e}"))?)
            }
            "--set" => {
                let kv = value()?;
                let (k, v) = kv.split_once('=').ok_or("--set takes KEY=VALUE")?;
                config.extra.push((k.to_owned(), v.to_owned()));
            }
            "--tls-dir" => tls_dir = Some(PathBuf::from(value()?)),
            "--front" => config.front = parse_front(&value()?)?,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if !(1..=9).contains(&config.nodes) {
        return Err("--nodes must be 1..=9".into());
    }
    if !config.front.is_empty() && config.front.len() != config.nodes {
        return Err("--front needs one LISTEN:ADVERTISED pair per node".into());
    }
    let dir = config.dir.as_ref().ok_or("--dir is required")?;
    // A fresh cluster every time: an old folder holds another cluster id.
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    Ok(Args {
        config,
        ready_file: ready_file.ok_or("--ready-file is required")?,
        tls_dir,
    })
}

/// `L:A,L:A,...`: per node, the front listener's port and the port it advertises.
fn parse_front(text: &str) -> Result<Vec<(u16, u16)>, String> {
    text.split(',')
        .map(|pair| {
            let (listen, advertised) = pair
                .split_once(':')
                .ok_or(format!("--front: {pair:?} is not LISTEN:ADVERTISED"))?;
            let port = |p: &str| p.parse::<u16>().map_err(|e| format!("--front: {p:?}: {e}"));
            Ok((port(listen)?, port(advertised)?))
        })
        .collect()
}

/// A test CA in `dir` and the listener TLS of a broker certificate it signed for loopback.
fn broker_tls(dir: &std::path::Path) -> Result<BrokerTls, String> {
    let ca = TestCa::new(dir, "kafka-cluster test CA").map_err(|e| e.to_string())?;
    let broker = ca
        .issue("broker", LOOPBACK, Validity::Current)
        .map_err(|e| e.to_string())?;
    Ok(BrokerTls {
        keystore: broker.key_and_cert,
        client_ca: None,
    })
}

fn main() -> ExitCode {
    let mut args = match parse(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(e) => {
            eprintln!("kafka-cluster: {e}\nusage: kafka-cluster --nodes N --dir DIR --ready-file FILE [--first-port P] [--set KEY=VALUE]... [--tls-dir DIR] [--front L:A,...]");
            return ExitCode::from(2);
        }
    };
    if let Some(dir) = &args.tls_dir {
        match broker_tls(dir) {
            Ok(tls) => args.config.tls = Some(tls),
            Err(e) => {
                eprintln!(
                    "kafka-cluster: making test certificates in {}: {e}",
                    dir.display()
                );
                return ExitCode::FAILURE;
            }
        }
    }
    let nodes = args.config.nodes;
    let started = Instant::now();
    let cluster = match KafkaCluster::start(args.config) {
        Ok(cluster) => cluster,
        Err(e) => {
            eprintln!("kafka-cluster: {e}");
            return ExitCode::FAILURE;
        }
    };
    let took = started.elapsed();
    let tmp = args.ready_file.with_extension("tmp");
    let mut ready = format!("{}\n", cluster.bootstrap());
    if let Some(plaintext) = cluster.internal_bootstrap() {
        ready.push_str(&plaintext);
        ready.push('\n');
    }
    let written =
        std::fs::write(&tmp, ready).and_then(|()| std::fs::rename(&tmp, &args.ready_file));
    if let Err(e) = written {
        eprintln!("kafka-cluster: writing {}: {e}", args.ready_file.display());
        return ExitCode::FAILURE;
    }
    eprintln!(
        "kafka-cluster: {nodes} node(s) ready in {:.1} s at {} (folder {})",
        took.as_secs_f64(),
        cluster.bootstrap(),
        cluster.dir().display()
    );
    // Block until the holder of our stdin goes away; then dropping the cluster stops the nodes.
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
    drop(cluster);
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn front_pairs_parse_and_bad_ones_do_not() {
        assert_eq!(parse_front("1:2,3:4"), Ok(vec![(1, 2), (3, 4)]));
        assert!(parse_front("1").is_err());
        assert!(parse_front("1:x").is_err());
        assert!(parse_front("70000:1").is_err());
    }
}
