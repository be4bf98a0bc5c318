//! S3 settings from the environment: the original workflow's names (`S3_HOST`, `S3_PORT`,
//! `S3_USER`, `S3_PASSWORD`, `S3_BUCKET`) first, then the standard `AWS_*` ones.
//!
//! Rules, decided once here:
//! - `S3_HOST` may be `host`, `host:port`-less with `S3_PORT` beside it, or a full URL. Without
//!   a scheme it gets `http://` when the host is local (see below) and `https://` otherwise.
//! - Plain HTTP is allowed only to a *local* endpoint: a loopback address or `localhost`, a
//!   private or link-local address (RFC 1918, `fc00::/7`, `fe80::/10`: pod and service IPs),
//!   a single-label name (`minio`) or a Kubernetes cluster name (`*.svc`, `*.cluster.local`,
//!   `*.local`, `*.internal`). `MLTRAIN_S3_ALLOW_HTTP=true` lifts the rule, for other setups.
//! - Addressing is path-style (`http://host/bucket/key`), which MinIO, Garage and s3s serve.
//! - Transient failures (5xx, timeouts, dropped connections) are retried by object_store with
//!   exponential backoff and jitter, for at most [`RETRY_TIMEOUT`] per request.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use object_store::aws::AmazonS3Builder;
use object_store::{BackoffConfig, ClientOptions, ObjectStore, RetryConfig};

/// Every environment variable the S3 settings read, for deployment manifests and docs.
pub const ENV_NAMES: &[&str] = &[
    "S3_HOST",
    "S3_PORT",
    "S3_USER",
    "S3_PASSWORD",
    "S3_BUCKET",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "MLTRAIN_S3_ALLOW_HTTP",
];

/// Environment variables whose values are secrets: never logged, never in a reply.
pub const SECRET_ENV_NAMES: &[&str] = &["S3_PASSWORD", "AWS_SECRET_ACCESS_KEY"];

/// How many times one request is retried after a transient failure.
pub const MAX_RETRIES: usize = 8;
/// No retry starts later than this after a request's first try.
pub const RETRY_TIMEOUT: Duration = Duration::from_secs(120);

/// Where and how to reach an S3-compatible server. `Debug` never prints the secret.
#[derive(Clone)]
pub struct S3Settings {
    /// The bucket every key lives in.
    pub bucket: String,
    /// `http(s)://host:port`; `None` means AWS itself.
    pub endpoint: Option<String>,
    /// `S3_USER` or `AWS_ACCESS_KEY_ID`; `None` leaves credentials to `object_store`'s
    /// defaults (such as instance metadata).
    pub access_key_id: Option<String>,
    /// `S3_PASSWORD` or `AWS_SECRET_ACCESS_KEY`; never printed, not even by `Debug`.
    pub secret_access_key: Option<String>,
    /// `AWS_REGION` or `AWS_DEFAULT_REGION`, `us-east-1` by default (most other servers
    /// ignore it, but signing needs one).
    pub region: String,
    /// Plain HTTP to a non-local endpoint (`MLTRAIN_S3_ALLOW_HTTP=true`).
    pub allow_any_http: bool,
}

impl std::fmt::Debug for S3Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Settings")
            .field("bucket", &self.bucket)
            .field("endpoint", &self.endpoint)
            .field("access_key_id", &self.access_key_id)
            .field(
                "secret_access_key",
                &self.secret_access_key.as_ref().map(|_| "<redacted>"),
            )
            .field("region", &self.region)
            .field("allow_any_http", &self.allow_any_http)
            .finish()
    }
}

/// Why settings cannot make a client. Never carries a credential.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SettingsError {
    /// Neither the URL nor `S3_BUCKET` names a bucket.
    #[error("no bucket: give one in the URL (s3://BUCKET) or set S3_BUCKET")]
    NoBucket,
    /// Plain HTTP to a host that is not local, without `allow_any_http`: credentials and
    /// data would cross the network in the clear.
    #[error(
        "endpoint `{endpoint}` is plain HTTP to a host that is not local; use https://, or set \
         MLTRAIN_S3_ALLOW_HTTP=true if the network is trusted"
    )]
    PlainHttpToRemote {
        /// The endpoint URL.
        endpoint: String,
    },
    /// The endpoint does not parse as a URL, or its scheme is neither `http` nor `https`.
    #[error("endpoint `{endpoint}` is not an http:// or https:// URL")]
    BadEndpoint {
        /// The endpoint as given.
        endpoint: String,
    },
    /// `object_store` refused the settings; the message is its own.
    #[error("cannot build the S3 client: {0}")]
    Client(String),
}

impl S3Settings {
    /// Reads the settings for `bucket` (or `S3_BUCKET` when it is empty) from the process
    /// environment.
    pub fn from_env(bucket: &str) -> Result<Self, SettingsError> {
        Self::from_lookup(bucket, env_lookup)
    }

    /// Reads the settings through `lookup` (the environment, or a map in tests).
    pub fn from_lookup(
        bucket: &str,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, SettingsError> {
        let bucket = match bucket {
            "" => lookup("S3_BUCKET").ok_or(SettingsError::NoBucket)?,
            b => b.to_string(),
        };
        let endpoint = match lookup("S3_HOST") {
            Some(host) if host.contains("://") => Some(host),
            Some(host) => {
                let port = lookup("S3_PORT").unwrap_or_else(|| "9000".into());
                let scheme = if is_local_host(&host) {
                    "http"
                } else {
                    "https"
                };
                Some(format!("{scheme}://{}:{port}", bracket_ipv6(&host)))
            }
            None => lookup("AWS_ENDPOINT_URL").or_else(|| lookup("AWS_ENDPOINT")),
        };
        Ok(Self {
            bucket,
            endpoint,
            access_key_id: lookup("S3_USER").or_else(|| lookup("AWS_ACCESS_KEY_ID")),
            secret_access_key: lookup("S3_PASSWORD").or_else(|| lookup("AWS_SECRET_ACCESS_KEY")),
            region: lookup("AWS_REGION")
                .or_else(|| lookup("AWS_DEFAULT_REGION"))
                .unwrap_or_else(|| "us-east-1".into()),
            allow_any_http: lookup("MLTRAIN_S3_ALLOW_HTTP")
                .is_some_and(|v| matches!(v.as_str(), "1" | "true" | "yes")),
        })
    }

    /// The endpoint for messages: its URL, or AWS S3 and the region.
    pub fn describe_endpoint(&self) -> String {
        match &self.endpoint {
            // Credentials have no place in an endpoint; if someone put them there, they
            // still stay out of messages.
            Some(endpoint) => match url::Url::parse(endpoint) {
                Ok(mut url) => {
                    let _ = url.set_username("");
                    let _ = url.set_password(None);
                    url.as_str().trim_end_matches('/').to_string()
                }
                Err(_) => endpoint.clone(),
            },
            None => format!("AWS S3 ({})", self.region),
        }
    }

    /// Builds the `object_store` client: path-style addressing, retries with backoff, plain
    /// HTTP only to a local endpoint (see the module docs).
    pub fn build(&self) -> Result<Arc<dyn ObjectStore>, SettingsError> {
        let retry = RetryConfig {
            backoff: BackoffConfig {
                init_backoff: Duration::from_millis(50),
                max_backoff: Duration::from_secs(5),
                base: 2.0,
            },
            max_retries: MAX_RETRIES,
            retry_timeout: RETRY_TIMEOUT,
        };
        let mut options = ClientOptions::new()
            .with_connect_timeout(Duration::from_secs(5))
            // Large objects on a slow link: a bound on the whole request, not on progress.
            .with_timeout(Duration::from_secs(300));
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(&self.bucket)
            .with_region(&self.region)
            .with_virtual_hosted_style_request(false)
            .with_retry(retry);
        if let Some(endpoint) = &self.endpoint {
            let url = url::Url::parse(endpoint).map_err(|_| SettingsError::BadEndpoint {
                endpoint: endpoint.clone(),
            })?;
            match url.scheme() {
                "https" => {}
                "http" => {
                    let host = url.host_str().unwrap_or_default();
                    if !self.allow_any_http && !is_local_host(host) {
                        return Err(SettingsError::PlainHttpToRemote {
                            endpoint: endpoint.clone(),
                        });
                    }
                    options = options.with_allow_http(true);
                }
                _ => {
                    return Err(SettingsError::BadEndpoint {
                        endpoint: endpoint.clone(),
                    });
                }
            }
            builder = builder.with_endpoint(endpoint);
        }
        if let Some(id) = &self.access_key_id {
            builder = builder.with_access_key_id(id);
        }
        if let Some(secret) = &self.secret_access_key {
            builder = builder.with_secret_access_key(secret);
        }
        let store = builder
            .with_client_options(options)
            .build()
            // object_store's builder errors name settings, never their values' secrets.
            .map_err(|e| SettingsError::Client(e.to_string()))?;
        Ok(Arc::new(store))
    }
}

fn env_lookup(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn bracket_ipv6(host: &str) -> String {
    if host.parse::<std::net::Ipv6Addr>().is_ok() {
        format!("[{host}]")
    } else {
        host.to_string()
    }
}

/// Whether plain HTTP to `host` stays on this machine or inside a cluster network.
pub fn is_local_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = host.parse::<IpAddr>() {
        return match ip {
            IpAddr::V4(v4) => v4.is_loopback() || v4.is_private() || v4.is_link_local(),
            IpAddr::V6(v6) => {
                v6.is_loopback()
                    || (v6.segments()[0] & 0xfe00) == 0xfc00
                    || (v6.segments()[0] & 0xffc0) == 0xfe80
            }
        };
    }
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    !host.is_empty()
        && (host == "localhost"
            || host.ends_with(".localhost")
            || !host.contains('.')
            || [".svc", ".cluster.local", ".local", ".internal"]
                .iter()
                .any(|suffix| host.ends_with(suffix)))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn settings(bucket: &str, env: &[(&str, &str)]) -> Result<S3Settings, SettingsError> {
        let env: HashMap<&str, &str> = env.iter().copied().collect();
        S3Settings::from_lookup(bucket, |k| env.get(k).map(|v| v.to_string()))
    }

    #[test]
    fn seed_names_win_and_secrets_stay_hidden() {
        let s = settings(
            "bucket",
            &[
                ("S3_HOST", "minio.default.svc"),
                ("S3_PORT", "9001"),
                ("S3_USER", "user"),
                ("S3_PASSWORD", "hunter2"),
                ("AWS_ACCESS_KEY_ID", "aws-user"),
            ],
        )
        .unwrap();
        assert_eq!(s.endpoint.as_deref(), Some("http://minio.default.svc:9001"));
        assert_eq!(s.access_key_id.as_deref(), Some("user"));
        assert!(!format!("{s:?}").contains("hunter2"));
        assert!(s.build().is_ok());
    }

    #[test]
    fn s3_bucket_is_the_default_bucket() {
        let s = settings("", &[("S3_BUCKET", "tless")]).unwrap();
        assert_eq!(s.bucket, "tless");
        assert_eq!(settings("", &[]).unwrap_err(), SettingsError::NoBucket);
        assert_eq!(
            settings("b", &[("S3_BUCKET", "tless")]).unwrap().bucket,
            "b"
        );
    }

    #[test]
    fn plain_http_only_to_local_endpoints() {
        for host in [
            "127.0.0.1",
            "::1",
            "localhost",
            "minio",
            "minio.accless.svc.cluster.local",
            "10.0.3.7",
            "192.168.1.2",
        ] {
            let s = settings("b", &[("S3_HOST", host), ("S3_PORT", "9000")]).unwrap();
            assert!(
                s.endpoint.as_deref().unwrap().starts_with("http://"),
                "{host}"
            );
            assert!(s.build().is_ok(), "{host}");
        }
        // A public name without a scheme gets HTTPS; an explicit http:// to it is refused.
        let s = settings("b", &[("S3_HOST", "s3.example.com")]).unwrap();
        assert_eq!(s.endpoint.as_deref(), Some("https://s3.example.com:9000"));
        let s = settings("b", &[("AWS_ENDPOINT_URL", "http://s3.example.com")]).unwrap();
        assert!(matches!(
            s.build(),
            Err(SettingsError::PlainHttpToRemote { .. })
        ));
        let s = settings(
            "b",
            &[
                ("AWS_ENDPOINT_URL", "http://s3.example.com"),
                ("MLTRAIN_S3_ALLOW_HTTP", "true"),
            ],
        )
        .unwrap();
        assert!(s.build().is_ok());
        assert!(!is_local_host("8.8.8.8"));
        assert!(!is_local_host("minio.example.org"));
    }
}
