//! The built-in health indicators: the database, Redis, free disk space and resident memory,
//! each with a time limit of its own, and [`HealthSettings`], the thresholds operators set
//! (`CMMV_HEALTH_*`).
//!
//! Their public messages name what is wrong in words ("the database is unreachable"); the
//! driver's error, which may name hosts, users or statements, is logged instead.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::json;

use super::{CheckError, CheckFailure, CheckFuture, Details, HealthIndicator};
use crate::settings::{Settings, SettingsError};
use crate::sql::Database;
use crate::store::StoreError;

/// The database's readiness: it answers a trivial query (and on SQLite the writer takes
/// writes). Critical. Its details are the connections of its pool (`open`, `idle`, `in_use`,
/// `max`) and, on SQLite, the writes waiting for the writer (`write_queue`), failed or not.
#[derive(Debug, Clone)]
pub struct DatabaseIndicator {
    name: String,
    database: Database,
    timeout: Duration,
}

impl DatabaseIndicator {
    /// The name it reports under unless renamed.
    pub const NAME: &str = "database";
    /// Its time limit unless set: a pooled connection and a round trip, with room for a busy
    /// pool.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);

    /// The indicator of `database`.
    pub fn new(database: Database) -> Self {
        Self {
            name: Self::NAME.to_owned(),
            database,
            timeout: Self::DEFAULT_TIMEOUT,
        }
    }

    /// Reports under `name` (for an app with more than one database).
    #[must_use]
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Fails a check that takes longer than `timeout`.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    fn details(&self) -> Details {
        let crate::sql::PoolState { open, idle, max } = self.database.pool_state();
        let mut details = Details::new();
        details.insert(
            "connections".to_owned(),
            json!({ "open": open, "idle": idle, "in_use": open - idle, "max": max }),
        );
        if let Some(writer) = self.database.writer_stats() {
            details.insert("write_queue".to_owned(), writer.queued.into());
        }
        details
    }
}

impl HealthIndicator for DatabaseIndicator {
    fn name(&self) -> &str {
        &self.name
    }

    fn timeout(&self) -> Option<Duration> {
        Some(self.timeout)
    }

    fn check(&self) -> CheckFuture<'_> {
        Box::pin(async move {
            match self.database.check().await {
                Ok(()) => Ok(self.details()),
                Err(error) => {
                    let message = match error {
                        StoreError::Unavailable(_) => "the database is unreachable",
                        _ => "the database answers with errors",
                    };
                    Err(CheckFailure::new(message)
                        .with_details(self.details())
                        .with_source(error)
                        .into())
                }
            }
        })
    }
}

/// Redis's readiness: a `PING` on a connection of its own, made for each check (so that it
/// says whether Redis answers now, whatever the state of the app's other connections). No
/// details: its latency is the check's.
///
/// Not critical unless made so: behind a rate limiter that fails open (the default,
/// `CMMV_RATE_LIMIT_FAIL=open`) an instance serves without Redis, and taking every instance
/// out at once for a shared dependency would turn a degraded service into an outage.
pub struct RedisIndicator {
    name: String,
    client: redis::Client,
    critical: bool,
    timeout: Duration,
}

impl fmt::Debug for RedisIndicator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The client's URL may hold a password.
        f.debug_struct("RedisIndicator")
            .field("name", &self.name)
            .field("critical", &self.critical)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl RedisIndicator {
    /// The name it reports under unless renamed.
    pub const NAME: &str = "redis";
    /// Its time limit unless set: a connection and a round trip on a LAN, with room.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(500);

    /// The indicator of the Redis at `url` (`redis://[user:password@]host:port[/db]`),
    /// not critical. Fails when `url` is not a Redis URL; connects only when checking.
    pub fn new(url: &str) -> Result<Self, CheckError> {
        let client =
            redis::Client::open(url).map_err(|error| format!("invalid Redis URL: {error}"))?;
        Ok(Self {
            name: Self::NAME.to_owned(),
            client,
            critical: false,
            timeout: Self::DEFAULT_TIMEOUT,
        })
    }

    /// Whether a failure makes readiness 503 (see the type's documentation).
    #[must_use]
    pub fn with_critical(mut self, critical: bool) -> Self {
        self.critical = critical;
        self
    }

    /// Reports under `name`.
    #[must_use]
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Fails a check that takes longer than `timeout`.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    async fn ping(&self) -> Result<(), redis::RedisError> {
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout));
        let mut connection = self
            .client
            .get_multiplexed_async_connection_with_config(&config)
            .await?;
        redis::cmd("PING")
            .query_async::<String>(&mut connection)
            .await
            .map(drop)
    }
}

impl HealthIndicator for RedisIndicator {
    fn name(&self) -> &str {
        &self.name
    }

    fn critical(&self) -> bool {
        self.critical
    }

    fn timeout(&self) -> Option<Duration> {
        Some(self.timeout)
    }

    fn check(&self) -> CheckFuture<'_> {
        Box::pin(async move {
            self.ping().await.map_err(|error| {
                let message = if error.is_io_error()
                    || error.is_connection_refusal()
                    || error.is_connection_dropped()
                    || error.is_timeout()
                {
                    "Redis is unreachable"
                } else {
                    "Redis answers with errors"
                };
                CheckFailure::new(message).with_source(error)
            })?;
            Ok(Details::new())
        })
    }
}

/// Free space on the file system of a directory (the SQLite database's): fails below a
/// threshold. Not critical unless made so: reads still work on a full disk, and taking the
/// instance out does not free any space, while the `error` entry is what an alert looks for.
/// Its details are `free_bytes`, `total_bytes` and `min_free_bytes` (the path is not shown).
///
/// `statvfs` runs on a blocking thread: on a hung network file system it may never return,
/// and while one is pending the next check fails at once rather than starting another.
#[derive(Debug, Clone)]
pub struct DiskSpaceIndicator {
    path: PathBuf,
    min_free_bytes: u64,
    critical: bool,
    timeout: Duration,
    pending: Arc<AtomicBool>,
}

impl DiskSpaceIndicator {
    /// The name it reports under.
    pub const NAME: &str = "disk_space";
    /// Its time limit unless set.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);

    /// Free space on the file system of `path`, failing below `min_free_bytes`; not critical.
    pub fn new(path: impl Into<PathBuf>, min_free_bytes: u64) -> Self {
        Self {
            path: path.into(),
            min_free_bytes,
            critical: false,
            timeout: Self::DEFAULT_TIMEOUT,
            pending: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Whether a failure makes readiness 503.
    #[must_use]
    pub fn with_critical(mut self, critical: bool) -> Self {
        self.critical = critical;
        self
    }

    /// Fails a check that takes longer than `timeout`.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
}

/// Clears the pending flag when the blocking read ends, however it ends.
struct Pending(Arc<AtomicBool>);

impl Drop for Pending {
    fn drop(&mut self) {
        self.0.store(false, Ordering::SeqCst);
    }
}

impl HealthIndicator for DiskSpaceIndicator {
    fn name(&self) -> &str {
        Self::NAME
    }

    fn critical(&self) -> bool {
        self.critical
    }

    fn timeout(&self) -> Option<Duration> {
        Some(self.timeout)
    }

    fn check(&self) -> CheckFuture<'_> {
        Box::pin(async move {
            if !cfg!(unix) {
                return Ok(unsupported());
            }
            if self.pending.swap(true, Ordering::SeqCst) {
                return Err("the previous reading of the disk has not returned".into());
            }
            let pending = Pending(Arc::clone(&self.pending));
            let path = self.path.clone();
            let space = tokio::task::spawn_blocking(move || {
                let _pending = pending;
                crate::system::disk_space(&path)
            })
            .await
            .map_err(|error| {
                CheckFailure::new("cannot read the disk's free space").with_source(error)
            })?
            .map_err(|error| {
                CheckFailure::new("cannot read the disk's free space").with_source(error)
            })?;
            let mut details = Details::new();
            details.insert("free_bytes".to_owned(), space.free.into());
            details.insert("total_bytes".to_owned(), space.total.into());
            details.insert("min_free_bytes".to_owned(), self.min_free_bytes.into());
            if space.free < self.min_free_bytes {
                return Err(CheckFailure::new("free disk space is below the threshold")
                    .with_details(details)
                    .into());
            }
            Ok(details)
        })
    }
}

/// The process's resident memory (RSS) against a threshold: the one given, or by default
/// [`MemoryIndicator::DEFAULT_CGROUP_PERCENT`] of the cgroup's memory limit, read at each
/// check (none without a limit: the check then only reports). Not critical unless made so:
/// memory rarely shrinks, so an instance taken out for it would stay out, while the `error`
/// entry warns before the kernel's OOM killer acts. Details: `rss_bytes`, `max_rss_bytes`
/// (`null` without a threshold) and `cgroup_limit_bytes` when there is a limit. Off Linux it
/// passes with `supported: false`.
#[derive(Debug, Clone)]
pub struct MemoryIndicator {
    max_rss_bytes: Option<u64>,
    critical: bool,
    timeout: Duration,
}

impl Default for MemoryIndicator {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryIndicator {
    /// The name it reports under.
    pub const NAME: &str = "memory";
    /// Its time limit unless set.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(500);
    /// The share of the cgroup's limit the resident memory may reach without a threshold set.
    pub const DEFAULT_CGROUP_PERCENT: u64 = 90;

    /// The indicator with the default threshold; not critical.
    pub fn new() -> Self {
        Self {
            max_rss_bytes: None,
            critical: false,
            timeout: Self::DEFAULT_TIMEOUT,
        }
    }

    /// Fails above `bytes` of resident memory rather than the cgroup's share.
    #[must_use]
    pub fn with_max_rss(mut self, bytes: u64) -> Self {
        self.max_rss_bytes = Some(bytes);
        self
    }

    /// Whether a failure makes readiness 503.
    #[must_use]
    pub fn with_critical(mut self, critical: bool) -> Self {
        self.critical = critical;
        self
    }

    /// Fails a check that takes longer than `timeout`.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The verdict on `rss` bytes of resident memory under a cgroup limit of `limit`.
    fn judge(&self, rss: u64, limit: Option<u64>) -> Result<Details, CheckError> {
        let threshold = self
            .max_rss_bytes
            .or_else(|| limit.map(|limit| limit / 100 * Self::DEFAULT_CGROUP_PERCENT));
        let mut details = Details::new();
        details.insert("rss_bytes".to_owned(), rss.into());
        details.insert("max_rss_bytes".to_owned(), threshold.into());
        if let Some(limit) = limit {
            details.insert("cgroup_limit_bytes".to_owned(), limit.into());
        }
        match threshold {
            Some(threshold) if rss > threshold => {
                Err(CheckFailure::new("resident memory is above the threshold")
                    .with_details(details)
                    .into())
            }
            _ => Ok(details),
        }
    }
}

impl HealthIndicator for MemoryIndicator {
    fn name(&self) -> &str {
        Self::NAME
    }

    fn critical(&self) -> bool {
        self.critical
    }

    fn timeout(&self) -> Option<Duration> {
        Some(self.timeout)
    }

    fn check(&self) -> CheckFuture<'_> {
        Box::pin(async move {
            if !cfg!(target_os = "linux") {
                return Ok(unsupported());
            }
            // Two small reads of procfs and sysfs, answered from kernel memory: no need for a
            // blocking thread.
            let rss = crate::system::resident_memory_bytes()
                .ok_or_else(|| CheckFailure::new("cannot read the resident memory"))?;
            self.judge(rss, crate::system::memory_limit_bytes())
        })
    }
}

/// The details of an indicator this platform cannot read.
fn unsupported() -> Details {
    let mut details = Details::new();
    details.insert("supported".to_owned(), false.into());
    details
}

/// The thresholds of the built-in indicators, from `CMMV_HEALTH_*` (see `docs/operations.md`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthSettings {
    /// The directory whose file system [`DiskSpaceIndicator`] watches (`CMMV_HEALTH_DISK_PATH`);
    /// unset, the SQLite database's directory, or the working directory.
    pub disk_path: Option<PathBuf>,
    /// Free bytes below which the disk is reported (`CMMV_HEALTH_DISK_MIN_FREE`, 100 MiB).
    pub disk_min_free: u64,
    /// Whether low disk space makes readiness 503 (`CMMV_HEALTH_DISK_CRITICAL`, `false`).
    pub disk_critical: bool,
    /// Resident bytes above which memory is reported (`CMMV_HEALTH_MEMORY_MAX_RSS`); unset,
    /// 90% of the cgroup's limit.
    pub memory_max_rss: Option<u64>,
    /// Whether high memory makes readiness 503 (`CMMV_HEALTH_MEMORY_CRITICAL`, `false`).
    pub memory_critical: bool,
    /// Whether an unreachable Redis makes readiness 503 (`CMMV_HEALTH_REDIS_CRITICAL`); unset,
    /// when the rate limiter fails closed (`CMMV_RATE_LIMIT_FAIL=closed`).
    pub redis_critical: Option<bool>,
}

impl Default for HealthSettings {
    fn default() -> Self {
        Self {
            disk_path: None,
            disk_min_free: Self::DEFAULT_DISK_MIN_FREE,
            disk_critical: false,
            memory_max_rss: None,
            memory_critical: false,
            redis_critical: None,
        }
    }
}

impl HealthSettings {
    /// Free bytes below which the disk is reported unless set: 100 MiB.
    pub const DEFAULT_DISK_MIN_FREE: u64 = 100 << 20;

    /// Reads the `CMMV_HEALTH_*` keys of `settings` ([`Settings::extra`]).
    pub fn from_settings(settings: &Settings) -> Result<Self, SettingsError> {
        let defaults = Self::default();
        let size = |key: &str| -> Result<Option<u64>, SettingsError> {
            settings
                .extra(key)
                .map(|v| {
                    crate::settings::parse_size(v.trim())
                        .map(|n| u64::try_from(n).unwrap_or(u64::MAX))
                        .map_err(|e| SettingsError::env(key, e))
                })
                .transpose()
        };
        let flag = |key: &str| -> Result<Option<bool>, SettingsError> {
            settings
                .extra(key)
                .map(|v| {
                    crate::settings::parse_bool(v.trim()).map_err(|e| SettingsError::env(key, e))
                })
                .transpose()
        };
        Ok(Self {
            disk_path: settings
                .extra("CMMV_HEALTH_DISK_PATH")
                .map(|p| PathBuf::from(p.trim())),
            disk_min_free: size("CMMV_HEALTH_DISK_MIN_FREE")?.unwrap_or(defaults.disk_min_free),
            disk_critical: flag("CMMV_HEALTH_DISK_CRITICAL")?.unwrap_or(defaults.disk_critical),
            memory_max_rss: size("CMMV_HEALTH_MEMORY_MAX_RSS")?,
            memory_critical: flag("CMMV_HEALTH_MEMORY_CRITICAL")?
                .unwrap_or(defaults.memory_critical),
            redis_critical: flag("CMMV_HEALTH_REDIS_CRITICAL")?,
        })
    }

    /// The built-in indicators a service started from `settings` registers: the database's
    /// when there is one, Redis's when `CMMV_REDIS_URL` is set, the disk's and the memory's.
    pub fn indicators(
        &self,
        settings: &Settings,
        database: Option<&Database>,
    ) -> Result<Vec<Arc<dyn HealthIndicator>>, SettingsError> {
        let mut indicators: Vec<Arc<dyn HealthIndicator>> = Vec::new();
        if let Some(database) = database {
            indicators.push(Arc::new(DatabaseIndicator::new(database.clone())));
        }
        if let Some(url) = &settings.redis_url {
            let critical = self
                .redis_critical
                .unwrap_or(settings.rate_limit.fail_mode == crate::ratelimit::FailMode::Closed);
            let redis = RedisIndicator::new(url)
                .map_err(|e| SettingsError::env("CMMV_REDIS_URL", e.to_string()))?;
            indicators.push(Arc::new(redis.with_critical(critical)));
        }
        let disk_path = self
            .disk_path
            .clone()
            .unwrap_or_else(|| database_directory(&settings.database_url));
        indicators.push(Arc::new(
            DiskSpaceIndicator::new(disk_path, self.disk_min_free)
                .with_critical(self.disk_critical),
        ));
        let mut memory = MemoryIndicator::new().with_critical(self.memory_critical);
        if let Some(max) = self.memory_max_rss {
            memory = memory.with_max_rss(max);
        }
        indicators.push(Arc::new(memory));
        Ok(indicators)
    }
}

/// The directory of a SQLite database URL's file; the working directory for anything else
/// (PostgreSQL, memory).
fn database_directory(url: &str) -> PathBuf {
    let here = PathBuf::from(".");
    let Some(rest) = url.strip_prefix("sqlite:") else {
        return here;
    };
    let file = rest.trim_start_matches("//");
    let file = file.split('?').next().unwrap_or(file);
    if file.is_empty() || file.contains(":memory:") || url.contains("mode=memory") {
        return here;
    }
    match Path::new(file).parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => here,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings_with(pairs: &[(&str, &str)]) -> Settings {
        let mut settings = Settings::default();
        for (key, value) in pairs {
            settings
                .extra
                .insert((*key).to_owned(), (*value).to_owned());
        }
        settings
    }

    #[test]
    fn settings_have_defaults_and_read_their_keys() {
        assert_eq!(
            HealthSettings::from_settings(&Settings::default()),
            Ok(HealthSettings::default())
        );
        let read = HealthSettings::from_settings(&settings_with(&[
            ("CMMV_HEALTH_DISK_PATH", "/data"),
            ("CMMV_HEALTH_DISK_MIN_FREE", "1GiB"),
            ("CMMV_HEALTH_DISK_CRITICAL", "true"),
            ("CMMV_HEALTH_MEMORY_MAX_RSS", "512MiB"),
            ("CMMV_HEALTH_MEMORY_CRITICAL", "yes"),
            ("CMMV_HEALTH_REDIS_CRITICAL", "false"),
        ]));
        assert_eq!(
            read,
            Ok(HealthSettings {
                disk_path: Some(PathBuf::from("/data")),
                disk_min_free: 1 << 30,
                disk_critical: true,
                memory_max_rss: Some(512 << 20),
                memory_critical: true,
                redis_critical: Some(false),
            })
        );
        let wrong =
            HealthSettings::from_settings(&settings_with(&[("CMMV_HEALTH_DISK_MIN_FREE", "lots")]));
        assert!(
            wrong
                .as_ref()
                .is_err_and(|e| e.to_string().contains("CMMV_HEALTH_DISK_MIN_FREE")),
            "{wrong:?}"
        );
    }

    #[test]
    fn the_disk_watched_is_the_sqlite_files() {
        for (url, directory) in [
            ("sqlite://data/todo.db", "data"),
            ("sqlite:///var/lib/todo/todo.db?mode=rwc", "/var/lib/todo"),
            ("sqlite:todo.db", "."),
            ("sqlite::memory:", "."),
            ("sqlite://file.db?mode=memory", "."),
            ("postgres://db.internal/todo", "."),
        ] {
            assert_eq!(database_directory(url), PathBuf::from(directory), "{url}");
        }
    }

    #[test]
    fn redis_is_critical_when_the_limiter_fails_closed_or_when_told() {
        let critical = |pairs: &[(&str, &str)], fail| {
            let mut settings = settings_with(pairs);
            settings.redis_url = Some("redis://127.0.0.1:1".to_owned());
            settings.rate_limit.fail_mode = fail;
            let indicators = HealthSettings::from_settings(&settings)
                .and_then(|h| h.indicators(&settings, None))
                .expect("indicators");
            let redis = indicators
                .iter()
                .find(|i| i.name() == RedisIndicator::NAME)
                .expect("a Redis indicator");
            redis.critical()
        };
        use crate::ratelimit::FailMode;
        assert!(!critical(&[], FailMode::Open));
        assert!(critical(&[], FailMode::Closed));
        assert!(critical(
            &[("CMMV_HEALTH_REDIS_CRITICAL", "true")],
            FailMode::Open
        ));
        assert!(!critical(
            &[("CMMV_HEALTH_REDIS_CRITICAL", "false")],
            FailMode::Closed
        ));
    }

    #[tokio::test]
    async fn disk_space_fails_below_its_threshold_with_the_numbers() {
        let passing = DiskSpaceIndicator::new(".", 0);
        let details = passing.check().await.expect("any disk has 0 bytes free");
        assert!(
            details["total_bytes"].as_u64().is_some_and(|t| t > 0),
            "{details:?}"
        );
        assert_eq!(details["min_free_bytes"], 0);

        let failing = DiskSpaceIndicator::new(".", u64::MAX);
        let error = failing
            .check()
            .await
            .expect_err("no disk has 2^64 bytes free");
        assert_eq!(error.to_string(), "free disk space is below the threshold");
        let failure = error.downcast::<CheckFailure>().expect("a CheckFailure");
        assert_eq!(failure.details["min_free_bytes"], u64::MAX);
        assert!(failure.details.contains_key("free_bytes"));
        assert!(!failing.critical());
        assert!(
            DiskSpaceIndicator::new(".", 0)
                .with_critical(true)
                .critical()
        );

        let missing = DiskSpaceIndicator::new("/no/such/directory/anywhere", 0);
        let error = missing.check().await.expect_err("no such directory");
        assert_eq!(error.to_string(), "cannot read the disk's free space");
    }

    #[test]
    fn memory_is_judged_against_the_threshold_or_the_cgroups_share() {
        let memory = MemoryIndicator::new();
        // No limit, no threshold: it only reports.
        let details = memory.judge(1 << 30, None).expect("no threshold");
        assert_eq!(details["rss_bytes"], 1u64 << 30);
        assert_eq!(details["max_rss_bytes"], serde_json::Value::Null);
        // 90% of a 1000-byte limit is 900.
        assert!(memory.judge(900, Some(1000)).is_ok());
        let error = memory.judge(901, Some(1000)).expect_err("above 90%");
        assert_eq!(error.to_string(), "resident memory is above the threshold");
        let failure = error.downcast::<CheckFailure>().expect("a CheckFailure");
        assert_eq!(failure.details["max_rss_bytes"], 900);
        assert_eq!(failure.details["cgroup_limit_bytes"], 1000);
        // A threshold given wins over the cgroup's share.
        let capped = MemoryIndicator::new().with_max_rss(100);
        assert!(capped.judge(101, Some(1000)).is_err());
        assert!(capped.judge(100, None).is_ok());
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn this_process_has_its_memory_checked() {
        let details = MemoryIndicator::new()
            .with_max_rss(u64::MAX)
            .check()
            .await
            .expect("below 2^64 bytes");
        assert!(
            details["rss_bytes"].as_u64().is_some_and(|rss| rss > 0),
            "{details:?}"
        );
        let error = MemoryIndicator::new()
            .with_max_rss(1)
            .check()
            .await
            .expect_err("above 1 byte");
        assert_eq!(error.to_string(), "resident memory is above the threshold");
    }

    #[tokio::test]
    async fn an_unreachable_redis_is_named_without_the_drivers_text() {
        // A port nothing listens on: bound, then closed.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let redis = RedisIndicator::new(&format!("redis://127.0.0.1:{port}")).expect("a URL");
        let error = redis.check().await.expect_err("nothing listens");
        assert_eq!(error.to_string(), "Redis is unreachable");
        assert!(RedisIndicator::new("http://not-redis").is_err());
    }

    #[tokio::test]
    async fn the_database_reports_its_connections() {
        let db = Database::connect(&crate::sql::DatabaseSettings::new("sqlite::memory:"))
            .await
            .expect("SQLite in memory");
        let indicator = DatabaseIndicator::new(db.clone());
        let details = indicator.check().await.expect("the database answers");
        let connections = &details["connections"];
        assert!(
            connections["max"].as_u64().is_some_and(|m| m >= 1),
            "{details:?}"
        );
        assert!(connections["open"].as_u64() >= connections["idle"].as_u64());
        assert_eq!(details["write_queue"], 0);
        db.close().await;
        let error = indicator.check().await.expect_err("closed");
        assert_eq!(error.to_string(), "the database is unreachable");
        let failure = error.downcast::<CheckFailure>().expect("a CheckFailure");
        assert!(failure.details.contains_key("connections"));
        assert!(
            std::error::Error::source(&*failure).is_some(),
            "the cause is kept for the log"
        );
    }
}
