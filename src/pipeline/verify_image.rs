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
        // Already checked as an input; a parse error here is still a usage error, not a panic.
        let reference = image::reference::ImageRef::parse(image)
            .map_err(|e| Stop::usage(format!("image {e}")))?;
        let repository = reference.name();
        if reference.looks_like_ecr() {
            return Err(Stop::usage(format!(
                "image {}",
                image::reference::malformed_ecr_uri(&repository)
            )));
        }
        if reference.ecr().is_none() {
            return self.no_checks_outside_ecr(image).map(|()| None);
        }
        // In `NAME:TAG@sha256:...` the digest wins and the tag is dropped, as Docker does.
        let selector = match (&reference.digest, &reference.tag) {
            (Some(d), _) => Some(("--digest", d.to_string())),
            (None, Some(t)) => Some(("--tag", t.clone())),
            (None, None) => None,
        };
        let Some((flag, value)) = selector else {
            return Err(Stop::usage(format!(
                "image {image:?}: an ECR image needs a tag or a digest (NAME:TAG or NAME@sha256:...)"
            )));
        };
        let fixed = [
            "--repository".to_string(),
            repository,
            flag.to_string(),
            value,
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
        region: args.ecr_region(),
        ..image::ClientOptions::default()
    };
    let verdict = async {
        let client = image::EcrClient::from_environment(&options, events).await?;
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
