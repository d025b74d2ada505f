//! Just enough of PostgreSQL's wire protocol to refuse a connection *with a reason*: read the
//! client's first message (answering `N` to SSL and GSSAPI encryption requests) and reply with
//! an `ErrorResponse`, so that `psql` prints "updraft: no writable primary: failover in
//! progress …" instead of a bare reset. Sans-io: [`classify`] parses, [`error_response`]
//! encodes; the caller does the reads and writes.

/// `SSLRequest`, `GSSENCRequest` and `CancelRequest` codes, and protocol 3.0.
const SSL_REQUEST: u32 = 80_877_103;
const GSSENC_REQUEST: u32 = 80_877_104;
const CANCEL_REQUEST: u32 = 80_877_102;
const PROTOCOL_3: u32 = 196_608;

/// The largest first message accepted (PostgreSQL's own limit is 10 000 bytes).
pub const MAX_STARTUP: usize = 10_000;

/// What the client's first message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum First {
    /// Fewer bytes than the message needs.
    NeedMore,
    /// Asks for TLS or GSSAPI encryption: answer `N`, then the startup message follows.
    /// `len` bytes are consumed.
    EncryptionRequest { len: usize },
    /// A cancel request: nothing to answer.
    Cancel,
    /// A startup message (protocol 3 or later) of `len` bytes.
    Startup { len: usize },
    /// Not PostgreSQL (or a protocol this server does not speak).
    Invalid,
}

/// Classifies the bytes received so far.
pub fn classify(buf: &[u8]) -> First {
    if buf.len() < 8 {
        return First::NeedMore;
    }
    let len = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
    let code = u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]);
    if !(8..=MAX_STARTUP).contains(&len) {
        return First::Invalid;
    }
    match code {
        SSL_REQUEST | GSSENC_REQUEST if len == 8 => First::EncryptionRequest { len },
        CANCEL_REQUEST if len == 16 => First::Cancel,
        c if c >> 16 == PROTOCOL_3 >> 16 => {
            if buf.len() < len {
                First::NeedMore
            } else {
                First::Startup { len }
            }
        }
        _ => First::Invalid,
    }
}

/// A `FATAL` `ErrorResponse` with SQLSTATE `code` and `message`.
pub fn error_response(code: &str, message: &str) -> Vec<u8> {
    let mut body = Vec::new();
    for (field, value) in [
        (b'S', "FATAL"),
        (b'V', "FATAL"),
        (b'C', code),
        (b'M', message),
    ] {
        body.push(field);
        body.extend(value.bytes().filter(|b| *b != 0));
        body.push(0);
    }
    body.push(0);
    let mut out = Vec::with_capacity(body.len() + 5);
    out.push(b'E');
    out.extend(((body.len() + 4) as u32).to_be_bytes());
    out.extend(body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(code: u32, rest: &[u8]) -> Vec<u8> {
        let mut m = ((8 + rest.len()) as u32).to_be_bytes().to_vec();
        m.extend(code.to_be_bytes());
        m.extend(rest);
        m
    }

    #[test]
    fn first_messages_are_recognised() {
        assert_eq!(classify(&[0, 0, 0]), First::NeedMore);
        assert_eq!(
            classify(&message(SSL_REQUEST, &[])),
            First::EncryptionRequest { len: 8 }
        );
        assert_eq!(
            classify(&message(GSSENC_REQUEST, &[])),
            First::EncryptionRequest { len: 8 }
        );
        assert_eq!(classify(&message(CANCEL_REQUEST, &[0; 8])), First::Cancel);
        let startup = message(PROTOCOL_3, b"user\0app\0database\0app\0\0");
        assert_eq!(classify(&startup), First::Startup { len: startup.len() });
        assert_eq!(classify(&startup[..12]), First::NeedMore);
        assert_eq!(classify(b"GET / HTTP/1.1\r\n"), First::Invalid);
        assert_eq!(classify(&message(12345, &[])), First::Invalid);
        let mut huge = message(PROTOCOL_3, &[]);
        huge[..4].copy_from_slice(&1_000_000u32.to_be_bytes());
        assert_eq!(classify(&huge), First::Invalid);
    }

    #[test]
    fn error_responses_are_well_formed() {
        let e = error_response("57P03", "no primary");
        assert_eq!(e[0], b'E');
        let len = u32::from_be_bytes([e[1], e[2], e[3], e[4]]) as usize;
        assert_eq!(len + 1, e.len());
        assert!(e.windows(10).any(|w| w == b"no primary"));
        assert_eq!(*e.last().unwrap(), 0);
    }
}
