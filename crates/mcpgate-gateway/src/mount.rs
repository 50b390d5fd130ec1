//! Several upstreams behind one gateway, FastMCP's `mount` convention: an
//! upstream mounted as `name` shows its tools and prompts as `name_tool`
//! and its resources as `scheme://name/rest` (for `scheme://rest`), the
//! same for resource templates. An unnamed mount (the single-upstream case)
//! shows everything unchanged.

use crate::error::GatewayError;

/// How an upstream's names appear to callers.
#[derive(Debug, Clone)]
pub(crate) struct Namespace {
    name: Option<String>,
}

impl Namespace {
    pub(crate) fn new(name: Option<String>) -> Result<Self, GatewayError> {
        if let Some(n) = &name {
            let valid = !n.is_empty()
                && n.len() <= 64
                && n.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !valid {
                return Err(GatewayError::config(
                    format!("upstream name `{n}`"),
                    "must be 1 to 64 ASCII letters, digits, `-` or `_` (it prefixes tool and prompt names and namespaces resource URIs)",
                ));
            }
        }
        Ok(Self { name })
    }

    pub(crate) fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// `tool` → `name_tool`.
    pub(crate) fn expose_name(&self, inner: &str) -> String {
        match &self.name {
            Some(n) => format!("{n}_{inner}"),
            None => inner.to_owned(),
        }
    }

    /// `name_tool` → `tool`; `None` when the name is not this mount's.
    pub(crate) fn inner_name<'a>(&self, exposed: &'a str) -> Option<&'a str> {
        match &self.name {
            Some(n) => exposed.strip_prefix(n.as_str())?.strip_prefix('_'),
            None => Some(exposed),
        }
    }

    /// `scheme://rest` → `scheme://name/rest`; a URI without `://` gets
    /// `name+` in front of it, which is just as reversible.
    pub(crate) fn expose_uri(&self, inner: &str) -> String {
        let Some(n) = &self.name else {
            return inner.to_owned();
        };
        match inner.split_once("://") {
            Some((scheme, rest)) => format!("{scheme}://{n}/{rest}"),
            None => format!("{n}+{inner}"),
        }
    }

    /// The inverse of [`expose_uri`](Self::expose_uri).
    pub(crate) fn inner_uri(&self, exposed: &str) -> Option<String> {
        let Some(n) = &self.name else {
            return Some(exposed.to_owned());
        };
        match exposed.split_once("://") {
            Some((scheme, rest)) => {
                let rest = rest.strip_prefix(n.as_str())?.strip_prefix('/')?;
                Some(format!("{scheme}://{rest}"))
            }
            None => Some(
                exposed
                    .strip_prefix(n.as_str())?
                    .strip_prefix('+')?
                    .to_owned(),
            ),
        }
    }
}

/// Index of the mount `exposed` belongs to, and its name there. The
/// longest matching mount name wins (`a_b_tool` with mounts `a` and `a_b`
/// is `a_b`'s `tool`).
pub(crate) fn route_name<'a>(mounts: &[&Namespace], exposed: &'a str) -> Option<(usize, &'a str)> {
    mounts
        .iter()
        .enumerate()
        .filter_map(|(i, ns)| {
            ns.inner_name(exposed)
                .map(|inner| (i, inner, ns.name().map_or(0, str::len)))
        })
        .max_by_key(|(_, _, len)| *len)
        .map(|(i, inner, _)| (i, inner))
}

/// Index of the mount `exposed` belongs to, and its URI there.
pub(crate) fn route_uri(mounts: &[&Namespace], exposed: &str) -> Option<(usize, String)> {
    mounts
        .iter()
        .enumerate()
        .filter_map(|(i, ns)| {
            ns.inner_uri(exposed)
                .map(|inner| (i, inner, ns.name().map_or(0, str::len)))
        })
        .max_by_key(|(_, _, len)| *len)
        .map(|(i, inner, _)| (i, inner))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ns(name: &str) -> Namespace {
        Namespace::new(Some(name.to_owned())).unwrap()
    }

    #[test]
    fn names_and_uris_round_trip() {
        let weather = ns("weather");
        assert_eq!(weather.expose_name("forecast"), "weather_forecast");
        assert_eq!(weather.inner_name("weather_forecast"), Some("forecast"));
        assert_eq!(weather.inner_name("weatherforecast"), None);
        assert_eq!(weather.inner_name("other_forecast"), None);
        assert_eq!(
            weather.expose_uri("data://cities/{id}"),
            "data://weather/cities/{id}"
        );
        assert_eq!(
            weather.inner_uri("data://weather/cities/7").as_deref(),
            Some("data://cities/7")
        );
        assert_eq!(weather.inner_uri("data://other/cities/7"), None);
        assert_eq!(weather.expose_uri("urn:x"), "weather+urn:x");
        assert_eq!(weather.inner_uri("weather+urn:x").as_deref(), Some("urn:x"));
        let plain = Namespace::new(None).unwrap();
        assert_eq!(plain.expose_name("t"), "t");
        assert_eq!(plain.inner_uri("a://b").as_deref(), Some("a://b"));
    }

    #[test]
    fn the_longest_mount_name_wins() {
        let a = ns("a");
        let ab = ns("a_b");
        let mounts = [&a, &ab];
        assert_eq!(route_name(&mounts, "a_b_tool"), Some((1, "tool")));
        assert_eq!(route_name(&mounts, "a_tool"), Some((0, "tool")));
        assert_eq!(route_name(&mounts, "c_tool"), None);
    }

    #[test]
    fn bad_names_are_refused_with_the_rule() {
        for bad in ["", "a b", "a/b", "ü"] {
            let e = Namespace::new(Some(bad.to_owned()))
                .unwrap_err()
                .to_string();
            assert!(e.contains("ASCII letters"), "{e}");
        }
    }
}
