//! Errors a user can act on: each names what failed and what to do next.
//!
//! A check that fails (wrong digest, too old, scan gate) is not an error: it is a
//! [`super::Check`] in the verdict. These are the cases where no verdict could be reached.

use crate::exit::ExitCode;

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// A flag or input is malformed; nothing was called.
    #[error("{0}")]
    Input(String),

    #[error(
        "repository {name:?} not found in {registry} in region {region}{}",
        near_names_hint(near, listing_error.as_deref())
    )]
    RepositoryNotFound {
        name: String,
        /// `registry ID`, or the registry of the credentials when no --registry-id was given.
        registry: String,
        region: String,
        /// Repository names visible to these credentials that look like `name`.
        near: Vec<String>,
        /// Why the names could not be listed, when they could not.
        listing_error: Option<String>,
    },

    #[error(
        "--repository is in region {uri_region} (from its URI) but the region in use is {region}: pass --region {uri_region}"
    )]
    RegionMismatch { uri_region: String, region: String },

    #[error(
        "no AWS region: pass --region, or set AWS_REGION (aws-actions/configure-aws-credentials sets it from its `aws-region` input)"
    )]
    NoRegion,

    #[error(
        "access denied calling {action} on {resource}: the credentials in use need IAM permission `{action}` (see docs/verify-image.md for the policy). AWS said: {message}"
    )]
    AccessDenied {
        action: &'static str,
        resource: String,
        message: String,
    },

    #[error(
        "the AWS credentials have expired ({code} on {action}): refresh them (re-run aws-actions/configure-aws-credentials, or `aws sso login`). AWS said: {message}"
    )]
    ExpiredCredentials {
        action: &'static str,
        code: String,
        message: String,
    },

    #[error(
        "the AWS credentials were rejected ({code} on {action}): check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN or the role assumed. AWS said: {message}"
    )]
    InvalidCredentials {
        action: &'static str,
        code: String,
        message: String,
    },

    #[error(
        "no AWS credentials found for {action}: the default chain (environment, web identity/OIDC, profile, SSO, instance role) found none: {message}"
    )]
    NoCredentials {
        action: &'static str,
        message: String,
    },

    #[error(
        "ECR throttled {action} ({code}) and kept doing so for all {attempts} attempts of adaptive retry: retry later, or lower the rate of ECR calls from this account. AWS said: {message}"
    )]
    Throttled {
        action: &'static str,
        code: String,
        attempts: u32,
        message: String,
    },

    #[error(
        "cannot reach ECR in region {region} for {action}: {message}. Check --region (is it a real region?) and AWS_ENDPOINT_URL if set"
    )]
    Unreachable {
        action: &'static str,
        region: String,
        message: String,
    },

    #[error("{action} failed with {code}: {message}")]
    Api {
        action: &'static str,
        code: String,
        message: String,
    },

    #[error("{action} returned an answer this tool cannot use: {message}")]
    Malformed {
        action: &'static str,
        message: String,
    },
}

fn near_names_hint(near: &[String], listing_error: Option<&str>) -> String {
    let mut hint = String::new();
    if !near.is_empty() {
        hint.push_str(&format!("; similar names you can see: {}", near.join(", ")));
    } else if let Some(why) = listing_error {
        hint.push_str(&format!(
            "; could not list repositories for suggestions: {why}"
        ));
    } else {
        hint.push_str("; no similar repository names are visible");
    }
    hint.push_str(
        "; if the repository lives in another region or account, pass --region or --registry-id",
    );
    hint
}

impl VerifyError {
    /// Bad flags are usage errors (2); everything else is the environment failing us (5).
    pub fn exit_code(&self) -> ExitCode {
        match self {
            VerifyError::Input(_) | VerifyError::RegionMismatch { .. } => ExitCode::Usage,
            _ => ExitCode::Environment,
        }
    }
}
