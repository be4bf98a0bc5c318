//! S3 settings from the environment: the original workflow's names (`S3_HOST`, `S3_PORT`,
//! `S3_USER`, `S3_PASSWORD`) first, then the standard `AWS_*` ones.

use std::sync::Arc;

use object_store::ObjectStore;
use object_store::aws::AmazonS3Builder;

/// Where and how to reach an S3-compatible server. `Debug` never prints the secret.
#[derive(Clone)]
pub struct S3Settings {
    pub bucket: String,
    /// `http(s)://host:port`; `None` means AWS itself (or `AWS_ENDPOINT`).
    pub endpoint: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    pub region: String,
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
            .finish()
    }
}

impl S3Settings {
    /// Reads the settings for `bucket` from the process environment.
    pub fn from_env(bucket: &str) -> Self {
        Self::from_lookup(bucket, |name| {
            std::env::var(name).ok().filter(|v| !v.is_empty())
        })
    }

    /// Reads the settings through `lookup` (the environment, or a map in tests).
    pub fn from_lookup(bucket: &str, lookup: impl Fn(&str) -> Option<String>) -> Self {
        let endpoint = match lookup("S3_HOST") {
            Some(host) if host.contains("://") => Some(host),
            Some(host) => Some(format!(
                "http://{host}:{}",
                lookup("S3_PORT").unwrap_or_else(|| "9000".into())
            )),
            None => lookup("AWS_ENDPOINT_URL").or_else(|| lookup("AWS_ENDPOINT")),
        };
        Self {
            bucket: bucket.to_string(),
            endpoint,
            access_key_id: lookup("S3_USER").or_else(|| lookup("AWS_ACCESS_KEY_ID")),
            secret_access_key: lookup("S3_PASSWORD").or_else(|| lookup("AWS_SECRET_ACCESS_KEY")),
            region: lookup("AWS_REGION")
                .or_else(|| lookup("AWS_DEFAULT_REGION"))
                .unwrap_or_else(|| "us-east-1".into()),
        }
    }

    /// Builds the `object_store` client: path-style addressing, plain HTTP only when the
    /// endpoint itself says `http://`.
    pub fn build(&self) -> object_store::Result<Arc<dyn ObjectStore>> {
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(&self.bucket)
            .with_region(&self.region)
            .with_virtual_hosted_style_request(false);
        if let Some(endpoint) = &self.endpoint {
            builder = builder
                .with_endpoint(endpoint)
                .with_allow_http(endpoint.starts_with("http://"));
        }
        if let Some(id) = &self.access_key_id {
            builder = builder.with_access_key_id(id);
        }
        if let Some(secret) = &self.secret_access_key {
            builder = builder.with_secret_access_key(secret);
        }
        Ok(Arc::new(builder.build()?))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn seed_names_win_and_secrets_stay_hidden() {
        let env: HashMap<&str, &str> = [
            ("S3_HOST", "minio.default.svc"),
            ("S3_PORT", "9001"),
            ("S3_USER", "user"),
            ("S3_PASSWORD", "hunter2"),
            ("AWS_ACCESS_KEY_ID", "aws-user"),
        ]
        .into();
        let s = S3Settings::from_lookup("bucket", |k| env.get(k).map(|v| v.to_string()));
        assert_eq!(s.endpoint.as_deref(), Some("http://minio.default.svc:9001"));
        assert_eq!(s.access_key_id.as_deref(), Some("user"));
        assert!(!format!("{s:?}").contains("hunter2"));
        assert!(s.build().is_ok());
    }
}
