use super::*;

/// The verdict for `bytes` fed whole, checked against every way of cutting them in two and
/// against one byte at a time (reads arrive in any pieces).
fn verdict(bytes: &[u8]) -> Option<Verdict> {
    let mut whole = Framing::default();
    let v = whole.feed(bytes).or(whole.verdict());
    for cut in 0..=bytes.len() {
        let mut f = Framing::default();
        f.feed(&bytes[..cut]);
        f.feed(&bytes[cut..]);
        assert_eq!(f.verdict(), v, "cut at {cut}");
    }
    let mut f = Framing::default();
    for b in bytes {
        f.feed(std::slice::from_ref(b));
    }
    assert_eq!(f.verdict(), v, "byte by byte");
    v
}

fn refused(request: u64, refusal: Refusal) -> Option<Verdict> {
    Some(Verdict { request, refusal })
}

const GET: &[u8] = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";

#[test]
fn ordinary_requests_pass() {
    assert_eq!(verdict(&GET.repeat(3)), None);
    let post =
        b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhelloGET / HTTP/1.1\r\n\r\n";
    assert_eq!(verdict(post), None);
    let chunked = b"POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n\
        5;ext=1\r\nhello\r\n0\r\nX-Trailer: 1\r\n\r\nGET / HTTP/1.1\r\n\r\n";
    assert_eq!(verdict(chunked), None);
    // Bare LF line ends, leading empty lines, tabs and spaces around the length.
    let lf = b"\r\n\nPOST / HTTP/1.1\nContent-Length:\t2 \n\nokGET / HTTP/1.1\n\n";
    assert_eq!(verdict(lf), None);
}

#[test]
fn both_lengths_are_found_in_either_order_and_case() {
    let mut stream = GET.repeat(2);
    stream.extend_from_slice(
        b"POST / HTTP/1.1\r\nHost: x\r\ncontent-LENGTH: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    );
    assert_eq!(verdict(&stream), refused(2, Refusal::BothLengths));
    let te_first =
        b"POST / HTTP/1.1\r\nTRANSFER-ENCODING: chunked\r\nContent-Length: 50\r\n\r\n0\r\n\r\n";
    assert_eq!(verdict(te_first), refused(0, Refusal::BothLengths));
    // Even when the Content-Length is garbage (hyper ignores it after Transfer-Encoding).
    let junk = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: x\r\n\r\n";
    assert_eq!(verdict(junk), refused(0, Refusal::BothLengths));
}

#[test]
fn body_bytes_are_not_mistaken_for_headers() {
    let body = b"Content-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n";
    let mut stream =
        format!("POST / HTTP/1.1\r\nContent-Length: {}\r\n\r\n", body.len()).into_bytes();
    stream.extend_from_slice(body);
    stream.extend_from_slice(GET);
    assert_eq!(verdict(&stream), None);
    // Header names that only start like the two.
    let similar = b"GET / HTTP/1.1\r\nContent-Lengthy: 1\r\nTransfer-Encodings: x\r\n\r\n";
    assert_eq!(verdict(similar), None);
}

#[test]
fn bad_chunking_is_found_in_the_request_it_belongs_to() {
    let mut stream = GET.to_vec();
    stream.extend_from_slice(
        b"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
    );
    assert_eq!(verdict(&stream), refused(1, Refusal::BadChunk));
    for bad in [
        &b"5\r\nhelloXX0\r\n\r\n"[..], // data not followed by CRLF
        b"5\nhello\r\n0\r\n\r\n",      // size line without CR
        b"5 5\r\nhello\r\n",           // digits after whitespace
        b"5;a\nb\r\n",                 // LF inside an extension
        b"0\r\n\rX",                   // CR without LF at the end
        b"10000000000000000\r\n",      // overflows u64
    ] {
        let mut s = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        s.extend_from_slice(bad);
        assert_eq!(
            verdict(&s),
            refused(0, Refusal::BadChunk),
            "{}",
            String::from_utf8_lossy(bad)
        );
    }
}

#[test]
fn http2_and_unparseable_lengths_stop_tracking() {
    let mut f = Framing::default();
    f.feed(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
    assert!(!f.is_tracking());
    // hyper refuses these heads itself.
    for head in [
        &b"POST / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n"[..],
        b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
    ] {
        let mut f = Framing::default();
        assert_eq!(f.feed(head), None);
        assert!(!f.is_tracking());
    }
}

/// How much the tracker adds per request head (run with `--ignored --nocapture`, release).
#[test]
#[ignore]
fn cost_per_head() {
    let head = b"GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: wrk\r\nAccept: */*\r\n\r\n";
    let stream = head.repeat(1000);
    let mut f = Framing::default();
    #[allow(clippy::disallowed_methods)] // a measurement, printed, never asserted
    let start = std::time::Instant::now();
    for _ in 0..1000 {
        assert_eq!(f.feed(std::hint::black_box(&stream)), None);
    }
    let ns = start.elapsed().as_nanos() as f64 / 1e6;
    println!("{ns:.1} ns per {}-byte head", head.len());
}
