//! The run's inputs: flags and `INPUT_*` merged, and the target and image inputs parsed by the
//! very flags of `deploy` and `verify-image`, so the action and the CLI accept the same values
//! with the same errors.

use crate::config::{Origin, RunConfig, RunInputs};
use crate::fleet::TargetArgs;
use crate::gha::inputs::{parse_with_flags, FlagInput};
use crate::image;
use crate::report::Redactor;
use clap::Parser;

/// Flags win over `INPUT_*` variables; in a workflow step the inputs fill what flags leave out.
pub(super) fn gather_inputs(flags: RunInputs) -> anyhow::Result<(RunInputs, Origin)> {
    let has_inputs = std::env::vars().any(|(k, _)| k.starts_with("INPUT_"));
    if !has_inputs {
        return Ok((flags, Origin::Cli));
    }
    let from_env: RunInputs = crate::gha::read_raw_inputs()?;
    let mut merged = serde_json::to_value(&from_env)?;
    let given = serde_json::to_value(&flags)?;
    if let (Some(merged), Some(given)) = (merged.as_object_mut(), given.as_object()) {
        for (key, value) in given.iter().filter(|(_, v)| !v.is_null()) {
            merged.insert(key.clone(), value.clone());
        }
    }
    Ok((serde_json::from_value(merged)?, Origin::Action))
}

/// The target inputs parsed by the very flags of `deploy --target ...`, so the action and the
/// CLI accept the same values with the same errors.
pub(super) fn target_args(config: &RunConfig) -> anyhow::Result<TargetArgs> {
    #[derive(Parser)]
    struct TargetOnly {
        #[command(flatten)]
        target: TargetArgs,
    }
    let i = &config.inputs;
    let fields: [FlagInput; 10] = [
        ("target", "target", &i.target),
        ("instance-ids", "instance-ids", &i.instance_ids),
        ("target-tags", "target-tags", &i.target_tags),
        ("region", "region", &i.region),
        ("agent-image", "agent-image", &i.agent_image),
        ("max-concurrency", "max-concurrency", &i.max_concurrency),
        ("max-errors", "max-errors", &i.max_errors),
        ("command-timeout", "command-timeout", &i.command_timeout),
        ("output-s3-bucket", "output-s3-bucket", &i.output_s3_bucket),
        (
            "cloudwatch-log-group",
            "cloudwatch-log-group",
            &i.cloudwatch_log_group,
        ),
    ];
    let parsed: TargetOnly =
        parse_with_flags("target", &[], &fields, |input| config.origin.name(input))?;
    Ok(parsed.target)
}

/// The image-check inputs, parsed by the flags of `verify-image` after `fixed` (the repository
/// and the tag or digest). The `region` input is the instances' (SSM, EC2): ECR is asked in the
/// region the image's own host names ([`image::VerifyImageArgs::ecr_region`]).
pub(super) fn image_inputs(
    config: &RunConfig,
    fixed: &[String],
) -> Result<image::VerifyImageArgs, crate::gha::InputError> {
    #[derive(Parser)]
    struct VerifyOnly {
        #[command(flatten)]
        args: image::VerifyImageArgs,
    }
    let i = &config.inputs;
    let fields: [FlagInput; 5] = [
        ("expect-digest", "expect-digest", &i.expect_digest),
        ("max-age", "max-image-age", &i.max_image_age),
        ("platform", "platform", &i.platform),
        ("scan-gate", "scan-gate", &i.scan_gate),
        ("scan-wait", "scan-wait", &i.scan_wait),
    ];
    let parsed: VerifyOnly = parse_with_flags("verify-image", fixed, &fields, |input| {
        config.origin.name(input)
    })?;
    Ok(parsed.args)
}

/// Checks the image-check inputs up front, whatever stage runs later, so a bad value is an
/// input error even when the verify-image stage is skipped or the run is a dry run.
pub(super) fn check_image_inputs(config: &RunConfig) -> Result<(), crate::gha::InputError> {
    let placeholder = ["--repository", "placeholder", "--tag", "placeholder"].map(String::from);
    image_inputs(config, &placeholder).map(|_| ())
}

pub(super) fn redactor_for(config: &RunConfig) -> Redactor {
    let mut redactor = Redactor::from_env();
    if let Some(token) = &config.github_token {
        redactor.add(token.clone());
    }
    redactor
}
