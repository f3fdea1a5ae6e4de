//! App secrets (and registry credentials, see [`super::registry_auth`]) from SSM Parameter
//! Store, read on the host by the agent itself (instance role through the default AWS
//! credential chain), so they never travel in command parameters, logs or replies. Every parameter under the path becomes one environment variable named
//! after the last part of its name (`/shop/prod/DATABASE_URL` -> `DATABASE_URL`).

use super::protocol::{AgentReply, DeploySpec, EnvVar};
use super::validate;
use super::Host;
use crate::report::Redactor;
use anyhow::{bail, Context};
use std::sync::{LazyLock, Mutex};

/// Every value this process read from Parameter Store. An app that fails its health gate may
/// print its configuration; its last log lines travel in the reply (SSM command output, the
/// report artifact), so every reply is redacted with these before it leaves the host.
static READ: LazyLock<Mutex<Redactor>> = LazyLock::new(|| Mutex::new(Redactor::default()));

/// Adds values to the set every reply is redacted with.
pub fn remember(values: impl IntoIterator<Item = String>) {
    let mut read = READ.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    for v in values {
        read.add(v);
    }
}

/// The reply with every value read from Parameter Store replaced by `***`: its message, its
/// log tail and its events' details.
pub fn redact_reply(mut reply: AgentReply) -> AgentReply {
    let read = READ.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if read.is_empty() {
        return reply;
    }
    reply.message = read.redact(&reply.message);
    for line in &mut reply.log_tail {
        *line = read.redact(line);
    }
    for event in &mut reply.events {
        event.detail = read.redact(&event.detail);
    }
    for command in &mut reply.commands {
        command.command = read.redact(&command.command);
        command.detail = read.redact(&command.detail);
    }
    reply
}

/// `text` with every value read from Parameter Store in this run replaced (what the host
/// keeps, like what it replies, holds none of them).
pub fn redact_text(text: &str) -> String {
    let read = READ.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    read.redact(text)
}

/// The app's environment: the spec's variables plus the parameters under `env_from_ssm`
/// (a secret of the same name wins), and how many came from Parameter Store.
pub async fn app_env(host: &Host, spec: &DeploySpec) -> anyhow::Result<(Vec<EnvVar>, usize)> {
    let mut env = spec.env.clone();
    let Some(path) = &spec.env_from_ssm else {
        return Ok((env, 0));
    };
    let vars = from_ssm(host, path).await?;
    let read = vars.len();
    env.retain(|v| !vars.iter().any(|s| s.name == v.name));
    env.extend(vars);
    Ok((env, read))
}

/// Reads every parameter under `path` (recursively, decrypted).
pub async fn from_ssm(host: &Host, path: &str) -> anyhow::Result<Vec<EnvVar>> {
    let ssm = host.ssm_client().await;
    let mut pages = ssm
        .get_parameters_by_path()
        .path(path)
        .recursive(true)
        .with_decryption(true)
        .into_paginator()
        .send();
    let mut vars = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.with_context(|| format!("cannot read SSM parameters under {path}"))?;
        for p in page.parameters() {
            let (Some(name), Some(value)) = (p.name(), p.value()) else {
                continue;
            };
            let var = name.rsplit('/').next().unwrap_or(name);
            if validate::env_name(var).is_err() {
                bail!("SSM parameter {name}: {var:?} is not a valid environment variable name");
            }
            vars.push(EnvVar {
                name: var.to_string(),
                value: value.to_string(),
            });
        }
    }
    if vars.is_empty() {
        bail!("--env-from-ssm {path}: no parameters found under this path");
    }
    remember(vars.iter().map(|v| v.value.clone()));
    Ok(vars)
}

/// One parameter's value, decrypted (a SecureString), read with the host's credentials. The
/// caller decides which parts of it are secret and [`remember`]s them.
pub async fn parameter(host: &Host, name: &str) -> anyhow::Result<String> {
    let ssm = host.ssm_client().await;
    let answer = ssm
        .get_parameter()
        .name(name)
        .with_decryption(true)
        .send()
        .await
        .map_err(aws_sdk_ssm::Error::from)
        .with_context(|| format!("cannot read the SSM parameter {name}"))?;
    answer
        .parameter()
        .and_then(|p| p.value())
        .map(str::to_string)
        .with_context(|| format!("the SSM parameter {name} has no value"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::protocol::Outcome;

    #[test]
    fn replies_lose_every_value_read_from_parameter_store() {
        remember(["pg://u:PLANTED-db-pass@db/shop".to_string()]);
        let reply = AgentReply {
            host: "i-1".into(),
            action: "deploy".into(),
            outcome: Outcome::Failed,
            message: "exited: pg://u:PLANTED-db-pass@db/shop refused".into(),
            first_deployment: false,
            before: None,
            apps: vec![],
            events: vec![],
            log_tail: vec!["DATABASE_URL=pg://u:PLANTED-db-pass@db/shop".into()],
            receipt: None,
            history: vec![],
            commands: vec![],
            commands_left_out: 0,
            release: None,
            canary: None,
        };
        let out = redact_reply(reply);
        assert_eq!(out.log_tail, vec!["DATABASE_URL=***".to_string()]);
        assert_eq!(out.message, "exited: *** refused");
    }
}
