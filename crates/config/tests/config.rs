use std::collections::BTreeMap;
use std::path::Path;

#[test]
fn scratch() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/complete");
    match config::load(&dir, &BTreeMap::new()) {
        Ok(l) => println!("{:#?}", l.stack),
        Err(e) => println!("{e}"),
    }
    panic!();
}
