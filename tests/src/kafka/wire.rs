//! Kafka's request framing over a plain socket and a bounded reader for answers, for the few
//! requests the harness makes itself (Metadata, ElectLeaders).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// Largest answer accepted (a test cluster's are a few kilobytes).
const MAX_RESPONSE_BYTES: usize = 16 << 20;
/// The correlation id of the one request made per connection.
const CORRELATION_ID: i32 = 1;

/// Sends one request (header v1) and returns the answer's body after its correlation id.
pub fn call(
    addr: SocketAddr,
    api_key: i16,
    version: i16,
    body: &[u8],
    timeout: Duration,
) -> std::io::Result<Vec<u8>> {
    let client_id = b"schemagate-tests";
    let size = 2 + 2 + 4 + 2 + client_id.len() + body.len();
    let mut frame = Vec::with_capacity(size + 4);
    frame.extend_from_slice(&(size as i32).to_be_bytes());
    frame.extend_from_slice(&api_key.to_be_bytes());
    frame.extend_from_slice(&version.to_be_bytes());
    frame.extend_from_slice(&CORRELATION_ID.to_be_bytes());
    frame.extend_from_slice(&(client_id.len() as i16).to_be_bytes());
    frame.extend_from_slice(client_id);
    frame.extend_from_slice(body);
    let mut stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    stream.write_all(&frame)?;
    let mut size = [0u8; 4];
    stream.read_exact(&mut size)?;
    let size = usize::try_from(i32::from_be_bytes(size)).map_err(|_| invalid("negative size"))?;
    if size > MAX_RESPONSE_BYTES {
        return Err(invalid("answer over 16 MiB"));
    }
    let mut answer = vec![0u8; size];
    stream.read_exact(&mut answer)?;
    let mut r = Reader::new(&answer);
    if r.i32()? != CORRELATION_ID {
        return Err(invalid("correlation id mismatch"));
    }
    Ok(r.rest().to_vec())
}

/// A string as Kafka's non-flexible versions write it: an i16 length, then the bytes.
pub fn put_string(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as i16).to_be_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// An `InvalidData` error saying `what`.
pub fn invalid(what: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_owned())
}

/// A cursor that refuses to read past the end and checks every count against what is left.
pub struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    /// A reader over `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { bytes }
    }

    /// The bytes not read yet.
    pub fn rest(&self) -> &'a [u8] {
        self.bytes
    }

    /// The next `n` bytes.
    pub fn take(&mut self, n: usize) -> std::io::Result<&'a [u8]> {
        if self.bytes.len() < n {
            return Err(invalid("answer is truncated"));
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }

    /// An int8.
    pub fn i8(&mut self) -> std::io::Result<i8> {
        Ok(i8::from_be_bytes(
            self.take(1)?.try_into().map_err(|_| invalid("i8"))?,
        ))
    }

    /// An int16.
    pub fn i16(&mut self) -> std::io::Result<i16> {
        Ok(i16::from_be_bytes(
            self.take(2)?.try_into().map_err(|_| invalid("i16"))?,
        ))
    }

    /// An int32.
    pub fn i32(&mut self) -> std::io::Result<i32> {
        Ok(i32::from_be_bytes(
            self.take(4)?.try_into().map_err(|_| invalid("i32"))?,
        ))
    }

    /// An array count; each element needs at least `min_element` bytes.
    pub fn count(&mut self, min_element: usize) -> std::io::Result<usize> {
        let n = usize::try_from(self.i32()?.max(0)).map_err(|_| invalid("count"))?;
        if n.saturating_mul(min_element) > self.bytes.len() {
            return Err(invalid("array count larger than the answer"));
        }
        Ok(n)
    }

    /// A nullable string; null reads as empty.
    pub fn string(&mut self) -> std::io::Result<String> {
        let len = self.i16()?;
        if len < 0 {
            return Ok(String::new());
        }
        let bytes = self.take(len as usize)?;
        Ok(String::from_utf8_lossy(bytes).into_owned())
    }

    /// An int32 array.
    pub fn ids(&mut self) -> std::io::Result<Vec<i32>> {
        let n = self.count(4)?;
        (0..n).map(|_| self.i32()).collect()
    }
}
