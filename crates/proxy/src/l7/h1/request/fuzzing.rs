//! The request head's header scan (`Scan::of`) for the `h1_request_scan` fuzz target; see
//! `super::super::fuzzing`.

use std::mem::MaybeUninit;

use super::{MAX_HEADERS, Scan};

/// What `Scan::of` found in a request head.
#[derive(Debug)]
pub struct H1RequestScan {
    /// Whether httparse read a complete head (nothing else is set otherwise).
    pub complete: bool,
    /// `Err(())`: an invalid `Content-Length` (the request is refused).
    pub scanned: Result<(), ()>,
    pub host: Option<String>,
    pub hosts: usize,
    pub content_length: Option<u64>,
    pub lengths: usize,
    pub close: bool,
    pub hand_over: bool,
    /// Names listed in `Connection`, removed on the way to the target.
    pub listed: Vec<String>,
    /// For each of the head's header names: whether the fast path drops it on the way to
    /// the target.
    pub drops: Vec<(String, bool)>,
}

/// Reads `bytes` as a request head with httparse (as `request::parse` does) and scans its
/// headers with `Scan::of`.
pub fn h1_request_scan(bytes: &[u8]) -> H1RequestScan {
    let mut r = H1RequestScan {
        complete: false,
        scanned: Ok(()),
        host: None,
        hosts: 0,
        content_length: None,
        lengths: 0,
        close: false,
        hand_over: false,
        listed: Vec::new(),
        drops: Vec::new(),
    };
    let mut slots = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut []);
    let Ok(httparse::Status::Complete(_)) = req.parse_with_uninit_headers(bytes, &mut slots) else {
        return r;
    };
    r.complete = true;
    let headers: &[httparse::Header<'_>] = req.headers;
    let Ok(scan) = Scan::of(headers) else {
        r.scanned = Err(());
        return r;
    };
    r.host = scan.host.map(str::to_owned);
    r.hosts = scan.hosts;
    r.content_length = scan.content_length;
    r.lengths = scan.lengths;
    r.close = scan.close;
    r.hand_over = scan.hand_over;
    r.listed = scan.listed[..scan.n_listed]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    r.drops = headers
        .iter()
        .map(|h| (h.name.to_owned(), scan.drops(h.name)))
        .collect();
    r
}
