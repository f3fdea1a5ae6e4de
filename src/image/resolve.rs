//! Finding the image: the repository (a pasted URI checked against the region and account in
//! use, near names suggested when it is missing) and the image by tag or digest.

use super::client::EcrClient;
use super::error::VerifyError;
use super::reference::{
    parse_repository_uri, validate_repository_name, validate_tag, ImageSelector,
};
use super::verdict::VerifyRequest;
use aws_sdk_ecr::types::Repository;

/// How many names a "repository not found" error suggests, and tags a "tag missing" check.
pub(super) const SUGGESTIONS: usize = 5;

/// The request with a bare repository name and the registry to ask, after checking what the
/// user gave: a pasted URI's region must be the one in use and its account must agree with
/// `--registry-id` (the URI's account is used when `--registry-id` is not given).
pub(super) fn normalize(req: &VerifyRequest, region: &str) -> Result<VerifyRequest, VerifyError> {
    if let ImageSelector::Tag(tag) = &req.image {
        validate_tag(tag).map_err(VerifyError::Input)?;
    }
    let Some(uri) = parse_repository_uri(&req.repository) else {
        validate_repository_name(&req.repository).map_err(VerifyError::Input)?;
        return Ok(req.clone());
    };
    if uri.region != region {
        return Err(VerifyError::RegionMismatch {
            uri_region: uri.region,
            region: region.to_string(),
        });
    }
    if let Some(id) = req
        .registry_id
        .as_deref()
        .filter(|id| *id != uri.registry_id)
    {
        return Err(VerifyError::Input(format!(
            "--repository names registry {} but --registry-id is {id}: give one or make them agree",
            uri.registry_id
        )));
    }
    validate_repository_name(&uri.name).map_err(VerifyError::Input)?;
    Ok(VerifyRequest {
        repository: uri.name,
        registry_id: Some(uri.registry_id),
        ..req.clone()
    })
}

/// The repository, or a not-found error that lists the near names these credentials see.
pub(super) async fn resolve_repository(
    client: &EcrClient,
    name: &str,
    registry: Option<&str>,
) -> Result<Repository, VerifyError> {
    if let Some(repo) = client.describe_repository(name, registry).await? {
        return Ok(repo);
    }
    let (near, listing_error) = match client.repository_names(registry).await {
        Ok(names) => (near_names(name, &names), None),
        Err(e) => (Vec::new(), Some(e.to_string())),
    };
    Err(VerifyError::RepositoryNotFound {
        name: name.to_string(),
        registry: registry.map_or_else(
            || "the registry of these credentials".to_string(),
            |id| format!("registry {id}"),
        ),
        region: client.region().to_string(),
        near,
        listing_error,
    })
}

/// Names that look like `wanted`: a typo (edit similarity), or one containing the other
/// (`app` for `team/app`). Best first.
pub fn near_names(wanted: &str, names: &[String]) -> Vec<String> {
    let last = |n: &str| n.rsplit('/').next().unwrap_or(n).to_string();
    let mut scored: Vec<(f64, &String)> = names
        .iter()
        .filter(|n| n.as_str() != wanted)
        .map(|n| {
            let edit = strsim::normalized_levenshtein(wanted, n);
            let contains = n.contains(wanted) || wanted.contains(n.as_str());
            let same_leaf = last(n) == last(wanted);
            let score = if same_leaf || contains {
                edit.max(0.9)
            } else {
                edit
            };
            (score, n)
        })
        .filter(|(score, _)| *score >= 0.6)
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(b.1)));
    scored
        .into_iter()
        .take(SUGGESTIONS)
        .map(|(_, n)| n.clone())
        .collect()
}

/// "; recent tags: ..." for a missing tag. A failure to list is said, not hidden.
pub(super) async fn missing_image_hint(
    client: &EcrClient,
    name: &str,
    registry: Option<&str>,
    selector: &ImageSelector,
) -> String {
    if !matches!(selector, ImageSelector::Tag(_)) {
        return String::new();
    }
    match client.recent_tags(name, registry, SUGGESTIONS).await {
        Ok(tags) if tags.is_empty() => "; the repository has no tagged images".to_string(),
        Ok(tags) => format!("; most recently pushed tags: {}", tags.join(", ")),
        Err(e) => format!("; could not list its tags: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn near_names_rank_typos_and_shared_leaves() {
        let names: Vec<String> = [
            "team/web",
            "team/api",
            "billing",
            "web-old",
            "unrelated-thing",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let near = near_names("web", &names);
        assert_eq!(near.first().map(String::as_str), Some("team/web"));
        assert!(near.contains(&"web-old".to_string()));
        assert!(!near.contains(&"billing".to_string()));
        assert_eq!(near_names("biling", &names), vec!["billing".to_string()]);
        assert!(near_names("zzz", &names).is_empty());
    }
}
