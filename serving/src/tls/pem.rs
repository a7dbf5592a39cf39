//! Certificates and private keys from PEM files; every error names the file.

use std::path::Path;

use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::RootCertStore;

use super::TlsError;

/// Reads `path` whole.
pub fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|cause| TlsError::Read {
        path: path.to_owned(),
        cause,
    })
}

/// Every certificate in the PEM `bytes` of `path`; at least one.
pub fn certificates(path: &Path, bytes: &[u8]) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::BadPem {
            path: path.to_owned(),
            detail: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate {
            path: path.to_owned(),
        });
    }
    Ok(certs)
}

/// The first private key (PKCS#8, PKCS#1 or SEC1) in the PEM `bytes` of `path`.
pub fn private_key(path: &Path, bytes: &[u8]) -> Result<PrivateKeyDer<'static>, TlsError> {
    use tokio_rustls::rustls::pki_types::pem::Error;
    PrivateKeyDer::from_pem_slice(bytes).map_err(|e| match e {
        Error::NoItemsFound => TlsError::NoKey {
            path: path.to_owned(),
        },
        e => TlsError::BadPem {
            path: path.to_owned(),
            detail: e.to_string(),
        },
    })
}

/// Adds every CA certificate of the PEM file `path` to `roots`.
pub fn add_cas(roots: &mut RootCertStore, path: &Path) -> Result<(), TlsError> {
    for cert in certificates(path, &read(path)?)? {
        roots.add(cert).map_err(|e| TlsError::refused(path, e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let e = read(&missing).unwrap_err();
        assert!(e.to_string().contains("missing.pem"), "{e}");

        let garbage = dir.path().join("garbage.pem");
        let e = certificates(&garbage, b"not pem at all").unwrap_err();
        assert!(matches!(e, TlsError::NoCertificate { .. }), "{e}");
        assert!(e.to_string().contains("garbage.pem"), "{e}");

        let broken = b"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n";
        let e = certificates(&garbage, broken).unwrap_err();
        assert!(matches!(e, TlsError::BadPem { .. }), "{e}");

        let e = private_key(&garbage, b"nothing here").unwrap_err();
        assert!(matches!(e, TlsError::NoKey { .. }), "{e}");
    }

    #[test]
    fn reads_what_rcgen_writes() {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["localhost".into()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let path = Path::new("generated.pem");
        assert_eq!(certificates(path, cert.pem().as_bytes()).unwrap().len(), 1);
        private_key(path, key.serialize_pem().as_bytes()).unwrap();
        let mut roots = RootCertStore::empty();
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, cert.pem()).unwrap();
        add_cas(&mut roots, &ca).unwrap();
        assert_eq!(roots.len(), 1);
    }
}
