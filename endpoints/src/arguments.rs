//! The endpoint description grammar (Twisted's `_tokenize` / `_parse`):
//! [`Arguments`], the typed [`EndpointParseError`], and the value helpers
//! the typed descriptions share.

use std::fmt;
use std::str::FromStr;

/// What was wrong with an endpoint description.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EndpointParseError {
    /// The string was empty.
    Empty,
    /// The string ended with a lone backslash.
    TrailingBackslash,
    /// The string has no endpoint type: it starts with a keyword argument.
    MissingType,
    /// The endpoint type is not registered.
    UnknownType {
        /// The type asked for.
        kind: String,
    },
    /// A required argument is missing.
    Missing {
        /// The endpoint type.
        kind: String,
        /// The argument's name.
        argument: &'static str,
    },
    /// An argument's value is not what it should be.
    Invalid {
        /// The argument's name.
        argument: String,
        /// The value given.
        value: String,
        /// What was expected.
        expected: &'static str,
    },
    /// More positional arguments than the type takes.
    TooManyArguments {
        /// The endpoint type.
        kind: String,
        /// The first extra argument.
        extra: String,
    },
    /// An argument given twice: as a positional argument and as a keyword.
    /// Usually an unescaped `:` in a value (`host=::1` splits into
    /// `host=` and positionals `""` and `1`).
    Conflicting {
        /// The endpoint type.
        kind: String,
        /// The argument's name.
        argument: &'static str,
        /// The positional value.
        positional: String,
        /// The keyword value.
        keyword: String,
    },
    /// A keyword the type does not take.
    UnknownKeyword {
        /// The endpoint type.
        kind: String,
        /// The keyword.
        keyword: String,
    },
}

impl fmt::Display for EndpointParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EndpointParseError::Empty => f.write_str("empty endpoint description"),
            EndpointParseError::TrailingBackslash => {
                f.write_str("endpoint description ends with a lone backslash (escape it as \\\\)")
            }
            EndpointParseError::MissingType => f.write_str(
                "endpoint description has no type: it must start with one, like tcp: or unix:",
            ),
            EndpointParseError::UnknownType { kind } => {
                write!(f, "unknown endpoint type: {kind:?}")
            }
            EndpointParseError::Missing { kind, argument } => {
                write!(f, "{kind} endpoint needs a {argument} argument")
            }
            EndpointParseError::Invalid {
                argument,
                value,
                expected,
            } => write!(f, "invalid {argument} {value:?}: expected {expected}"),
            EndpointParseError::TooManyArguments { kind, extra } => {
                write!(
                    f,
                    "too many arguments for a {kind} endpoint, from {extra:?} on"
                )
            }
            EndpointParseError::Conflicting {
                kind,
                argument,
                positional,
                keyword,
            } => write!(
                f,
                "{kind} endpoint got {argument} twice: {positional:?} as a positional argument \
                 and {keyword:?} as {argument}=; escape a ':' in a value as \\: \
                 or bracket an IPv6 address, like host=[::1]"
            ),
            EndpointParseError::UnknownKeyword { kind, keyword } => {
                write!(f, "{kind} endpoint takes no {keyword:?} argument")
            }
        }
    }
}

impl std::error::Error for EndpointParseError {}

/// A tokenized description: positional and keyword arguments, in order.
/// The first positional argument is the endpoint type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arguments {
    /// Positional arguments (`tcp`, `8080`, ...).
    pub positional: Vec<String>,
    /// Keyword arguments (`interface=127.0.0.1`); a repeated key keeps the last.
    pub keywords: Vec<(String, String)>,
}

impl Arguments {
    /// Tokenizes `description`: `:` separates arguments, the first `=` in an
    /// argument splits key from value, `\` escapes the next character, and
    /// a value that starts with `[` runs to its `]` whatever it holds
    /// (`host=[::1]`).
    ///
    /// The result always has at least one positional argument, the type.
    ///
    /// # Errors
    ///
    /// [`EndpointParseError::Empty`], [`EndpointParseError::TrailingBackslash`]
    /// or [`EndpointParseError::MissingType`].
    pub fn parse(description: &str) -> Result<Arguments, EndpointParseError> {
        if description.is_empty() {
            return Err(EndpointParseError::Empty);
        }
        let mut arguments = Arguments {
            positional: Vec::new(),
            keywords: Vec::new(),
        };
        let (mut current, mut key): (String, Option<String>) = (String::new(), None);
        let chars: Vec<char> = description.chars().collect();
        let finish = |arguments: &mut Arguments, current: String, key: Option<String>| match key {
            Some(key) => {
                arguments.keywords.retain(|(k, _)| *k != key);
                arguments.keywords.push((key, current));
            }
            None => arguments.positional.push(current),
        };
        // Within `[...]` at the start of a value, `:` and `=` are literal,
        // so `host=[::1]` is one value (an addition to Twisted's grammar,
        // which only knows `\:`); a `[` with no `]` after it is ordinary.
        let mut bracket_open = false;
        let mut at_value_start = true;
        let mut i = 0;
        while let Some(&c) = chars.get(i) {
            i += 1;
            let starts_value = std::mem::replace(&mut at_value_start, false);
            match c {
                '\\' => current.push(*chars.get(i).ok_or(EndpointParseError::TrailingBackslash)?),
                '[' if starts_value && closing_bracket(&chars[i..]) => {
                    bracket_open = true;
                    current.push(c);
                }
                ']' if bracket_open => {
                    bracket_open = false;
                    current.push(c);
                }
                c if bracket_open => current.push(c),
                ':' => {
                    finish(&mut arguments, std::mem::take(&mut current), key.take());
                    at_value_start = true;
                }
                '=' if key.is_none() => {
                    key = Some(std::mem::take(&mut current));
                    at_value_start = true;
                }
                c => current.push(c),
            }
            if c == '\\' {
                i += 1;
            }
        }
        finish(&mut arguments, current, key);
        if arguments.positional.is_empty() {
            return Err(EndpointParseError::MissingType);
        }
        Ok(arguments)
    }

    pub(crate) fn kind(&self) -> &str {
        &self.positional[0]
    }

    pub(crate) fn keyword(&self, name: &str) -> Option<&str> {
        self.keywords
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn check(
        &self,
        kind: &str,
        max_positional: usize,
        keywords: &[&str],
    ) -> Result<(), EndpointParseError> {
        if let Some(extra) = self.positional.get(max_positional + 1) {
            return Err(EndpointParseError::TooManyArguments {
                kind: kind.to_string(),
                extra: extra.clone(),
            });
        }
        match self
            .keywords
            .iter()
            .find(|(k, _)| !keywords.contains(&k.as_str()))
        {
            Some((keyword, _)) => Err(EndpointParseError::UnknownKeyword {
                kind: kind.to_string(),
                keyword: keyword.clone(),
            }),
            None => Ok(()),
        }
    }

    /// The `index`th positional argument after the type, or keyword `name`.
    ///
    /// # Errors
    ///
    /// [`EndpointParseError::Conflicting`] if both are given (Twisted's
    /// `TypeError: got multiple values for argument`).
    pub(crate) fn get(
        &self,
        kind: &str,
        index: usize,
        name: &'static str,
    ) -> Result<Option<&str>, EndpointParseError> {
        let positional = self.positional.get(index + 1).map(String::as_str);
        match (positional, self.keyword(name)) {
            (Some(positional), Some(keyword)) => Err(conflict(kind, name, positional, keyword)),
            (positional, keyword) => Ok(keyword.or(positional)),
        }
    }
}

pub(crate) fn conflict(
    kind: &str,
    argument: &'static str,
    positional: &str,
    keyword: &str,
) -> EndpointParseError {
    EndpointParseError::Conflicting {
        kind: kind.to_string(),
        argument,
        positional: positional.to_string(),
        keyword: keyword.to_string(),
    }
}

/// Whether an unescaped `]` comes in `rest`.
fn closing_bracket(rest: &[char]) -> bool {
    let mut escaped = false;
    for &c in rest {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            ']' => return true,
            _ => {}
        }
    }
    false
}

/// A host or interface: a bracketed value must be an IPv6 address, and
/// loses its brackets (`[::1]` is `::1`); `allow_empty` for an interface,
/// where `""` means every one.
pub(crate) fn host(
    argument: &str,
    value: &str,
    allow_empty: bool,
) -> Result<String, EndpointParseError> {
    if value.is_empty() && !allow_empty {
        return Err(invalid(
            argument,
            value,
            "a host name or IP address (not empty)",
        ));
    }
    match value.strip_prefix('[') {
        Some(inner) => match inner.strip_suffix(']') {
            Some(ip) if ip.parse::<std::net::Ipv6Addr>().is_ok() => Ok(ip.to_string()),
            _ => Err(invalid(
                argument,
                value,
                "a bracketed IPv6 address like [::1]",
            )),
        },
        None => Ok(value.to_string()),
    }
}

pub(crate) fn invalid(argument: &str, value: &str, expected: &'static str) -> EndpointParseError {
    EndpointParseError::Invalid {
        argument: argument.to_string(),
        value: value.to_string(),
        expected,
    }
}

pub(crate) fn number<T: FromStr>(
    argument: &str,
    value: &str,
    expected: &'static str,
) -> Result<T, EndpointParseError> {
    value
        .trim()
        .parse()
        .map_err(|_| invalid(argument, value, expected))
}

pub(crate) fn flag(argument: &str, value: &str) -> Result<bool, EndpointParseError> {
    match number::<i64>(argument, value, "0 or 1")? {
        0 => Ok(false),
        _ => Ok(true),
    }
}

/// Escapes `\`, `:` (and, in positional arguments, `=`) so a value prints
/// back as itself (Twisted's `quoteStringArgument`).
pub fn quote(value: &str, positional: bool) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if c == '\\' || c == ':' || (positional && c == '=') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
