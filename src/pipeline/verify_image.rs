//! The verify-image stage: an ECR image is checked (tag, digest, age, platform, scan) and from
//! then on deployed by digest; an image of another registry is deployed as given.

use super::inputs::image_inputs;
use super::{Findings, Pipeline, Stop};
use crate::config::Stage;
use crate::exit::{ExitCode, UsageError};
use crate::image::{self, ImageVerdict};
use crate::report::{EventLog, Scope, StepStatus};

impl Pipeline {
    /// Verifies an ECR image and returns the reference to deploy (by digest when verified).
    pub(super) async fn verify_image_stage(&self, found: &mut Findings) -> Result<String, Stop> {
        let image = self.config.deploy.image.clone();
        if self.skipped(Stage::VerifyImage) {
            return Ok(image);
        }
        let Some(args) = self.verify_image_args(&image)? else {
            self.events.note(
                &Scope::Pipeline,
                "verify-image",
                StepStatus::Skipped,
                format!("{image} is not in ECR: deployed as given"),
            );
            return Ok(image);
        };
        let timer = self.events.start(&Scope::Pipeline, "verify-image");
        let verdict = match run_verify(&args, &self.events).await {
            Ok(v) => v,
            Err(e) => {
                timer.fail(format!("{e:#}"));
                let code = crate::exit::classify(&e);
                return Err(Stop::with_code(code, format!("verify-image: {e:#}")));
            }
        };
        let reference = verdict.deploy_reference().map(str::to_string);
        let passed = verdict.passed();
        found.image = Some(verdict);
        match (passed, reference) {
            (true, Some(reference)) => {
                timer.ok(format!("deploying {reference}"));
                Ok(reference)
            }
            _ => {
                timer.fail("an image check failed");
                Err(Stop::failure(
                    "verify-image: an image check failed (see the report); nothing was deployed",
                ))
            }
        }
    }

    /// The verify-image flags for an ECR reference, or `None` for another registry.
    pub(super) fn verify_image_args(
        &self,
        image: &str,
    ) -> Result<Option<image::VerifyImageArgs>, Stop> {
        let (repository, selector) = split_reference(image);
        if image::reference::looks_like_ecr(repository)
            && image::reference::parse_repository_uri(repository).is_none()
        {
            return Err(Stop::usage(format!(
                "image {}",
                image::reference::malformed_ecr_uri(repository)
            )));
        }
        if image::reference::parse_repository_uri(repository).is_none() {
            return self.no_checks_outside_ecr(image).map(|()| None);
        }
        let Some((flag, value)) = selector else {
            return Err(Stop::usage(format!(
                "image {image:?}: an ECR image needs a tag or a digest (NAME:TAG or NAME@sha256:...)"
            )));
        };
        let fixed = [
            "--repository".to_string(),
            repository.to_string(),
            flag.to_string(),
            value.to_string(),
        ];
        image_inputs(&self.config, &fixed)
            .map(Some)
            .map_err(|e| Stop::usage(e.to_string()))
    }

    /// Image checks asked for on an image that is not in ECR cannot run: refuse rather than
    /// deploy without them.
    pub(super) fn no_checks_outside_ecr(&self, image: &str) -> Result<(), Stop> {
        let i = &self.config.inputs;
        let gate = crate::gha::inputs::given(&i.scan_gate).filter(|g| *g != "none");
        let asked: Vec<&str> = [
            ("expect-digest", crate::gha::inputs::given(&i.expect_digest)),
            ("max-image-age", crate::gha::inputs::given(&i.max_image_age)),
            ("platform", crate::gha::inputs::given(&i.platform)),
            ("scan-gate", gate),
        ]
        .into_iter()
        .filter_map(|(name, value)| value.map(|_| name))
        .collect();
        if asked.is_empty() {
            return Ok(());
        }
        Err(Stop::usage(format!(
            "{}: image checks run on ECR images only, and image {image:?} is not an ECR reference \
             (ACCOUNT.dkr.ecr.REGION.amazonaws.com/NAME:TAG); remove them or push the image to ECR",
            asked.join(", ")
        )))
    }
}

pub(super) async fn run_verify(
    args: &image::VerifyImageArgs,
    events: &EventLog,
) -> anyhow::Result<ImageVerdict> {
    let request = args.to_request()?;
    let options = image::ClientOptions {
        region: args.region.clone(),
        ..image::ClientOptions::default()
    };
    let verdict = async {
        let client = image::EcrClient::from_environment(&options).await?;
        image::verify_logged(&client, &request, events).await
    }
    .await;
    // A bad input or a region mismatch is the user's to fix (exit 2), the rest is the
    // environment's (exit 5): the error carries which.
    verdict.map_err(|e| match e.exit_code() {
        ExitCode::Usage => UsageError(e.to_string()).into(),
        _ => anyhow::Error::from(e),
    })
}

/// Splits `repo:tag` / `repo@sha256:...` into the repository and the verify-image flag.
/// In `NAME:TAG@sha256:...` the digest wins and the tag is dropped, as Docker does.
pub(super) fn split_reference(image: &str) -> (&str, Option<(&'static str, &str)>) {
    if let Some((named, digest)) = image.split_once('@') {
        let (repo, _tag) = split_tag(named);
        return (repo, Some(("--digest", digest)));
    }
    match split_tag(image) {
        (repo, Some(tag)) => (repo, Some(("--tag", tag))),
        (repo, None) => (repo, None),
    }
}

/// `repo:tag` into the repository and the tag (a `:` before the last `/` is a registry port).
pub(super) fn split_tag(image: &str) -> (&str, Option<&str>) {
    let name_start = image.rfind('/').map_or(0, |i| i + 1);
    match image[name_start..].rfind(':') {
        Some(i) => (&image[..name_start + i], Some(&image[name_start + i + 1..])),
        None => (image, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_split_into_repository_and_selector() {
        let ecr = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/shop";
        assert_eq!(
            split_reference(&format!("{ecr}:v2")),
            (ecr, Some(("--tag", "v2")))
        );
        assert_eq!(
            split_reference(&format!("{ecr}@sha256:abc")),
            (ecr, Some(("--digest", "sha256:abc")))
        );
        assert_eq!(split_reference(ecr), (ecr, None));
        assert_eq!(
            split_reference(&format!("{ecr}:v2@sha256:abc")),
            (ecr, Some(("--digest", "sha256:abc"))),
            "the digest wins over a tag, as in Docker"
        );
        assert_eq!(
            split_reference("127.0.0.1:5000/shop:v1"),
            ("127.0.0.1:5000/shop", Some(("--tag", "v1")))
        );
    }
}
