//! A tiny `--flag value` parser: the binaries take a handful of flags, and the
//! servers under test should not pay for a CLI framework at start-up.

use std::collections::HashMap;

/// Parsed flags: `--name value` pairs and bare `--switch`es.
#[derive(Debug, Default)]
pub struct Flags {
    values: HashMap<String, String>,
    switches: Vec<String>,
}

impl Flags {
    /// Parses `args` (without the program name). A flag followed by another
    /// flag, or by nothing, is a switch.
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Self, String> {
        let mut flags = Flags::default();
        let mut args = args.into_iter().peekable();
        while let Some(arg) = args.next() {
            let Some(name) = arg.strip_prefix("--") else {
                return Err(format!("unexpected argument `{arg}`"));
            };
            if let Some((name, value)) = name.split_once('=') {
                flags.values.insert(name.to_owned(), value.to_owned());
                continue;
            }
            match args.peek() {
                Some(next) if !next.starts_with("--") => {
                    let value = args.next().unwrap_or_default();
                    flags.values.insert(name.to_owned(), value);
                }
                _ => flags.switches.push(name.to_owned()),
            }
        }
        Ok(flags)
    }

    /// Parses the process's own arguments.
    pub fn from_env() -> Result<Self, String> {
        Self::parse(std::env::args().skip(1))
    }

    /// The value of `--name`, if given.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// The value of `--name`, or an error naming the flag.
    pub fn require(&self, name: &str) -> Result<&str, String> {
        self.get(name).ok_or_else(|| format!("missing --{name}"))
    }

    /// The value of `--name` parsed as `T`, or `default`.
    pub fn parse_or<T: std::str::FromStr>(&self, name: &str, default: T) -> Result<T, String> {
        match self.get(name) {
            None => Ok(default),
            Some(v) => v
                .parse()
                .map_err(|_| format!("--{name}: cannot parse `{v}`")),
        }
    }

    /// Whether the switch `--name` was given.
    pub fn has(&self, name: &str) -> bool {
        self.switches.iter().any(|s| s == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_and_switches() {
        let f = Flags::parse(["--port", "80", "--smoke", "--x=1"].map(String::from)).unwrap();
        assert_eq!(f.get("port"), Some("80"));
        assert_eq!(f.get("x"), Some("1"));
        assert!(f.has("smoke"));
        assert_eq!(f.parse_or("port", 0u16).unwrap(), 80);
        assert!(Flags::parse(["stray".to_owned()]).is_err());
    }
}
