//! TLS on both sides of the proxy, with rustls on the `ring` provider.
//!
//! - [`upstream`]: [`UpstreamTls`], the client side towards brokers: trust (web roots and/or
//!   CA files), optional client certificate, and the bounded [`TlsFailure`] reason of a failed
//!   handshake.
//! - The client listeners' side is [`serving::ServerTls`] (shared with the registry): its
//!   certificate is reloaded when its files change without touching open connections.
//!
//! Everything that can be judged offline (a missing file, PEM that does not parse, a key
//! rustls refuses) is a [`TlsError`] at start, so a bad flag never surfaces as handshake
//! failures later.

pub mod upstream;

pub use serving::tls::{pem, provider, ServerTls as ListenerTls, TlsError};
pub use upstream::{TlsFailure, UpstreamTls};

/// The first byte of a TLS record carrying a handshake (a ClientHello opens with it).
pub const HANDSHAKE_RECORD: u8 = 0x16;
