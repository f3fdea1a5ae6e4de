//! The small value types a user names an image with: digests, platforms, repository names.
//!
//! Each parser returns an error that names what was given and what was expected, so the
//! CLI and the action inputs can pass them straight to the user.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A content digest, `sha256:` followed by 64 lowercase hex digits.
///
/// ECR only produces sha256 digests; anything else is a typo or a tag given as a digest.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Digest(String);

impl Digest {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The digest of `bytes`, as a registry computes it for a manifest or a blob.
    pub fn of_bytes(bytes: &[u8]) -> Self {
        use sha2::{Digest as _, Sha256};
        Digest(format!("sha256:{}", hex::encode(Sha256::digest(bytes))))
    }
}

impl FromStr for Digest {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let hex = s
            .strip_prefix("sha256:")
            .ok_or_else(|| format!("digest {s:?}: expected `sha256:` followed by 64 hex digits"))?;
        let valid = hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if valid {
            Ok(Digest(s.to_string()))
        } else {
            Err(format!(
                "digest {s:?}: expected `sha256:` followed by 64 lowercase hex digits, got {} characters after the prefix",
                hex.len()
            ))
        }
    }
}

impl TryFrom<String> for Digest {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<Digest> for String {
    fn from(d: Digest) -> String {
        d.0
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An OCI platform: `os/architecture[/variant]`, in the registry's spelling (`amd64`, `arm64`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

impl Platform {
    pub fn new(os: &str, architecture: &str, variant: Option<&str>) -> Self {
        Platform {
            os: os.to_string(),
            architecture: normalize_architecture(architecture).to_string(),
            variant: variant.filter(|v| !v.is_empty()).map(str::to_string),
        }
    }

    /// The Linux platform of a machine architecture as the kernel (`uname -m`) or EC2
    /// (`DescribeInstances` `Architecture`) spells it: `x86_64` is `linux/amd64`,
    /// `aarch64` and `arm64` are `linux/arm64`. This is how the SSM stage compares its
    /// instances with [`super::ImageVerdict::platforms`].
    pub fn linux_for_machine(machine: &str) -> Result<Self, String> {
        match normalize_architecture(machine.trim()) {
            arch @ ("amd64" | "arm64" | "386" | "arm" | "ppc64le" | "s390x" | "riscv64") => {
                Ok(Platform::new("linux", arch, None))
            }
            _ => Err(format!(
                "machine architecture {machine:?}: expected one of x86_64, aarch64, arm64, i386"
            )),
        }
    }

    /// Whether an image built for `self` runs where `wanted` is asked for. A request without a
    /// variant accepts any variant (`linux/arm64` accepts `linux/arm64/v8`).
    pub fn satisfies(&self, wanted: &Platform) -> bool {
        self.os == wanted.os
            && self.architecture == wanted.architecture
            && (wanted.variant.is_none() || self.variant == wanted.variant)
    }
}

/// Registry spelling of the architecture names kernels and clouds use.
fn normalize_architecture(arch: &str) -> &str {
    match arch {
        "x86_64" | "x86-64" => "amd64",
        "aarch64" => "arm64",
        "i386" | "i686" => "386",
        other => other,
    }
}

impl FromStr for Platform {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parts: Vec<&str> = s.split('/').collect();
        let valid_part = |p: &&str| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        };
        match parts.as_slice() {
            [os, arch] if [os, arch].iter().all(|p| valid_part(p)) => {
                Ok(Platform::new(os, arch, None))
            }
            [os, arch, variant] if [os, arch, variant].iter().all(|p| valid_part(p)) => {
                Ok(Platform::new(os, arch, Some(variant)))
            }
            _ => Err(format!(
                "platform {s:?}: expected os/architecture, e.g. linux/amd64 or linux/arm64"
            )),
        }
    }
}

impl TryFrom<String> for Platform {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<Platform> for String {
    fn from(p: Platform) -> String {
        p.to_string()
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// Which image the user asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImageSelector {
    Tag(String),
    Digest(Digest),
}

impl fmt::Display for ImageSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImageSelector::Tag(t) => write!(f, "tag {t:?}"),
            ImageSelector::Digest(d) => write!(f, "digest {d}"),
        }
    }
}

/// Checks an image tag against ECR's rule (1-300 characters of `[a-zA-Z0-9_.-]`, not starting
/// with `.` or `-`), so a typo is reported before any call is made.
pub fn validate_tag(tag: &str) -> Result<(), String> {
    let ok_chars = tag
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    let ok_start = !tag.starts_with(['.', '-']);
    if !tag.is_empty() && tag.len() <= 300 && ok_chars && ok_start {
        Ok(())
    } else {
        Err(format!(
            "tag {tag:?}: expected 1-300 characters of letters, digits, `_`, `.` or `-`, not starting with `.` or `-`"
        ))
    }
}

/// A repository named by a full URI, `ACCOUNT.dkr.ecr.REGION.amazonaws.com/NAME`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepositoryUri {
    pub registry_id: String,
    pub region: String,
    pub name: String,
}

/// Splits `--repository` into its parts when it is a full URI; `None` for a bare name.
/// A user often pastes the URI from the console, and its region is worth checking
/// against `--region` before a call fails with a confusing "not found".
pub fn parse_repository_uri(value: &str) -> Option<RepositoryUri> {
    let (host, name) = value.split_once('/')?;
    let mut labels = host.split('.');
    let registry_id = labels.next()?;
    let (dkr, ecr, region) = (labels.next()?, labels.next()?, labels.next()?);
    let rest: Vec<&str> = labels.collect();
    let known_suffix = matches!(
        rest.as_slice(),
        ["amazonaws", "com"] | ["amazonaws", "com", "cn"]
    );
    let is_account = registry_id.len() == 12 && registry_id.bytes().all(|b| b.is_ascii_digit());
    (dkr == "dkr" && ecr == "ecr" && known_suffix && is_account && !name.is_empty()).then(|| {
        RepositoryUri {
            registry_id: registry_id.to_string(),
            region: region.to_string(),
            name: name.to_string(),
        }
    })
}

/// Whether a value was meant as an ECR URI (its host names `dkr.ecr`), parsed or not.
pub fn looks_like_ecr(value: &str) -> bool {
    value
        .split('/')
        .next()
        .is_some_and(|host| host.contains(".dkr.ecr."))
}

/// The error for a value that looks like an ECR URI but is not one.
pub fn malformed_ecr_uri(value: &str) -> String {
    format!(
        "{value:?} looks like an ECR URI but is not one: expected \
         ACCOUNT.dkr.ecr.REGION.amazonaws.com/NAME with a 12-digit account id"
    )
}

/// Checks a repository name against ECR's pattern (lowercase, 2-256 characters, `/`-separated
/// path components of `[a-z0-9._-]`).
pub fn validate_repository_name(name: &str) -> Result<(), String> {
    if looks_like_ecr(name) {
        return Err(format!("repository {}", malformed_ecr_uri(name)));
    }
    let component_ok = |c: &str| {
        !c.is_empty()
            && c.bytes().all(|b| {
                b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
            })
    };
    if (2..=256).contains(&name.len()) && name.split('/').all(component_ok) {
        Ok(())
    } else {
        Err(format!(
            "repository {name:?}: expected an ECR repository name (2-256 lowercase letters, digits, `.`, `_`, `-`, with `/` between path parts) or its full URI ACCOUNT.dkr.ecr.REGION.amazonaws.com/NAME"
        ))
    }
}

/// `--region`: an AWS region code such as `eu-west-1`, `us-gov-west-1` or `cn-north-1`
/// (letters, then words, then a number, joined by `-`), checked before any call is signed
/// for it.
pub fn parse_region(s: &str) -> Result<String, String> {
    let parts: Vec<&str> = s.split('-').collect();
    let letters = |p: &&str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase());
    let ok = parts.len() >= 3
        && (2..=4).contains(&parts[0].len())
        && parts[..parts.len() - 1].iter().all(letters)
        && parts[parts.len() - 1].len() <= 2
        && parts[parts.len() - 1].bytes().all(|b| b.is_ascii_digit())
        && !parts[parts.len() - 1].is_empty();
    if ok {
        Ok(s.to_string())
    } else {
        Err(format!(
            "region {s:?}: expected an AWS region code such as eu-west-1 or us-east-2"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_are_checked_by_shape() {
        for good in [
            "eu-west-1",
            "us-gov-west-1",
            "cn-north-1",
            "ap-southeast-5",
            "il-central-1",
            "eusc-de-east-1",
        ] {
            assert_eq!(parse_region(good).as_deref(), Ok(good));
        }
        for bad in [
            "",
            "not a region",
            "EU-WEST-1",
            "eu-west",
            "euwest1",
            "eu-west-1a",
            "e-west-1",
        ] {
            let err = parse_region(bad).unwrap_err();
            assert!(err.contains("expected an AWS region code"), "{bad}: {err}");
        }
    }

    #[test]
    fn digest_needs_the_algorithm_and_64_hex_digits() {
        let good = format!("sha256:{}", "a".repeat(64));
        assert_eq!(good.parse::<Digest>().unwrap().as_str(), good);
        let err = "latest".parse::<Digest>().unwrap_err();
        assert!(
            err.contains("\"latest\"") && err.contains("sha256:"),
            "{err}"
        );
        assert!(format!("sha256:{}", "A".repeat(64))
            .parse::<Digest>()
            .is_err());
        assert!(format!("sha256:{}", "a".repeat(63))
            .parse::<Digest>()
            .is_err());
        assert_eq!(
            Digest::of_bytes(b"").as_str(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn platforms_parse_and_normalize_machine_names() {
        let p: Platform = "linux/arm64".parse().unwrap();
        assert_eq!(p, Platform::new("linux", "arm64", None));
        assert_eq!(
            "linux/x86_64".parse::<Platform>().unwrap().to_string(),
            "linux/amd64"
        );
        assert_eq!(
            Platform::linux_for_machine("aarch64").unwrap().to_string(),
            "linux/arm64"
        );
        assert_eq!(
            Platform::linux_for_machine("x86_64").unwrap().to_string(),
            "linux/amd64"
        );
        assert!(Platform::linux_for_machine("vax").is_err());
        let err = "amd64".parse::<Platform>().unwrap_err();
        assert!(
            err.contains("\"amd64\"") && err.contains("linux/amd64"),
            "{err}"
        );
    }

    #[test]
    fn a_platform_without_variant_accepts_any_variant() {
        let v8 = Platform::new("linux", "arm64", Some("v8"));
        assert!(v8.satisfies(&"linux/arm64".parse().unwrap()));
        assert!(!Platform::new("linux", "arm64", None).satisfies(&v8));
        assert!(!v8.satisfies(&"linux/amd64".parse().unwrap()));
    }

    #[test]
    fn repository_uris_are_split_and_bare_names_are_not() {
        let uri =
            parse_repository_uri("123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/app").unwrap();
        assert_eq!(uri.region, "eu-west-1");
        assert_eq!(uri.name, "team/app");
        assert_eq!(uri.registry_id, "123456789012");
        assert!(parse_repository_uri("team/app").is_none());
        assert!(parse_repository_uri("ghcr.io/org/app").is_none());
    }

    #[test]
    fn names_and_tags_are_checked_before_any_call() {
        assert!(validate_repository_name("team/app-1").is_ok());
        assert!(validate_repository_name("Team/App").is_err());
        assert!(validate_repository_name("a//b").is_err());
        let typo = "123.dkr.ecr.eu-west-1.amazonaws.com/shop";
        assert!(parse_repository_uri(typo).is_none());
        let err = validate_repository_name(typo).unwrap_err();
        assert!(err.contains("looks like an ECR URI"), "{err}");
        assert!(validate_tag("v1.2.3").is_ok());
        assert!(validate_tag("-bad").is_err());
        assert!(validate_tag("has space").is_err());
    }
}
