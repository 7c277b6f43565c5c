//! Which TLS stack the client speaks HTTPS with, chosen by cargo features (see the features
//! table in `Cargo.toml` and the README):
//!
//! * `rustls` (default): rustls with the `ring` crypto provider and the platform's certificate
//!   verifier. The light default: `ring` builds in a few seconds from Rust, C and assembly
//!   shipped in the crate, with no cmake, NASM or Go, and covers every cipher suite Dakota's
//!   endpoints offer.
//! * `rustls-aws-lc-rs`: rustls with `aws-lc-rs` (reqwest's own default): a FIPS-capable
//!   provider with post-quantum key exchange, at the price of building `aws-lc-sys` from C
//!   (about 27 s of build script on two cores).
//! * `native-tls`: the operating system's TLS (OpenSSL on Linux, needing its headers; Secure
//!   Transport on macOS; SChannel on Windows), for platforms that must use the system stack.
//!
//! When several are enabled (features add up across a dependency graph), the most specific
//! wins: `native-tls`, then `rustls-aws-lc-rs`, then `rustls`. A client passed to
//! [`crate::DakotaBuilder::http_client`] is used as it is.

use crate::error::Error;

/// Select the TLS backend on `builder` according to the enabled features.
#[allow(clippy::unnecessary_wraps, unreachable_code)] // depends on the feature set
pub(crate) fn configure(builder: reqwest::ClientBuilder) -> Result<reqwest::ClientBuilder, Error> {
    #[cfg(feature = "native-tls")]
    return Ok(builder.tls_backend_native());

    #[cfg(all(not(feature = "native-tls"), feature = "rustls-aws-lc-rs"))]
    return Ok(builder.tls_backend_rustls());

    #[cfg(all(
        not(feature = "native-tls"),
        not(feature = "rustls-aws-lc-rs"),
        feature = "rustls"
    ))]
    return ring(builder);

    Ok(builder)
}

/// rustls with `ring` and the platform verifier, handed to reqwest ready-made, so reqwest's
/// own provider choice (aws-lc-rs, not compiled in) and any process-wide default are not
/// involved.
#[cfg(all(
    not(feature = "native-tls"),
    not(feature = "rustls-aws-lc-rs"),
    feature = "rustls"
))]
fn ring(builder: reqwest::ClientBuilder) -> Result<reqwest::ClientBuilder, Error> {
    use rustls_platform_verifier::BuilderVerifierExt as _;
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|b| b.with_platform_verifier())
        .map_err(|e| Error::Config(format!("cannot set up TLS (rustls with ring): {e}")))?
        .with_no_client_auth();
    Ok(builder.tls_backend_preconfigured(config))
}

#[cfg(test)]
mod tests {
    /// An HTTPS request reaches the TLS layer with whichever backend is compiled in (a plain
    /// HTTP listener answers the handshake with garbage, so the error is a TLS one, not "no
    /// TLS backend" or a panic about a missing crypto provider).
    #[tokio::test]
    async fn https_goes_through_the_selected_backend() {
        use tokio::io::AsyncWriteExt as _;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let _ = s
                    .write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")
                    .await;
            }
        });
        let http = super::configure(reqwest::Client::builder())
            .expect("tls config")
            .build()
            .expect("client");
        let err = http
            .get(format!("https://{addr}/"))
            .send()
            .await
            .expect_err("not TLS");
        assert_eq!(
            crate::error::transport_kind(&err),
            crate::TransportKind::Tls,
            "{err:?}"
        );
    }
}
