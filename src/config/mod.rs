//! Configuration: a blnk.json-style file and the environment, read (`load`), checked and
//! converted (`validate`, with `audit`, `rate_limit`, `quota` and `identity` for their sections),
//! and the master key found (`source`). [`read`] is the entry point, used alike by `serve`,
//! `check` and reloads: it returns validated [`Settings`] and the key, or every [`Problem`] found,
//! each naming the key path or file it concerns and never a secret's value. Certificates and the
//! clients file are loaded by `state`, which builds the snapshot a request reads.

mod access;
mod audit;
mod cluster;
mod diff;
mod env;
mod explain;
mod idempotency;
mod identity;
mod limits;
mod load;
mod problems;
mod quota;
mod rate_limit;
mod raw;
mod read;
mod settings;
mod source;
mod validate;

pub use self::access::User;
pub use self::audit::{AuditPolicy, AuditTarget, AuditWriter};
pub use self::cluster::{
    ClusterSettings, RedisEndpoint, RedisPassword, PASSWORD_CREDENTIAL, PASSWORD_ENV,
    PASSWORD_FILE_ENV,
};
pub use self::diff::changed;
pub use self::env::Env;
pub use self::idempotency::{IdempotencyPolicy, IdempotencyStore};
pub use self::identity::{BadIdentity, Identity, CLIENT_ID_LEN};
pub use self::load::GATEWAY_ENV_PREFIX;
pub use self::problems::{io_reason, Problem, Problems, Purpose};
pub use self::quota::{burst, period, quota, ClientQuota, RateLimitSettings};
pub use self::raw::{Fsync, OnFailure};
pub use self::read::{read, Read};
pub use self::settings::{Process, Rotation, Settings, TlsFiles, Upstream};
pub use self::source::{read_key_file, SecretSource, CREDENTIAL_NAME, SECRET_ENV, SECRET_FILE_ENV};
