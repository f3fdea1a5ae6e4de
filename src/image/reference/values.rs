//! The value types beside the reference: a content digest, a platform, and what an image is
//! selected by (tag or digest).

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
