//! PNG: the SVG rendered with resvg (pure Rust: usvg parses, tiny-skia rasterises), text set in
//! the system's fonts (DejaVu Sans on Debian: package fonts-dejavu-core).

use resvg::{tiny_skia, usvg};

use crate::model::Diagram;

/// Why a PNG could not be made.
#[derive(Debug)]
pub struct PngError(pub String);

impl std::fmt::Display for PngError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PngError {}

/// The diagram as a PNG at `scale` (1.0 = one pixel per SVG unit; 2.0 for sharp text).
pub fn png(d: &Diagram, scale: f32) -> Result<Vec<u8>, PngError> {
    render(&crate::svg(d), scale)
}

/// Renders any SVG text to PNG.
pub fn render(svg: &str, scale: f32) -> Result<Vec<u8>, PngError> {
    let mut options = usvg::Options::default();
    options.fontdb_mut().load_system_fonts();
    if options.fontdb.faces().next().is_none() {
        return Err(PngError(
            "no fonts found on this system to draw the diagram's text; install one (Debian: apt-get install fonts-dejavu-core) or use --format svg".into(),
        ));
    }
    options.fontdb_mut().set_sans_serif_family("DejaVu Sans");
    options
        .fontdb_mut()
        .set_monospace_family("DejaVu Sans Mono");
    let tree = usvg::Tree::from_str(svg, &options)
        .map_err(|e| PngError(format!("the diagram's SVG did not parse: {e}")))?;
    let size = tree
        .size()
        .to_int_size()
        .scale_by(scale)
        .ok_or_else(|| PngError(format!("cannot render the diagram at scale {scale}")))?;
    let mut pixmap = tiny_skia::Pixmap::new(size.width(), size.height())
        .ok_or_else(|| PngError(format!("the diagram is too large ({size:?}) to render")))?;
    resvg::render(
        &tree,
        tiny_skia::Transform::from_scale(scale, scale),
        &mut pixmap.as_mut(),
    );
    pixmap
        .encode_png()
        .map_err(|e| PngError(format!("cannot encode the PNG: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::sample;

    #[test]
    fn renders_a_png_of_the_svgs_size() {
        let d = sample();
        let bytes = match png(&d, 1.0) {
            Ok(b) => b,
            // A machine without any font cannot draw text; that is the error users get.
            Err(e) if e.0.contains("no fonts") => return,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
        let width = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
        let svg = crate::svg(&d);
        assert!(
            svg.contains(&format!("width=\"{width}\"")),
            "PNG width {width}"
        );
        let twice = png(&d, 2.0).unwrap();
        assert_eq!(
            u32::from_be_bytes(twice[16..20].try_into().unwrap()),
            width * 2
        );
    }
}
