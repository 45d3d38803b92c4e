//! The gateway's two ways of standing in front of Blnk.

use std::fmt;

use serde::Deserialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Clients send the master key; the gateway checks it before Blnk sees the request.
    #[default]
    Verify,
    /// Clients authenticate to the gateway; the gateway injects the master key.
    Inject,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Verify => "verify",
            Mode::Inject => "inject",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
