//! TLS on both sides of the proxy, with rustls on the `ring` provider.
//!
//! - [`upstream`]: [`UpstreamTls`], the client side towards brokers: trust (web roots and/or
//!   CA files), optional client certificate, and the bounded [`TlsFailure`] reason of a failed
//!   handshake.
//! - The client listeners' side is [`serving::ServerTls`] (shared with the registry): its
//!   certificate is reloaded when its files change without touching open connections.
//!
//! Everything that can be judged offline (a missing file, PEM that does not parse, a key
//! rustls refuses) is a [`TlsError`] at start, so a bad flag never surfaces as handshake
//! failures later.

pub mod upstream;

pub use serving::tls::{pem, provider, ServerTls as ListenerTls, TlsError};
pub use upstream::{TlsFailure, UpstreamTls};

/// The first byte of a TLS record carrying a handshake (a ClientHello opens with it).
pub const HANDSHAKE_RECORD: u8 = 0x16;

#[cfg(test)]
mod tests {
    use std::error::Error as _;
    use std::time::Duration;

    use std::path::{Path, PathBuf};

    use super::*;
    use crate::config::{ListenerTlsConfig, UpstreamTlsConfig};

    /// Writes a self-signed certificate and its key as `<name>.pem` and `<name>.key`.
    fn identity(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["localhost".into()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let (cert_path, key_path) = (
            dir.join(format!("{name}.pem")),
            dir.join(format!("{name}.key")),
        );
        std::fs::write(&cert_path, cert.pem()).unwrap();
        std::fs::write(&key_path, key.serialize_pem()).unwrap();
        (cert_path, key_path)
    }

    #[test]
    fn the_key_of_another_certificate_is_named_a_mismatch_on_both_sides() {
        let dir = tempfile::tempdir().unwrap();
        let (cert_a, _) = identity(dir.path(), "a");
        let (_, key_b) = identity(dir.path(), "b");
        let listener = ListenerTls::load(ListenerTlsConfig {
            cert: cert_a.clone(),
            key: key_b.clone(),
            client_ca: None,
            reload_interval: Duration::from_secs(1),
        });
        let upstream = UpstreamTls::load(&UpstreamTlsConfig {
            ca_files: vec![],
            system_roots: true,
            client_identity: Some((cert_a, key_b)),
        });
        for e in [listener.err(), upstream.err()] {
            let e = e.expect("a mismatched pair is refused");
            assert!(matches!(e, TlsError::KeyMismatch { .. }), "{e:?}");
            let text = e.to_string();
            assert!(
                text.contains("b.key is not the private key") && text.contains("a.pem"),
                "{text}"
            );
        }
    }

    #[test]
    fn a_missing_file_states_its_cause_once() {
        let e = pem::read(Path::new("/nonexistent/ca.pem")).unwrap_err();
        let text = e.to_string();
        assert!(text.contains("/nonexistent/ca.pem"), "{text}");
        // The cause is in the message, so it is not also a source a chain would print again.
        assert!(e.source().is_none(), "{text}");
    }
}
