//! Certificates made in the tests (rcgen): a test CA and the server and client certificates it
//! signs, written as PEM files under a folder of the test's own. Nothing secret is committed.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose,
    SanType,
};

use crate::HarnessError;

/// How long an issued certificate is valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Validity {
    /// From yesterday for a year.
    Current,
    /// Expired a year ago.
    Expired,
}

/// A certificate and its key, as PEM files.
#[derive(Debug, Clone)]
pub struct Issued {
    /// The certificate (PEM).
    pub cert: PathBuf,
    /// Its private key (PKCS#8 PEM).
    pub key: PathBuf,
    /// Key then certificate in one file, the shape Kafka's `ssl.keystore.type=PEM` reads.
    pub key_and_cert: PathBuf,
}

/// A certificate authority that exists only for one test.
pub struct TestCa {
    cert: Certificate,
    key: KeyPair,
    dir: PathBuf,
}

fn err(what: &str, e: impl std::fmt::Display) -> HarnessError {
    HarnessError::io(what.to_owned(), std::io::Error::other(e.to_string()))
}

impl TestCa {
    /// Makes a CA named `name` and writes `ca.pem` into `dir`.
    pub fn new(dir: &Path, name: &str) -> Result<Self, HarnessError> {
        std::fs::create_dir_all(dir).map_err(|e| HarnessError::io("creating a cert folder", e))?;
        let key = KeyPair::generate().map_err(|e| err("generating a CA key", e))?;
        let mut params =
            CertificateParams::new(Vec::<String>::new()).map_err(|e| err("CA params", e))?;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let cert = params
            .self_signed(&key)
            .map_err(|e| err("signing the CA", e))?;
        let ca = Self {
            cert,
            key,
            dir: dir.to_owned(),
        };
        write(&ca.ca_path(), &ca.cert.pem())?;
        Ok(ca)
    }

    /// The CA certificate (PEM), what clients and the proxy trust.
    pub fn ca_path(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// Issues a certificate named `name` for `hosts` (DNS names or IP literals), written as
    /// `<name>.pem`, `<name>.key` and `<name>-keystore.pem`.
    pub fn issue(
        &self,
        name: &str,
        hosts: &[&str],
        validity: Validity,
    ) -> Result<Issued, HarnessError> {
        let key = KeyPair::generate().map_err(|e| err("generating a key", e))?;
        let mut params =
            CertificateParams::new(Vec::<String>::new()).map_err(|e| err("cert params", e))?;
        params.distinguished_name.push(DnType::CommonName, name);
        for host in hosts {
            let san = match host.parse::<IpAddr>() {
                Ok(ip) => SanType::IpAddress(ip),
                Err(_) => SanType::DnsName(
                    (*host)
                        .try_into()
                        .map_err(|e| err("a DNS name for a certificate", e))?,
                ),
            };
            params.subject_alt_names.push(san);
        }
        let now = time::OffsetDateTime::now_utc();
        let day = time::Duration::days(1);
        (params.not_before, params.not_after) = match validity {
            Validity::Current => (now - day, now + day * 365),
            Validity::Expired => (now - day * 730, now - day * 365),
        };
        let cert = params
            .signed_by(&key, &self.cert, &self.key)
            .map_err(|e| err("signing a certificate", e))?;
        let issued = Issued {
            cert: self.dir.join(format!("{name}.pem")),
            key: self.dir.join(format!("{name}.key")),
            key_and_cert: self.dir.join(format!("{name}-keystore.pem")),
        };
        write(&issued.cert, &cert.pem())?;
        write(&issued.key, &key.serialize_pem())?;
        write(
            &issued.key_and_cert,
            &format!("{}{}", key.serialize_pem(), cert.pem()),
        )?;
        Ok(issued)
    }
}

/// The loopback names a server certificate for a local test names: `127.0.0.1`, `localhost`.
pub const LOOPBACK: &[&str] = &["127.0.0.1", "localhost"];

/// An address that is not loopback's, for a certificate that must not match.
pub const OTHER_HOST: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 9, 8, 7));

fn write(path: &Path, text: &str) -> Result<(), HarnessError> {
    std::fs::write(path, text)
        .map_err(|e| HarnessError::io(format!("writing {}", path.display()), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ca_issues_pem_files_kafka_and_rustls_can_read() {
        let dir = tempfile::tempdir().map_err(|e| e.to_string());
        let dir = dir
            .as_ref()
            .map(|d| d.path().to_owned())
            .unwrap_or_default();
        let ca = TestCa::new(&dir, "test CA").map_err(|e| e.to_string());
        let ca = ca.as_ref().expect("CA");
        let issued = ca
            .issue("server", LOOPBACK, Validity::Current)
            .map_err(|e| e.to_string());
        let issued = issued.as_ref().expect("issued");
        let keystore = std::fs::read_to_string(&issued.key_and_cert).unwrap_or_default();
        assert!(
            keystore.starts_with("-----BEGIN PRIVATE KEY-----"),
            "{keystore}"
        );
        assert!(keystore.contains("-----BEGIN CERTIFICATE-----"));
        let ca_pem = std::fs::read_to_string(ca.ca_path()).unwrap_or_default();
        assert!(ca_pem.starts_with("-----BEGIN CERTIFICATE-----"));
    }
}
