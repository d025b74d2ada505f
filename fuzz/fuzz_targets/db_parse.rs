//! The database's parsers: WAL positions, PostgreSQL's first client message (the writer
//! endpoint's refusal), lag-bound sizes, and server log lines. None may panic; an LSN that
//! parses must print back to something that parses to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = proxy::l4::startup::classify(data);
    if let Ok(text) = std::str::from_utf8(data) {
        if let Some(l) = database::Lsn::parse(text) {
            assert_eq!(database::Lsn::parse(&l.to_string()), Some(l));
        }
        let _ = model::database::parse_size(text);
        let _ = database::faults::classify(text);
        let _ = database::faults::latest(&[text.to_owned()]);
    }
});
