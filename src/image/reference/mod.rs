//! The small value types a user names an image with: digests, platforms, repository names.
//!
//! Each parser returns an error that names what was given and what was expected, so the
//! CLI and the action inputs can pass them straight to the user.

use std::fmt;
use std::str::FromStr;

mod values;
pub use values::{Digest, ImageSelector, Platform};

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

/// An image reference, parsed once: `[REGISTRY/]REPOSITORY[:TAG][@sha256:DIGEST]`.
///
/// Every place that takes an image from a user (the `image`, `proxy-image` and `agent-image`
/// inputs, the host agent's request, the pull, the SSM script) parses it with this one type,
/// so they agree on where the registry ends and which registry is ECR. The grammar is Docker's
/// (`distribution/reference`): the first path component is a registry only when more follow
/// and it contains `.` or `:` or is `localhost`; the name is at most 255 characters; a tag is
/// 1-128 of `[A-Za-z0-9_.-]` not starting with `.` or `-`.
///
/// [`ImageRef::ecr`] is the only way to learn that a reference is in ECR, and it requires the
/// host to be exactly `ACCOUNT.dkr.ecr.REGION.amazonaws.com` (or `.amazonaws.com.cn`), so a
/// look-alike such as `123456789012.dkr.ecr.us-east-1.amazonaws.attacker.example` is an
/// ordinary registry: no ECR token is requested for it or sent to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    /// The registry host (with its port), when the reference names one; `None` is Docker Hub.
    pub registry: Option<String>,
    /// The repository path within the registry (`team/app`).
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<Digest>,
}

/// An ECR registry host, recognized only in its exact form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EcrRegistry {
    /// The 12-digit account id.
    pub account: String,
    pub region: String,
    /// The whole host, `ACCOUNT.dkr.ecr.REGION.amazonaws.com[.cn]`.
    pub host: String,
}

/// The longest repository name (registry and path) Docker accepts.
pub const MAX_NAME_LEN: usize = 255;

impl ImageRef {
    /// Parses a reference; the error names the value and what was expected.
    pub fn parse(image: &str) -> Result<ImageRef, String> {
        let bad = |why: &str| {
            Err(format!(
                "{image:?}: expected an image reference such as \
                 registry.example.com/team/app:1.2 or repo@sha256:<64 hex digits> ({why})"
            ))
        };
        if image.is_empty() {
            return bad("it is empty");
        }
        let (name, digest) = match image.split_once('@') {
            Some((n, d)) => match d.parse::<Digest>() {
                Ok(d) => (n, Some(d)),
                Err(_) => return bad("the digest must be sha256: and 64 lowercase hex digits"),
            },
            None => (image, None),
        };
        // The tag is what follows the last ':' after the last '/'.
        let last_slash = name.rfind('/').map_or(0, |i| i + 1);
        let (path, tag) = match name[last_slash..].rfind(':') {
            Some(i) => (&name[..last_slash + i], Some(&name[last_slash + i + 1..])),
            None => (name, None),
        };
        if path.len() > MAX_NAME_LEN {
            return bad("the name is longer than 255 characters");
        }
        if let Some(tag) = tag {
            let ok = !tag.is_empty()
                && tag.len() <= 128
                && !tag.starts_with(['.', '-'])
                && tag
                    .bytes()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'));
            if !ok {
                return bad("a tag is 1-128 letters, digits, '_', '.' or '-'");
            }
        }
        let (registry, repository) = match path.split_once('/') {
            Some((first, rest)) if first.contains(['.', ':']) || first == "localhost" => {
                if !valid_registry(first) {
                    return bad("a registry is a host name or address, with an optional :port");
                }
                (Some(first), rest)
            }
            _ => (None, path),
        };
        let component_ok = |c: &str| {
            !c.is_empty()
                && c.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
                && c.ends_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
                && c.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
                })
        };
        if !repository.split('/').all(component_ok) {
            return bad("path components are lowercase letters, digits, '.', '_' and '-'");
        }
        Ok(ImageRef {
            registry: registry.map(str::to_string),
            repository: repository.to_string(),
            tag: tag.map(str::to_string),
            digest,
        })
    }

    /// The ECR registry of this reference, when its host is exactly an ECR host.
    pub fn ecr(&self) -> Option<EcrRegistry> {
        self.registry.as_deref().and_then(ecr_registry)
    }

    /// Whether the host was meant as ECR (`dkr.ecr` in it) but is not exactly an ECR host.
    pub fn looks_like_ecr(&self) -> bool {
        self.ecr().is_none()
            && self
                .registry
                .as_deref()
                .is_some_and(|h| h.contains(".dkr.ecr."))
    }

    /// `registry/repository` (or the bare repository for Docker Hub): the reference without
    /// tag or digest, as Docker prints it in `RepoDigests`.
    pub fn name(&self) -> String {
        match &self.registry {
            Some(r) => format!("{r}/{}", self.repository),
            None => self.repository.clone(),
        }
    }
}

impl FromStr for ImageRef {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ImageRef::parse(s)
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

/// `host[:port]`: DNS labels of letters, digits and `-` (or an IPv4 address), then an
/// optional port of 1-5 digits.
fn valid_registry(registry: &str) -> bool {
    let (host, port) = match registry.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (registry, None),
    };
    let port_ok =
        port.is_none_or(|p| (1..=5).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()));
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    port_ok && host.len() <= 253 && host.split('.').all(label_ok)
}

/// The exact ECR host rule: `ACCOUNT.dkr.ecr.REGION.amazonaws.com` or
/// `ACCOUNT.dkr.ecr.REGION.amazonaws.com.cn`, a 12-digit account, a region code, no port.
/// Anything else, however close, is not ECR.
pub fn ecr_registry(host: &str) -> Option<EcrRegistry> {
    let labels: Vec<&str> = host.split('.').collect();
    let (account, region) = match labels.as_slice() {
        [account, "dkr", "ecr", region, "amazonaws", "com"]
        | [account, "dkr", "ecr", region, "amazonaws", "com", "cn"] => (*account, *region),
        _ => return None,
    };
    let is_account = account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit());
    (is_account && parse_region(region).is_ok()).then(|| EcrRegistry {
        account: account.to_string(),
        region: region.to_string(),
        host: host.to_string(),
    })
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
    let ecr = ecr_registry(host)?;
    (!name.is_empty()).then(|| RepositoryUri {
        registry_id: ecr.account,
        region: ecr.region,
        name: name.to_string(),
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
    fn image_refs_parse_into_their_parts() {
        let r =
            ImageRef::parse("123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/app:v2").unwrap();
        assert_eq!(
            r.registry.as_deref(),
            Some("123456789012.dkr.ecr.eu-west-1.amazonaws.com")
        );
        assert_eq!(r.repository, "team/app");
        assert_eq!(r.tag.as_deref(), Some("v2"));
        let ecr = r.ecr().unwrap();
        assert_eq!(
            (ecr.account.as_str(), ecr.region.as_str()),
            ("123456789012", "eu-west-1")
        );
        let local = ImageRef::parse("127.0.0.1:5000/shop:v1").unwrap();
        assert_eq!(local.registry.as_deref(), Some("127.0.0.1:5000"));
        assert_eq!(local.name(), "127.0.0.1:5000/shop");
        assert!(local.ecr().is_none());
        let hub = ImageRef::parse("nginx").unwrap();
        assert_eq!((hub.registry, hub.tag), (None, None));
        let d = format!("sha256:{}", "a".repeat(64));
        let both = ImageRef::parse(&format!("repo/app:v1@{d}")).unwrap();
        assert_eq!(both.digest.as_ref().map(Digest::as_str), Some(d.as_str()));
        assert_eq!(both.to_string(), format!("repo/app:v1@{d}"));
        assert!(ImageRef::parse("localhost/app").unwrap().registry.is_some());
        assert!(ImageRef::parse("team/app").unwrap().registry.is_none());
    }

    #[test]
    fn only_an_exact_ecr_host_is_ecr() {
        for good in [
            "123456789012.dkr.ecr.us-east-1.amazonaws.com",
            "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn",
        ] {
            assert!(ecr_registry(good).is_some(), "{good}");
        }
        for look_alike in [
            "123456789012.dkr.ecr.us-east-1.amazonaws.attacker.example",
            "123456789012.dkr.ecr.us-east-1.amazonaws.com.attacker.example",
            "123456789012.dkr.ecr.us-east-1.amazonaws.com:443",
            "123456789012.dkr.ecr.us-east-1.amazonaws.co",
            "evil.123456789012.dkr.ecr.us-east-1.amazonaws.com",
            "12345678901.dkr.ecr.us-east-1.amazonaws.com",
            "12345678901x.dkr.ecr.us-east-1.amazonaws.com",
            "123456789012.dkr.ecr.not_a_region.amazonaws.com",
            "123456789012.dkr.ecr.us-east-1.amazonaws.com.",
        ] {
            assert!(
                ecr_registry(look_alike).is_none(),
                "{look_alike} taken for ECR"
            );
        }
        let r = ImageRef::parse("123456789012.dkr.ecr.us-east-1.amazonaws.attacker.example/app:v1")
            .unwrap();
        assert!(r.ecr().is_none());
        assert!(r.looks_like_ecr());
    }

    #[test]
    fn bad_image_refs_name_the_value() {
        for bad in [
            "",
            "Nginx",
            "app:",
            "app:$(id)",
            "app;id",
            "-app",
            "a//b",
            "app@sha256:abc",
            "app name",
            "reg.example.com:port/app",
            "reg_x.example.com/app",
            &format!("app@sha256:{}", "A".repeat(64)),
            &format!("{}/app", "a.".repeat(130)),
        ] {
            let err = ImageRef::parse(bad).unwrap_err();
            assert!(err.contains(&format!("{bad:?}")), "{err}");
        }
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
