//! ElectLeaders v1 with `election_type = PREFERRED`: what an operator runs after a broker
//! returns, so that each partition is led by its first replica again.

use std::net::SocketAddr;
use std::time::Duration;

use super::wire::{self, Reader};

const API_KEY_ELECT_LEADERS: i16 = 43;
const API_VERSION: i16 = 1;
/// Kafka's error code for "the preferred replica already leads".
pub const ELECTION_NOT_NEEDED: i16 = 84;

/// One partition's outcome: (partition, error code, message).
pub type ElectionResult = (i32, i16, String);

/// Asks the node at `addr` to move the leadership of `partitions` of `topic` to their preferred
/// replicas, and returns each partition's outcome (0 = elected, 84 = not needed).
pub fn elect_preferred(
    addr: SocketAddr,
    topic: &str,
    partitions: &[i32],
    timeout: Duration,
) -> std::io::Result<Vec<ElectionResult>> {
    let mut body = vec![0u8]; // election_type: PREFERRED
    body.extend_from_slice(&1i32.to_be_bytes());
    wire::put_string(&mut body, topic);
    body.extend_from_slice(&(partitions.len() as i32).to_be_bytes());
    for p in partitions {
        body.extend_from_slice(&p.to_be_bytes());
    }
    let timeout_ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
    body.extend_from_slice(&timeout_ms.to_be_bytes());
    let answer = wire::call(
        addr,
        API_KEY_ELECT_LEADERS,
        API_VERSION,
        &body,
        timeout + Duration::from_secs(5),
    )?;
    parse(&answer)
}

fn parse(body: &[u8]) -> std::io::Result<Vec<ElectionResult>> {
    let mut r = Reader::new(body);
    let _throttle_ms = r.i32()?;
    let error = r.i16()?;
    if error != 0 {
        return Err(std::io::Error::other(format!(
            "ElectLeaders failed with error code {error}"
        )));
    }
    let mut out = Vec::new();
    for _ in 0..r.count(6)? {
        let _topic = r.string()?;
        for _ in 0..r.count(8)? {
            let partition = r.i32()?;
            let code = r.i16()?;
            let message = r.string()?;
            out.push((partition, code, message));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_with_one_elected_and_one_not_needed_parses() {
        let mut b = Vec::new();
        b.extend_from_slice(&0i32.to_be_bytes());
        b.extend_from_slice(&0i16.to_be_bytes());
        b.extend_from_slice(&1i32.to_be_bytes());
        wire::put_string(&mut b, "t");
        b.extend_from_slice(&2i32.to_be_bytes());
        for (p, code) in [(0i32, 0i16), (1, ELECTION_NOT_NEEDED)] {
            b.extend_from_slice(&p.to_be_bytes());
            b.extend_from_slice(&code.to_be_bytes());
            b.extend_from_slice(&(-1i16).to_be_bytes());
        }
        let got = parse(&b).map_err(|e| e.to_string());
        assert_eq!(
            got,
            Ok(vec![
                (0, 0, String::new()),
                (1, ELECTION_NOT_NEEDED, String::new())
            ])
        );
        for end in 0..b.len() {
            assert!(parse(&b[..end]).is_err() || end >= 10, "prefix {end}");
        }
    }
}
