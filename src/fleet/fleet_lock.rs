//! One deploy per app and environment across the fleet: a parameter in SSM Parameter Store,
//! `/bluegreen/locks/<app>/<environment>`, created with `Overwrite=false` (atomic: exactly one
//! of two concurrent creates succeeds), holding the deploy id, the run URL and an expiry.
//!
//! A second deploy waits up to `--lock-wait` for it, then is refused, naming the holder. An
//! expired lock (its holder died without releasing it) is taken over, and the deploy says so.
//! The holder releases it on every exit path; a lock whose holder was killed expires.
//!
//! IAM (workflow role): `ssm:PutParameter`, `ssm:GetParameter`, `ssm:DeleteParameter` on
//! `arn:aws:ssm:<region>:<account>:parameter/bluegreen/locks/*`.

use anyhow::Context;
use aws_sdk_ssm::error::ProvideErrorMetadata;
use aws_sdk_ssm::Client;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// How often a waiting deploy looks at the lock again.
const RETRY: Duration = Duration::from_secs(2);

/// What the lock parameter holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    pub deploy_id: String,
    #[serde(default)]
    pub run_url: Option<String>,
    pub expires_at: DateTime<Utc>,
}

impl Holder {
    fn describe(&self) -> String {
        format!(
            "deploy {}{} (expires {})",
            self.deploy_id,
            self.run_url
                .as_deref()
                .map(|u| format!(", {u}"))
                .unwrap_or_default(),
            self.expires_at.format("%Y-%m-%d %H:%M:%SZ")
        )
    }
}

/// A lock this deploy holds. Release it with [`FleetLock::release`] (dropping it does not,
/// since that needs an API call; an unreleased lock expires).
#[derive(Debug)]
pub struct FleetLock {
    pub name: String,
    pub holder: Holder,
    /// Set when an expired lock was taken over: whose it was.
    pub took_over: Option<Holder>,
}

/// The lock parameter's name.
pub fn name(app: &str, environment: &str) -> String {
    format!("/bluegreen/locks/{app}/{environment}")
}

/// The fleet lock is held by another deploy (after waiting `waited`).
#[derive(Debug, thiserror::Error)]
#[error("another deploy of {app} to {environment} holds the fleet lock {name}: {holder}; waited {waited_s} s (--lock-wait), nothing changed: retry when it finishes")]
pub struct Held {
    pub app: String,
    pub environment: String,
    pub name: String,
    pub holder: String,
    pub waited_s: u64,
}

/// Takes the lock for `holder.deploy_id`, waiting up to `wait` while another live deploy holds
/// it. `Err` with [`Held`] inside when it stays held; other errors are AWS failing us.
pub async fn acquire(
    client: &Client,
    app: &str,
    environment: &str,
    holder: Holder,
    wait: Duration,
) -> anyhow::Result<FleetLock> {
    let name = name(app, environment);
    let value = serde_json::to_string(&holder)?;
    let started = std::time::Instant::now();
    loop {
        match put_new(client, &name, &value).await? {
            true => {
                return Ok(FleetLock {
                    name,
                    holder,
                    took_over: None,
                })
            }
            false => {
                let current = read(client, &name).await?;
                match current {
                    // Released between our put and our read: try again at once.
                    None => continue,
                    Some(Ok(h)) if h.expires_at <= Utc::now() => {
                        // Expired: remove it and create ours; the create stays atomic, so
                        // of two deploys taking it over, one wins.
                        delete(client, &name).await?;
                        if put_new(client, &name, &value).await? {
                            return Ok(FleetLock {
                                name,
                                holder,
                                took_over: Some(h),
                            });
                        }
                    }
                    Some(current) => {
                        if started.elapsed() >= wait {
                            let holder = match current {
                                Ok(h) => h.describe(),
                                Err(raw) => format!("unreadable value {raw:?}"),
                            };
                            return Err(Held {
                                app: app.to_string(),
                                environment: environment.to_string(),
                                name,
                                holder,
                                waited_s: started.elapsed().as_secs(),
                            }
                            .into());
                        }
                    }
                }
                let left = wait.saturating_sub(started.elapsed());
                tokio::time::sleep(RETRY.min(left.max(Duration::from_millis(50)))).await;
            }
        }
    }
}

impl FleetLock {
    /// Deletes the lock if it is still this deploy's (an expired one may have been taken over).
    pub async fn release(&self, client: &Client) -> anyhow::Result<()> {
        match read(client, &self.name).await? {
            Some(Ok(h)) if h.deploy_id == self.holder.deploy_id => delete(client, &self.name).await,
            _ => Ok(()),
        }
    }
}

/// `PutParameter` with `Overwrite=false`: true when created, false when it exists.
async fn put_new(client: &Client, name: &str, value: &str) -> anyhow::Result<bool> {
    let put = client
        .put_parameter()
        .name(name)
        .value(value)
        .r#type(aws_sdk_ssm::types::ParameterType::String)
        .overwrite(false)
        .description("bluegreen fleet lock: one deploy per app and environment")
        .send()
        .await;
    match put {
        Ok(_) => Ok(true),
        Err(e) if e.code() == Some("ParameterAlreadyExists") => Ok(false),
        Err(e) => Err(anyhow::Error::new(e))
            .with_context(|| format!("cannot create the fleet lock {name} (ssm:PutParameter)")),
    }
}

/// The holder, `Some(Err(raw))` for a value that is not ours, `None` when there is no lock.
async fn read(client: &Client, name: &str) -> anyhow::Result<Option<Result<Holder, String>>> {
    match client.get_parameter().name(name).send().await {
        Ok(out) => {
            let raw = out
                .parameter()
                .and_then(|p| p.value())
                .unwrap_or_default()
                .to_string();
            Ok(Some(serde_json::from_str(&raw).map_err(|_| raw)))
        }
        Err(e) if e.code() == Some("ParameterNotFound") => Ok(None),
        Err(e) => Err(anyhow::Error::new(e))
            .with_context(|| format!("cannot read the fleet lock {name} (ssm:GetParameter)")),
    }
}

async fn delete(client: &Client, name: &str) -> anyhow::Result<()> {
    match client.delete_parameter().name(name).send().await {
        Ok(_) => Ok(()),
        Err(e) if e.code() == Some("ParameterNotFound") => Ok(()),
        Err(e) => Err(anyhow::Error::new(e))
            .with_context(|| format!("cannot release the fleet lock {name} (ssm:DeleteParameter)")),
    }
}

/// The fleet lock of an SSM deploy (`--environment`, `--lock-wait`; in `run`, the
/// `environment` input and no wait).
#[derive(Debug, Clone)]
pub struct LockArgs {
    pub environment: String,
    pub wait: Duration,
}

impl LockArgs {
    /// The longest `--lock-wait`.
    pub const MAX_WAIT: Duration = Duration::from_secs(3600);

    /// Checks the values as the CLI's flags (`--environment`, `--lock-wait`).
    pub fn check(&self) -> Result<(), crate::exit::UsageError> {
        self.check_as("--environment", "--lock-wait")
    }

    /// Checks the values, naming them as the user gave them (flags, or `run`'s inputs).
    pub fn check_as(&self, environment: &str, wait: &str) -> Result<(), crate::exit::UsageError> {
        let env_ok = !self.environment.is_empty()
            && self.environment.len() <= 100
            && self
                .environment
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !env_ok {
            return Err(crate::exit::UsageError(format!(
                "{environment} {:?}: expected 1-100 letters, digits, '-', '_' or '.' (it names the fleet lock)",
                self.environment
            )));
        }
        if self.wait > Self::MAX_WAIT {
            return Err(crate::exit::UsageError(format!(
                "{wait} {}: expected at most 1h",
                humantime::format_duration(self.wait)
            )));
        }
        Ok(())
    }
}

/// How long a fleet lock stays valid if its holder dies without releasing it: long enough for
/// a deploy of many batches, short enough that a killed run does not block the next day.
pub fn lock_ttl(command_timeout: Duration) -> Duration {
    command_timeout.saturating_mul(3) + Duration::from_secs(600)
}

/// Takes the lock for one deploy before any host is touched, and says so when it took over an
/// expired one. `Err` with [`Held`] inside when another deploy holds it.
pub async fn take_for_deploy(
    client: &Client,
    app: &str,
    deploy_id: &str,
    run_url: Option<String>,
    lock: &LockArgs,
    command_timeout: Duration,
) -> anyhow::Result<FleetLock> {
    let holder = Holder {
        deploy_id: deploy_id.to_string(),
        run_url,
        expires_at: Utc::now()
            + chrono::Duration::from_std(lock_ttl(command_timeout))
                .unwrap_or_else(|_| chrono::Duration::hours(1)),
    };
    let taken = acquire(client, app, &lock.environment, holder, lock.wait).await?;
    if let Some(old) = &taken.took_over {
        eprintln!(
            "warning: the fleet lock {} of deploy {} had expired at {}; taken over",
            taken.name,
            old.deploy_id,
            old.expires_at.format("%Y-%m-%d %H:%M:%SZ")
        );
    }
    Ok(taken)
}
