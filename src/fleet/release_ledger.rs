//! The fleet's release ledger: the digests whose release command exited 0, per app and
//! environment, in SSM Parameter Store (`/bluegreen/releases/<app>/<environment>`, the last
//! [`KEPT`], newest last), so a digest is released once per fleet whichever host ran it: a
//! later deploy whose first host is another one (a replaced instance, a `release-host`) does
//! not migrate again. Read and written under the fleet lock, so no two deploys race on it.
//! Each release host also keeps its own ledger (`agent::release`), which is what a local
//! target has.
//!
//! IAM (workflow role): `ssm:GetParameter`, `ssm:PutParameter` on
//! `arn:aws:ssm:<region>:<account>:parameter/bluegreen/releases/*`.

use anyhow::Context;
use aws_sdk_ssm::error::ProvideErrorMetadata;
use aws_sdk_ssm::types::ParameterType;
use aws_sdk_ssm::Client;

/// Digests remembered per app and environment.
pub const KEPT: usize = 20;

/// The parameter's name.
pub fn name(app: &str, environment: &str) -> String {
    format!("/bluegreen/releases/{app}/{environment}")
}

/// The digests released for the app and environment, oldest first (none before the first).
pub async fn released(
    client: &Client,
    app: &str,
    environment: &str,
) -> anyhow::Result<Vec<String>> {
    let name = name(app, environment);
    let got = client.get_parameter().name(&name).send().await;
    match got {
        Ok(out) => {
            let value = out.parameter().and_then(|p| p.value()).unwrap_or_default();
            Ok(parse(value))
        }
        Err(e) if e.code() == Some("ParameterNotFound") => Ok(vec![]),
        Err(e) => Err(anyhow::Error::new(e)).with_context(|| {
            format!("cannot read the fleet's release ledger {name} (ssm:GetParameter)")
        }),
    }
}

/// Adds `digest` as released (the newest), keeping the last [`KEPT`].
pub async fn record(
    client: &Client,
    app: &str,
    environment: &str,
    digest: &str,
) -> anyhow::Result<()> {
    let name = name(app, environment);
    let mut list = released(client, app, environment).await?;
    list.retain(|d| d != digest);
    list.push(digest.to_string());
    let excess = list.len().saturating_sub(KEPT);
    list.drain(..excess);
    client
        .put_parameter()
        .name(&name)
        .value(list.join("\n"))
        .r#type(ParameterType::String)
        .overwrite(true)
        .description("bluegreen: digests whose release command exited 0, newest last")
        .send()
        .await
        .map(|_| ())
        .map_err(anyhow::Error::new)
        .with_context(|| {
            format!("cannot write the fleet's release ledger {name} (ssm:PutParameter)")
        })
}

/// One digest a line; anything that is not a digest is not one of ours and is skipped.
fn parse(value: &str) -> Vec<String> {
    value
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("sha256:"))
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ledger_reads_one_digest_a_line() {
        let a = format!("sha256:{}", "a".repeat(64));
        let b = format!("sha256:{}", "b".repeat(64));
        assert_eq!(parse(&format!("{a}\n\n junk \n{b}\n")), [a, b]);
        assert_eq!(
            name("shop", "production"),
            "/bluegreen/releases/shop/production"
        );
    }
}
