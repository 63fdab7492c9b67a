//! A TLS terminator in front of a plain-HTTP server (moto), so that a function reaches its
//! DynamoDB endpoint as it does in AWS: a TLS handshake before the first request. Its
//! certificate is issued for `localhost` and 127.0.0.1 by a throwaway CA made at start; a
//! function trusts it through `SSL_CERT_FILE`, the standard variable the SDK's root store
//! (rustls-native-certs) reads. The terminator runs on a thread of its own, outside any CPU
//! limit a benchmark puts on the function.

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose, SanType};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::net::{TcpListener, TcpStream};

/// Where a Linux distribution keeps its root certificates (Debian's, then Amazon Linux's).
const SYSTEM_BUNDLES: [&str; 2] = ["/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt"];

pub struct TlsTerminator {
    /// `https://localhost:PORT`, to set as `AWS_ENDPOINT_URL_DYNAMODB`.
    pub endpoint: String,
    /// The CA that issued the terminator's certificate, PEM.
    pub ca_pem: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TlsTerminator {
    /// Terminates TLS on a free loopback port and forwards each connection to `upstream`
    /// (`http://127.0.0.1:PORT`).
    pub fn start(upstream: &str) -> TlsTerminator {
        let upstream: SocketAddr = upstream
            .strip_prefix("http://")
            .and_then(|a| a.trim_end_matches('/').parse().ok())
            .unwrap_or_else(|| panic!("{upstream} is not http://IP:PORT"));
        let (ca_pem, chain, key) = certificate();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS 1.2 and 1.3")
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .expect("the certificate matches its key");
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("a loopback port");
        listener.set_nonblocking(true).expect("non-blocking");
        let port = listener.local_addr().expect("bound").port();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("a runtime");
            runtime.block_on(async move {
                let listener = TcpListener::from_std(listener).expect("a tokio listener");
                let serve = async {
                    loop {
                        let Ok((client, _)) = listener.accept().await else { continue };
                        let acceptor = acceptor.clone();
                        tokio::spawn(async move {
                            let _ = client.set_nodelay(true);
                            let Ok(mut tls) = acceptor.accept(client).await else { return };
                            let Ok(mut server) = TcpStream::connect(upstream).await else { return };
                            let _ = server.set_nodelay(true);
                            let _ = tokio::io::copy_bidirectional(&mut tls, &mut server).await;
                        });
                    }
                };
                tokio::select! {
                    _ = serve => {}
                    _ = stopped => {}
                }
            });
        });
        TlsTerminator { endpoint: format!("https://localhost:{port}"), ca_pem, stop: Some(stop), thread: Some(thread) }
    }

    /// Writes the system's root certificates and this terminator's CA into `dir`, for
    /// `SSL_CERT_FILE`: a function then loads as many roots as it would in Lambda (whose
    /// image has the distribution's bundle) and trusts the terminator too.
    pub fn trust_bundle(&self, dir: &Path) -> PathBuf {
        let mut bundle = SYSTEM_BUNDLES.iter().find_map(|path| std::fs::read_to_string(path).ok()).unwrap_or_default();
        if !bundle.is_empty() && !bundle.ends_with('\n') {
            bundle.push('\n');
        }
        bundle.push_str(&self.ca_pem);
        std::fs::create_dir_all(dir).expect("the bundle's folder");
        let path = dir.join("trust-bundle.pem");
        std::fs::write(&path, bundle).expect("the bundle is written");
        path
    }
}

impl Drop for TlsTerminator {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A CA and a server certificate it signed for localhost and 127.0.0.1 (ECDSA P-256, as
/// rcgen makes by default): the CA's PEM, the server's chain and its key.
fn certificate() -> (String, Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name.push(DnType::CommonName, "retail benchmark CA");
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::DigitalSignature];
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().expect("a CA key")).expect("the CA signs itself");
    let mut server = CertificateParams::new(vec!["localhost".to_owned()]).expect("server parameters");
    server.subject_alt_names.push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    server.distinguished_name.push(DnType::CommonName, "localhost");
    let key = KeyPair::generate().expect("a server key");
    let cert = server.signed_by(&key, &ca).expect("the CA signs the server's certificate");
    let chain = vec![cert.der().clone(), ca.der().clone()];
    (ca.pem(), chain, PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())))
}
