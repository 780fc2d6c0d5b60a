//! TLS pieces shared by the kinds that speak TLS: client configs (system roots, a private CA,
//! or no verification for test servers) and certificate expiry.

use chrono::{DateTime, Utc};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use std::path::Path;
use std::sync::Arc;

/// Days until a certificate expires (negative once expired), and the expiry time.
///
/// # Errors
/// When the DER is not an X.509 certificate.
pub fn expiry(der: &[u8]) -> Result<(f64, DateTime<Utc>), String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der)
        .map_err(|e| format!("cannot read the certificate: {e}"))?;
    let not_after = cert.validity().not_after.timestamp();
    let expires =
        DateTime::from_timestamp(not_after, 0).ok_or("the certificate's expiry is out of range")?;
    let days = (expires - Utc::now()).num_seconds() as f64 / 86_400.0;
    Ok(((days * 10.0).floor() / 10.0, expires))
}

/// The subject's common name, for `observed`.
pub fn subject(der: &[u8]) -> Option<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let cn = cert
        .subject()
        .iter_common_name()
        .next()?
        .as_str()
        .ok()?
        .to_string();
    Some(cn)
}

/// How a TLS client decides whom to trust.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub enum Trust {
    /// The operating system's roots.
    #[default]
    System,
    /// Only the certificates in this PEM file (a private CA, or a self-signed server).
    CaFile(std::path::PathBuf),
    /// Anything: encryption without authentication, for test servers only.
    Insecure,
}

impl Trust {
    pub fn from_options(ca_file: Option<&Path>, skip_verify: bool) -> Trust {
        match (skip_verify, ca_file) {
            (true, _) => Trust::Insecure,
            (false, Some(path)) => Trust::CaFile(path.to_path_buf()),
            (false, None) => Trust::System,
        }
    }

    /// A rustls client config that trusts accordingly.
    ///
    /// # Errors
    /// When the CA file cannot be read or holds no certificate, or the system roots cannot be loaded.
    pub fn client_config(&self) -> Result<ClientConfig, String> {
        crate::install_tls_provider();
        match self {
            Trust::System => {
                use rustls_platform_verifier::ConfigVerifierExt;
                ClientConfig::with_platform_verifier()
                    .map_err(|e| format!("cannot load the system's root certificates: {e}"))
            }
            Trust::CaFile(path) => {
                let mut roots = rustls::RootCertStore::empty();
                let certs = CertificateDer::pem_file_iter(path)
                    .map_err(|e| format!("cannot read {}: {e}", path.display()))?
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                if certs.is_empty() {
                    return Err(format!("{} holds no PEM certificate", path.display()));
                }
                for cert in certs {
                    roots
                        .add(cert)
                        .map_err(|e| format!("{}: {e}", path.display()))?;
                }
                Ok(ClientConfig::builder()
                    .with_root_certificates(roots)
                    .with_no_client_auth())
            }
            Trust::Insecure => Ok(ClientConfig::builder()
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(provider())))
                .with_no_client_auth()),
        }
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    rustls::crypto::CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::ring::default_provider()))
}

/// Accepts any certificate but still checks the handshake signatures, so the connection is
/// encrypted (just not authenticated).
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
