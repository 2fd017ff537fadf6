//! Compresses the web client (www/) into the binary: every file but the unit tests is
//! embedded twice, as it is and gzip-compressed, so the server answers either without work
//! at run time.

use std::env;
use std::fmt::Write as _;
use std::fs;
use std::io::Write as _;
use std::path::Path;

use flate2::Compression;
use flate2::write::GzEncoder;

fn content_type(name: &str) -> &'static str {
    match name.rsplit('.').next().unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "json" | "webmanifest" => "application/manifest+json",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// The page's unit tests (`node --test www/`) and what they share (`*.testing.mjs`) live
/// beside its modules but are not served, nor the package.json that tells node (18 and
/// later) that the `.js` files are ES modules.
fn is_unit_test(name: &str) -> bool {
    name.ends_with(".test.mjs") || name.ends_with(".testing.mjs") || name == "package.json"
}

fn main() {
    let out_dir = env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    let www = Path::new(&env::var("CARGO_MANIFEST_DIR").expect("cargo sets it")).join("www");
    println!("cargo:rerun-if-changed=www");

    let mut names: Vec<String> = fs::read_dir(&www)
        .map(|dir| {
            dir.filter_map(Result::ok)
                .filter(|e| e.file_type().map(|t| t.is_file()).unwrap_or(false))
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| !n.starts_with('.') && !is_unit_test(n))
                .collect()
        })
        .unwrap_or_default();
    names.sort();

    let mut table = String::from("pub static ASSETS: &[Asset] = &[\n");
    for name in &names {
        let path = www.join(name);
        println!("cargo:rerun-if-changed={}", path.display());
        let plain = fs::read(&path).expect("readable web asset");
        let mut gz = GzEncoder::new(Vec::new(), Compression::best());
        gz.write_all(&plain).expect("in-memory write");
        let gz_path = Path::new(&out_dir).join(format!("{name}.gz"));
        fs::write(&gz_path, gz.finish().expect("in-memory gzip")).expect("writable OUT_DIR");
        writeln!(
            table,
            "    Asset {{ path: \"/{name}\", content_type: \"{}\", plain: include_bytes!({:?}), gzip: include_bytes!({:?}) }},",
            content_type(name),
            path.display().to_string(),
            gz_path.display().to_string(),
        )
        .expect("string write");
    }
    table.push_str("];\n");
    fs::write(Path::new(&out_dir).join("assets.rs"), table).expect("writable OUT_DIR");
}
