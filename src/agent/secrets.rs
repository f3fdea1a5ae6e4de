//! App secrets from SSM Parameter Store, read on the host by the agent itself (instance role
//! through the default AWS credential chain), so they never travel in command parameters,
//! logs or replies. Every parameter under the path becomes one environment variable named
//! after the last part of its name (`/shop/prod/DATABASE_URL` -> `DATABASE_URL`).

use super::protocol::EnvVar;
use super::validate;
use anyhow::{bail, Context};

/// Reads every parameter under `path` (recursively, decrypted).
pub async fn from_ssm(path: &str) -> anyhow::Result<Vec<EnvVar>> {
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let ssm = aws_sdk_ssm::Client::new(&config);
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
    Ok(vars)
}
