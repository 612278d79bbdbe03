//! Settings defined once: the [`settings!`](crate::settings) macro declares a section's
//! fields a single time and derives from that one list the command-line flags and
//! environment variables (clap), the YAML keys (serde), the merge of two layers and,
//! where the section has defaults, the resolved struct. [`Secret`] holds API keys.

use serde::Deserialize;

/// Declares one settings section. The example is shown as text; the sections the CLI
/// declares in `crates/cli/src/config/settings.rs` are the compiled uses.
///
/// ```text
/// vec2prompt_core::settings! {
///     /// The `server:` section.
///     pub struct ServerSettings => ServerConfig {
///         /// Port to bind.
///         #[clap(long, env = "VEC2PROMPT_PORT")]
///         port: u16 = 8080,
///     }
///     optional {
///         /// Bearer token.
///         #[clap(long, env = "VEC2PROMPT_API_KEY", hide_env_values = true)]
///         api_key: vec2prompt_core::Secret,
///     }
/// }
/// ```
///
/// This generates:
/// - `ServerSettings`, every field an `Option` (unset = "not given in this layer"), deriving
///   `clap::Args` (flatten it into a command) and `serde::Deserialize` (a YAML section,
///   unknown keys refused), with `merge(self, lower)`: the one rule by which a layer
///   (flags and environment) overrides the next (the config file);
/// - with `=> ServerConfig`, the resolved struct (fields with defaults are plain values,
///   `optional` fields stay `Option`), its `Default`, and `ServerSettings::resolve`.
///
/// Without `=> Resolved`, every field is listed under `optional` and a `sections` group
/// may nest other settings structs (a sub-map in YAML, merged field by field, and in the
/// flags `#[clap(flatten)]`, or `#[clap(skip)]` for a section with flags of its own). The invoking crate depends on `clap` and `serde`.
#[macro_export]
macro_rules! settings {
    (
        $(#[$meta:meta])*
        $vis:vis struct $layer:ident => $resolved:ident {
            $(
                $(#[doc = $doc:literal])*
                #[clap($($arg:tt)*)]
                $field:ident : $ty:ty = $default:expr,
            )*
        }
        optional {
            $(
                $(#[doc = $odoc:literal])*
                #[clap($($oarg:tt)*)]
                $ofield:ident : $oty:ty,
            )*
        }
    ) => {
        $crate::settings! {
            $(#[$meta])*
            $vis struct $layer {}
            optional {
                $( $(#[doc = $doc])* #[clap($($arg)*)] $field: $ty, )*
                $( $(#[doc = $odoc])* #[clap($($oarg)*)] $ofield: $oty, )*
            }
            sections {}
        }

        $(#[$meta])*
        ///
        /// Resolved: every layer merged, defaults filled in.
        #[derive(Debug, Clone, PartialEq)]
        $vis struct $resolved {
            $( $(#[doc = $doc])* pub $field: $ty, )*
            $( $(#[doc = $odoc])* pub $ofield: Option<$oty>, )*
        }

        impl Default for $resolved {
            fn default() -> Self {
                <$layer>::default().resolve()
            }
        }

        impl $layer {
            /// The settings with defaults filled in for what no layer set.
            pub fn resolve(self) -> $resolved {
                $resolved {
                    $( $field: self.$field.unwrap_or_else(|| $default), )*
                    $( $ofield: self.$ofield, )*
                }
            }
        }
    };
    (
        $(#[$meta:meta])*
        $vis:vis struct $layer:ident {}
        optional {
            $(
                $(#[doc = $odoc:literal])*
                #[clap($($oarg:tt)*)]
                $ofield:ident : $oty:ty,
            )*
        }
        sections {
            $(
                $(#[doc = $sdoc:literal])*
                #[clap($($sarg:tt)*)]
                $sfield:ident : $sty:ty,
            )*
        }
    ) => {
        $(#[$meta])*
        ///
        /// One layer of settings (flags and environment, or the config file): an unset
        /// field leaves the choice to the next layer.
        #[derive(Debug, Clone, Default, PartialEq, clap::Args, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        $vis struct $layer {
            $(
                $(#[doc = $odoc])*
                #[clap($($oarg)*)]
                pub $ofield: Option<$oty>,
            )*
            $(
                $(#[doc = $sdoc])*
                #[clap($($sarg)*)]
                #[serde(default)]
                pub $sfield: $sty,
            )*
        }

        impl $layer {
            /// These settings, with every one they leave unset taken from `lower`.
            pub fn merge(self, lower: Self) -> Self {
                Self {
                    $( $ofield: self.$ofield.or(lower.$ofield), )*
                    $( $sfield: self.$sfield.merge(lower.$sfield), )*
                }
            }
        }
    };
}

/// A secret (an API key): never shown by `Debug`; from a flag, an environment variable, a
/// config file value or, through [`Secret::resolve`], a file of its own.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// The secret itself, for the one place that sends or compares it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The key given inline, or read from `file` (surrounding whitespace trimmed, so a
    /// trailing newline does not become part of the key); none when neither is set. Both
    /// set, or an empty key, is an error naming `what`.
    pub fn resolve(
        what: &str,
        inline: Option<Secret>,
        file: Option<&std::path::Path>,
    ) -> crate::Result<Option<Secret>> {
        let key = match (inline, file) {
            (Some(_), Some(f)) => {
                return Err(crate::Error::invalid(
                    what,
                    format!(
                        "both an API key and an API key file ({}) are set; give one",
                        f.display()
                    ),
                ));
            }
            (Some(k), None) => k,
            (None, Some(f)) => {
                let text = std::fs::read_to_string(f).map_err(|e| crate::Error::io(f, e))?;
                Secret(text.trim().to_string())
            }
            (None, None) => return Ok(None),
        };
        if key.0.trim().is_empty() {
            return Err(crate::Error::invalid(
                what,
                "the API key is empty; leave it out to send none",
            ));
        }
        Ok(Some(key))
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Secret(s.to_string()))
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Self {
        Secret(s.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_hide_in_debug_and_resolve_from_a_file() {
        let s: Secret = "sk-123".parse().unwrap();
        assert_eq!(format!("{s:?}"), "<redacted>");
        let dir = std::env::temp_dir().join(format!("v2p-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("key");
        std::fs::write(&file, "sk-from-file\n").unwrap();
        let got = Secret::resolve("llm", None, Some(&file)).unwrap().unwrap();
        assert_eq!(got.expose(), "sk-from-file");
        assert!(Secret::resolve("llm", Some(s), Some(&file)).is_err());
        std::fs::write(&file, "  \n").unwrap();
        let empty = Secret::resolve("llm", None, Some(&file)).unwrap_err();
        assert!(empty.to_string().contains("empty"), "{empty}");
        assert_eq!(Secret::resolve("llm", None, None).unwrap(), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
