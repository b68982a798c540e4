//! The settings of rate limiting, next to the code they configure. `crate::settings` reads
//! them from `CMMV_RATE_LIMIT*` and `CMMV_TRUSTED_PROXY*` (the dependency goes one way:
//! nothing here reads the environment).

use std::time::Duration;

/// How the contracts' rate limits are enforced.
#[derive(Debug, Clone, PartialEq)]
pub struct RateLimitSettings {
    /// Whether the limits are enforced at all (`CMMV_RATE_LIMIT`, default `true`); `false` turns
    /// every limit off, the login module's included.
    pub enabled: bool,
    /// Proxies whose forwarding header names the client; every other peer is the client.
    pub trusted_proxies: Vec<super::Cidr>,
    /// The one header those proxies write the client into (`X-Forwarded-For` unless set).
    pub proxy_header: super::ProxyHeader,
    /// The blocks clients are counted by: each IPv4 address, each IPv6 /64, unless set.
    pub client_blocks: super::ClientBlocks,
    /// What a request gets when the shared limiter cannot decide in time, for policies that
    /// do not choose: admitted, a 503, or the in-process limiter's decision.
    pub fail_mode: super::FailMode,
    /// How long a decision by the Redis limiter may take.
    pub timeout: Duration,
    /// Also send the `X-RateLimit-*` headers older clients read.
    pub legacy_headers: bool,
    /// Keys the in-process limiter holds at most.
    pub max_keys: usize,
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            trusted_proxies: Vec::new(),
            proxy_header: super::ProxyHeader::default(),
            client_blocks: super::ClientBlocks::default(),
            fail_mode: super::FailMode::Open,
            timeout: Duration::from_millis(50),
            legacy_headers: false,
            max_keys: 1_000_000,
        }
    }
}
