//! Request bodies, read whole before Blnk sees them, from one memory budget for the process.
//!
//! Blnk's handlers act on the first complete JSON object of a body without reading to its end.
//! A body streamed to Blnk could therefore move money and then be cut off, turn out malformed or
//! time out, and the client would be told that its request failed. So every body is read
//! completely (well framed, within `max_body_bytes` and `body_read_timeout`) before an upstream
//! exchange begins; a body that fails gets the gateway's own answer (400, 408, 413, 503) and Blnk
//! sees nothing of the request. nginx does the same by default (`proxy_request_buffering`).
//!
//! - [`budget`]: `max_buffered_bytes`, charged as bytes arrive (a client that promises 5 MiB holds
//!   only what it has sent), with a quarter kept for the first bytes of every body.
//! - [`read`]: reading one body whole under its bounds.
//! - [`request`]: the body as it goes upstream.
//!
//! Response bodies are the pipeline's (`proxy::response`): they carry the audit entry.

pub mod budget;
pub mod read;
pub mod request;

pub use self::budget::BufferBudget;
pub use self::read::{read, Buffered, ReadLimits};
pub use self::request::RequestBody;
